//! The registry chapter's real components: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with
//! a port and a directory of its own, optionally behind a token service this harness runs (the
//! flow Docker Hub uses: 401 with a challenge, a token signed with a key the registry trusts);
//! OCI image layouts built from the host's busybox and pushed with skopeo; and a proxy that cuts
//! a transfer short, to interrupt a pull. Every process started here is killed by its pid when
//! its owner is dropped, a failed test included.
#![allow(dead_code)]

use crate::support::{OrFixture, fail, private_temp_dir};
use sha2::{Digest as _, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USER: &str = "learner";
pub const PASSWORD: &str = "correct horse battery staple";
const SERVICE: &str = "minibox-test-registry";
const ISSUER: &str = "minibox-test-token-service";

/// A `docker-registry` of the test's own.
pub struct Registry {
    pub dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub host: String,
    child: Child,
    tokens: Option<TokenService>,
}

impl Registry {
    /// A registry anyone may pull from and push to.
    pub fn start() -> Registry {
        Registry::start_with(false)
    }

    /// A registry behind a token service: anonymous requests get a token for nothing, `USER`
    /// with `PASSWORD` gets pull and push.
    pub fn start_with_tokens() -> Registry {
        Registry::start_with(true)
    }

    fn start_with(tokens: bool) -> Registry {
        let tool = require_tool("docker-registry");
        let dir = private_temp_dir("minibox-registry-");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let tokens = tokens.then(|| TokenService::start(&dir));
        let auth = match &tokens {
            None => String::new(),
            Some(service) => format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                service.host,
                service.cert.display()
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth}",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).or_fixture("writing the registry's configuration");
        let log = std::fs::File::create(dir.join("registry.log")).or_fixture("creating the registry's log");
        let child = Command::new(tool)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().or_fixture("the registry's log"))
            .stderr(log)
            .spawn()
            .or_fixture("starting docker-registry");
        let registry = Registry { dir, host, child, tokens };
        registry.wait_until_up();
        registry
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.host).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        fail(
            format!("docker-registry answering on {}", self.host),
            self.log(),
            "the test registry did not start (is the docker-registry package installed? `cargo xtask doctor`)",
            "Setting up",
        );
    }

    /// What the registry logged (one line per request, among others).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// How many requests of `method` for paths containing `path` the registry has answered.
    pub fn requests(&self, method: &str, path: &str) -> usize {
        let wanted = format!("\"{method} /v2/");
        self.log().lines().filter(|l| l.contains(&wanted) && l.contains(path)).count()
    }

    /// Where the registry keeps a blob's bytes (to tamper with them).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.join(format!("data/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }

    /// `skopeo copy [--all] oci:LAYOUT:TAG docker://HOST/REPO:TAG`.
    pub fn push_layout(&self, layout: &Path, tag: &str, repository: &str) {
        let mut command = Command::new(require_tool("skopeo"));
        command.args(["copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false"]);
        if self.tokens.is_some() {
            command.arg(format!("--dest-creds={USER}:{PASSWORD}"));
        }
        command.arg(format!("oci:{}:{tag}", layout.display()));
        command.arg(format!("docker://{}/{repository}:{tag}", self.host));
        let output = command.output().or_fixture("running skopeo copy");
        if !output.status.success() {
            fail(
                format!("skopeo to push {} into the test registry", layout.display()),
                String::from_utf8_lossy(&output.stderr),
                "the test's image layout or registry is broken: not the code under test",
                "Setting up",
            );
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn require_tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    fail(
        format!("`{name}` installed"),
        "not found",
        "the registry chapter's tests run a real registry: `sudo tools/provision.sh` installs docker-registry and skopeo",
        "Setting up",
    )
}

/// A port nobody listens on now (the kernel's choice for port 0).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").or_fixture("finding a free port");
    listener.local_addr().or_fixture("finding a free port").port()
}

// ---- the token service ------------------------------------------------------------------------

/// Docker's token authentication, as Docker Hub's auth.docker.io runs it: `GET /token?service=
/// S&scope=repository:NAME:ACTIONS`, with basic credentials or none, answers `{"token": JWT}`.
/// The JWT is signed (RS256) with a key whose self-signed certificate the registry trusts; the
/// `openssl` command does the signing.
struct TokenService {
    host: String,
    key: PathBuf,
    cert: PathBuf,
    stop: Arc<AtomicBool>,
}

