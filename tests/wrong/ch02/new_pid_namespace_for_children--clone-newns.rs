//! wrong: unshares CLONE_NEWNS (the mount namespace, "new namespace" by its historic name) instead of CLONE_NEWPID
//! caught-by: ch02_namespaces::the_command_is_pid_1
//! caught-by: ch02_namespaces::host_processes_are_invisible
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS): creating a PID namespace")
