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
//@ begin 5
use crate::image::{self, Defaults, overlay::ContainerDirs};
use anyhow::bail;
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
    //@ begin 5
    /// The image to run; the default image when neither this nor `--rootfs` is given.
    pub image: Option<String>,
    //@ end
    //@ begin 6
    /// `--privileged`, `--cap-add`, `--cap-drop`, `--security-opt`.
    pub security: crate::security::Options,
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
    //@ begin 5
    /// The container's upper, work and mount directories, removed when the container has ended.
    _container_dirs: Option<ContainerDirs>,
    //@ end
}
//@ end

// ANCHOR: run
/// Run the container described by `config`, and return the exit code minibox should end with.
pub fn run(config: &Config) -> Result<i32> {
    // Signals wait in line from here on, before anything exists that would need cleaning up: a
    // Ctrl-C now is passed on to the command once it runs, and cannot kill minibox halfway.
    process::block_supervised_signals()?;
    //@ begin 3
    rootfs::prepare_state_dir(&config.state_dir)?;
    reclaim_leftovers(config);
    //@ end
    let command = Command { argv: config.command.clone(), env: environment(config) };
    //@ begin 2
    let id = ContainerId::random()?;
    step!("container id {id}");
    //@ begin 3
    //@ begin 5
    let (rootfs, container_dirs, image_defaults) = root_filesystem(config, &id)?;
    let command = with_image_defaults(command, config, image_defaults.as_ref())?;
    //@ end
    //@ until 5
    //| let dir = match &config.rootfs {
    //|     Some(dir) => dir.clone(),
    //|     None => rootfs::default_busybox_rootfs(&config.state_dir)?,
    //| };
    //| let rootfs = Rootfs::directory(dir, config.read_only);
    //@ end
    step!("root filesystem {}", rootfs.dir.display());
    //@ end
    let prepared = Prepared {
        hostname: config.hostname.clone().unwrap_or_else(|| id.to_string()),
        //@ begin 3
        rootfs,
        //@ end
        //@ begin 4
        cgroup: ContainerCgroup::create(id.as_str(), config.limits)?,
        //@ end
        //@ begin 5
        _container_dirs: container_dirs,
        //@ end
    };
    //@ begin 4
    step!("cgroup {:?}", prepared.cgroup.paths());
    //@ end
    //@ begin 6
    // Chapter 6: the devices allowlist, on the cgroup, before the child exists.
    if !config.security.privileged {
        crate::security::devices::restrict(&prepared.cgroup.paths())?;
    }
    //@ end
    //@ end

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
    // The command has run: a cleanup that fails is worth a warning, not a different exit code.
    if let Err(error) = prepared.cgroup.remove() {
        eprintln!("minibox: warning: {error:#}");
    }
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
    //@ begin 6
    // Chapter 6: the last step of the set-up, since it takes away what the steps above needed
    // (mounts, capabilities) and ends with the seccomp filter. `--init`'s PID 1 is confined too.
    crate::security::apply(&config.security)?;
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
// ANCHOR: reclaim_leftovers
/// Reclaim what a minibox killed before its cleanup left behind (SIGKILL cannot be caught): a
/// half-built root filesystem, from chapter 4 cgroups, from chapter 5 container directories and
/// half-done imports. Each live minibox holds a lock on what it owns, so only orphans go. A
/// failure here is a warning: it must not stop this container.
fn reclaim_leftovers(config: &Config) {
    let reclaimed = [
        rootfs::reclaim(&config.state_dir),
        //@ begin 4
        cgroups::reclaim_orphans(),
        //@ end
        //@ begin 5
        image::reclaim(&config.state_dir),
        //@ end
    ];
    for outcome in reclaimed {
        match outcome {
            Ok(0) => {}
            Ok(n) => step!("reclaimed {n} things left by a minibox that was killed"),
            Err(error) => eprintln!("minibox: warning: reclaiming what a killed minibox left: {error:#}"),
        }
    }
}
// ANCHOR_END: reclaim_leftovers

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

//@ begin 5
// ANCHOR: root_filesystem
/// The container's root filesystem: `--rootfs DIR` as it is, or an image's layers under an
/// overlay of the container's own (with the image's defaults for the command).
fn root_filesystem(
    config: &Config,
    id: &ContainerId,
) -> Result<(Rootfs, Option<ContainerDirs>, Option<Defaults>)> {
    if let Some(dir) = &config.rootfs {
        return Ok((Rootfs::directory(dir.clone(), config.read_only), None, None));
    }
    // The container's directories first: they hold the lock that keeps `rmi` from removing the
    // image's layers from under it.
    let dirs = ContainerDirs::create(&config.state_dir, id.as_str())?;
    let image = image::find_for_run(&config.state_dir, config.image.as_deref())?;
    step!(
        "image {} ({} layer{})",
        image.reference,
        image.layers.len(),
        if image.layers.len() == 1 { "" } else { "s" }
    );
    let mut rootfs = Rootfs::directory(dirs.mount_point(), config.read_only);
    rootfs.overlay = Some(dirs.overlay(&image.layers));
    rootfs.workdir = PathBuf::from(image.defaults.working_dir.as_deref().unwrap_or("/"));
    Ok((rootfs, Some(dirs), Some(image.defaults)))
}
// ANCHOR_END: root_filesystem

/// The command as the image would have it: its entrypoint, then the command given (or its
/// `Cmd`); its environment under the `--env` settings.
fn with_image_defaults(command: Command, config: &Config, defaults: Option<&Defaults>) -> Result<Command> {
    let Some(defaults) = defaults else { return Ok(command) };
    let mut argv = defaults.entrypoint.clone();
    argv.extend(if command.argv.is_empty() { defaults.cmd.clone() } else { command.argv });
    if argv.is_empty() {
        bail!("the image has no command (neither Entrypoint nor Cmd): give one after the image name");
    }
    let mut env = command.env;
    for kv in defaults.env.iter().chain(&config.env) {
        set_env(&mut env, kv);
    }
    Ok(Command { argv, env })
}

//@ end
/// Set `KEY=VALUE` in `env`, replacing an earlier value of KEY.
pub fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|existing| existing.split('=').next() != Some(key));
    env.push(kv.to_string());
}
