//! wrong: the fifo is opened but no byte is written, so start cannot tell the process went through and waits on
//! caught-by: oci::create_holds_the_process_until_start_and_delete_leaves_nothing
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the exec fifo ({path}) for writing"))?;
    drop(writer);
    Ok(())
