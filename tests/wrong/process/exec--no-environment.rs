//! wrong: execve gets an empty environment, so the command never sees its variables (--env settings included)
//! caught-by: process::environment_settings_reach_the_command
    let Some(program) = command.argv.first() else {
        return CodedError::new(exit::RUNTIME_FAILED, "no command given".into());
    };
    let path = match find_program(program, search_path(&command.env)) {
        Ok(path) => path,
        Err(error) => return error,
    };
    let Ok(argv) = c_strings(&command.argv) else {
        return CodedError::new(exit::RUNTIME_FAILED, "an argument contains a NUL byte".into());
    };
    let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return CodedError::new(exit::RUNTIME_FAILED, "the program path contains a NUL byte".into());
    };
    if let Err(error) = unblock_supervised_signals() {
        return CodedError::new(exit::RUNTIME_FAILED, format!("{error:#}"));
    }
    let no_environment: [CString; 0] = [];
    let Err(errno) = execve(&c_path, &argv, &no_environment);
    exec_failure(&path, errno)
