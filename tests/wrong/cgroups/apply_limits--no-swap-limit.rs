//! wrong: only the memory limit is set, no swap limit: where there is swap, the container swaps instead of meeting its limit
//! caught-by: cgroups::the_limits_read_back_from_the_cgroup_files_are_those_asked_for
        if let (Some(bytes), Some(memory)) = (self.limits.memory, self.controller::<MemController>()) {
            memory.set_limit(bytes as i64).context("setting the memory limit")?;
        }
        if let (Some(max), Some(pids)) = (self.limits.pids, self.controller::<PidController>()) {
            pids.set_pid_max(MaxValue::Value(max as i64)).context("setting the pids limit")?;
        }
        if let (Some(cpus), Some(cpu)) = (self.limits.cpus, self.controller::<CpuController>()) {
            let quota = (cpus * CPU_PERIOD_US as f64).round() as i64;
            cpu.set_cfs_quota_and_period(Some(quota), Some(CPU_PERIOD_US))
                .context("setting the cpu quota")?;
        }
        Ok(())
