//! wrong: MS_BIND without MS_REC copies only the top mount: mounts inside the root filesystem are left behind
//! caught-by: rootfs::a_mount_inside_the_root_filesystem_comes_along
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("making all mounts private (mount --make-rprivate /)")?;
    mount(Some(new_root), new_root, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .with_context(|| format!("bind-mounting the root filesystem {} onto itself", new_root.display()))?;
    Ok(())
