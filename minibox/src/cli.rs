//! The command line. clap turns it into a [`Config`]; [`main`] runs it and turns the outcome into
//! an exit code and, on failure, one line on stderr.

use crate::container::{self, Config};
use crate::exit;
use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
//@ begin rootfs
use crate::state::StateDir;
use std::path::PathBuf;
//@ end rootfs

#[derive(Parser, Debug)]
#[command(
    name = "minibox",
    version,
    about = "A small Linux container runtime, built chapter by chapter",
    after_help = "Exit codes: 125 minibox failed, 126 the command cannot be run, 127 the command was \
                  not found; otherwise the command's own code (128+N when signal N killed it)."
)]
pub struct Cli {
    /// Print each step to stderr as minibox takes it.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    //@ begin oci
    #[command(flatten)]
    pub oci: OciGlobals,
    //@ end oci
    //@ begin daemon
    /// The daemon's socket: where `minibox daemon` listens, and where the other commands send
    /// their requests when it is given (unix:///PATH).
    #[arg(short = 'H', long, global = true, env = "MINIBOX_HOST", value_name = "unix:///PATH")]
    pub host: Option<String>,
    //@ end daemon
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run: its size does not matter
pub enum Command {
    /// Run a command in a new container: minibox run [OPTIONS] -- COMMAND [ARGS...]
    Run(RunArgs),
    //@ begin images
    /// Bring images in: import a root filesystem archive, load an OCI image layout.
    #[command(subcommand)]
    Image(ImageCommand),
    /// List the images.
    Images(StateDir),
    /// Remove an image.
    Rmi {
        /// NAME[:TAG]
        reference: String,
        #[command(flatten)]
        state: StateDir,
    },
    //@ end images
    //@ begin registry
    /// Pull an image from a registry: NAME[:TAG|@DIGEST] (Docker Hub unless NAME starts with a host).
    Pull {
        /// [REGISTRY/]NAME[:TAG|@sha256:DIGEST], for example busybox or 127.0.0.1:5000/app:v1.
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Push an image to a registry.
    Push {
        /// The local image, NAME[:TAG].
        local: String,
        /// Where to push it, [REGISTRY/]NAME[:TAG] (default: the local name).
        remote: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Save credentials for a registry (the password is read from standard input).
    Login {
        /// The registry: docker.io, ghcr.io, 127.0.0.1:5000...
        registry: String,
        /// The user name.
        #[arg(short, long)]
        username: String,
        #[command(flatten)]
        registry_args: RegistryArgs,
    },
    //@ end registry
    //@ begin oci
    // The OCI runtime's operations, listed among minibox's own (`minibox create ID`).
    #[command(flatten)]
    Oci(OciCommand),
    //@ end oci
    //@ begin daemon
    /// Serve the Docker Engine API on a Unix socket (default unix:///run/minibox/minibox.sock).
    Daemon(crate::daemon::DaemonArgs),
    /// The daemon's per-container supervisor (the daemon starts it).
    #[command(hide = true)]
    Shim(crate::daemon::shim::ShimArgs),
    //@ end daemon
    //@ begin build
    /// Build an image from a Dockerfile: minibox build -t NAME[:TAG] [-f Dockerfile] CONTEXT
    Build(crate::build::BuildArgs),
    //@ end build
    //@ begin network
    /// The bridged containers' shared network: minibox network prune
    #[command(subcommand)]
    Network(NetworkCommand),
    //@ end network
}

//@ begin network
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Remove the bridge minibox0, its NAT rules (nftables table ip minibox) and the forwarding
    /// setting the first bridged container made; they stay between containers, as docker0 does.
    #[command(after_help = "Exit codes: 0 removed (or nothing was there), 125 refused (a container \
                            still holds an address on the bridge) or failed.")]
    Prune,
}

/// `minibox network prune`: say what went, one line each.
fn network(command: NetworkCommand) -> Result<i32> {
    match command {
        NetworkCommand::Prune => {
            let removed = crate::network::prune()?;
            if removed.is_empty() {
                println!("nothing to remove: no bridge {} here", crate::network::BRIDGE);
            }
            for what in removed {
                println!("removed {what}");
            }
        }
    }
    Ok(0)
}
//@ end network
//@ begin registry

#[derive(Args, Debug)]
pub struct RegistryArgs {
    /// Speak plain HTTP, not HTTPS: for a registry on this machine (loopback) only.
    #[arg(long)]
    pub insecure: bool,
    #[command(flatten)]
    pub state: StateDir,
}

fn pull(reference: &str, registry: &RegistryArgs) -> Result<i32> {
    let remote = crate::registry::reference::RemoteReference::parse(reference)?;
    let store = crate::image::Store::open(&registry.state.dir)?;
    let pulled = crate::registry::pull::pull(&store, &registry.state.dir, &remote, registry.insecure)?;
    let size = crate::cgroups::human_size(pulled.fetched);
    println!("pulled {} ({}, {size} fetched)", pulled.local_name, pulled.manifest);
    Ok(0)
}

fn push(local: &str, remote: Option<&str>, registry: &RegistryArgs) -> Result<i32> {
    let local = crate::image::Reference::parse(local)?;
    let remote = crate::registry::reference::RemoteReference::parse(remote.unwrap_or(&local.to_string()))?;
    let store = crate::image::Store::open(&registry.state.dir)?;
    let (digest, sent) =
        crate::registry::push::push(&store, &registry.state.dir, &local, &remote, registry.insecure)?;
    println!("pushed {remote} ({digest}, {sent} blobs sent)");
    Ok(0)
}

/// The password comes on standard input, never in the arguments (which `ps` shows to all).
fn login(registry: &str, username: String, args: &RegistryArgs) -> Result<i32> {
    let mut password = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut password)?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password on standard input: echo \"$TOKEN\" | minibox login {registry} -u {username}");
    }
    let credentials = crate::registry::auth::Credentials { user: username, password };
    crate::registry::login(&args.state.dir, registry, credentials, args.insecure)?;
    println!("logged in to {registry}");
    Ok(0)
}
//@ end registry
//@ begin images

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Import a root filesystem archive (a tar, optionally gzip-compressed) as a one-layer image.
    Import {
        /// The archive.
        archive: PathBuf,
        /// The image's name: NAME[:TAG].
        reference: String,
        /// The image's command.
        #[arg(long, default_value = "sh")]
        cmd: String,
        #[command(flatten)]
        state: StateDir,
    },
    /// Load the images of an OCI image layout: a directory (from `skopeo copy ... oci:DIR:TAG`) or a
    /// tar (from `docker save`).
    Load {
        /// The directory or tar archive.
        source: PathBuf,
        /// Name the image NAME[:TAG] (when the layout does not name it, or to rename it).
        #[arg(long, value_name = "NAME[:TAG]")]
        tag: Option<String>,
        #[command(flatten)]
        state: StateDir,
    },
    //@ begin build
    /// Save an image as an OCI image layout directory (for `skopeo copy oci:DIR:TAG ...`, `podman`).
    Save {
        /// The image, NAME[:TAG].
        reference: String,
        /// The directory to write (created; an existing layout gains the image).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        #[command(flatten)]
        state: StateDir,
    },
    //@ end build
}
//@ end images

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Set an environment variable for the command (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    //@ begin namespaces
    /// The container's hostname (default: its id).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Run a small init as PID 1 that passes signals on and reaps orphans (as `docker run --init`).
    #[arg(long)]
    pub init: bool,
    //@ end namespaces
    //@ begin rootfs
    /// The container's root filesystem (default: a busybox root built on first use).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,

    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,

    #[command(flatten)]
    pub state: StateDir,
    //@ end rootfs
    //@ begin cgroups
    /// Memory limit: bytes, or a number with a unit b, k, m or g (64m, 1g).
    #[arg(long, value_name = "SIZE", value_parser = memory_size, allow_hyphen_values = true)]
    pub memory: Option<u64>,

    /// How many processes (and threads) may exist in the container at once.
    #[arg(long, value_name = "N", value_parser = pids_count, allow_hyphen_values = true)]
    pub pids: Option<u64>,

    /// CPU time, in CPUs: 0.5 is half of one CPU's time, 2 is two CPUs' worth.
    #[arg(long, value_name = "CPUS", value_parser = cpus_count, allow_hyphen_values = true)]
    pub cpus: Option<f64>,
    //@ end cgroups
    //@ begin hardening
    /// Add capabilities to the default set (repeatable; NAME, CAP_NAME, or ALL).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// Drop capabilities from the default set (repeatable; NAME, CAP_NAME, or ALL).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// Give the container every capability, no seccomp filter and nothing masked.
    #[arg(long)]
    pub privileged: bool,

    /// Security options: `seccomp=unconfined` runs without the seccomp filter.
    #[arg(long = "security-opt", value_name = "OPTION")]
    pub security_opt: Vec<String>,
    //@ end hardening
    //@ begin network
    /// The container's network: bridge (its own namespace, on the bridge minibox0, with NAT),
    /// none (its own namespace, loopback only) or host (the host's own network).
    //@ until rootless
    //| #[arg(long, value_name = "MODE", default_value = "bridge")]
    //@ end rootless
    //@ begin rootless
    // none for an ordinary user (the rootless chapter), bridge for root.
    #[arg(long, value_name = "MODE", default_value = crate::rootless::default_network())]
    //@ end rootless
    pub network: crate::network::Mode,

    /// Publish a container's port on the host: HOSTPORT:CONTAINERPORT[/tcp|/udp] (repeatable).
    #[arg(short = 'p', long = "publish", value_name = "HOST:CONTAINER")]
    pub publish: Vec<crate::network::Published>,
    //@ end network
    //@ begin images
    /// The image to run (default: busybox, built from the host's busybox-static on first use).
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,

    /// The command to run instead of the image's, and its arguments.
    #[arg(value_name = "ARGS", allow_hyphen_values = true)]
    pub args: Vec<String>,

    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    //@ end images
    //@ until images
    //| /// The command and its arguments, after `--`.
    //| #[arg(last = true, required = true, value_name = "COMMAND")]
    //@ end images
    pub command: Vec<String>,
}

