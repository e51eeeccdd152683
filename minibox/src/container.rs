//! `minibox run` from beginning to end. Each chapter of the workshop adds its step to [`run`]
//! (in the parent) or to [`set_up`] (in the child, between fork and exec).

//@ begin namespaces
use crate::init;
use crate::namespaces::{self, ContainerId};
//@ end namespaces
use crate::process::{self, Command};
//@ begin cgroups
use crate::cgroups::{self, ContainerCgroup, Limits};
//@ end cgroups
//@ begin images
use crate::image::{self, Defaults, overlay::ContainerDirs};
use anyhow::bail;
//@ end images
//@ begin rootfs
use crate::rootfs::{self, Rootfs};
use crate::state;
use std::path::PathBuf;
//@ end rootfs
//@ begin network
use crate::network::{self, Mode, Network, Published};
//@ end network
use crate::process::channel::{self, Channel};
use crate::step;
use anyhow::Result;

/// Everything `minibox run` was asked to do, checked.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `KEY=VALUE` settings from `--env`.
    pub env: Vec<String>,
    //@ begin namespaces
    /// `--hostname`; the container id when not given.
    pub hostname: Option<String>,
    /// `--init`: run a small init as PID 1, with the command as its child.
    pub init: bool,
    //@ end namespaces
    //@ begin rootfs
    /// `--rootfs`: the container's root filesystem; the default busybox root when not given.
    pub rootfs: Option<PathBuf>,
    /// `--read-only`: mount the root filesystem read-only.
    pub read_only: bool,
    /// `--root` or `MINIBOX_ROOT`: where minibox keeps its state.
    pub state_dir: PathBuf,
    //@ end rootfs
    //@ begin cgroups
    /// `--memory`, `--pids`, `--cpus`.
    pub limits: Limits,
    //@ end cgroups
    //@ begin images
    /// The image to run; the default image when neither this nor `--rootfs` is given.
    pub image: Option<String>,
    //@ end images
    //@ begin hardening
    /// `--privileged`, `--cap-add`, `--cap-drop`, `--security-opt`.
    pub security: crate::security::Options,
    //@ end hardening
    //@ begin network
    /// `--network`: none, host or bridge (the default).
    pub network: Mode,
    /// `-p HOSTPORT:CONTAINERPORT`: ports published on the host.
    pub publish: Vec<Published>,
    //@ end network
    //@ begin build
    /// The build chapter: a `RUN` step's container (the image so far, and where its upper
    /// directory goes once the command has ended); `None` for `minibox run`.
    pub build: Option<RunStep>,
    //@ end build
}
//@ begin build

// ANCHOR: run_step
/// A `RUN` step's container: the image so far, and where to keep its upper directory.
#[derive(Clone, Debug)]
pub struct RunStep {
    /// The unpacked layers, bottom first.
    pub layers: Vec<PathBuf>,
    pub defaults: Defaults,
    /// Where `container::run` moves the overlay's upper directory once the command has ended.
    pub keep_upper: PathBuf,
}

impl RunStep {
    pub fn image(&self) -> image::Image {
        image::Image {
            reference: image::Reference { name: "build".to_string(), tag: "step".to_string() },
            layers: self.layers.clone(),
            defaults: self.defaults.clone(),
        }
    }
}
// ANCHOR_END: run_step
//@ end build

/// What the parent has prepared for the child's side of the fork.
struct Prepared {
    //@ until namespaces
    //| // Nothing yet: the later chapters add what the child needs.
    //@ end namespaces
    //@ begin namespaces
    hostname: String,
    //@ end namespaces
    //@ begin rootfs
    root: Root,
    //@ end rootfs
    //@ begin cgroups
    cgroup: ContainerCgroup,
    //@ end cgroups
    //@ begin network
    /// The container's network: an address, a veth pair, published ports.
    network: Network,
    //@ end network
}

