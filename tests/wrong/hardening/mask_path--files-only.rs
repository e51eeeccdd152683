//! wrong: only files are masked; /sys/firmware and /proc/acpi stay readable
//! caught-by: hardening::masked_paths_show_nothing_and_take_nothing
    if !path.is_file() {
        return Ok(());
    }
    mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .with_context(|| format!("masking {}", path.display()))
