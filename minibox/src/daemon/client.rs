//@ begin daemon
//! `minibox --host unix:///PATH run|images|pull`: minibox as a client of a daemon's API, as the
//! docker CLI is. `run` makes the requests `docker run --rm` makes: create, attach, wait, start.

use super::stream;
use crate::container::Config;
use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::path::Path;

/// What minibox sends to a daemon: the commands that a daemon serves. The command line turns
/// its own (clap's) commands into these, so that the library never depends on it.
#[derive(Debug)]
pub enum Request {
    /// `run`, its arguments checked.
    Run(Box<Config>),
    /// `images`.
    Images,
    /// `pull REFERENCE`.
    Pull { reference: String },
}

/// Send the request to the daemon at `host`; its exit code.
pub fn main(host: &str, request: Request) -> Result<i32> {
    let socket = super::socket_path(host)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match request {
        Request::Run(config) => runtime.block_on(run(&socket, &config)),
        Request::Images => runtime.block_on(images(&socket)),
        Request::Pull { reference } => runtime.block_on(pull(&socket, &reference)),
    }
}

/// One request on a connection of its own; the response's status and the connection's sender
/// (still usable for the upgrade).
async fn send(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
    upgrade: bool,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .with_context(|| format!("connecting to {}: is `minibox daemon` running there?", socket.display()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("/v{}.{}{path}", super::api::VERSION.0, super::api::VERSION.1))
        .header("Host", "minibox")
        .header("Content-Type", "application/json");
    if upgrade {
        request = request.header("Connection", "Upgrade").header("Upgrade", "tcp");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = sender.send_request(request.body(Full::new(Bytes::from(body)))?).await?;
    Ok(response)
}

/// A request whose whole answer is wanted: fail with the daemon's message unless it succeeded.
async fn call(socket: &Path, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Bytes)> {
    let response = send(socket, method, path, body, false).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

fn message(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).trim().to_string())
}

async fn run(socket: &Path, config: &Config) -> Result<i32> {
    if config.rootfs.is_some() || config.read_only || config.init || !config.publish.is_empty() {
        bail!("--rootfs, --read-only, --init and -p do not go through the daemon: run without --host");
    }
    if config.security.privileged || config.security.cap_add != 0 || config.security.cap_drop != 0 {
        bail!("--privileged, --cap-add and --cap-drop do not go through the daemon: run without --host");
    }
    let network = if config.network == crate::network::Mode::Host { "host" } else { "none" };
    let mut body = json!({
        "Image": config.image.as_deref().unwrap_or(crate::image::DEFAULT_IMAGE),
        "Env": config.env,
        "AttachStdout": true,
        "AttachStderr": true,
        "HostConfig": {
            "AutoRemove": true,
            "NetworkMode": network,
            "Memory": config.limits.memory.unwrap_or(0),
            "PidsLimit": config.limits.pids.unwrap_or(0),
            "NanoCpus": config.limits.cpus.map_or(0, |c| (c * 1e9) as u64),
        },
    });
    if !config.command.is_empty() {
        body["Cmd"] = json!(config.command);
    }
    if let Some(hostname) = &config.hostname {
        body["Hostname"] = json!(hostname);
    }
    let (status, answer) = call(socket, "POST", "/containers/create", Some(&body)).await?;
    if status != 201 {
        bail!("the daemon refused to create the container: {}", message(&answer));
    }
    let id = serde_json::from_slice::<Value>(&answer)?["Id"].as_str().unwrap_or_default().to_string();
    // Attached and waiting before the start, so that no output and no exit is missed.
    let attached =
        send(socket, "POST", &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"), None, true)
            .await?;
    if attached.status().as_u16() != 101 {
        let status = attached.status();
        bail!("attaching: {status} {}", message(&attached.into_body().collect().await?.to_bytes()));
    }
    let upgraded = TokioIo::new(hyper::upgrade::on(attached).await.context("attaching")?);
    let waited =
        send(socket, "POST", &format!("/containers/{id}/wait?condition=removed"), None, false).await?;
    let (status, answer) = call(socket, "POST", &format!("/containers/{id}/start"), None).await?;
    if status != 204 {
        bail!("starting the container: {}", message(&answer));
    }
    relay(upgraded).await?;
    let result: Value = serde_json::from_slice(&waited.into_body().collect().await?.to_bytes())
        .context("the daemon's answer to wait")?;
    Ok(result["StatusCode"].as_i64().unwrap_or(crate::exit::RUNTIME_FAILED.into()) as i32)
}

/// The attach stream's frames to our stdout and stderr. The frames are read by
/// `stream::read_frame` on a thread of its own, fed the connection's bytes through a channel.
async fn relay(mut upgraded: impl tokio::io::AsyncRead + Unpin) -> Result<()> {
    use tokio::io::AsyncReadExt;
    let (sender, receiver) = std::sync::mpsc::channel::<Vec<u8>>();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut reader = ChannelReader { receiver, pending: Vec::new(), at: 0 };
        while let Some((number, payload)) = stream::read_frame(&mut reader)? {
            if number == stream::STDERR {
                std::io::stderr().write_all(&payload)?;
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(&payload)?;
                out.flush()?;
            }
        }
        Ok(())
    });
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let got = upgraded.read(&mut buffer).await.unwrap_or(0);
        if got == 0 || sender.send(buffer[..got].to_vec()).is_err() {
            break;
        }
    }
    drop(sender);
    writer.await?.context("reading the container's output")
}

/// `Read` over chunks arriving on a channel; the end when the sender is gone.
struct ChannelReader {
    receiver: std::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            match self.receiver.recv() {
                Ok(chunk) => (self.pending, self.at) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.pending.len() - self.at);
        buffer[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

async fn images(socket: &Path) -> Result<i32> {
    let (status, answer) = call(socket, "GET", "/images/json", None).await?;
    if status != 200 {
        bail!("listing the images: {}", message(&answer));
    }
    let mut rows = Vec::new();
    for image in serde_json::from_slice::<Vec<Value>>(&answer)? {
        let id =
            image["Id"].as_str().unwrap_or_default().trim_start_matches("sha256:").chars().take(12).collect();
        for tag in image["RepoTags"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let (name, tag) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
            rows.push((
                name.to_string(),
                tag.to_string(),
                String::clone(&id),
                image["Size"].as_u64().unwrap_or(0),
            ));
        }
    }
    crate::image::print_list(&rows)
}

async fn pull(socket: &Path, reference: &str) -> Result<i32> {
    let query: String = reference
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    let (status, answer) = call(socket, "POST", &format!("/images/create?fromImage={query}"), None).await?;
    if status != 200 {
        bail!("pulling {reference}: {}", message(&answer));
    }
    for line in answer.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let progress: Value = serde_json::from_slice(line).unwrap_or_default();
        if let Some(error) = progress["error"].as_str() {
            bail!("pulling {reference}: {error}");
        }
        if let Some(status) = progress["status"].as_str() {
            println!("{status}");
        }
    }
    Ok(0)
}
//@ end daemon
