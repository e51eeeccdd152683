//! `minibox run` from beginning to end. Each chapter of the workshop adds its step to [`run`]
//! (in the parent) or to [`set_up`] (in the child, between fork and exec).

//@ begin 2
use crate::init;
use crate::namespaces::{self, ContainerId};
//@ end
use crate::process::{self, Command};
//@ begin 4
use crate::cgroups::{self, ContainerCgroup, Limits};
//@ end
//@ begin 3
use crate::rootfs::{self, Rootfs};
use std::path::PathBuf;
//@ end
use crate::step;
use anyhow::Result;

/// Everything `minibox run` was asked to do, checked.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `KEY=VALUE` settings from `--env`.
    pub env: Vec<String>,
    //@ begin 2
    /// `--hostname`; the container id when not given.
    pub hostname: Option<String>,
    /// `--init`: run a small init as PID 1, with the command as its child.
    pub init: bool,
    //@ end
    //@ begin 3
    /// `--rootfs`: the container's root filesystem; the default busybox root when not given.
    pub rootfs: Option<PathBuf>,
    /// `--read-only`: mount the root filesystem read-only.
    pub read_only: bool,
    /// `--root` or `MINIBOX_ROOT`: where minibox keeps its state.
    pub state_dir: PathBuf,
    //@ end
    //@ begin 4
    /// `--memory`, `--pids`, `--cpus`.
    pub limits: Limits,
    //@ end
}
//@ begin 2

/// What the parent has prepared for the child's side of the fork.
struct Prepared {
    hostname: String,
    //@ begin 3
    rootfs: Rootfs,
    //@ end
    //@ begin 4
    cgroup: ContainerCgroup,
    //@ end
}
//@ end

// ANCHOR: run
/// Run the container described by `config`, and return the exit code minibox should end with.
pub fn run(config: &Config) -> Result<i32> {
    //@ begin 2
    let id = ContainerId::random()?;
    step!("container id {id}");
    //@ begin 3
    let dir = match &config.rootfs {
        Some(dir) => dir.clone(),
        None => rootfs::default_busybox_rootfs(&config.state_dir)?,
    };
    step!("root filesystem {}", dir.display());
    //@ end
    let prepared = Prepared {
        hostname: config.hostname.clone().unwrap_or_else(|| id.to_string()),
        //@ begin 3
        rootfs: Rootfs { dir, read_only: config.read_only },
        //@ end
        //@ begin 4
        cgroup: ContainerCgroup::create(id.as_str(), config.limits)?,
        //@ end
    };
    //@ begin 4
    step!("cgroup {:?}", prepared.cgroup.paths());
    //@ end
    //@ end
    let command = Command { argv: config.command.clone(), env: environment(config) };

    // Signals wait in line from here on, so none is lost before we start waiting for them.
    process::block_supervised_signals()?;
    //@ begin 2
    namespaces::new_pid_namespace_for_children()?;
    let child = process::spawn(&command, || set_up(config, &prepared))?;
    //@ end
    //@ until 2
    //| let child = process::spawn(&command, || Ok(()))?;
    //@ end
    let pid = child.started()?;
    step!("started {:?} as pid {pid}", command.argv);

    let status = process::wait_for_exit(pid)?;
    step!("the command ended: {status:?}");
    //@ begin 4
    let code = process::exit_code(status);
    if code == crate::exit::SIGNAL_BASE + libc::SIGKILL && prepared.cgroup.oom_killed() {
        let limit = prepared.cgroup.memory_limit().map_or("none".to_string(), cgroups::human_size);
        eprintln!("minibox: container killed: out of memory (limit {limit})");
    }
    prepared.cgroup.remove()?;
    Ok(code)
    //@ end
    //@ until 4
    //| Ok(process::exit_code(status))
    //@ end
}
// ANCHOR_END: run
//@ begin 2

// ANCHOR: set_up
/// The container's side of the fork: everything that must be in place before the command starts.
/// It runs in the child, so nothing here can change the host.
fn set_up(config: &Config, prepared: &Prepared) -> Result<()> {
    //@ begin 4
    // First, while /sys/fs/cgroup is still in view: from here on, all of it is counted and limited.
    prepared.cgroup.join()?;
    //@ end
    namespaces::enter(&prepared.hostname)?;
    //@ begin 3
    rootfs::enter(&prepared.rootfs)?;
    //@ end
    if config.init {
        // From here on this process stays behind as PID 1; its child goes on to run the command.
        init::fork_init()?;
    }
    Ok(())
}
// ANCHOR_END: set_up
//@ end

//@ begin 3
/// The command's environment: a fresh one, with `--env` settings on top. A container has a root
/// filesystem of its own, so minibox's own variables (full of paths into the host) stay outside.
//@ end
//@ until 3
//| /// The command's environment: minibox's own, with `--env` settings on top.
//@ end
fn environment(config: &Config) -> Vec<String> {
    //@ begin 3
    let mut env = vec![format!("PATH={}", process::DEFAULT_PATH), "HOME=/root".to_string()];
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}"));
    }
    //@ end
    //@ until 3
    //| let mut env: Vec<String> = std::env::vars_os()
    //|     .filter_map(|(k, v)| Some(format!("{}={}", k.into_string().ok()?, v.into_string().ok()?)))
    //|     .collect();
    //@ end
    for kv in &config.env {
        set_env(&mut env, kv);
    }
    env
}

/// Set `KEY=VALUE` in `env`, replacing an earlier value of KEY.
pub fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|existing| existing.split('=').next() != Some(key));
    env.push(kv.to_string());
}
