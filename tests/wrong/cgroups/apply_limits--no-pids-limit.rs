//! wrong: the pids limit is forgotten, so a fork bomb is not stopped
//! caught-by: cgroups::the_limits_read_back_from_the_cgroup_files_are_those_asked_for
//! caught-by: cgroups::a_fork_bomb_cannot_exceed_the_pids_limit
        if let (Some(bytes), Some(memory)) = (self.limits.memory, self.controller::<MemController>()) {
            memory.set_limit(bytes as i64).context("setting the memory limit")?;
            let (swap, swap_file) = if memory.v2() {
                (0, "memory.swap.max")
            } else {
                (bytes as i64, "memory.memsw.limit_in_bytes")
            };
            if memory.path().join(swap_file).exists() {
                memory.set_memswap_limit(swap).context("setting the swap limit")?;
            }
        }
        if let (Some(cpus), Some(cpu)) = (self.limits.cpus, self.controller::<CpuController>()) {
            let quota = (cpus * CPU_PERIOD_US as f64).round() as i64;
            cpu.set_cfs_quota_and_period(Some(quota), Some(CPU_PERIOD_US))
                .context("setting the cpu quota")?;
        }
        Ok(())