// ANCHOR: run
/// Run the container described by `config`, and return the exit code minibox should end with.
pub fn run(config: &Config) -> Result<i32> {
    // Signals wait in line from here on, before anything exists that would need cleaning up: a
    // Ctrl-C now is passed on to the command once it runs, and cannot kill minibox halfway.
    process::block_supervised_signals()?;
    //@ begin rootless
    // An ordinary user's minibox becomes root of a user namespace of its own before anything
    // else: every namespace, mount and file made from here on is made inside it.
    crate::rootless::prepare(config.network, &config.publish, config.rootfs.is_none())?;
    //@ end rootless
    //@ begin rootfs
    state::prepare_state_dir(&config.state_dir)?;
    reclaim_leftovers(config);
    //@ end rootfs
    let command = Command { argv: config.command.clone(), env: environment(config) };
    //@ begin namespaces
    let id = ContainerId::random()?;
    step!("container id {id}");
    //@ end namespaces
    //@ begin rootfs
    let root = root_filesystem(config, &id)?;
    let command = with_root_defaults(command, config, &root)?;
    step!("root filesystem {}", root.rootfs.dir.display());
    //@ end rootfs
    //@ begin namespaces
    let hostname = config.hostname.clone().unwrap_or_else(|| id.to_string());
    //@ end namespaces
    //@ begin network
    let network = Network::prepare(config.network, &config.publish, id.as_str(), &hostname)?;
    let mut root = root;
    // An image's container gets its /etc/hosts, hostname and resolv.conf as a layer of its own on
    // top of the image's (nothing is written into its upper directory, nothing mounted over /etc).
    // A --rootfs directory is the user's: minibox neither writes into it nor mounts over it.
    if let (Some(overlay), Some(dirs)) = (root.rootfs.overlay.as_mut(), root._container_dirs.as_ref())
        && let Some(layer) = network.etc_layer(&dirs.dir.join("network"))?
    {
        overlay.lower.insert(0, layer);
    }
    //@ end network
    let prepared = Prepared {
        //@ until namespaces
        //| // Nothing yet.
        //@ end namespaces
        //@ begin namespaces
        hostname,
        //@ end namespaces
        //@ begin rootfs
        root,
        //@ end rootfs
        //@ begin network
        network,
        //@ end network
        //@ begin cgroups
        //@ until rootless
        //| cgroup: ContainerCgroup::create(id.as_str(), config.limits)?,
        //@ end rootless
        //@ begin rootless
        cgroup: crate::rootless::cgroup(id.as_str(), config.limits)?,
        //@ end rootless
        //@ end cgroups
    };
    //@ begin cgroups
    step!("cgroup {:?}", prepared.cgroup.paths());
    //@ end cgroups
    //@ begin hardening
    // The devices allowlist, on the cgroup, before the child exists.
    if !config.security.privileged {
        crate::security::devices::restrict(&prepared.cgroup.paths())?;
    }
    //@ end hardening

    //@ begin network
    let own_pid_namespace = namespaces::own_pid_namespace()?;
    //@ end network
    //@ begin namespaces
    namespaces::new_pid_namespace_for_children()?;
    //@ end namespaces
    // A channel both ways, for the set-up steps that take turns (from the network chapter on, the
    // child makes its network namespace and minibox plugs a veth pair into it).
    let (channel, child_channel) = channel::pair()?;
    let child = process::spawn(&command, || set_up(config, &prepared, &child_channel))?;
    // Only the child may hold its end, so that the child's death reads as the end.
    drop(child_channel);
    //@ begin network
    namespaces::restore_pid_namespace_for_children(&own_pid_namespace)?;
    if let Err(error) = prepared.network.attach(child.pid, &channel) {
        drop(channel); // the child stops waiting, fails, and is reaped by `started`
        let _ = child.started();
        return Err(error);
    }
    //@ end network
    let pid = child.started()?;
    drop(channel); // the set-up is over: the command runs
    step!("started {:?} as pid {pid}", command.argv);

    let status = process::wait_for_exit(pid)?;
    step!("the command ended: {status:?}");
    let code = process::exit_code(status);
    //@ begin cgroups
    if code == crate::exit::SIGNAL_BASE + libc::SIGKILL && prepared.cgroup.oom_killed() {
        let limit = prepared.cgroup.memory_limit().map_or("none".to_string(), cgroups::human_size);
        eprintln!("minibox: container killed: out of memory (limit {limit})");
    }
    // The command has run: a cleanup that fails is worth a warning, not a different exit code.
    if let Err(error) = prepared.cgroup.remove() {
        eprintln!("minibox: warning: {error:#}");
    }
    //@ end cgroups
    //@ begin network
    if let Err(error) = prepared.network.release() {
        eprintln!("minibox: warning: {error:#}");
    }
    //@ end network
    //@ begin build
    // A build's RUN step keeps what the command changed: the overlay's upper directory.
    if let (Some(step), Some(dirs)) = (&config.build, &prepared.root._container_dirs) {
        std::fs::rename(dirs.dir.join("upper"), &step.keep_upper).map_err(|error| {
            anyhow::anyhow!("keeping the upper directory as {}: {error}", step.keep_upper.display())
        })?;
    }
    //@ end build
    Ok(code)
}
// ANCHOR_END: run