impl TokenService {
    fn start(dir: &Path) -> TokenService {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let made = Command::new(require_tool("openssl"))
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=minibox-test-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .or_fixture("making the token service's key");
        if !made.success() {
            fail(
                "openssl to make a key and certificate",
                made,
                "the openssl command is broken",
                "Setting up",
            );
        }
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .or_fixture("reading the token certificate");
        let x5c = base64(&der.stdout, false);
        let listener = TcpListener::bind("127.0.0.1:0").or_fixture("starting the token service");
        listener.set_nonblocking(true).or_fixture("starting the token service");
        let host = listener.local_addr().or_fixture("starting the token service").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (stopped, signing_key) = (stop.clone(), key.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        answer_token_request(stream, &signing_key, &x5c);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        TokenService { host, key, cert, stop }
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer_token_request(mut stream: TcpStream, key: &Path, x5c: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().expect("a socket clones"));
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let query = request_line.split_whitespace().nth(1).and_then(|p| p.split_once('?')).map(|(_, q)| q);
    let scope = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("scope="))
        .map(percent_decode)
        .unwrap_or_default();
    let anonymous = authorization.is_none();
    let good = authorization.as_deref()
        == Some(&format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes(), false)));
    if !anonymous && !good {
        let _ =
            stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    // repository:NAME:ACTIONS; the anonymous get a token that grants nothing, as on Docker Hub.
    let mut access = Vec::new();
    let mut parts = scope.splitn(3, ':');
    if let (Some("repository"), Some(name), Some(actions), true) =
        (parts.next(), parts.next(), parts.next(), good)
    {
        let actions: Vec<&str> = actions.split(',').collect();
        access.push(serde_json::json!({"type": "repository", "name": name, "actions": actions}));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": if good { USER } else { "" }, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", std::process::id()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        base64(header.to_string().as_bytes(), true),
        base64(claims.to_string().as_bytes(), true)
    );
    let signature = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().expect("piped").write_all(signing_input.as_bytes())?;
            child.wait_with_output()
        })
        .map(|o| o.stdout)
        .unwrap_or_default();
    let token = format!("{signing_input}.{}", base64(&signature, true));
    let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Base64 (RFC 4648): standard with padding, or URL-safe without (for JWTs).
fn base64(bytes: &[u8], url: bool) -> String {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

// ---- image layouts ----------------------------------------------------------------------------

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A layer holding the whole of a directory, plus `extra` files (path, content).
pub fn layer_of(dir: &Path, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir).or_fixture("archiving a test root filesystem");
    for (path, content) in extra {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(content.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, content.as_bytes()).or_fixture("building a test layer");
    }
    builder.into_inner().or_fixture("archiving a test root filesystem")
}

/// The OCI architecture name of this machine, and of another one.
pub fn this_arch() -> &'static str {
    if std::env::consts::ARCH == "aarch64" { "arm64" } else { "amd64" }
}

pub fn other_arch() -> &'static str {
    if this_arch() == "amd64" { "arm64" } else { "amd64" }
}

/// An OCI image layout under construction: blobs, then an index naming a manifest or an index.
pub struct Layout {
    pub dir: PathBuf,
}

/// One platform's image in a layout: its manifest's descriptor and the digests of its blobs.
pub struct Built {
    pub manifest: serde_json::Value,
    pub layers: Vec<String>,
    pub config: String,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).or_fixture("writing a test image layout");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .or_fixture("writing a test image layout");
        Layout { dir: dir.to_path_buf() }
    }

    fn put(&self, bytes: &[u8], media_type: &str) -> serde_json::Value {
        let hex = sha256_hex(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), bytes)
            .or_fixture("writing a test image layout");
        serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    /// An image for `os/arch` made of `layers` (plain tar), running `sh` by default.
    pub fn image(&self, os: &str, arch: &str, layers: &[Vec<u8>]) -> Built {
        let mut descriptors = Vec::new();
        let mut digests = Vec::new();
        for layer in layers {
            let descriptor = self.put(layer, "application/vnd.oci.image.layer.v1.tar");
            digests.push(descriptor["digest"].as_str().unwrap().to_string());
            descriptors.push(descriptor);
        }
        let config = serde_json::json!({
            "architecture": arch, "os": os,
            "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": digests},
        });
        let config = self.put(config.to_string().as_bytes(), "application/vnd.oci.image.config.v1+json");
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": descriptors,
        });
        let mut descriptor =
            self.put(manifest.to_string().as_bytes(), "application/vnd.oci.image.manifest.v1+json");
        descriptor["platform"] = serde_json::json!({"os": os, "architecture": arch});
        Built {
            manifest: descriptor,
            layers: digests,
            config: config["digest"].as_str().unwrap().to_string(),
        }
    }

    /// Name `top` (a manifest, or an index made with `index`) `tag` in the layout's index.json.
    pub fn tag(&self, top: &serde_json::Value, tag: &str) {
        let mut top = top.clone();
        top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
        std::fs::write(self.dir.join("index.json"), index.to_string())
            .or_fixture("writing a test image layout");
    }

    /// An image index over `manifests`, stored as a blob; returns its descriptor.
    pub fn index(&self, manifests: &[&serde_json::Value]) -> serde_json::Value {
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests,
        });
        self.put(index.to_string().as_bytes(), "application/vnd.oci.image.index.v1+json")
    }
}

