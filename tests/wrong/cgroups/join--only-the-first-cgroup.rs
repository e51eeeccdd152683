//! wrong: joins only the first of the container's cgroups (on v1 one per controller): pids and cpu limits do not apply
//! caught-by: cgroups::the_command_runs_inside_the_containers_cgroup
//! caught-by: cgroups::a_fork_bomb_cannot_exceed_the_pids_limit
//! caught-by: cgroups::a_busy_loop_under_a_cpu_quota_is_throttled
        if let Some(group) = self.groups.first() {
            let joined = if group.v2() {
                group.add_task_by_tgid(CgroupPid::from(0))
            } else {
                group.add_task(CgroupPid::from(0))
            };
            joined.context("joining the container's cgroup")?;
        }
        Ok(())
