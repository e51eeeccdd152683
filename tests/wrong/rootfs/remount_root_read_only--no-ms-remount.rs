//! wrong: MS_BIND | MS_RDONLY without MS_REMOUNT asks for a new bind mount (of nothing) instead of changing `/`
//! caught-by: rootfs::read_only_refuses_writes_to_root
    let flags = MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("remounting / read-only")
