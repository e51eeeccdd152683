//! wrong: no MS_REC | MS_PRIVATE step; where mounts are shared (systemd machines) pivot_root fails with EINVAL
//! caught-by: rootfs::a_root_filesystem_on_shared_mounts_still_becomes_the_root
    mount(Some(new_root), new_root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .with_context(|| {
            format!(
                "bind-mounting the root filesystem {} onto itself (is it on an unbindable mount?)",
                new_root.display()
            )
        })?;
    Ok(())
