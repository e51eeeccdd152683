//! wrong: directories are masked with a writable tmpfs: the container can leave files there
//! caught-by: hardening::masked_paths_show_nothing_and_take_nothing
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("masking {}", path.display())),
    };
    if meta.is_dir() {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), path, Some("tmpfs"), flags, None::<&str>)
    } else {
        mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
    }
    .with_context(|| format!("masking {}", path.display()))
