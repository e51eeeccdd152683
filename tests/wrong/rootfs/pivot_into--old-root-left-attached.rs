//! wrong: pivot_root with a put_old directory, and the old root (the whole host) left mounted there
//! caught-by: rootfs::the_containers_mount_table_lists_no_host_mount
    let put_old = new_root.join(".old_root");
    std::fs::create_dir_all(&put_old).context("creating the directory for the old root")?;
    pivot_root(new_root, &put_old).context("pivot_root")?;
    chdir("/").context("chdir /")?;
    Ok(())
