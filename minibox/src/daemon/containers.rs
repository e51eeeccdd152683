//@ begin daemon
//! The daemon's containers: what `docker create` asked for, kept in a directory per container
//! so that a restarted daemon finds them again. Each is an OCI bundle (the image's layers in an
//! overlay, a config.json made from the image and the request) that the container's shim hands
//! to `minibox create`; from then on the oci chapter's state says whether it runs.

use super::api::ApiError;
use super::shim;
use crate::image::overlay::Overlay;
use crate::oci::state::{Record, Status, rfc3339};
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Where a daemon keeps everything of its own.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The image store (minibox's state directory).
    pub store: PathBuf,
    /// `containers/ID/`, `oci/` (the runtime's state root), `run/` (the shims' sockets).
    pub data: PathBuf,
}

impl Paths {
    pub fn containers(&self) -> PathBuf {
        self.data.join("containers")
    }
    pub fn dir(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }
    pub fn oci_root(&self) -> PathBuf {
        self.data.join("oci")
    }
    /// The shim's socket: named by the id's first 16 digits, so the path stays short.
    pub fn socket(&self, id: &str) -> PathBuf {
        self.data.join("run").join(&id[..16])
    }
}

/// What the daemon records of a container (`container.json`).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    /// The process: the program, then its arguments.
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub network_mode: String,
    /// Seconds since 1970 (shown in RFC 3339 by inspect).
    pub created: u64,
    pub started: Option<u64>,
    /// The `Config` object the client sent, shown again by `docker inspect`.
    pub request: Value,
}

impl Container {
    pub fn load(dir: &Path) -> Result<Container> {
        let path = dir.join("container.json");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not a container record", path.display()))
    }

    /// Written whole, then renamed: a daemon killed mid-write leaves the old record.
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::oci::state::write_whole(&dir.join("container.json"), &serde_json::to_vec_pretty(self)?)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// A container's state as the Engine API names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Created,
    Running {
        pid: i32,
    },
    Exited(shim::Exit),
    /// Its process is gone and nobody recorded how it ended (its shim was killed).
    Dead,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running { .. } => "running",
            State::Exited(_) => "exited",
            State::Dead => "dead",
        }
    }
}

/// The state, from the shim's exit record and the runtime's own state.
pub fn state(paths: &Paths, id: &str) -> State {
    if let Some(exit) = shim::Exit::load(&paths.dir(id)) {
        return State::Exited(exit);
    }
    match Record::load(&paths.oci_root(), id) {
        Ok(record) => match record.status(&paths.oci_root()) {
            Status::Created | Status::Creating => State::Created,
            Status::Running => State::Running { pid: record.pid },
            Status::Stopped => State::Dead,
        },
        Err(_) => State::Dead,
    }
}

/// A container known by its id and its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    pub name: String,
}

// ANCHOR: resolve
/// Which container a client means: the `query` is a whole id, a name (with or without the
/// leading `/` the API shows), or the start of exactly one id. A name wins over an id's
/// start; a start that fits several ids is refused rather than guessed.
pub fn resolve<'a>(known: &'a [Named], query: &str) -> Result<&'a Named, ApiError> {
    //@ exercise daemon resolve
    if query.is_empty() {
        return Err(ApiError::not_found(format!("No such container: {query}")));
    }
    if let Some(found) = known.iter().find(|c| c.id == query) {
        return Ok(found);
    }
    let name = query.strip_prefix('/').unwrap_or(query);
    if let Some(found) = known.iter().find(|c| c.name == name) {
        return Ok(found);
    }
    let mut starting = known.iter().filter(|c| c.id.starts_with(query));
    match (starting.next(), starting.next()) {
        (Some(found), None) => Ok(found),
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "{query} fits more than one container: give more of the id, or the name"
        ))),
        (None, _) => Err(ApiError::not_found(format!("No such container: {query}"))),
    }
    //@ stub
    //| let _ = (known, query);
    //| todo!("chapter {chapter}, `resolve`: find the container a client means by id, name or the start of an id; `cargo xtask hint daemon resolve` helps (book: Chapter {chapter}, \"Naming a container\")")
    //@ end daemon resolve
}
// ANCHOR_END: resolve

