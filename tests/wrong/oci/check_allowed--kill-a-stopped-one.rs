//! wrong: kill is allowed whatever the status (a stopped container's pid may belong to another process by now)
//! caught-by: oci::each_operation_is_allowed_in_its_statuses_only
//! caught-by: oci::create_holds_the_process_until_start_and_delete_leaves_nothing
//! caught-by: oci::lifecycle_answers_match_runcs_on_the_same_bundle
    let allowed = match operation {
        Operation::Start => status == Status::Created,
        Operation::Kill => true,
        Operation::Delete => force || status == Status::Stopped,
        Operation::Exec => status == Status::Running,
    };
    if allowed {
        return Ok(());
    }
    bail!("cannot {} a container that is {}", operation.verb(), status.as_str())
