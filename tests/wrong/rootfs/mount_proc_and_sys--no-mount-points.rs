//! wrong: /proc and /sys are mounted on directories that a root filesystem may not have
//! caught-by: rootfs::a_root_without_proc_and_sys_directories_still_gets_them
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // A procfs shows the PID namespace of the process that mounts it: this one.
    mount(Some("proc"), "/proc", Some("proc"), hardened, None::<&str>).context("mounting /proc")?;
    mount(Some("sysfs"), "/sys", Some("sysfs"), hardened | MsFlags::MS_RDONLY, None::<&str>)
        .context("mounting /sys read-only")?;
    Ok(())