impl RunArgs {
    /// Check the arguments and turn them into the container's configuration. Every check that
    /// can be made before anything is created is made here, so bad input leaves nothing behind.
    pub fn into_config(self) -> Result<Config> {
        for kv in &self.env {
            if !kv.contains('=') || kv.starts_with('=') {
                bail!("--env wants KEY=VALUE, not `{kv}`");
            }
        }
        //@ begin namespaces
        if let Some(name) = &self.hostname {
            crate::namespaces::check_hostname(name)?;
        }
        //@ end namespaces
        //@ begin rootfs
        let rootfs = self.rootfs.as_deref().map(crate::rootfs::check_dir).transpose()?;
        //@ end rootfs
        //@ begin images
        if !self.args.is_empty() && !self.command.is_empty() {
            bail!("give the command after the image or after `--`, not both");
        }
        if rootfs.is_some() && self.image.is_some() {
            bail!("give --rootfs DIR or an image, not both");
        }
        let command = if self.command.is_empty() { self.args } else { self.command };
        if rootfs.is_some() && command.is_empty() {
            bail!("--rootfs needs a command: minibox run --rootfs DIR -- COMMAND [ARGS...]");
        }
        //@ end images
        //@ begin hardening
        let security = security_options(&self.cap_add, &self.cap_drop, self.privileged, &self.security_opt)?;
        //@ end hardening
        Ok(Config {
            //@ begin images
            command,
            //@ end images
            //@ until images
            //| command: self.command,
            //@ end images
            env: self.env,
            //@ begin namespaces
            hostname: self.hostname,
            init: self.init,
            //@ end namespaces
            //@ begin rootfs
            rootfs,
            read_only: self.read_only,
            state_dir: self.state.dir,
            //@ end rootfs
            //@ begin cgroups
            limits: crate::cgroups::Limits { memory: self.memory, pids: self.pids, cpus: self.cpus },
            //@ end cgroups
            //@ begin images
            image: self.image,
            //@ end images
            //@ begin hardening
            security,
            //@ end hardening
            //@ begin network
            network: self.network,
            publish: self.publish,
            //@ end network
            //@ begin build
            build: None,
            //@ end build
        })
    }
}

