//! wrong: looks for a line starting with "oom_kill" without reading its count; on v1 "oom_kill_disable 0" matches, on v2 "oom_kill 0"
//! caught-by: cgroups::a_plain_sigkill_is_not_reported_as_out_of_memory
        let Some(memory) = self.controller::<MemController>() else { return false };
        let file = if memory.v2() { "memory.events" } else { "memory.oom_control" };
        std::fs::read_to_string(memory.path().join(file))
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("oom_kill"))
