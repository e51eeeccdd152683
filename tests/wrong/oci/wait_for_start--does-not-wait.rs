//! wrong: the process does not wait at the fifo, so the command runs at create, before start
//! caught-by: oci::create_holds_the_process_until_start_and_delete_leaves_nothing
//! caught-by: oci::delete_force_removes_a_created_container
    let _ = fifo;
    Ok(())
