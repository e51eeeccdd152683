//! `cargo maint bench-pull`: the registry chapter's lab. A large image (incompressible layers) is pushed into
//! a `docker-registry` on 127.0.0.1 with skopeo; then, alternating in each round, `minibox pull`
//! into a fresh state directory and `skopeo copy docker://... oci:DIR` of the same image, both
//! over plain HTTP on loopback. Then a second pull of the same image, whose requests are counted in
//! the registry's log (it should be one manifest request and no blob request).
//!
//! minibox's pull also unpacks the layers into its store (what a pull must do before `run`);
//! skopeo only copies the blobs. Both times are whole processes, medians of the rounds.

use crate::bench::measure::{median_of, run_checked};
use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Options {
    /// The image's size, in decimal megabytes (split into four layers).
    #[arg(long, default_value_t = 500)]
    pub size_mb: u64,
    /// Rounds (each pulls with minibox and copies with skopeo once).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Measure this minibox binary instead of building a release one.
    #[arg(long, value_name = "PATH")]
    pub minibox: Option<PathBuf>,
}

pub fn run(ws: &crate::workspace::Workspace, options: &Options) -> Result<()> {
    let minibox = match &options.minibox {
        Some(path) => path.clone(),
        None => crate::bench::build_minibox(ws)?,
    };
    let scratch = Scratch(std::env::temp_dir().join(format!("minibox-bench-pull-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let layout = scratch.0.join("layout");
    println!("bench-pull: building a {} MB image in {}", options.size_mb, layout.display());
    write_layout(&layout, &scratch.0.join("layers"), options.size_mb * 1_000_000)?;
    let registry = Registry::start(&scratch.0)?;
    let image = format!("{}/bench/big:v1", registry.host);
    run_checked(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"])
            .args([format!("oci:{}:v1", layout.display()), format!("docker://{image}")]),
        "skopeo copy into the registry",
    )?;
    let mut minibox_times = Vec::new();
    let mut skopeo_times = Vec::new();
    for round in 0..options.runs {
        let state = scratch.0.join(format!("state-{round}"));
        let copy = scratch.0.join(format!("copy-{round}"));
        let pull = || -> Result<Duration> {
            let started = Instant::now();
            run_checked(
                Command::new(&minibox).args(["pull", "--insecure", &image]).env("MINIBOX_ROOT", &state),
                "minibox pull",
            )?;
            Ok(started.elapsed())
        };
        let skopeo = || -> Result<Duration> {
            let started = Instant::now();
            run_checked(
                Command::new("skopeo")
                    .args(["copy", "--quiet", "--src-tls-verify=false", &format!("docker://{image}")])
                    .arg(format!("oci:{}:v1", copy.display())),
                "skopeo copy from the registry",
            )?;
            Ok(started.elapsed())
        };
        if round % 2 == 0 {
            minibox_times.push(pull()?);
            skopeo_times.push(skopeo()?);
        } else {
            skopeo_times.push(skopeo()?);
            minibox_times.push(pull()?);
        }
        println!(
            "bench-pull: round {}: minibox pull {:.2} s, skopeo copy {:.2} s",
            round + 1,
            minibox_times[round].as_secs_f64(),
            skopeo_times[round].as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&copy);
        if round + 1 < options.runs {
            let _ = std::fs::remove_dir_all(&state);
        }
    }
    // The last round's store has the image: pull it again and count the requests.
    let state = scratch.0.join(format!("state-{}", options.runs - 1));
    let (manifests, blobs) = (registry.requests("/manifests/"), registry.requests("/blobs/"));
    let started = Instant::now();
    run_checked(
        Command::new(&minibox).args(["pull", "--insecure", &image]).env("MINIBOX_ROOT", &state),
        "the second minibox pull",
    )?;
    let again = started.elapsed();
    let (manifests, blobs) =
        (registry.requests("/manifests/") - manifests, registry.requests("/blobs/") - blobs);
    let (pull, copy) = (median_of(&mut minibox_times), median_of(&mut skopeo_times));
    println!();
    println!("| {} MB image, loopback, {} rounds (median) | seconds |", options.size_mb, options.runs);
    println!("| --- | --- |");
    println!("| `minibox pull` (fetch, check, unpack) | {:.2} |", pull.as_secs_f64());
    println!("| `skopeo copy docker:// oci:` (fetch, check) | {:.2} |", copy.as_secs_f64());
    println!("| ratio minibox / skopeo | {:.2} |", pull.as_secs_f64() / copy.as_secs_f64());
    println!(
        "| second `minibox pull`: {manifests} manifest and {blobs} blob requests | {:.3} |",
        again.as_secs_f64()
    );
    println!("\nminibox: {}", minibox.display());
    Ok(())
}

/// An OCI layout of four layers, each one file of pseudo-random (incompressible) bytes.
fn write_layout(layout: &Path, work: &Path, size: u64) -> Result<()> {
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let put = |bytes: &[u8], media_type: &str| -> Result<serde_json::Value> {
        let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(blobs.join(&hex), bytes)?;
        Ok(
            serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()}),
        )
    };
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for n in 0..4 {
        let dir = work.join(format!("layer-{n}"));
        std::fs::create_dir_all(&dir)?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("data-{n}")))?);
        for _ in 0..size / 4 / 8 {
            // xorshift64: fast, and gzip finds nothing to compress.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            file.write_all(&state.to_le_bytes())?;
        }
        file.flush()?;
        drop(file);
        let tar = work.join(format!("layer-{n}.tar"));
        run_checked(
            Command::new("tar")
                .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
                .arg(&dir)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            "tar",
        )?;
        let bytes = std::fs::read(&tar)?;
        let descriptor = put(&bytes, "application/vnd.oci.image.layer.v1.tar")?;
        diff_ids.push(descriptor["digest"].clone());
        layers.push(descriptor);
        std::fs::remove_dir_all(&dir)?;
        std::fs::remove_file(&tar)?;
    }
    let arch = if std::env::consts::ARCH == "aarch64" { "arm64" } else { "amd64" };
    let config = serde_json::json!({
        "architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = put(config.to_string().as_bytes(), "application/vnd.oci.image.config.v1+json")?;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": layers,
    });
    let mut manifest = put(manifest.to_string().as_bytes(), "application/vnd.oci.image.manifest.v1+json")?;
    manifest["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "v1"});
    std::fs::write(
        layout.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [manifest]}).to_string(),
    )?;
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

/// A `docker-registry` on 127.0.0.1 with a free port, killed by its pid when dropped.
struct Registry {
    host: String,
    log: PathBuf,
    child: Child,
}

impl Registry {
    fn start(dir: &Path) -> Result<Registry> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
                dir.join("registry").display()
            ),
        )?;
        let log = dir.join("registry.log");
        let file = std::fs::File::create(&log)?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting docker-registry (apt install docker-registry)")?;
        let registry = Registry { host, log, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.host).is_err() {
            if Instant::now() > deadline {
                bail!("docker-registry did not answer on {}", registry.host);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(registry)
    }

    /// GET requests for paths containing `path`, from the registry's access log.
    fn requests(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().filter(|l| l.contains("\"GET /v2/") && l.contains(path)).count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lab's directory, removed at the end, a failure included.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
