//! wrong: chroot instead of pivot_root: the host's root stays reachable from inside
//! caught-by: rootfs::the_chroot_escape_works_against_chroot_but_not_against_pivot_root
    chdir(new_root).with_context(|| format!("chdir {}", new_root.display()))?;
    nix::unistd::chroot(".").context("chroot")?;
    chdir("/").context("chdir /")?;
    Ok(())
