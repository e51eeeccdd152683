//! wrong: the signals minibox blocked for itself stay blocked in the command (the mask survives execve)
//! caught-by: process::the_command_starts_with_no_signal_blocked
    let Some(program) = command.argv.first() else {
        return CodedError::new(exit::RUNTIME_FAILED, "no command given".into());
    };
    let path = match find_program(program, search_path(&command.env)) {
        Ok(path) => path,
        Err(error) => return error,
    };
    let (Ok(argv), Ok(envp)) = (c_strings(&command.argv), c_strings(&command.env)) else {
        return CodedError::new(exit::RUNTIME_FAILED, "an argument contains a NUL byte".into());
    };
    let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return CodedError::new(exit::RUNTIME_FAILED, "the program path contains a NUL byte".into());
    };
    let Err(errno) = execve(&c_path, &argv, &envp);
    exec_failure(&path, errno)
