//! wrong: delete without --force refuses a created container (the specification's rule, not runc's): containerd deletes a task that never started that way, and the delete fails
//! caught-by: oci::each_operation_is_allowed_in_its_statuses_only
//! caught-by: oci::lifecycle_answers_match_runcs_on_the_same_bundle
    let allowed = match operation {
        Operation::Start => status == Status::Created,
        Operation::Kill => matches!(status, Status::Created | Status::Running),
        Operation::Delete => force || status == Status::Stopped,
        Operation::Exec => status == Status::Running,
    };
    if allowed {
        return Ok(());
    }
    bail!("cannot {} a container that is {}", operation.verb(), status.as_str())
