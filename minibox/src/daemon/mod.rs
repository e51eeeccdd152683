//@ begin daemon
//! The daemon chapter: `minibox daemon`, a long-lived process that answers the Docker Engine
//! API on a Unix socket, so that the docker CLI (or `minibox --host`) drives minibox. The
//! daemon keeps no container in its own memory: each has a directory, an OCI bundle and a shim
//! that holds its streams, so a restarted daemon finds every container where it was.

// One daemon serves every container: a request that fails answers an error, it never ends the
// process (a descriptor table that is full, a header that does not parse).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod api;
pub mod client;
pub mod containers;
pub mod exec;
pub mod shim;
pub mod stream;

use anyhow::{Context, Result, bail};
use api::{ApiError, Route};
use containers::{Container, Paths, State};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the daemon listens unless told otherwise (root-only permissions).
pub const DEFAULT_HOST: &str = "unix:///run/minibox/minibox.sock";

/// A response's body: whole, or a stream fed by a task.
pub type Body = BoxBody<Bytes, Infallible>;

/// `minibox daemon`.
#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Where the daemon keeps its containers: their records, bundles, logs, the shims' sockets.
    #[arg(long, value_name = "DIR", default_value = "/run/minibox/daemon")]
    pub data: PathBuf,
    /// The cap on each container's log (with a unit: 64k, 1m); the full log before it is kept.
    #[arg(long, value_name = "SIZE", default_value = "1m", value_parser = log_size)]
    pub log_max_size: u64,
    #[command(flatten)]
    pub state: crate::state::StateDir,
}

fn log_size(text: &str) -> Result<u64, String> {
    let lower = text.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let unit: u64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("{text}: a size such as 64k or 1m")),
    };
    let size = digits.parse::<u64>().map_err(|_| format!("{text}: a size such as 64k or 1m"))? * unit;
    // A frame is read 32 KiB at a time: a smaller cap could not hold one.
    if size < 64 * 1024 {
        return Err(format!("{text}: at least 64k"));
    }
    Ok(size)
}

/// The path of a `unix://` address.
pub fn socket_path(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => bail!("--host {host}: minibox speaks on a Unix socket only: unix:///PATH"),
    }
}

/// What the handlers share.
pub struct Daemon {
    pub paths: Paths,
    pub log_max: u64,
    /// Held while a name is checked and taken, so two creates cannot take one name.
    naming: Mutex<()>,
    /// Held while the image store is written (a pull, the default image's first build): the
    /// store's temporary names are unique per process, and this daemon is one process.
    store_writes: Mutex<()>,
    pub execs: Mutex<HashMap<String, exec::Exec>>,
    /// The exit codes of containers removed as they ended (`--rm`), for the clients that wait
    /// for the removal. A few bytes each, kept for the daemon's life.
    removed: Mutex<HashMap<String, i32>>,
    /// Woken at each removal, for the clients waiting for one.
    removals: tokio::sync::Notify,
}