/// Every container the daemon has, oldest first.
pub fn all(paths: &Paths) -> Vec<Container> {
    let mut found: Vec<Container> = std::fs::read_dir(paths.containers())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Container::load(&entry.path()).ok())
        .collect();
    found.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    found
}

/// The container a client means.
pub fn find(paths: &Paths, query: &str) -> Result<Container, ApiError> {
    let containers = all(paths);
    let named: Vec<Named> =
        containers.iter().map(|c| Named { id: c.id.clone(), name: c.name.clone() }).collect();
    let id = resolve(&named, query)?.id.clone();
    // Always found (resolve answers from this list), but an error costs nothing and cannot panic.
    containers
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found(format!("No such container: {query}")))
}

/// A new id: 32 random bytes in hex, as Docker's.
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Names as Docker allows them.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = name.len() >= 2
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// What `POST /containers/create` asked for, checked: what minibox does not do is refused by
/// name, so a client never believes it got what it did not.
pub struct Request {
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: Option<(u32, u32)>,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub auto_remove: bool,
    pub network_mode: String,
    pub memory: u64,
    pub pids: i64,
    pub nano_cpus: u64,
    pub read_only: bool,
    pub no_new_privileges: bool,
    /// `Privileged`, `CapAdd`, `CapDrop` and `SecurityOpt` `seccomp=unconfined`, as `minibox run`
    /// takes them.
    pub security: crate::security::Options,
    /// `SecurityOpt` `seccomp=PROFILE`: the profile itself (the docker CLI sends the file's
    /// content), checked as config.json's `linux.seccomp` is.
    pub seccomp_profile: Option<crate::oci::seccomp::Seccomp>,
    /// The terminal's first size, rows and columns.
    pub console_size: Option<(u64, u64)>,
}

/// The fields of `POST /containers/create` that minibox's daemon honours; any other is refused
/// by name unless the client left it at its "not asked" value.
const HONOURED_CONFIG: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "Hostname",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Labels",
    "ExposedPorts",
    "HostConfig",
    "NetworkingConfig",
];
const HONOURED_HOST: &[&str] = &[
    "AutoRemove",
    "NetworkMode",
    "Memory",
    "PidsLimit",
    "NanoCpus",
    "ReadonlyRootfs",
    "SecurityOpt",
    "Privileged",
    "CapAdd",
    "CapDrop",
    "ConsoleSize",
    "LogConfig",
];

/// What to do instead, for the refused fields people ask for most.
fn instead(field: &str) -> &'static str {
    match field {
        "HostConfig.Binds" | "HostConfig.Mounts" | "HostConfig.VolumesFrom" | "Volumes" => {
            "minibox's daemon has no volumes"
        }
        "HostConfig.PortBindings" | "HostConfig.PublishAllPorts" => "publish ports with `minibox run -p`",
        _ => "minibox's daemon does not do it",
    }
}

/// Refuse the first field of `object` that is neither honoured nor left at its default.
fn refuse_unhonoured(object: &Value, prefix: &str, honoured: &[&str]) -> Result<(), ApiError> {
    for (key, value) in object.as_object().into_iter().flatten() {
        // The docker CLI's "not asked": empty, zero, false, null; and two of its own.
        let default = crate::oci::spec::is_empty(value)
            || value.as_f64() == Some(0.0)
            || (key == "MemorySwappiness" && value == -1)
            || (key == "RestartPolicy" && matches!(value["Name"].as_str(), None | Some("" | "no")));
        if !honoured.contains(&key.as_str()) && !default {
            let field = format!("{prefix}{key}");
            return Err(ApiError::bad_request(format!("{field}: not supported ({})", instead(&field))));
        }
    }
    Ok(())
}

/// A string or a list of strings (Docker accepts both for `Cmd` and `Entrypoint`).
fn strings(value: &Value, field: &str) -> Result<Option<Vec<String>>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(vec![text.clone()])),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{field}: a list of strings"))),
        _ => Err(ApiError::bad_request(format!("{field}: a list of strings"))),
    }
}