// ANCHOR: set_up
/// The container's side of the fork: everything that must be in place before the command starts.
/// It runs in the child, so nothing here can change the host.
fn set_up(config: &Config, prepared: &Prepared, channel: &Channel) -> Result<()> {
    //@ until namespaces
    //| // Nothing yet: in this chapter the child runs the command as it is.
    //| let _ = (config, prepared, channel);
    //@ end namespaces
    //@ begin cgroups
    // First, while /sys/fs/cgroup is still in view: from here on, all of it is counted and limited.
    prepared.cgroup.join()?;
    //@ end cgroups
    //@ begin namespaces
    namespaces::enter(&prepared.hostname)?;
    //@ until network
    //| let _ = channel; // the network chapter's set-up is the first that takes turns
    //@ end network
    //@ end namespaces
    //@ begin network
    prepared.network.enter(channel)?;
    //@ end network
    //@ begin rootfs
    rootfs::enter(&prepared.root.rootfs)?;
    //@ end rootfs
    //@ begin hardening
    // The last step of the set-up, since it takes away what the steps above needed
    // (mounts, capabilities) and ends with the seccomp filter. `--init`'s PID 1 is confined too.
    crate::security::apply(&config.security)?;
    //@ end hardening
    //@ begin namespaces
    if config.init {
        // From here on this process stays behind as PID 1; its child goes on to run the command.
        init::fork_init()?;
    }
    //@ end namespaces
    Ok(())
}
// ANCHOR_END: set_up

//@ begin rootfs
// ANCHOR: reclaim_leftovers
/// Reclaim what a minibox killed before its cleanup left behind (SIGKILL cannot be caught): a
/// half-built root filesystem, from the cgroups chapter cgroups, from the images chapter container directories and
/// half-done imports. Each live minibox holds a lock on what it owns, so only orphans go. A
/// failure here is a warning: it must not stop this container.
fn reclaim_leftovers(config: &Config) {
    let reclaimed = [
        state::reclaim(&config.state_dir),
        //@ begin cgroups
        cgroups::reclaim_orphans(),
        //@ end cgroups
        //@ begin images
        image::reclaim(&config.state_dir),
        //@ end images
        //@ begin network
        //@ until rootless
        //| network::reclaim(),
        //@ end rootless
        //@ begin rootless
        // A rootless container has no bridge, and its user may not look at root's.
        if crate::rootless::active() { Ok(0) } else { network::reclaim() },
        //@ end rootless
        //@ end network
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
//@ end rootfs

//@ begin rootfs
/// The command's environment: a fresh one, with `--env` settings on top. A container has a root
/// filesystem of its own, so minibox's own variables (full of paths into the host) stay outside.
//@ end rootfs
//@ until rootfs
//| /// The command's environment: minibox's own, with `--env` settings on top.
//@ end rootfs
fn environment(config: &Config) -> Vec<String> {
    //@ begin rootfs
    let mut env = vec![format!("PATH={}", process::DEFAULT_PATH), "HOME=/root".to_string()];
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}"));
    }
    //@ end rootfs
    //@ until rootfs
    //| let mut env: Vec<String> = std::env::vars_os()
    //|     .filter_map(|(k, v)| Some(format!("{}={}", k.into_string().ok()?, v.into_string().ok()?)))
    //|     .collect();
    //@ end rootfs
    for kv in &config.env {
        set_env(&mut env, kv);
    }
    env
}