//@ begin hardening
/// Check `--cap-add`, `--cap-drop`, `--privileged` and `--security-opt`.
fn security_options(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
    security_opt: &[String],
) -> Result<crate::security::Options> {
    use crate::security::{Options, capabilities};
    let mut options = Options {
        privileged,
        cap_add: capabilities::parse(cap_add)?,
        cap_drop: capabilities::parse(cap_drop)?,
        seccomp_unconfined: false,
    };
    for option in security_opt {
        match option.as_str() {
            "seccomp=unconfined" | "seccomp:unconfined" => options.seccomp_unconfined = true,
            other => bail!("--security-opt {other}: unknown option (minibox knows seccomp=unconfined)"),
        }
    }
    Ok(options)
}

//@ end hardening
//@ begin cgroups
// clap checks the limits while it parses, so a bad value stops minibox before anything exists.
fn memory_size(text: &str) -> Result<u64, String> {
    crate::cgroups::parse_memory(text).map_err(|e| format!("{e:#}"))
}

fn pids_count(text: &str) -> Result<u64, String> {
    crate::cgroups::parse_pids(text).map_err(|e| format!("{e:#}"))
}

fn cpus_count(text: &str) -> Result<f64, String> {
    crate::cgroups::parse_cpus(text).map_err(|e| format!("{e:#}"))
}