impl Request {
    pub fn parse(body: &Value) -> Result<Request, ApiError> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let host = &body["HostConfig"];
        refuse_unhonoured(body, "", HONOURED_CONFIG)?;
        refuse_unhonoured(host, "HostConfig.", HONOURED_HOST)?;
        if !crate::oci::spec::is_empty(&body["NetworkingConfig"]["EndpointsConfig"]) {
            return Err(ApiError::bad_request(
                "NetworkingConfig.EndpointsConfig: not supported (minibox's daemon has no networks to join)"
                    .into(),
            ));
        }
        if !host["LogConfig"]["Type"].as_str().unwrap_or_default().is_empty() {
            return Err(ApiError::bad_request(
                "HostConfig.LogConfig: not supported (the shim keeps every container's log, capped by the daemon's --log-max-size)".into(),
            ));
        }
        let mut no_new_privileges = false;
        let capabilities = |field: &str| {
            let names: Vec<String> =
                strings(&host[field], &format!("HostConfig.{field}"))?.unwrap_or_default();
            crate::security::capabilities::parse(&names)
                .map_err(|e| ApiError::bad_request(format!("HostConfig.{field}: {e:#}")))
        };
        let mut security = crate::security::Options {
            privileged: host["Privileged"].as_bool().unwrap_or(false),
            cap_add: capabilities("CapAdd")?,
            cap_drop: capabilities("CapDrop")?,
            seccomp_unconfined: false,
        };
        let mut seccomp_profile = None;
        for option in host["SecurityOpt"].as_array().into_iter().flatten() {
            match option.as_str().unwrap_or_default() {
                "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                    no_new_privileges = true
                }
                "seccomp=unconfined" | "seccomp:unconfined" => security.seccomp_unconfined = true,
                profile if profile.starts_with("seccomp=") || profile.starts_with("seccomp:") => {
                    let profile =
                        crate::oci::seccomp::from_client(&profile["seccomp=".len()..]).map_err(|e| {
                            ApiError::bad_request(format!("HostConfig.SecurityOpt seccomp: {e:#}"))
                        })?;
                    seccomp_profile = Some(profile);
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "HostConfig.SecurityOpt {other}: not supported (minibox's daemon takes no-new-privileges and seccomp=...)"
                    )));
                }
            }
        }
        let network_mode = match host["NetworkMode"].as_str().unwrap_or("default") {
            "" | "default" | "none" => "none".to_string(),
            "host" => "host".to_string(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "HostConfig.NetworkMode {other}: not supported (minibox's daemon gives a container its own network namespace, none, or the host's, host)"
                )));
            }
        };
        let user = match text(&body["User"]) {
            user if user.is_empty() => None,
            user => {
                let (uid, gid) = user.split_once(':').unwrap_or((&user, &user));
                match (uid.parse(), gid.parse()) {
                    (Ok(uid), Ok(gid)) => Some((uid, gid)),
                    _ => return Err(ApiError::bad_request(format!("User {user}: give numbers, UID[:GID]"))),
                }
            }
        };
        let env = strings(&body["Env"], "Env")?.unwrap_or_default();
        if let Some(bad) = env.iter().find(|kv| !kv.contains('=') || kv.starts_with('=')) {
            return Err(ApiError::bad_request(format!("Env: `{bad}` is not KEY=VALUE")));
        }
        let image = text(&body["Image"]);
        if image.is_empty() {
            return Err(ApiError::bad_request("Image: which image to run".into()));
        }
        Ok(Request {
            image,
            cmd: strings(&body["Cmd"], "Cmd")?.filter(|c| !c.is_empty()),
            entrypoint: strings(&body["Entrypoint"], "Entrypoint")?.filter(|c| !c.is_empty()),
            env,
            working_dir: text(&body["WorkingDir"]),
            user,
            hostname: text(&body["Hostname"]),
            tty: body["Tty"].as_bool().unwrap_or(false),
            open_stdin: body["OpenStdin"].as_bool().unwrap_or(false),
            auto_remove: host["AutoRemove"].as_bool().unwrap_or(false),
            network_mode,
            memory: host["Memory"].as_u64().unwrap_or(0),
            pids: host["PidsLimit"].as_i64().unwrap_or(0),
            nano_cpus: host["NanoCpus"].as_u64().unwrap_or(0),
            read_only: host["ReadonlyRootfs"].as_bool().unwrap_or(false),
            no_new_privileges,
            security,
            seccomp_profile,
            console_size: host["ConsoleSize"]
                .as_array()
                .and_then(|size| Some((size.first()?.as_u64()?, size.get(1)?.as_u64()?)))
                .filter(|(rows, cols)| *rows > 0 && *cols > 0),
        })
    }
}