//@ begin rootfs
/// The container's root filesystem, and what comes with it.
struct Root {
    rootfs: Rootfs,
    //@ begin images
    /// The container's upper, work and mount directories, removed when the container has ended.
    _container_dirs: Option<ContainerDirs>,
    /// The image's defaults for the command, when the root is an image's.
    image_defaults: Option<Defaults>,
    //@ end images
}

// ANCHOR: root_filesystem
/// The container's root filesystem: `--rootfs DIR` as it is, or else
//@ until images
//| /// the default busybox root.
//@ end images
//@ begin images
/// an image's layers under an overlay of the container's own (with the image's defaults for
/// the command).
//@ end images
fn root_filesystem(config: &Config, id: &ContainerId) -> Result<Root> {
    //@ until images
    //| let _ = id; // the images chapter gives each container directories named after it
    //| let dir = match &config.rootfs {
    //|     Some(dir) => dir.clone(),
    //|     None => state::default_busybox_rootfs(&config.state_dir)?,
    //| };
    //| Ok(Root { rootfs: Rootfs::directory(dir, config.read_only) })
    //@ end images
    //@ begin images
    if let Some(dir) = &config.rootfs {
        let rootfs = Rootfs::directory(dir.clone(), config.read_only);
        return Ok(Root { rootfs, _container_dirs: None, image_defaults: None });
    }
    // The container's directories first: they hold the lock that keeps `rmi` from removing the
    // image's layers from under it.
    let dirs = ContainerDirs::create(&config.state_dir, id.as_str())?;
    //@ until build
    //| let image = image::find_for_run(&config.state_dir, config.image.as_deref())?;
    //@ end build
    //@ begin build
    let image = match &config.build {
        Some(step) => step.image(),
        None => image::find_for_run(&config.state_dir, config.image.as_deref())?,
    };
    //@ end build
    step!(
        "image {} ({} layer{})",
        image.reference,
        image.layers.len(),
        if image.layers.len() == 1 { "" } else { "s" }
    );
    let mut rootfs = Rootfs::directory(dirs.mount_point(), config.read_only);
    rootfs.overlay = Some(dirs.overlay(&image.layers));
    rootfs.workdir = PathBuf::from(image.defaults.working_dir.as_deref().unwrap_or("/"));
    Ok(Root { rootfs, _container_dirs: Some(dirs), image_defaults: Some(image.defaults) })
    //@ end images
}
// ANCHOR_END: root_filesystem

/// The command as the root filesystem would have it: an image's defaults fill in what `run`
/// was not given (from the images chapter on; a directory has none).
fn with_root_defaults(command: Command, config: &Config, root: &Root) -> Result<Command> {
    //@ until images
    //| let _ = (config, root);
    //| Ok(command)
    //@ end images
    //@ begin images
    with_image_defaults(command, config, root.image_defaults.as_ref())
    //@ end images
}
//@ end rootfs
//@ begin images

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

//@ end images
/// Set `KEY=VALUE` in `env`, replacing an earlier value of KEY.
pub fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|existing| existing.split('=').next() != Some(key));
    env.push(kv.to_string());
}
