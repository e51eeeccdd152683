//! wrong: delete --force is refused like a plain delete, so a running container cannot be removed
//! caught-by: oci::each_operation_is_allowed_in_its_statuses_only
//! caught-by: oci::delete_force_removes_a_created_container
    let _ = force;
    let allowed = match operation {
        Operation::Start => status == Status::Created,
        Operation::Kill => matches!(status, Status::Created | Status::Running),
        Operation::Delete => status == Status::Stopped,
        Operation::Exec => status == Status::Running,
    };
    if allowed {
        return Ok(());
    }
    bail!("cannot {} a container that is {}", operation.verb(), status.as_str())