/// The bundle's config.json: the oci chapter's starting spec, with the image's and the
/// request's process, a writable root, the capabilities and seccomp profile asked for (Docker's
/// defaults: its capabilities, and `minibox run`'s filter) and the limits asked for.
pub fn runtime_spec(container: &Container, request: &Request) -> Value {
    use crate::security::capabilities::NAMES;
    let mut spec = crate::oci::spec::example();
    // What the daemon does not hold itself it cannot give (runc, too, skips what it lacks).
    let held =
        crate::security::capabilities::get().map_or(crate::security::capabilities::ALL, |s| s.permitted);
    let kept = request.security.kept_capabilities() & held;
    let capabilities: Vec<String> = NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| kept & (1 << bit) != 0)
        .map(|(_, name)| format!("CAP_{name}"))
        .collect();
    let (uid, gid) = request.user.unwrap_or((0, 0));
    spec["process"] = json!({
        "terminal": container.tty,
        "user": {"uid": uid, "gid": gid},
        "args": container.argv,
        "env": container.env,
        "cwd": container.working_dir,
        "capabilities": {
            "bounding": capabilities, "effective": capabilities, "permitted": capabilities,
        },
        // Docker's default is off (setuid programs such as su keep working); --security-opt
        // no-new-privileges turns it on.
        "noNewPrivileges": request.no_new_privileges,
    });
    if let Some((rows, cols)) = request.console_size {
        spec["process"]["consoleSize"] = json!({"height": rows, "width": cols});
    }
    spec["root"] = json!({"path": "rootfs", "readonly": request.read_only});
    spec["hostname"] = json!(container.hostname);
    if container.network_mode == "host"
        && let Some(namespaces) = spec["linux"]["namespaces"].as_array_mut()
    {
        namespaces.retain(|n| n["type"] != "network");
    }
    let mut resources = json!({});
    if request.memory > 0 {
        resources["memory"] = json!({"limit": request.memory});
    }
    if request.pids > 0 {
        resources["pids"] = json!({"limit": request.pids});
    }
    if request.nano_cpus > 0 {
        let period = 100_000u64;
        resources["cpu"] = json!({"quota": request.nano_cpus * period / 1_000_000_000, "period": period});
    }
    spec["linux"]["resources"] = resources;
    let security = &request.security;
    if security.privileged {
        // As Docker's --privileged: nothing masked or read-only, every device allowed.
        spec["linux"]["maskedPaths"] = json!([]);
        spec["linux"]["readonlyPaths"] = json!([]);
        spec["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    } else if !security.seccomp_unconfined {
        let profile = match &request.seccomp_profile {
            Some(profile) => profile.clone(),
            None => crate::oci::seccomp::default_profile(kept),
        };
        spec["linux"]["seccomp"] = json!(profile);
    }
    // Where `minibox run` puts its containers (`cgroups::placement`): on v1 under `minibox/` in
    // the daemon's own cgroup (a relative path), on v2 under `/minibox` at the root.
    let parent = if crate::cgroups::is_v2() { "/minibox" } else { "minibox" };
    spec["linux"]["cgroupsPath"] = json!(format!("{parent}/{}", container.id));
    spec
}

