//! The registry chapter's graded tests: pulling and pushing images.
//!
//! Each test starts a real registry (Debian's `docker-registry`) on 127.0.0.1 with a directory
//! of its own, pushes images into it with skopeo from OCI layouts built here from the host's
//! busybox, and drives `minibox pull` and `push` against it with `--insecure` (plain HTTP,
//! loopback only). Nothing reaches the internet.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

#[path = "support/registry.rs"]
mod registry;

use minibox::registry::{auth, pull, reference::RemoteReference, reference::Target};
use registry::{CuttingProxy, Layout, Registry};
use serial_test::serial;
use support::{Sandbox, ensure};

const NAMES: &str = "registry, \"Names, tags and digests\"";
const TOKENS: &str = "registry, \"Tokens\"";
const PLATFORMS: &str = "registry, \"One name, many platforms\"";
const STREAMING: &str = "registry, \"Checking while it streams\"";
const PULL: &str = "registry, \"Pulling, step by step\"";
const PUSH: &str = "registry, \"Pushing\"";

// ---- helpers ---------------------------------------------------------------------------------

/// A one-image layout tagged `tag`: the sandbox's busybox root plus `/marker` holding `marker`.
fn busybox_layout(sandbox: &Sandbox, name: &str, marker: &str) -> (Layout, registry::Built) {
    let root = sandbox.busybox_rootfs(&format!("{name}-rootfs"));
    let layout = Layout::new(&sandbox.dir.join(name));
    let built =
        layout.image("linux", registry::this_arch(), &[registry::layer_of(&root, &[("marker", marker)])]);
    layout.tag(&built.manifest, "v1");
    (layout, built)
}

fn run_marker(sandbox: &Sandbox, image: &str, book: &str) -> String {
    let ran = sandbox.run(&["run", image, "cat", "/marker"]);
    ran.expect_code(0, "the pulled image should run", book);
    ran.stdout.clone()
}

