//! wrong: only root is mapped; the subordinate ids are read but never used
//! caught-by: rootless::root_inside_is_the_user_outside
//! caught-by: rootless::files_written_through_a_bind_mount_belong_to_the_user
    let _ = subordinate;
    vec![[0, own, 1]]