/// `minibox daemon`: listen until SIGTERM or SIGINT. The containers run on without it.
pub fn run(host: Option<&str>, args: &DaemonArgs) -> Result<i32> {
    let socket = socket_path(host.unwrap_or(DEFAULT_HOST))?;
    if !nix::unistd::geteuid().is_root() {
        bail!("minibox daemon runs as root: its socket is a root credential (see the book's daemon chapter)");
    }
    let paths = Paths { store: args.state.dir.clone(), data: args.data.clone() };
    shim::check_socket_path(&paths.socket(&"0".repeat(64)))?;
    for dir in [paths.containers(), paths.oci_root(), paths.data.join("run")] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let listener = listen(&socket)?;
    let daemon = Arc::new(Daemon {
        paths,
        log_max: args.log_max_size,
        naming: Mutex::new(()),
        store_writes: Mutex::new(()),
        execs: Mutex::new(HashMap::new()),
        removed: Mutex::new(HashMap::new()),
        removals: tokio::sync::Notify::new(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let served = runtime.block_on(serve(daemon, listener));
    let _ = std::fs::remove_file(&socket);
    // Handlers still blocked in the runtime's threads (a pull) are not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served.map(|()| 0)
}

/// Bind the socket, readable and writable by root alone from its first moment.
fn listen(socket: &Path) -> Result<std::os::unix::net::UnixListener> {
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if socket.exists() {
        // A socket left by a daemon that died goes; one that a daemon answers on stays.
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            bail!(
                "{}: a daemon is listening there already (stop it, or use another --host)",
                socket.display()
            );
        }
        std::fs::remove_file(socket).with_context(|| format!("removing the stale {}", socket.display()))?;
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(socket);
    nix::sys::stat::umask(old);
    let listener = bound.with_context(|| format!("listening on {}", socket.display()))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

async fn serve(daemon: Arc<Daemon>, listener: std::os::unix::net::UnixListener) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = tokio::net::UnixListener::from_std(listener)?;
    recover(&daemon).await;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let daemon = daemon.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let daemon = daemon.clone();
                        async move { Ok::<_, Infallible>(handle(daemon, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    Ok(())
}

/// After a restart: containers half made by a daemon that died go; containers with `--rm`
/// that ended while no daemon ran go; those still running are watched again.
async fn recover(daemon: &Arc<Daemon>) {
    let paths = daemon.paths.clone();
    let entries: Vec<PathBuf> =
        std::fs::read_dir(paths.containers()).into_iter().flatten().flatten().map(|e| e.path()).collect();
    for dir in entries {
        let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        match Container::load(&dir) {
            Ok(container) if container.auto_remove => {
                tokio::spawn(auto_remove(daemon.clone(), container.id));
            }
            Ok(_) => {}
            Err(_) if id.len() == 64 => {
                let _ = blocking({
                    let paths = paths.clone();
                    move || containers::remove_files(&paths, &id).map_err(ApiError::internal)
                })
                .await;
            }
            Err(_) => {}
        }
    }
}

async fn handle(daemon: Arc<Daemon>, request: Request<Incoming>) -> Response<Body> {
    let method = request.method().as_str().to_string();
    crate::step!("{method} {}", request.uri());
    let query = api::query(request.uri().query());
    let routed = api::route(&method, request.uri().path());
    let response = match routed {
        Ok(route) => dispatch(daemon, route, query, request).await,
        Err(error) => Err(error),
    };
    let mut response = response.unwrap_or_else(|error| {
        crate::step!("-> {error}");
        match error.status {
            // Not modified: a body is not allowed.
            304 => empty_response(304),
            status => json_response(status, &json!({"message": error.message})),
        }
    });
    let headers = response.headers_mut();
    // Digits and a dot: always a valid value.
    if let Ok(version) = HeaderValue::try_from(format!("{}.{}", api::VERSION.0, api::VERSION.1)) {
        headers.insert("Api-Version", version);
    }
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert("Server", HeaderValue::from_static(concat!("minibox/", env!("CARGO_PKG_VERSION"))));
    response
}

pub type Query = HashMap<String, String>;
pub type Answer = Result<Response<Body>, ApiError>;

async fn dispatch(daemon: Arc<Daemon>, route: Route, query: Query, request: Request<Incoming>) -> Answer {
    let paths = daemon.paths.clone();
    match route {
        Route::Ping => {
            let body = if request.method() == hyper::Method::HEAD { "" } else { "OK" };
            Ok(text_response(200, body))
        }
        Route::Version => Ok(json_response(200, &version())),
        Route::Info => Ok(json_response(200, &blocking(move || info(&paths)).await?)),
        Route::ListImages => Ok(json_response(200, &blocking(move || list_images(&paths)).await?)),
        Route::InspectImage(name) => {
            Ok(json_response(200, &blocking(move || inspect_image(&paths, &name)).await?))
        }
        Route::Pull => Ok(pull(daemon.clone(), &query)),
        Route::ListContainers => {
            let all = api::flag(&query, "all");
            let list = blocking(move || {
                Ok(containers::all(&paths)
                    .iter()
                    .map(|c| containers::summary(&paths, c))
                    .filter(|row| all || row["State"] == "running")
                    .rev()
                    .collect::<Vec<_>>())
            })
            .await?;
            Ok(json_response(200, &json!(list)))
        }
        Route::Create => {
            let name = query.get("name").cloned().filter(|n| !n.is_empty());
            let body = read_json(request).await?;
            crate::step!("create {body}");
            let container = blocking({
                let daemon = daemon.clone();
                move || create(&daemon, name, &body)
            })
            .await?;
            if container.auto_remove {
                tokio::spawn(auto_remove(daemon, container.id.clone()));
            }
            Ok(json_response(201, &json!({"Id": container.id, "Warnings": []})))
        }
        Route::Inspect(query) => Ok(json_response(
            200,
            &blocking(move || Ok(containers::inspect(&paths, &containers::find(&paths, &query)?))).await?,
        )),
        Route::Start(query) => {
            blocking(move || start(&paths, &query)).await?;
            Ok(empty_response(204))
        }
        Route::Stop(name) => stop(&daemon, &name, query.get("t").map(String::as_str)).await,
        Route::Kill(name) => {
            let signal = query.get("signal").cloned().filter(|s| !s.is_empty()).unwrap_or("KILL".into());
            blocking(move || {
                let container = containers::find(&paths, &name)?;
                if !matches!(containers::state(&paths, &container.id), State::Running { .. }) {
                    return Err(ApiError::conflict(format!("Container {} is not running", container.id)));
                }
                crate::oci::kill(&paths.oci_root(), &container.id, &signal, false)
                    .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
                Ok(())
            })
            .await?;
            Ok(empty_response(204))
        }
        Route::Wait(name) => {
            let container = find(&daemon, &name).await?;
            let condition = query.get("condition").cloned().unwrap_or_default();
            Ok(stream_response(200, "application/json", move |sender| async move {
                // A newline each second while waiting: JSON allows it, and a client that has
                // gone makes the send fail, which ends the wait (and its shim connection).
                let waited = heartbeat(
                    &sender,
                    Bytes::from_static(b"\n"),
                    wait(&daemon, &container.id, condition == "removed"),
                );
                if let Some(code) = waited.await {
                    let _ = sender
                        .send(Bytes::from(format!("{}\n", json!({"StatusCode": code, "Error": null}))))
                        .await;
                }
            }))
        }
        Route::Remove(name) => {
            let container = find(&daemon, &name).await?;
            remove(&daemon, &container, api::flag(&query, "force")).await?;
            Ok(empty_response(204))
        }
        Route::Attach(name) => attach(&daemon, &name, &query, request).await,
        Route::Logs(name) => logs(&daemon, &name, &query).await,
        Route::Resize(name) => {
            let container = find(&daemon, &name).await?;
            let hello =
                format!("resize rows={} cols={}", query_number(&query, "h"), query_number(&query, "w"));
            let _ = connect_shim(&daemon.paths, &container.id, &hello).await;
            Ok(empty_response(200))
        }
        Route::ExecCreate(name) => exec::create(&daemon, &name, read_json(request).await?).await,
        Route::ExecStart(id) => exec::start(&daemon, &id, request).await,
        Route::ExecInspect(id) => exec::inspect(&daemon, &id),
        Route::ExecResize(id) => exec::resize(&daemon, &id, &query),
    }
}

fn query_number(query: &Query, key: &str) -> String {
    query.get(key).cloned().unwrap_or_default()
}

/// Run blocking work (files, processes, the image store) off the runtime's thread.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a handler failed: {e}")))?
}

async fn read_json(mut request: Request<Incoming>) -> Result<Value, ApiError> {
    read_json_of(&mut request).await
}

/// The request's JSON body (Null when it has none), leaving the request for an upgrade.
pub async fn read_json_of(request: &mut Request<Incoming>) -> Result<Value, ApiError> {
    let limited = http_body_util::Limited::new(request.body_mut(), 1 << 20);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request's body: {e}")))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the request's body is not JSON: {e}")))
}

/// The status `status` names; one outside 100..=999 (a slip of ours) answers 500.
fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub fn json_response(status: u16, value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{value}\n"))).boxed());
    *response.status_mut() = status_code(status);
    response.headers_mut().insert("Content-Type", HeaderValue::from_static("application/json"));
    response
}

fn text_response(status: u16, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status_code(status);
    response.headers_mut().insert("Content-Type", HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

pub fn empty_response(status: u16) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = status_code(status);
    response
}

/// A body that a task writes while the client reads: the headers go at once, the bytes as
/// they come. When the client goes, the channel closes and the task's sends fail.
pub struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Channel {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

pub fn stream_response<F, Fut>(status: u16, content_type: &'static str, feed: F) -> Response<Body>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move { feed(sender).await });
    let mut response = Response::new(BodyExt::boxed(Channel(receiver)));
    *response.status_mut() = status_code(status);
    response.headers_mut().insert("Content-Type", HeaderValue::from_static(content_type));
    response
}

/// A client that waits for something without being sent anything (`docker wait`, `logs -f` of
/// a quiet container) could vanish unnoticed: the server learns of it when a write fails. So
/// while `work` runs, `beat` is sent every second; None when the client has gone.
pub async fn heartbeat<T>(
    sender: &tokio::sync::mpsc::Sender<Bytes>,
    beat: Bytes,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    ticks.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            _ = ticks.tick() => {
                if !beat.is_empty() && sender.send(beat.clone()).await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Copy a reader into a channel body until either side ends; with a `beat`, a client that has
/// gone is noticed even when the reader is quiet.
pub async fn feed_from(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    sender: tokio::sync::mpsc::Sender<Bytes>,
    beat: Bytes,
) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let Some(Ok(got)) = heartbeat(&sender, beat.clone(), reader.read(&mut buffer)).await else { break };
        if got == 0 || sender.send(Bytes::copy_from_slice(&buffer[..got])).await.is_err() {
            break;
        }
    }
}

/// The beat of a container's stream: an empty frame (which clients skip) without a terminal;
/// nothing with one, whose bytes are the terminal's own.
fn stream_beat(tty: bool) -> Bytes {
    if tty { Bytes::new() } else { Bytes::from(stream::encode_frame(stream::STDOUT, b"")) }
}

fn version() -> Value {
    let kernel =
        nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let api = format!("{}.{}", api::VERSION.0, api::VERSION.1);
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "Platform": {"Name": "minibox"},
        "Components": [{"Name": "Engine", "Version": version, "Details": {"ApiVersion": api}}],
        "Version": version,
        "ApiVersion": api,
        "MinAPIVersion": format!("{}.{}", api::MIN_VERSION.0, api::MIN_VERSION.1),
        "GitCommit": "",
        "GoVersion": "(none: minibox is written in Rust)",
        "Os": "linux",
        "Arch": std::env::consts::ARCH,
        "KernelVersion": kernel,
    })
}

fn info(paths: &Paths) -> Result<Value, ApiError> {
    let all = containers::all(paths);
    let count = |name: &str| all.iter().filter(|c| containers::state(paths, &c.id).name() == name).count();
    let images = crate::image::Store::open(&paths.store).and_then(|s| s.list()).map(|l| l.len()).unwrap_or(0);
    let uname = nix::sys::utsname::uname().map_err(|e| ApiError::internal(e.into()))?;
    Ok(json!({
        "ID": "minibox",
        "Containers": all.len(),
        "ContainersRunning": count("running"),
        "ContainersPaused": 0,
        "ContainersStopped": count("exited") + count("dead"),
        "Images": images,
        "Driver": "overlay",
        "DockerRootDir": paths.data,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if crate::cgroups::is_v2() { "2" } else { "1" },
        "KernelVersion": uname.release().to_string_lossy(),
        "OperatingSystem": "Linux",
        "OSType": "linux",
        "Architecture": uname.machine().to_string_lossy(),
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "Name": uname.nodename().to_string_lossy(),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "DefaultRuntime": "minibox",
        "Runtimes": {"minibox": {"path": "minibox"}},
        "LoggingDriver": "minibox (frames, capped)",
        "SecurityOptions": [],
        "Swarm": {"LocalNodeState": "inactive"},
        "Plugins": {"Volume": [], "Network": ["none", "host"], "Log": []},
    }))
}

fn list_images(paths: &Paths) -> Result<Value, ApiError> {
    let store = crate::image::Store::open(&paths.store).map_err(ApiError::internal)?;
    let rows = store.summary().map_err(ApiError::internal)?;
    Ok(json!(
        rows.iter()
            .map(|(reference, id, size)| json!({
                "Id": format!("sha256:{id}"),
                "RepoTags": [reference.to_string()],
                "RepoDigests": [],
                "ParentId": "",
                "Created": 0,
                "Size": size,
                "VirtualSize": size,
                "SharedSize": -1,
                "Containers": -1,
                "Labels": {},
            }))
            .collect::<Vec<_>>()
    ))
}

fn inspect_image(paths: &Paths, name: &str) -> Result<Value, ApiError> {
    let reference =
        crate::image::Reference::parse(name).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let store = crate::image::Store::open(&paths.store).map_err(ApiError::internal)?;
    let image = store
        .find(&reference)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("No such image: {reference}")))?;
    let d = &image.defaults;
    Ok(json!({
        "Id": image_id(&store, &reference),
        "RepoTags": [reference.to_string()],
        "Os": "linux",
        "Architecture": crate::image::this_arch().to_string(),
        "Config": {"Cmd": d.cmd, "Entrypoint": d.entrypoint, "Env": d.env, "WorkingDir": d.working_dir},
        "RootFS": {"Type": "layers", "Layers": image.layers.len()},
    }))
}

/// An image's id as Docker shows it: its config's digest.
fn image_id(store: &crate::image::Store, reference: &crate::image::Reference) -> String {
    let config = || -> Result<String> {
        let manifest = store.tagged(reference)?.context("not tagged")?;
        let manifest = oci_spec::image::ImageManifest::from_file(store.blob_path(manifest.digest())?)?;
        Ok(manifest.config().digest().to_string())
    };
    config().unwrap_or_default()
}

/// `POST /images/create`: a pull with the registry chapter's client, its progress as JSON
/// lines. A registry on this machine (loopback) is spoken to over plain HTTP, as Docker does.
fn pull(daemon: Arc<Daemon>, query: &Query) -> Response<Body> {
    let image = query.get("fromImage").cloned().unwrap_or_default();
    let tag = query.get("tag").cloned().unwrap_or_default();
    let wanted = if tag.is_empty() || image.contains('@') {
        image.clone()
    } else if tag.starts_with("sha256:") {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    };
    stream_response(200, "application/json", move |sender| async move {
        let line = |value: Value| Bytes::from(format!("{value}\n"));
        let _ = sender.send(line(json!({"status": format!("Pulling from {image}"), "id": tag}))).await;
        let pulled = blocking(move || {
            let remote = crate::registry::reference::RemoteReference::parse(&wanted)
                .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
            let insecure = crate::registry::client::is_loopback(&remote.registry);
            let store = daemon.paths.store.clone();
            let _writing = daemon.store_writes.lock().unwrap_or_else(|e| e.into_inner());
            let opened = crate::image::Store::open(&store).map_err(ApiError::internal)?;
            crate::registry::pull::pull(&opened, &store, &remote, insecure).map_err(ApiError::internal)
        })
        .await;
        let lines = match pulled {
            Ok(pulled) => vec![
                json!({"status": format!("Digest: {}", pulled.manifest)}),
                json!({"status": if pulled.fetched == 0 {
                    format!("Status: Image is up to date for {}", pulled.local_name)
                } else {
                    format!("Status: Downloaded newer image for {}", pulled.local_name)
                }}),
            ],
            Err(error) => vec![json!({"errorDetail": {"message": error.message}, "error": error.message})],
        };
        for value in lines {
            let _ = sender.send(line(value)).await;
        }
    })
}

/// `POST /containers/create`: the record, the overlay, the bundle, and the shim, which runs
/// `minibox create`. The container's process then waits for `start`.
fn create(daemon: &Daemon, name: Option<String>, body: &Value) -> Result<Container, ApiError> {
    use crate::image::{DEFAULT_IMAGE, Reference, Store};
    let paths = &daemon.paths;
    let request = containers::Request::parse(body)?;
    let reference = Reference::parse(&request.image).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let store = Store::open(&paths.store).map_err(ApiError::internal)?;
    let image = match store.find(&reference).map_err(ApiError::internal)? {
        Some(image) => image,
        // The default busybox image is built from the host's busybox-static, as `minibox run` does.
        None if reference.to_string() == DEFAULT_IMAGE => {
            let _writing = daemon.store_writes.lock().unwrap_or_else(|e| e.into_inner());
            crate::image::find_for_run(&paths.store, None).map_err(ApiError::internal)?
        }
        None => return Err(ApiError::not_found(format!("No such image: {reference}"))),
    };
    let defaults = &image.defaults;
    let mut argv = request.entrypoint.clone().unwrap_or_else(|| defaults.entrypoint.clone());
    match (&request.cmd, &request.entrypoint) {
        (Some(cmd), _) => argv.extend(cmd.iter().cloned()),
        // A new entrypoint drops the image's command, as Docker does.
        (None, Some(_)) => {}
        (None, None) => argv.extend(defaults.cmd.iter().cloned()),
    }
    if argv.is_empty() {
        return Err(ApiError::bad_request("No command specified: give one after the image".into()));
    }
    let mut env = defaults.env.clone();
    for kv in &request.env {
        crate::container::set_env(&mut env, kv);
    }
    let id = containers::new_id().map_err(ApiError::internal)?;
    let working_dir = [request.working_dir.as_str(), defaults.working_dir.as_deref().unwrap_or("")]
        .into_iter()
        .find(|d| !d.is_empty())
        .unwrap_or("/")
        .to_string();
    let mut container = Container {
        name: String::new(),
        image: request.image.clone(),
        image_id: image_id(&store, &reference),
        argv,
        env,
        working_dir,
        hostname: if request.hostname.is_empty() { id[..12].to_string() } else { request.hostname.clone() },
        tty: request.tty,
        open_stdin: request.open_stdin,
        auto_remove: request.auto_remove,
        network_mode: request.network_mode.clone(),
        created: crate::oci::state::now_unix(),
        started: None,
        request: body.get("Config").cloned().unwrap_or_else(|| body.clone()),
        id,
    };
    {
        let _naming = daemon.naming.lock().unwrap_or_else(|e| e.into_inner());
        container.name = match name {
            Some(name) => {
                let name = name.strip_prefix('/').unwrap_or(&name).to_string();
                containers::check_name(&name)?;
                if let Some(other) = containers::all(paths).iter().find(|c| c.name == name) {
                    return Err(ApiError::conflict(format!(
                        "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.id
                    )));
                }
                name
            }
            None => format!("minibox_{}", &container.id[..12]),
        };
        containers::make(paths, &container, &request, &image.layers).map_err(ApiError::internal)?;
    }
    if let Err(error) = start_shim(daemon, &container) {
        let _ = containers::remove_files(paths, &container.id);
        return Err(error);
    }
    Ok(container)
}

/// Start the container's shim and wait for its report: `ok`, or why `minibox create` failed.
fn start_shim(daemon: &Daemon, container: &Container) -> Result<(), ApiError> {
    use std::io::Read;
    let paths = &daemon.paths;
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .arg("shim")
        .arg("--dir")
        .arg(paths.dir(&container.id))
        .arg("--oci-root")
        .arg(paths.oci_root())
        .arg("--socket")
        .arg(paths.socket(&container.id))
        .arg("--log-max-size")
        .arg(daemon.log_max.to_string());
    if container.tty {
        command.arg("--tty");
    }
    if container.open_stdin {
        command.arg("--stdin");
    }
    command.arg(&container.id);
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // `ps` shows `minibox shim ...`, not `/proc/self/exe shim ...`.
    std::os::unix::process::CommandExt::arg0(&mut command, "minibox");
    let mut child = command
        .spawn()
        .map_err(|e| ApiError::internal(anyhow::Error::from(e).context("starting the shim")))?;
    let mut report = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut report);
    }
    let _ = child.wait();
    match report.trim_end() {
        "ok" => Ok(()),
        "" => Err(ApiError::internal(anyhow::anyhow!("the shim ended without a report"))),
        failed => {
            let (code, message) = failed.split_once(' ').unwrap_or(("125", failed));
            // The user's command (not found, not executable) is a bad request; the rest is ours.
            let status = if code == "126" || code == "127" { 400 } else { 500 };
            Err(ApiError::new(status, message.to_string()))
        }
    }
}

fn start(paths: &Paths, query: &str) -> Result<(), ApiError> {
    let mut container = containers::find(paths, query)?;
    match containers::state(paths, &container.id) {
        State::Created => {}
        State::Running { .. } => return Err(ApiError::new(304, String::new())),
        _ => {
            return Err(ApiError::conflict(format!(
                "container {} has ended: minibox does not start a container twice (run a new one)",
                container.short_id()
            )));
        }
    }
    // Recorded before the start: once the process runs it may end, and with --rm its directory
    // may be gone, before `oci::start` returns.
    container.started = Some(crate::oci::state::now_unix());
    container.save(&paths.dir(&container.id)).map_err(ApiError::internal)?;
    match crate::oci::start(&paths.oci_root(), &container.id) {
        Ok(_) => Ok(()),
        // It ran, ended and was removed before the runtime's start could tidy its fifo away.
        Err(_)
            if !paths.dir(&container.id).exists()
                || shim::Exit::load(&paths.dir(&container.id)).is_some() =>
        {
            Ok(())
        }
        Err(error) => Err(ApiError::internal(error)),
    }
}

/// Until the container's process has ended: its shim closes every connection then.
pub async fn wait_exit(paths: &Paths, id: &str) {
    if let Some(mut stream) = connect_shim(paths, id, "wait").await {
        let mut sink = [0u8; 64];
        while matches!(stream.read(&mut sink).await, Ok(got) if got > 0) {}
    }
}

/// Connect to a container's shim and say what is wanted (the shim's first line); None when the
/// shim is gone: the container has ended.
async fn connect_shim(paths: &Paths, id: &str, hello: &str) -> Option<tokio::net::UnixStream> {
    let mut stream = tokio::net::UnixStream::connect(paths.socket(id)).await.ok()?;
    stream.write_all(format!("{hello}\n").as_bytes()).await.ok()?;
    Some(stream)
}

/// The container a client means, looked up off the runtime's thread.
async fn find(daemon: &Daemon, name: &str) -> Result<Container, ApiError> {
    let (paths, name) = (daemon.paths.clone(), name.to_string());
    blocking(move || containers::find(&paths, &name)).await
}

/// The media type of a container's stream: the terminal's bytes as they are, or frames.
fn stream_type(tty: bool) -> &'static str {
    if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" }
}

