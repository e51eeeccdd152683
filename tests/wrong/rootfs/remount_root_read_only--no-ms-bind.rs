//! wrong: MS_REMOUNT | MS_RDONLY without MS_BIND remounts the filesystem under the root, the host's own, read-only
//! caught-by: rootfs::read_only_changes_the_containers_mount_not_the_filesystem_below
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("remounting / read-only")
