//@ begin daemon
//! `docker exec`: a further process in a running container. The daemon runs the oci chapter's
//! `minibox exec` with the process's streams its own, and relays them over the client's
//! taken-over connection: frames without a terminal, the terminal's bytes with one.

use super::api::ApiError;
use super::containers::{self, State};
use super::{Answer, Daemon, empty_response, json_response, stream, switching, wants_upgrade};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An exec instance: made by `POST /containers/ID/exec`, run by `POST /exec/ID/start`.
pub struct Exec {
    pub container: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub running: bool,
    pub exit_code: Option<i32>,
    /// The terminal's master while it runs with one (for resize).
    pub master: Option<Arc<std::fs::File>>,
    /// A size asked for before the master arrived (the CLI resizes right after the 101).
    pub size: Option<(u16, u16)>,
}

pub async fn create(daemon: &Daemon, name: &str, body: Value) -> Answer {
    let container = super::find(daemon, name).await?;
    if !matches!(containers::state(&daemon.paths, &container.id), State::Running { .. }) {
        return Err(ApiError::conflict(format!("Container {} is not running", container.id)));
    }
    let strings = |field: &str| -> Result<Vec<String>, ApiError> {
        match &body[field] {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::bad_request(format!("{field}: a list of strings"))),
            _ => Err(ApiError::bad_request(format!("{field}: a list of strings"))),
        }
    };
    let argv = strings("Cmd")?;
    if argv.is_empty() {
        return Err(ApiError::bad_request("No exec command specified".into()));
    }
    if body["User"].as_str().is_some_and(|u| !u.is_empty()) || body["Privileged"].as_bool() == Some(true) {
        return Err(ApiError::bad_request(
            "exec --user and --privileged: not supported by minibox's daemon".into(),
        ));
    }
    let flag = |field: &str| body[field].as_bool().unwrap_or(false);
    let exec = Exec {
        container: container.id.clone(),
        argv,
        env: strings("Env")?,
        working_dir: body["WorkingDir"].as_str().unwrap_or_default().to_string(),
        tty: flag("Tty"),
        stdin: flag("AttachStdin"),
        stdout: flag("AttachStdout"),
        stderr: flag("AttachStderr"),
        running: false,
        exit_code: None,
        master: None,
        size: None,
    };
    let id = containers::new_id().map_err(ApiError::internal)?;
    daemon.execs.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), exec);
    Ok(json_response(201, &json!({"Id": id})))
}

pub fn inspect(daemon: &Daemon, id: &str) -> Answer {
    let execs = daemon.execs.lock().unwrap_or_else(|e| e.into_inner());
    let exec = execs.get(id).ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))?;
    Ok(json_response(
        200,
        &json!({
            "ID": id,
            "ContainerID": exec.container,
            "Running": exec.running,
            "ExitCode": exec.exit_code,
            "OpenStdin": exec.stdin,
            "OpenStdout": exec.stdout,
            "OpenStderr": exec.stderr,
            "ProcessConfig": {
                "tty": exec.tty,
                "entrypoint": exec.argv[0],
                "arguments": exec.argv[1..],
            },
            "Pid": 0,
        }),
    ))
}

pub fn resize(daemon: &Daemon, id: &str, query: &super::Query) -> Answer {
    let mut execs = daemon.execs.lock().unwrap_or_else(|e| e.into_inner());
    let exec =
        execs.get_mut(id).ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))?;
    let number = |key: &str| query.get(key).and_then(|v| v.parse().ok()).unwrap_or(0);
    exec.size = Some((number("h"), number("w")));
    if let Some(master) = &exec.master {
        super::shim::set_size(std::os::fd::AsFd::as_fd(master.as_ref()), number("h"), number("w"));
    }
    Ok(empty_response(200))
}

/// `POST /exec/ID/start`: run it, detached or over the taken-over connection.
pub async fn start(daemon: &Arc<Daemon>, id: &str, mut request: Request<Incoming>) -> Answer {
    let body = super::read_json_of(&mut request).await?;
    let detach = body["Detach"].as_bool().unwrap_or(false);
    let (command, tty, stdin) = {
        let mut execs = daemon.execs.lock().unwrap_or_else(|e| e.into_inner());
        let exec =
            execs.get_mut(id).ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))?;
        if exec.running || exec.exit_code.is_some() {
            return Err(ApiError::conflict(format!("exec {id} has run already")));
        }
        exec.running = true;
        (command(daemon, exec, id), exec.tty, exec.stdin && !detach)
    };
    if detach {
        let mut command = command;
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = command.spawn();
        let daemon = daemon.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let code = match child {
                Ok(mut child) => child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1),
                Err(_) => -1,
            };
            finish(&daemon, &id, code);
        });
        return Ok(empty_response(200));
    }
    if !wants_upgrade(&request) {
        return Err(ApiError::bad_request(
            "exec start takes the connection over: send `Upgrade: tcp`".into(),
        ));
    }
    let upgrade = hyper::upgrade::on(&mut request);
    let daemon = daemon.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            finish(&daemon, &id, -1);
            return;
        };
        let client = TokioIo::new(upgraded);
        let code = if tty {
            run_with_terminal(&daemon, &id, command, client).await
        } else {
            run_with_pipes(command, client, stdin).await
        };
        finish(&daemon, &id, code);
    });
    Ok(switching(tty))
}

