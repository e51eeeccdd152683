//! wrong: /proc and /sys are mounted without nosuid, nodev and noexec
//! caught-by: rootfs::proc_and_sys_are_mounted_nosuid_nodev_noexec
    make_mount_point("/proc")?;
    mount(Some("proc"), "/proc", Some("proc"), MsFlags::empty(), None::<&str>).context("mounting /proc")?;
    make_mount_point("/sys")?;
    mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::MS_RDONLY, None::<&str>)
        .context("mounting /sys read-only")?;
    Ok(())