//@ end cgroups
//@ begin images
fn images(command: ImageCommand) -> Result<i32> {
    use crate::image::{self, Reference, Store};
    match command {
        //@ begin build
        ImageCommand::Save { reference, output, state } => {
            let reference = Reference::parse(&reference)?;
            let store = Store::open(&state.dir)?;
            let digest = crate::build::save(&store, &reference, &output)?;
            println!("saved {reference} ({digest}) to {}", output.display());
        }
        //@ end build
        ImageCommand::Import { archive, reference, cmd, state } => {
            let reference = Reference::parse(&reference)?;
            let store = Store::open(&state.dir)?;
            let size = image::import(&store, &archive, &reference, vec![cmd])?;
            println!("imported {reference}: one layer of {}", crate::cgroups::human_size(size));
        }
        ImageCommand::Load { source, tag, state } => {
            let tag = tag.as_deref().map(Reference::parse).transpose()?;
            let store = Store::open(&state.dir)?;
            for reference in image::load(&store, &source, tag.as_ref())? {
                println!("loaded {reference}");
            }
        }
    }
    Ok(0)
}

/// List the store's images.
fn list_images(state: &StateDir) -> Result<i32> {
    let store = crate::image::Store::open(&state.dir)?;
    let rows: Vec<(String, String, String, u64)> = store
        .summary()?
        .into_iter()
        .map(|(reference, id, size)| (reference.name, reference.tag, id, size))
        .collect();
    crate::image::print_list(&rows)
}

fn remove_image(reference: &str, state: &StateDir) -> Result<i32> {
    let reference = crate::image::Reference::parse(reference)?;
    crate::image::Store::open(&state.dir)?.remove(&reference)?;
    println!("removed {reference}");
    Ok(0)
}

