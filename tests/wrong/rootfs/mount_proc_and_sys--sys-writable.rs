//! wrong: /sys is mounted without MS_RDONLY, so the container could write the host's kernel settings
//! caught-by: rootfs::sys_is_read_only
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    make_mount_point("/proc")?;
    mount(Some("proc"), "/proc", Some("proc"), hardened, None::<&str>).context("mounting /proc")?;
    make_mount_point("/sys")?;
    mount(Some("sysfs"), "/sys", Some("sysfs"), hardened, None::<&str>).context("mounting /sys")?;
    Ok(())
