//! wrong: start is allowed on a running container too (the spec allows it once, on a created one)
//! caught-by: oci::each_operation_is_allowed_in_its_statuses_only
    let allowed = match operation {
        Operation::Start => matches!(status, Status::Created | Status::Running),
        Operation::Kill => matches!(status, Status::Created | Status::Running),
        Operation::Delete => force || status == Status::Stopped,
        Operation::Exec => status == Status::Running,
    };
    if allowed {
        return Ok(());
    }
    bail!("cannot {} a container that is {}", operation.verb(), status.as_str())