fn stored_blobs(sandbox: &Sandbox) -> Vec<String> {
    std::fs::read_dir(sandbox.state.join("oci/blobs/sha256"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
        .unwrap_or_default()
}

// ---- exercises, one at a time ----------------------------------------------------------------

#[test]
fn references_get_docker_hubs_defaults() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let cases = [
        ("busybox", "docker.io", "library/busybox", "latest"),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36"),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7"),
        ("docker.io/busybox", "docker.io", "library/busybox", "latest"),
        ("ghcr.io/owner/app:v2", "ghcr.io", "owner/app", "v2"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", "latest"),
        ("localhost/app:x", "localhost", "app", "x"),
        // Hosts without a dot are hosts by their port.
        ("localhost:5000/app", "localhost:5000", "app", "latest"),
        ("registry:5000/team/app:v1", "registry:5000", "team/app", "v1"),
    ];
    for (text, registry, repository, tag) in cases {
        let seen = std::panic::catch_unwind(|| RemoteReference::parse(text).ok()).ok().flatten();
        let ok = seen.as_ref().is_some_and(|r| {
            r.registry == registry && r.repository == repository && r.target == Target::Tag(tag.to_string())
        });
        ensure(
            ok,
            format!("{text:?} -> registry {registry}, repository {repository}, tag {tag}"),
            format!("{seen:?}"),
            "no host means docker.io, a single name there means library/NAME, no tag means latest; a first component with a dot or a port, or localhost, is a host; a colon after the last slash starts the tag",
            NAMES,
        );
    }
    let by_digest = format!("127.0.0.1:5000/app@{digest}");
    let seen = RemoteReference::parse(&by_digest).ok();
    ensure(
        seen.as_ref().is_some_and(|r| {
            r.repository == "app" && matches!(&r.target, Target::Digest(d) if d.to_string() == digest)
        }),
        format!("{by_digest:?} -> repository app, digest {digest}"),
        format!("{seen:?}"),
        "`@` separates a digest, and then there is no tag",
        NAMES,
    );
    for bad in ["Busybox", "a/../../b", "busybox@sha256:short", "x:", "/busybox", "127.0.0.1:5000/"] {
        let seen = RemoteReference::parse(bad);
        ensure(
            seen.is_err(),
            format!("{bad:?} refused"),
            format!("{seen:?}"),
            "check the parts by the distribution grammar",
            NAMES,
        );
    }
}

#[test]
fn challenges_are_parsed() {
    let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#;
    let seen = auth::parse_challenge(header).ok();
    let ok = seen.as_ref().is_some_and(|c| {
        c.scheme == "bearer"
            && c.params.get("realm").map(String::as_str) == Some("https://auth.docker.io/token")
            && c.params.get("service").map(String::as_str) == Some("registry.docker.io")
            && c.params.get("scope").map(String::as_str) == Some("repository:library/busybox:pull,push")
    });
    ensure(
        ok,
        "scheme bearer, realm, service, and a scope that keeps its comma",
        format!("{seen:?}"),
        "a quoted value may hold commas: split on commas outside quotes only",
        TOKENS,
    );
    let seen = auth::parse_challenge(r#"Basic Realm="a \"quoted\" realm", charset=UTF-8"#).ok();
    let ok = seen.as_ref().is_some_and(|c| {
        c.scheme == "basic"
            && c.params.get("realm").map(String::as_str) == Some(r#"a "quoted" realm"#)
            && c.params.get("charset").map(String::as_str) == Some("UTF-8")
    });
    ensure(
        ok,
        "scheme basic (lower case), realm `a \"quoted\" realm`, charset UTF-8",
        format!("{seen:?}"),
        "names and schemes are case-insensitive; a backslash escapes the next character; a value may be a bare token",
        TOKENS,
    );
}

#[test]
fn the_index_gives_this_machines_manifest() {
    use oci_spec::image::{Arch, ImageIndex};
    let entry = |os: &str, arch: &str, variant: Option<&str>, n: u8| {
        let mut platform = serde_json::json!({"os": os, "architecture": arch});
        if let Some(variant) = variant {
            platform["variant"] = variant.into();
        }
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)), "size": 100, "platform": platform,
        })
    };
    let index: ImageIndex = serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": [
        entry("unknown", "unknown", None, 1), entry("linux", "arm", Some("v7"), 2),
        entry("linux", "arm64", Some("v7"), 3), entry("windows", "amd64", None, 4),
        entry("linux", "arm64", Some("v8"), 5), entry("linux", "amd64", None, 6),
    ]}))
    .unwrap();
    for (arch, expected) in [(Arch::Amd64, 6u8), (Arch::ARM64, 5)] {
        let seen = std::panic::catch_unwind(|| pull::choose_manifest(&index, &arch).ok()).ok().flatten();
        let expected_digest = format!("sha256:{}", format!("{expected:02x}").repeat(32));
        ensure(
            seen.as_ref().is_some_and(|d| d.digest().to_string() == expected_digest),
            format!("linux/{arch} -> the entry {expected_digest}"),
            format!("{:?}", seen.map(|d| d.digest().to_string())),
            "match the os (linux) and the architecture; on arm64 the variant, when given, must be v8",
            PLATFORMS,
        );
    }
    // Most images list arm64 without a variant: that entry is arm64's (v8 is the only one).
    let no_variant: ImageIndex = serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": [
        entry("linux", "arm64", Some("v7"), 3), entry("linux", "amd64", None, 6), entry("linux", "arm64", None, 7),
    ]}))
    .unwrap();
    let seen =
        std::panic::catch_unwind(|| pull::choose_manifest(&no_variant, &Arch::ARM64).ok()).ok().flatten();
    let expected_digest = format!("sha256:{}", "07".repeat(32));
    ensure(
        seen.as_ref().is_some_and(|d| d.digest().to_string() == expected_digest),
        format!("linux/arm64 without a variant -> the entry {expected_digest}"),
        format!("{:?}", seen.map(|d| d.digest().to_string())),
        "on arm64 the variant, when given, must be v8: an entry that gives none fits",
        PLATFORMS,
    );
    let only_windows: ImageIndex = serde_json::from_value(
        serde_json::json!({"schemaVersion": 2, "manifests": [entry("windows", "amd64", None, 4)]}),
    )
    .unwrap();
    let seen = std::panic::catch_unwind(|| pull::choose_manifest(&only_windows, &Arch::Amd64).is_err()).ok();
    ensure(
        seen == Some(true),
        "an error for an index without a linux/amd64 manifest",
        format!("{seen:?} (true: an error)"),
        "when no entry fits, say so: never fall back to another platform's image",
        PLATFORMS,
    );
}