/// The exit code, once the container has ended (and, with `removed`, once it is gone).
async fn wait(daemon: &Daemon, id: &str, removed: bool) -> i32 {
    let paths = &daemon.paths;
    wait_exit(paths, id).await;
    let code_now = || match containers::state(paths, id) {
        State::Exited(exit) => Some(exit.code),
        _ => None,
    };
    if !removed {
        return code_now().unwrap_or(-1);
    }
    let mut code = code_now();
    loop {
        // Made before the check, so that a removal between the two still wakes it.
        let removal = daemon.removals.notified();
        if !paths.dir(id).exists() {
            break;
        }
        code = code.or_else(code_now);
        removal.await;
    }
    let removed_code = daemon.removed.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied();
    removed_code.or(code).unwrap_or(-1)
}

/// `--rm`: once the container ends, remove it.
async fn auto_remove(daemon: Arc<Daemon>, id: String) {
    wait_exit(&daemon.paths, &id).await;
    if let State::Exited(exit) = containers::state(&daemon.paths, &id) {
        daemon.removed.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), exit.code);
    }
    let paths = daemon.paths.clone();
    let _ = blocking(move || containers::remove_files(&paths, &id).map_err(ApiError::internal)).await;
    daemon.removals.notify_waiters();
}

/// `POST /containers/ID/stop?t=N`: SIGTERM, then SIGKILL after N seconds (10 by default).
async fn stop(daemon: &Daemon, name: &str, seconds: Option<&str>) -> Answer {
    let seconds = match seconds {
        None | Some("") => 10,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("t={text}: a number of seconds")))?
            .max(0) as u64,
    };
    let container = find(daemon, name).await?;
    let (paths, id) = (&daemon.paths, &container.id);
    if !matches!(containers::state(paths, id), State::Running { .. }) {
        return Ok(empty_response(304));
    }
    let _ = crate::oci::kill(&paths.oci_root(), id, "TERM", false);
    if tokio::time::timeout(std::time::Duration::from_secs(seconds), wait_exit(paths, id)).await.is_err() {
        let _ = crate::oci::kill(&paths.oci_root(), id, "KILL", false);
        wait_exit(paths, id).await;
    }
    Ok(empty_response(204))
}