/// Make the container: its directory, record, overlay and bundle. On failure nothing is left.
pub fn make(paths: &Paths, container: &Container, request: &Request, layers: &[PathBuf]) -> Result<()> {
    let dir = paths.dir(&container.id);
    std::fs::create_dir_all(paths.containers())?;
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let made = (|| {
        for sub in ["upper", "work", "bundle/rootfs"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let overlay = Overlay {
            lower: layers.iter().rev().cloned().collect(),
            upper: dir.join("upper"),
            work: dir.join("work"),
        };
        overlay.mount_on(&dir.join("bundle/rootfs"))?;
        let spec = runtime_spec(container, request);
        std::fs::write(dir.join("bundle/config.json"), serde_json::to_vec_pretty(&spec)?)?;
        container.save(&dir)
    })();
    if made.is_err() {
        let _ = remove_files(paths, &container.id);
    }
    made
}

/// Remove what is left of a container whose process has ended: the runtime's state and
/// cgroup, the overlay, the directory.
pub fn remove_files(paths: &Paths, id: &str) -> Result<()> {
    let dir = paths.dir(id);
    let _ = crate::oci::delete(&paths.oci_root(), id, true);
    let rootfs = dir.join("bundle/rootfs");
    match nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(errno) => return Err(errno).with_context(|| format!("unmounting {}", rootfs.display())),
    }
    let _ = std::fs::remove_file(paths.socket(id));
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("removing {}", dir.display())),
    }
}

/// `docker ps`'s "Up 3 seconds", "Exited (0) 2 minutes ago".
pub fn status_text(state: &State, container: &Container) -> String {
    match state {
        State::Created => "Created".into(),
        State::Running { .. } => format!("Up {}", ago(container.started.unwrap_or(container.created))),
        State::Exited(exit) => format!("Exited ({}) {} ago", exit.code, ago(exit.finished)),
        State::Dead => "Dead".into(),
    }
}

fn ago(then: u64) -> String {
    let seconds = crate::oci::state::now_unix().saturating_sub(then);
    match seconds {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 3600 => format!("{} minutes", s / 60),
        s => format!("{} hours", s / 3600),
    }
}

/// `GET /containers/json`: one row.
pub fn summary(paths: &Paths, container: &Container) -> Value {
    let state = state(paths, &container.id);
    json!({
        "Id": container.id,
        "Names": [format!("/{}", container.name)],
        "Image": container.image,
        "ImageID": container.image_id,
        "Command": container.argv.join(" "),
        "Created": container.created,
        "State": state.name(),
        "Status": status_text(&state, container),
        "Ports": [],
        "Labels": container.request.get("Labels").cloned().unwrap_or_else(|| json!({})),
        "SizeRw": 0,
        "SizeRootFs": 0,
        "HostConfig": {"NetworkMode": container.network_mode},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    })
}

/// `GET /containers/ID/json`.
pub fn inspect(paths: &Paths, container: &Container) -> Value {
    let state = state(paths, &container.id);
    let (pid, code, finished) = match &state {
        State::Running { pid } => (*pid, 0, String::new()),
        State::Exited(exit) => (0, exit.code, rfc3339(exit.finished)),
        _ => (0, 0, String::new()),
    };
    let dir = paths.dir(&container.id);
    let mut config = container.request.clone();
    config["Hostname"] = json!(container.hostname);
    config["Env"] = json!(container.env);
    config["WorkingDir"] = json!(container.working_dir);
    config["Tty"] = json!(container.tty);
    config["Image"] = json!(container.image);
    json!({
        "Id": container.id,
        "Created": rfc3339(container.created),
        "Path": container.argv.first(),
        "Args": container.argv.get(1..).unwrap_or_default(),
        "State": {
            "Status": state.name(),
            "Running": matches!(state, State::Running { .. }),
            "Paused": false, "Restarting": false, "OOMKilled": false,
            "Dead": state == State::Dead,
            "Pid": pid,
            "ExitCode": code,
            "Error": "",
            "StartedAt": container.started.map(rfc3339).unwrap_or_default(),
            "FinishedAt": finished,
        },
        "Image": container.image_id,
        "Name": format!("/{}", container.name),
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {"AutoRemove": container.auto_remove, "NetworkMode": container.network_mode},
        "GraphDriver": {"Name": "overlay", "Data": {
            "UpperDir": dir.join("upper"), "WorkDir": dir.join("work"), "MergedDir": dir.join("bundle/rootfs"),
        }},
        "Mounts": [],
        "Config": config,
        "NetworkSettings": {"Networks": {}},
        "LogPath": shim::log_path(&dir),
    })
}
//@ end daemon