/// A body of `prefix`, then zeros without end; it fails once `limit` bytes have been read.
struct Endless {
    prefix: Vec<u8>,
    sent: u64,
    limit: u64,
}

impl std::io::Read for Endless {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.sent >= self.limit {
            return Err(std::io::Error::other("the test's body: read far past the size"));
        }
        let at = self.sent as usize;
        let n = buffer.len().min((self.limit - self.sent) as usize);
        for (i, byte) in buffer[..n].iter_mut().enumerate() {
            *byte = self.prefix.get(at + i).copied().unwrap_or(0);
        }
        self.sent += n as u64;
        Ok(n)
    }
}

#[test]
fn a_blob_is_held_to_its_size_as_it_streams() {
    use minibox::image::blob;
    use sha2::Digest as _;
    let sandbox = Sandbox::new();
    let content = b"the layer's bytes".repeat(1000);
    let digest = blob::sha256_of(&content);
    let size = content.len() as u64;
    let receive = |body: &mut dyn std::io::Read, size: u64, name: &str| {
        let path = sandbox.dir.join(name);
        let mut file =
            std::fs::File::options().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pull::receive_blob(body, &mut file, sha2::Sha256::new(), 0, &digest, size)
        }));
        let written = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let shown = match &result {
            Ok(Ok(())) => "Ok".to_string(),
            Ok(Err(pull::BlobError::Mismatch(why))) => format!("Mismatch({why})"),
            Ok(Err(pull::BlobError::Interrupted(why))) => format!("Interrupted({why})"),
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".to_string()),
        };
        (matches!(result, Ok(Err(pull::BlobError::Mismatch(_)))), written, shown)
    };
    // A body that goes on past the size: refused as it passes it, not when it ends (it may never).
    let limit = size + (64 << 20);
    let mut endless = Endless { prefix: content.clone(), sent: 0, limit };
    let (mismatch, written, shown) = receive(&mut endless, size, "endless");
    ensure(
        mismatch && written <= size && endless.sent < limit,
        format!(
            "a mismatch, with at most the {size} bytes of the descriptor written, as the body passes them"
        ),
        format!("{shown}, {written} bytes written, {} bytes read", endless.sent),
        "receive: count the bytes as they come and refuse the blob the moment there are more than its size",
        STREAMING,
    );
    // The right bytes under a descriptor that says fewer: the digest alone does not do.
    let (mismatch, written, shown) = receive(&mut content.as_slice(), size - 1, "longer");
    ensure(
        mismatch,
        format!("a mismatch for the blob's {size} bytes under a descriptor that says {}", size - 1),
        format!("{shown}, {written} bytes written"),
        "receive: a digest is checked with its size: a body longer than the descriptor's size is not that blob",
        STREAMING,
    );
    // A body that ends cleanly before the size: an interruption, its bytes kept to resume from.
    let half = &content[..content.len() / 2];
    let (_, written, shown) = receive(&mut &half[..], size, "short");
    ensure(
        shown.starts_with("Interrupted") && written == half.len() as u64,
        format!(
            "an interruption, with the {} bytes that came written, for a body that ends early",
            half.len()
        ),
        format!("{shown}, {written} bytes written"),
        "receive: fewer bytes than the size is a transfer cut short (Interrupted): keep them for a Range request, \
         whatever they hash to",
        STREAMING,
    );
}

// ---- against a real registry -----------------------------------------------------------------