/// `DELETE /containers/ID`: a running container only with `force` (killed first).
async fn remove(daemon: &Daemon, container: &Container, force: bool) -> Result<(), ApiError> {
    let paths = daemon.paths.clone();
    let state = containers::state(&paths, &container.id);
    if matches!(state, State::Running { .. } | State::Created) {
        if !force {
            return Err(ApiError::conflict(format!(
                "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                container.id
            )));
        }
        let _ = crate::oci::kill(&paths.oci_root(), &container.id, "KILL", false);
        wait_exit(&paths, &container.id).await;
    }
    let id = container.id.clone();
    let removed = blocking(move || containers::remove_files(&paths, &id).map_err(ApiError::internal)).await;
    daemon.removals.notify_waiters();
    removed
}

/// Is the request asking to take the connection over (`Upgrade: tcp`)?
pub fn wants_upgrade(request: &Request<Incoming>) -> bool {
    request.headers().get("Upgrade").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"))
}

/// The 101 that hands the connection over to the stream.
pub fn switching(tty: bool) -> Response<Body> {
    let mut response = empty_response(101);
    let headers = response.headers_mut();
    headers.insert("Connection", HeaderValue::from_static("Upgrade"));
    headers.insert("Upgrade", HeaderValue::from_static("tcp"));
    headers.insert("Content-Type", HeaderValue::from_static(stream_type(tty)));
    response
}

