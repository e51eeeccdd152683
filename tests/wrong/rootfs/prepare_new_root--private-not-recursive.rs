//! wrong: MS_PRIVATE without MS_REC makes only `/` private; the mounts below it stay shared
//! caught-by: rootfs::a_root_filesystem_on_shared_mounts_still_becomes_the_root
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_PRIVATE, None::<&str>)
        .context("making / private (mount --make-private /)")?;
    mount(Some(new_root), new_root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .with_context(|| {
            format!(
                "bind-mounting the root filesystem {} onto itself (is it on an unbindable mount?)",
                new_root.display()
            )
        })?;
    Ok(())