#[test]
#[serial]
fn pull_by_tag_runs_and_a_second_pull_costs_one_request() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (layout, built) = busybox_layout(&sandbox, "app", "pulled by tag\n");
    registry.push_layout(&layout.dir, "v1", "test/app");
    let name = format!("{}/test/app:v1", registry.host);
    sandbox.run(&["pull", "--insecure", &name]).expect_code(0, "pulling an image by tag should work", PULL);
    let seen = run_marker(&sandbox, &name, PULL);
    ensure(
        seen == "pulled by tag\n",
        "the image's /marker: pulled by tag",
        seen.escape_debug(),
        "the layers were not stored or unpacked as pulled",
        PULL,
    );
    for digest in built.layers.iter().chain([&built.config]) {
        let hex = digest.trim_start_matches("sha256:");
        ensure(
            stored_blobs(&sandbox).iter().any(|b| b == hex),
            format!("blob {digest} in the store"),
            stored_blobs(&sandbox).join(" "),
            "pulled blobs go to STATE/oci/blobs/sha256, named by digest",
            PULL,
        );
    }
    let (manifests, blobs) = (registry.requests("GET", "/manifests/"), registry.requests("GET", "/blobs/"));
    sandbox.run(&["pull", "--insecure", &name]).expect_code(0, "pulling again should work", PULL);
    let (manifests_after, blobs_after) =
        (registry.requests("GET", "/manifests/"), registry.requests("GET", "/blobs/"));
    ensure(
        manifests_after == manifests + 1 && blobs_after == blobs,
        "a second pull: one manifest request, no blob request",
        format!("{} manifest and {} blob requests", manifests_after - manifests, blobs_after - blobs),
        "blobs are named by digest: one the store has never needs fetching again",
        PULL,
    );
}

#[test]
#[serial]
fn pull_by_digest_and_a_wrong_digest_is_refused() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (layout, built) = busybox_layout(&sandbox, "app", "pulled by digest\n");
    registry.push_layout(&layout.dir, "v1", "test/app");
    let digest = built.manifest["digest"].as_str().unwrap().to_string();
    let name = format!("{}/test/app@{digest}", registry.host);
    let ran = sandbox.run(&["pull", "--insecure", &name]);
    ran.expect_code(0, "pulling an image by digest should work", NAMES);
    let local = format!("{}/test/app:sha256-{}", registry.host, digest.trim_start_matches("sha256:"));
    let seen = run_marker(&sandbox, &local, NAMES);
    ensure(
        seen == "pulled by digest\n",
        format!("{local} runs with its /marker"),
        seen.escape_debug(),
        "an image pulled by digest is named NAME:sha256-HEX",
        NAMES,
    );
    let missing = format!("{}/test/app@sha256:{}", registry.host, "0".repeat(64));
    let ran = sandbox.run(&["pull", "--insecure", &missing]);
    ran.expect_code(125, "a digest the registry does not have is an error", NAMES)
        .expect_one_line_error(NAMES);
}

#[test]
#[serial]
fn a_multi_arch_index_gives_this_machines_image() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let root = sandbox.busybox_rootfs("multi-rootfs");
    let layout = Layout::new(&sandbox.dir.join("multi"));
    let other = layout.image(
        "linux",
        registry::other_arch(),
        &[registry::layer_of(&root, &[("marker", "other arch\n")])],
    );
    let windows = layout.image(
        "windows",
        registry::this_arch(),
        &[registry::layer_of(&root, &[("marker", "windows\n")])],
    );
    let mine = layout.image(
        "linux",
        registry::this_arch(),
        &[registry::layer_of(&root, &[("marker", "this machine\n")])],
    );
    let index = layout.index(&[&other.manifest, &windows.manifest, &mine.manifest]);
    layout.tag(&index, "v1");
    registry.push_layout(&layout.dir, "v1", "test/multi");
    let name = format!("{}/test/multi:v1", registry.host);
    sandbox.run(&["pull", "--insecure", &name]).expect_code(
        0,
        "pulling a multi-platform image should work",
        PLATFORMS,
    );
    let seen = run_marker(&sandbox, &name, PLATFORMS);
    ensure(
        seen == "this machine\n",
        format!("the linux/{} image's marker: this machine", registry::this_arch()),
        seen.escape_debug(),
        "the index lists one manifest per platform: pick linux and this architecture",
        PLATFORMS,
    );
    let other_layer = other.layers[0].trim_start_matches("sha256:").to_string();
    ensure(
        !stored_blobs(&sandbox).contains(&other_layer),
        "no blob of the other platforms' images",
        "the other architecture's layer was fetched",
        "fetch only the chosen manifest's blobs",
        PLATFORMS,
    );
}