/// `POST /containers/ID/attach?stream=1&stdin=1&stdout=1&stderr=1`: the connection becomes
/// the container's streams, through its shim.
async fn attach(daemon: &Daemon, name: &str, query: &Query, mut request: Request<Incoming>) -> Answer {
    let container = find(daemon, name).await?;
    if !wants_upgrade(&request) {
        return Err(ApiError::bad_request("attach takes the connection over: send `Upgrade: tcp`".into()));
    }
    let stdin = api::flag(query, "stdin") && container.open_stdin;
    let hello = format!(
        "attach out={} err={} in={}",
        u8::from(api::flag(query, "stdout")),
        u8::from(api::flag(query, "stderr")),
        u8::from(stdin)
    );
    let shim = connect_shim(&daemon.paths, &container.id, &hello).await.ok_or_else(|| {
        ApiError::conflict("You cannot attach to a stopped container, start it first".into())
    })?;
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            splice(TokioIo::new(upgraded), shim, stdin, container.tty).await;
        }
    });
    Ok(switching(container.tty))
}

/// Join a client's taken-over connection to a shim's: output to the client until the shim
/// closes (the container ended) or the client is gone; input to the shim when there is any.
async fn splice(
    client: TokioIo<hyper::upgrade::Upgraded>,
    shim: tokio::net::UnixStream,
    stdin: bool,
    tty: bool,
) {
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut shim_read, mut shim_write) = shim.into_split();
    let output = async {
        // Through a channel, so that a quiet container's stream still beats (see `heartbeat`).
        let (sender, mut chunks) = tokio::sync::mpsc::channel(16);
        let feeding = feed_from(&mut shim_read, sender, stream_beat(tty));
        let writing = async {
            while let Some(chunk) = chunks.recv().await {
                if client_write.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = feeding => {}
            () = writing => {}
        }
        // What the feed sent before it ended.
        while let Ok(chunk) = chunks.try_recv() {
            if client_write.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    let input = async {
        if stdin {
            let _ = tokio::io::copy(&mut client_read, &mut shim_write).await;
            let _ = shim_write.shutdown().await;
        } else {
            // The docker CLI shuts its side down at once when it sends nothing: read to that end.
            let mut sink = [0u8; 512];
            while matches!(client_read.read(&mut sink).await, Ok(got) if got > 0) {}
        }
        // A client's end of input is not its end: the output goes on.
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = output => {}
        () = input => {}
    }
}

/// `GET /containers/ID/logs`: the log files replayed; with `follow`, the shim's live output
/// after them.
async fn logs(daemon: &Daemon, name: &str, query: &Query) -> Answer {
    for refused in ["since", "until"] {
        if query.get(refused).is_some_and(|v| !v.is_empty() && v != "0") {
            return Err(ApiError::bad_request(format!(
                "logs --{refused}: minibox keeps no times in its logs"
            )));
        }
    }
    if api::flag(query, "timestamps") {
        return Err(ApiError::bad_request("logs --timestamps: minibox keeps no times in its logs".into()));
    }
    let tail = match query.get("tail").map(String::as_str) {
        None | Some("" | "all") => None,
        Some(n) => Some(
            n.parse::<usize>().map_err(|_| ApiError::bad_request(format!("tail {n}: a number or all")))?,
        ),
    };
    let container = find(daemon, name).await?;
    let wanted = stream::Wanted {
        stdout: api::flag(query, "stdout"),
        stderr: api::flag(query, "stderr"),
        raw: container.tty,
    };
    let kind = stream_type(container.tty);
    if api::flag(query, "follow") {
        let hello = format!(
            "logs out={} err={} tail={}",
            u8::from(wanted.stdout),
            u8::from(wanted.stderr),
            tail.map_or("all".to_string(), |t| t.to_string())
        );
        if let Some(shim) = connect_shim(&daemon.paths, &container.id, &hello).await {
            let beat = stream_beat(container.tty);
            return Ok(stream_response(200, kind, move |sender| feed_from(shim, sender, beat)));
        }
    }
    let dir = daemon.paths.dir(&container.id);
    let replayed = blocking(move || {
        let log = shim::log_path(&dir);
        stream::replay(&[&shim::LogFile::previous(&log), &log], wanted, tail).map_err(ApiError::internal)
    })
    .await?;
    let mut response = Response::new(Full::new(Bytes::from(replayed)).boxed());
    response.headers_mut().insert("Content-Type", HeaderValue::from_static(kind));
    Ok(response)
}
//@ end daemon