/// `minibox exec` for this instance.
fn command(daemon: &Daemon, exec: &Exec, id: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("/proc/self/exe");
    command.arg("--root").arg(daemon.paths.oci_root()).arg("exec");
    for kv in &exec.env {
        command.arg("--env").arg(kv);
    }
    if !exec.working_dir.is_empty() {
        command.arg("--cwd").arg(&exec.working_dir);
    }
    if exec.tty {
        command.arg("--tty").arg("--console-socket").arg(console_path(daemon, id));
    }
    command.arg(&exec.container).arg("--").args(&exec.argv);
    command.kill_on_drop(false);
    command
}

fn console_path(daemon: &Daemon, id: &str) -> std::path::PathBuf {
    daemon.paths.data.join("run").join(format!("exec-{}", &id[..16]))
}

fn finish(daemon: &Daemon, id: &str, code: i32) {
    if let Some(exec) = daemon.execs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
        exec.running = false;
        exec.exit_code = Some(code);
        exec.master = None;
    }
}

/// Without a terminal: stdout and stderr become frames on the connection; the exit code is
/// recorded before the connection closes, since the client asks for it right after.
async fn run_with_pipes(
    mut command: tokio::process::Command,
    client: TokioIo<hyper::upgrade::Upgraded>,
    stdin: bool,
) -> i32 {
    use std::process::Stdio;
    command
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let message = format!("minibox: running minibox exec: {error}\n");
            let _ = client_write.write_all(&stream::encode_frame(stream::STDERR, message.as_bytes())).await;
            return 125;
        }
    };
    let (sender, mut frames) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    for (number, reader) in [
        (
            stream::STDOUT,
            child.stdout.take().map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ),
        (
            stream::STDERR,
            child.stderr.take().map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ),
    ] {
        let (Some(mut reader), sender) = (reader, sender.clone()) else { continue };
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 32 * 1024];
            while let Ok(got @ 1..) = reader.read(&mut buffer).await {
                if sender.send(stream::encode_frame(number, &buffer[..got])).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(sender);
    let mut child_stdin = child.stdin.take();
    let input = async {
        if let Some(writer) = &mut child_stdin {
            let _ = tokio::io::copy(&mut client_read, writer).await;
        }
        child_stdin = None;
        std::future::pending::<()>().await
    };
    let output = async {
        while let Some(frame) = frames.recv().await {
            if client_write.write_all(&frame).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = output => {}
        () = input => {}
    }
    let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
    let _ = client_write.shutdown().await;
    code
}

/// With a terminal: `minibox exec --tty` sends the master over a socket of ours; its bytes
/// go to the client as they are.
async fn run_with_terminal(
    daemon: &Daemon,
    id: &str,
    mut command: tokio::process::Command,
    client: TokioIo<hyper::upgrade::Upgraded>,
) -> i32 {
    use std::process::Stdio;
    let path = console_path(daemon, id);
    let _ = std::fs::remove_file(&path);
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(_) => return 125,
    };
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let spawned = command.spawn();
    let master = match spawned {
        Ok(ref _child) => {
            let accepted = tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept()).await;
            match accepted {
                Ok(Ok((connection, _))) => {
                    let connection = connection.into_std().and_then(|c| c.set_nonblocking(false).map(|()| c));
                    match connection {
                        Ok(c) => tokio::task::spawn_blocking(move || stream::receive_fd(&c))
                            .await
                            .ok()
                            .and_then(Result::ok),
                        Err(_) => None,
                    }
                }
                _ => None,
            }
        }
        Err(_) => None,
    };
    drop(listener);
    let _ = std::fs::remove_file(&path);
    let Ok(mut child) = spawned else { return 125 };
    let Some(master) = master else {
        let mut message = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut message).await;
        }
        let _ = client_write.write_all(message.as_bytes()).await;
        return child.wait().await.ok().and_then(|s| s.code()).unwrap_or(125);
    };
    let master = std::fs::File::from(master);
    // Two more descriptors of the master (for resize, for reading): with the daemon's table full
    // (EMFILE) this exec fails, and the daemon goes on.
    let (shared, reader) = match master.try_clone().and_then(|one| Ok((one, master.try_clone()?))) {
        Ok((shared, reader)) => (Arc::new(shared), reader),
        Err(error) => {
            let message = format!("minibox: copying the exec's terminal: {error}\r\n");
            let _ = client_write.write_all(message.as_bytes()).await;
            let _ = child.start_kill();
            let _ = child.wait().await;
            let _ = client_write.shutdown().await;
            return 125;
        }
    };
    if let Some(exec) = daemon.execs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
        if let Some((rows, cols)) = exec.size {
            super::shim::set_size(std::os::fd::AsFd::as_fd(&master), rows, cols);
        }
        exec.master = Some(shared);
    }
    let mut reader = tokio::fs::File::from_std(reader);
    let mut writer = tokio::fs::File::from_std(master);
    let output = async {
        let mut buffer = vec![0u8; 32 * 1024];
        // EIO once the process (and everyone holding the terminal) is gone.
        while let Ok(got @ 1..) = reader.read(&mut buffer).await {
            if client_write.write_all(&buffer[..got]).await.is_err() {
                break;
            }
        }
    };
    let input = async {
        let _ = tokio::io::copy(&mut client_read, &mut writer).await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = output => {}
        () = input => {}
    }
    let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
    let _ = client_write.shutdown().await;
    code
}
//@ end daemon