#[test]
#[serial]
fn a_tampered_blob_is_refused_and_nothing_is_stored() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (layout, built) = busybox_layout(&sandbox, "app", "tampered\n");
    registry.push_layout(&layout.dir, "v1", "test/app");
    // Change one byte of the layer in the registry's storage: same size, other content.
    let data = registry.blob_file(&built.layers[0]);
    let mut bytes = std::fs::read(&data).expect("the registry stores the layer");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, &bytes).expect("tampering with the stored layer");
    let name = format!("{}/test/app:v1", registry.host);
    let ran = sandbox.run(&["pull", "--insecure", &name]);
    ran.expect_code(125, "a blob whose bytes do not match its digest must be refused", STREAMING)
        .expect_stderr_contains("does not match", "say that the blob does not match its digest", STREAMING)
        .expect_one_line_error(STREAMING);
    let layer_hex = built.layers[0].trim_start_matches("sha256:").to_string();
    let leftovers: Vec<String> = std::fs::read_dir(sandbox.state.join("downloads"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    ensure(
        !stored_blobs(&sandbox).contains(&layer_hex) && leftovers.is_empty(),
        "neither the blob nor a partial download of it kept",
        format!("blobs: {:?}, downloads: {leftovers:?}", stored_blobs(&sandbox)),
        "bytes that failed the digest check are thrown away (and so cannot be resumed from)",
        STREAMING,
    );
    let images = sandbox.run(&["images"]);
    ensure(
        !images.stdout.contains("test/app"),
        "no image named test/app",
        images.stdout.clone(),
        "a refused pull names nothing",
        STREAMING,
    );
}

#[test]
#[serial]
fn an_interrupted_pull_resumes_where_it_stopped() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (layout, built) = busybox_layout(&sandbox, "app", "resumed\n");
    registry.push_layout(&layout.dir, "v1", "test/app");
    let layer_size = std::fs::metadata(registry.blob_file(&built.layers[0])).unwrap().len();
    // The proxy lets the manifest, the configuration and about half the layer through, then cuts.
    let budget = layer_size / 2;
    let proxy = CuttingProxy::start(&registry.host, Some(budget));
    let name = format!("{}/test/app:v1", proxy.host);
    let ran = sandbox.run(&["pull", "--insecure", &name]);
    ran.expect_code(125, "a pull whose connection is cut must fail", STREAMING);
    proxy.unlimited();
    let before = proxy.forwarded();
    let before_requests = proxy.requests().len();
    sandbox.run(&["pull", "--insecure", &name]).expect_code(
        0,
        "pulling again after an interruption should work",
        STREAMING,
    );
    let second = proxy.forwarded() - before;
    let layer_requests: Vec<String> = proxy.requests()[before_requests..]
        .iter()
        .filter(|r| r.contains(&built.layers[0]))
        .cloned()
        .collect();
    let resumed = layer_requests.iter().any(|r| {
        r.lines().any(|l| l.to_ascii_lowercase().starts_with("range: bytes=") && !l.ends_with("=0-"))
    });
    ensure(
        resumed && second < layer_size,
        format!(
            "the second pull asks for the layer from where the first stopped (Range: bytes=N-) and fetches less than its {layer_size} bytes"
        ),
        format!("{second} bytes forwarded; layer requests: {layer_requests:?}"),
        "keep what arrived of an interrupted blob (it is good so far) and ask for the rest with a Range header",
        STREAMING,
    );
    let seen = run_marker(&sandbox, &name, STREAMING);
    ensure(
        seen == "resumed\n",
        "the resumed image runs with its /marker",
        seen.escape_debug(),
        "the resumed blob must be the whole blob, checked",
        STREAMING,
    );
}