//@ end images
//@ begin oci
/// The OCI runtime's operations: what an engine (containerd, podman) asks of runc.
#[derive(Subcommand, Debug)]
pub enum OciCommand {
    /// OCI runtime: set up the container of a bundle, its process held until `start`.
    Create {
        /// The bundle: a directory holding config.json and the root filesystem.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Write the container's process id into this file.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// A Unix socket to send the terminal's master to (process.terminal).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// runc's: minibox always uses pivot_root; refused.
        #[arg(long)]
        no_pivot: bool,
        /// runc's: minibox makes no session keyring, so there is none to skip.
        #[arg(long)]
        no_new_keyring: bool,
        /// The container's id.
        id: String,
    },
    /// OCI runtime: run the created container's program.
    Start { id: String },
    /// OCI runtime: print the container's state (JSON).
    State { id: String },
    /// OCI runtime: send a signal to the container's process (default SIGTERM).
    Kill {
        /// Signal every process in the container's cgroup.
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// OCI runtime: remove a stopped container (--force: any container).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// OCI runtime: run a further process in a running container.
    Exec {
        /// The process, as config.json's `process` object.
        #[arg(short, long)]
        process: Option<PathBuf>,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Return once the process runs, without waiting for it.
        #[arg(short, long)]
        detach: bool,
        /// A terminal for the process (with --console-socket), when no --process is given.
        #[arg(short, long)]
        tty: bool,
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// The working directory (with a command line, not --process).
        #[arg(long)]
        cwd: Option<String>,
        /// KEY=VALUE for the command (repeatable; with a command line, not --process).
        #[arg(short, long = "env")]
        env: Vec<String>,
        id: String,
        /// The command, when not given by --process.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// OCI runtime: list the containers under --root.
    List,
    /// OCI runtime: the processes of a container (host pids).
    Ps {
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
        id: String,
    },
    /// OCI runtime: what this runtime implements (JSON).
    Features,
    /// OCI runtime: write a starting config.json into the bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

/// The global options that engines pass to an OCI runtime, before the operation.
#[derive(Args, Debug)]
pub struct OciGlobals {
    /// Where the OCI containers' state is kept (create, start, state, kill, delete, exec, list).
    #[arg(long = "root", value_name = "DIR", default_value = "/run/minibox")]
    pub root: PathBuf,
    /// Write errors to this file as well (engines read it).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The log's format: text or json.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: String,
    /// Place cgroups through systemd: refused (minibox writes cgroupfs itself).
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// More output (runc's flag; minibox's is --verbose).
    #[arg(long)]
    pub debug: bool,
}

/// The OCI runtime's operations.
fn oci(command: OciCommand, globals: &OciGlobals) -> Result<i32> {
    use crate::oci;
    if globals.systemd_cgroup {
        bail!("--systemd-cgroup: minibox has no systemd cgroup driver (configure the engine for cgroupfs)");
    }
    if !matches!(globals.log_format.as_str(), "text" | "json") {
        bail!("--log-format {}: use text or json", globals.log_format);
    }
    let root = globals.root.as_path();
    match command {
        OciCommand::Create { bundle, pid_file, console_socket, no_pivot, no_new_keyring: _, id } => {
            if no_pivot {
                bail!("--no-pivot: minibox always uses pivot_root (chroot leaves the host's root reachable)");
            }
            let args = oci::CreateArgs {
                root,
                id: &id,
                bundle: &bundle,
                pid_file: pid_file.as_deref(),
                console_socket: console_socket.as_deref(),
            };
            oci::create(&args)
        }
        OciCommand::Start { id } => oci::start(root, &id),
        OciCommand::State { id } => oci::print_state(root, &id),
        OciCommand::Kill { all, id, signal } => oci::kill(root, &id, &signal, all),
        OciCommand::Delete { force, id } => oci::delete(root, &id, force),
        OciCommand::Exec { process, pid_file, detach, tty, console_socket, cwd, env, id, command } => {
            let process = match process {
                Some(file) => {
                    if !command.is_empty() {
                        bail!("give --process FILE or a command, not both");
                    }
                    oci::load_process(&file)?
                }
                None => oci::exec_process(root, &id, command, &env, cwd, tty)?,
            };
            oci::exec(root, &id, process, pid_file.as_deref(), detach, console_socket.as_deref())
        }
        OciCommand::List => oci::list(root),
        OciCommand::Ps { format, id } => match format.as_str() {
            "table" | "json" => oci::ps(root, &id, format == "json"),
            other => bail!("--format {other}: use table or json"),
        },
        OciCommand::Features => oci::features(),
        OciCommand::Spec { bundle } => oci::write_spec(&bundle),
    }
}

//@ end oci
/// Run minibox with this process's arguments; return the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print(); // --help and --version
            return 0;
        }
        Err(error) => {
            eprintln!("{}", one_line(&error));
            return exit::RUNTIME_FAILED;
        }
    };
    crate::log::set_verbose(cli.verbose);
    //@ begin daemon
    // With --host, the commands a daemon serves go to it (`daemon` itself listens there).
    // clap's commands become the library's own requests here, so the daemon never imports them.
    use crate::daemon::client::Request;
    let cli = match (cli.host.clone(), cli.command) {
        (Some(host), Command::Run(args)) => {
            return to_daemon(&host, args.into_config().map(|config| Request::Run(Box::new(config))));
        }
        (Some(host), Command::Images(_)) => return to_daemon(&host, Ok(Request::Images)),
        (Some(host), Command::Pull { reference, .. }) => {
            return to_daemon(&host, Ok(Request::Pull { reference }));
        }
        (_, command) => Cli { command, ..cli },
    };
    //@ end daemon
    let result = match cli.command {
        Command::Run(args) => args.into_config().and_then(|config| container::run(&config)),
        //@ begin images
        Command::Image(command) => images(command),
        Command::Images(state) => list_images(&state),
        Command::Rmi { reference, state } => remove_image(&reference, &state),
        //@ end images
        //@ begin registry
        Command::Pull { reference, registry } => pull(&reference, &registry),
        Command::Push { local, remote, registry } => push(&local, remote.as_deref(), &registry),
        Command::Login { registry, username, registry_args } => login(&registry, username, &registry_args),
        //@ end registry
        //@ begin build
        Command::Build(args) => crate::build::build(&args),
        //@ end build
        //@ begin network
        Command::Network(command) => network(command),
        //@ end network
        //@ begin daemon
        Command::Daemon(args) => crate::daemon::run(cli.host.as_deref(), &args),
        Command::Shim(args) => crate::daemon::shim::main(&args),
        //@ end daemon
        //@ begin oci
        // The OCI runtime's operations share the global options that engines pass.
        Command::Oci(command) => oci(command, &cli.oci),
        //@ end oci
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            //@ begin oci
            if let Some(log) = &cli.oci.log {
                crate::oci::log_error(log, cli.oci.log_format == "json", &format!("{error:#}"));
            }
            //@ end oci
            // `{:#}` prints the chain of causes on one line, and never a backtrace.
            eprintln!("minibox: {}", crate::log::printable(&format!("{error:#}")));
            exit::code_of(&error)
        }
    }
}

//@ begin daemon
/// Send a request to the daemon at `host`: its exit code, or the error said as `main` says it.
fn to_daemon(host: &str, request: Result<crate::daemon::client::Request>) -> i32 {
    match request.and_then(|request| crate::daemon::client::main(host, request)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("minibox: {}", crate::log::printable(&format!("{error:#}")));
            exit::code_of(&error)
        }
    }
}

//@ end daemon
/// clap explains a usage error over several lines; say what was wrong and what to do in one.
fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let advice = match (error.kind(), lines.find_map(|l| l.strip_prefix("tip: "))) {
        (_, Some(tip)) => tip.to_string(),
        (clap::error::ErrorKind::UnknownArgument, None) => {
            "the command goes after `--`: minibox run [OPTIONS] -- COMMAND [ARGS...]".to_string()
        }
        _ => "see `minibox --help`".to_string(),
    };
    format!("minibox: {first} ({advice})")
}
