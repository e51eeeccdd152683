//! wrong: unshares CLONE_NEWNS (the mount namespace, "new namespace" by its historic name) instead of CLONE_NEWPID
//! caught-by: namespaces::the_command_is_pid_1
//! caught-by: namespaces::host_processes_are_invisible
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS): creating a PID namespace")