// ---- a proxy that cuts transfers short --------------------------------------------------------

/// A TCP proxy in front of the registry that records the requests it forwards and, while it has
/// a budget, closes every connection once that many response bytes have gone through in all.
pub struct CuttingProxy {
    pub host: String,
    budget: Arc<Mutex<Option<u64>>>,
    requests: Arc<Mutex<Vec<String>>>,
    forwarded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl CuttingProxy {
    pub fn start(upstream: &str, budget: Option<u64>) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").or_fixture("starting the test proxy");
        listener.set_nonblocking(true).or_fixture("starting the test proxy");
        let host = listener.local_addr().or_fixture("starting the test proxy").to_string();
        let proxy = CuttingProxy {
            host,
            budget: Arc::new(Mutex::new(budget)),
            requests: Arc::default(),
            forwarded: Arc::default(),
            stop: Arc::default(),
        };
        let (budget, requests, forwarded, stop) =
            (proxy.budget.clone(), proxy.requests.clone(), proxy.forwarded.clone(), proxy.stop.clone());
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let requests = requests.clone();
                std::thread::spawn(move || copy_recording(client2, server2, &requests));
                let (budget, forwarded) = (budget.clone(), forwarded.clone());
                std::thread::spawn(move || copy_with_budget(server, client, &budget, &forwarded));
            }
        });
        proxy
    }

    /// Stop cutting: forward everything from now on.
    pub fn unlimited(&self) {
        *self.budget.lock().unwrap() = None;
    }

    /// The request heads forwarded so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Response bytes forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn copy_recording(mut from: TcpStream, mut to: TcpStream, requests: &Mutex<Vec<String>>) {
    let mut buffer = vec![0u8; 1 << 16];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 || to.write_all(&buffer[..n]).is_err() {
            break;
        }
        let text = String::from_utf8_lossy(&buffer[..n]);
        if text.starts_with("GET ") || text.starts_with("HEAD ") {
            requests.lock().unwrap().push(text.split("\r\n\r\n").next().unwrap_or_default().to_string());
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn copy_with_budget(
    mut from: TcpStream,
    mut to: TcpStream,
    budget: &Mutex<Option<u64>>,
    forwarded: &AtomicU64,
) {
    let mut buffer = vec![0u8; 1 << 14];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 {
            break;
        }
        let allowed = {
            let mut budget = budget.lock().unwrap();
            match budget.as_mut() {
                None => n,
                Some(left) => {
                    let allowed = n.min(*left as usize);
                    *left -= allowed as u64;
                    allowed
                }
            }
        };
        if to.write_all(&buffer[..allowed]).is_err() {
            break;
        }
        forwarded.fetch_add(allowed as u64, Ordering::Relaxed);
        if allowed < n {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

// ---- another client ---------------------------------------------------------------------------

/// `podman pull --tls-verify=false IMAGE` into a storage of its own under `storage` (vfs: no
/// mount); returns podman's output and the pulled image's manifest digest.
pub fn podman_pull(storage: &Path, image: &str) -> (std::process::Output, String) {
    let podman = require_tool("podman");
    let base = |command: &mut Command| {
        // --tmpdir: libpod's own state (the `alive` lock, the events log) would otherwise go to
        // the host's /run/libpod.
        command
            .arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .arg("--tmpdir")
            .arg(storage.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
    };
    let mut pull = Command::new(&podman);
    base(&mut pull);
    let output = pull
        .args(["pull", "--quiet", "--tls-verify=false", image])
        .output()
        .or_fixture("running podman pull");
    let mut inspect = Command::new(&podman);
    base(&mut inspect);
    let digest = inspect
        .args(["image", "inspect", "--format", "{{.Digest}}", image])
        .output()
        .or_fixture("running podman image inspect");
    (output, String::from_utf8_lossy(&digest.stdout).into_owned())
}