#[test]
#[serial]
fn push_then_pull_round_trip() {
    let pusher = Sandbox::new();
    let registry = Registry::start();
    let (layout, _) = busybox_layout(&pusher, "app", "round trip\n");
    pusher.run(&["image", "load", "--tag", "app:v1", layout.dir.to_str().unwrap()]).expect_code(
        0,
        "loading the test layout",
        PUSH,
    );
    let remote = format!("{}/test/pushed:v1", registry.host);
    pusher.run(&["push", "--insecure", "app:v1", &remote]).expect_code(
        0,
        "pushing an image should work",
        PUSH,
    );
    let puller = Sandbox::new();
    puller.run(&["pull", "--insecure", &remote]).expect_code(
        0,
        "pulling what minibox pushed should work",
        PUSH,
    );
    let seen = run_marker(&puller, &remote, PUSH);
    ensure(
        seen == "round trip\n",
        "the pushed image runs, pulled elsewhere",
        seen.escape_debug(),
        "push every blob, then the manifest",
        PUSH,
    );
    let uploads = registry.requests("PUT", "/blobs/uploads/");
    pusher.run(&["push", "--insecure", "app:v1", &remote]).expect_code(0, "pushing again should work", PUSH);
    ensure(
        registry.requests("PUT", "/blobs/uploads/") == uploads,
        "a second push uploads no blob",
        format!("{} uploads", registry.requests("PUT", "/blobs/uploads/") - uploads),
        "ask first (HEAD /v2/NAME/blobs/DIGEST): a blob the registry has needs no upload",
        PUSH,
    );
}

#[test]
#[serial]
fn a_registry_with_tokens_wants_a_login() {
    let sandbox = Sandbox::new();
    let registry = Registry::start_with_tokens();
    let (layout, _) = busybox_layout(&sandbox, "app", "behind tokens\n");
    registry.push_layout(&layout.dir, "v1", "private/app");
    let name = format!("{}/private/app:v1", registry.host);
    let ran = sandbox.run(&["pull", "--insecure", &name]);
    ran.expect_code(125, "an anonymous pull of a private repository must be refused", TOKENS)
        .expect_stderr_contains("minibox login", "say how to log in", TOKENS)
        .expect_one_line_error(TOKENS);
    let ran = sandbox
        .run_with_stdin(&["login", "--insecure", &registry.host, "-u", registry::USER], "wrong password\n");
    ran.expect_code(125, "a login with a wrong password must fail", TOKENS);
    ensure(
        !sandbox.state.join("auth.json").exists(),
        "no credentials saved after a failed login",
        "auth.json exists",
        "check the credentials before saving them",
        TOKENS,
    );
    let ran = sandbox.run_with_stdin(
        &["login", "--insecure", &registry.host, "-u", registry::USER],
        &format!("{}\n", registry::PASSWORD),
    );
    ran.expect_code(0, "a login with the right password should work", TOKENS);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(sandbox.state.join("auth.json")).unwrap().permissions(),
    );
    ensure(
        mode & 0o077 == 0,
        "auth.json readable by its owner only (0600)",
        format!("{mode:o}"),
        "credentials are secrets",
        TOKENS,
    );
    sandbox.run(&["pull", "--insecure", &name]).expect_code(
        0,
        "a pull with saved credentials should work",
        TOKENS,
    );
    let seen = run_marker(&sandbox, &name, TOKENS);
    ensure(
        seen == "behind tokens\n",
        "the private image runs",
        seen.escape_debug(),
        "fetch a token with the credentials, then retry with it",
        TOKENS,
    );
}

#[test]
#[serial]
fn podman_pulls_what_minibox_pushed() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let (layout, _) = busybox_layout(&sandbox, "app", "for podman\n");
    sandbox.run(&["image", "load", "--tag", "app:v1", layout.dir.to_str().unwrap()]).expect_code(
        0,
        "loading the test layout",
        PUSH,
    );
    let remote = format!("{}/test/for-podman:v1", registry.host);
    let pushed = sandbox.run(&["push", "--insecure", "app:v1", &remote]);
    pushed.expect_code(0, "pushing an image should work", PUSH);
    // podman checks every digest and the manifest's format as it pulls: another client's verdict.
    let storage = sandbox.dir.join("podman");
    let (pulled, digest) = registry::podman_pull(&storage, &remote);
    ensure(
        pulled.status.success() && pushed.stdout.contains(digest.trim()) && !digest.trim().is_empty(),
        format!("podman pulls {remote}, with the manifest digest minibox printed"),
        format!(
            "podman: {} {}; its digest {:?}; minibox said {:?}",
            pulled.status,
            String::from_utf8_lossy(&pulled.stderr).trim(),
            digest.trim(),
            pushed.stdout.trim()
        ),
        "push each blob with ?digest=, then the manifest with its own media type as Content-Type",
        PUSH,
    );
}
