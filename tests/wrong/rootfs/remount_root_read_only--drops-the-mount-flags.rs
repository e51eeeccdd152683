//! wrong: the bind remount passes read-only alone, so the root loses its nosuid and nodev
//! caught-by: rootfs::read_only_changes_the_containers_mount_not_the_filesystem_below
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("remounting / read-only")
