//@ begin build
//! The build chapter: `minibox build`, from a Dockerfile to an image in the store.
//!
//! Each instruction is a step. `RUN` runs its command in a container over the image so far (the
//! same [`container::run`](crate::container::run) as `minibox run`), and the overlay's upper
//! directory, what the command changed, becomes a new layer. `COPY` and `ADD` stage files from
//! the build context into a directory that becomes a layer the same way. The other
//! instructions change the image's configuration only. A cache keyed by each step's inputs
//! ([`cache::cache_key`]) makes a rebuild with nothing changed create no layer at all.

pub mod cache;
pub mod context;
pub mod diff;
pub mod dockerfile;

use crate::container::{self, Config};
use crate::exit::CodedError;
use crate::image::{Defaults, Reference, Store, layer};
use anyhow::{Context, Result, bail};
use dockerfile::Instruction;
use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageManifest, MediaType};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `minibox build`.
#[derive(clap::Args, Debug)]
#[command(after_help = "minibox builds FROM, RUN, COPY, ADD (local files), ENV, ARG, WORKDIR, USER, LABEL, \
                        EXPOSE, CMD and ENTRYPOINT, one stage. Exit codes: 125 for a Dockerfile or context it \
                        cannot build (one line, with the Dockerfile's line number), a RUN's own code when its \
                        command fails. Layers are reproducible: times are SOURCE_DATE_EPOCH (default 0).")]
pub struct BuildArgs {
    /// The image's name: NAME[:TAG].
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tag: String,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A value for an ARG (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Run every step, reusing nothing from the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// The network of RUN steps: none (the default here), host or bridge.
    #[arg(long, value_name = "MODE", default_value = "none")]
    pub network: crate::network::Mode,
    /// Pull a FROM image over plain HTTP (a registry on loopback only).
    #[arg(long)]
    pub insecure: bool,
    /// The build context: the directory COPY copies from.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
    #[command(flatten)]
    pub state: crate::state::StateDir,
}

/// The image as the build has made it so far.
struct Building {
    layers: Vec<Descriptor>,
    dirs: Vec<PathBuf>,
    diff_ids: Vec<String>,
    base_config: Value,
    env: Vec<String>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd_from_base: bool,
    workdir: String,
    user: String,
    labels: BTreeMap<String, String>,
    exposed: BTreeMap<String, Value>,
    history: Vec<Value>,
}

/// A scratch directory of this minibox (`STATE/tmp/build-PID`), removed when dropped; a killed
/// build's is swept by the next minibox (the images chapter's reclaim).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The time every file and history entry gets: `SOURCE_DATE_EPOCH`, or 0.
fn epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH=`{text}` is not a number of seconds since 1970")),
        Err(_) => Ok(0),
    }
}

/// `minibox build -t NAME[:TAG] [-f FILE] CONTEXT`.
pub fn build(args: &BuildArgs) -> Result<i32> {
    let reference = Reference::parse(&args.tag)?;
    let epoch = epoch()?;
    if !args.context.is_dir() {
        bail!("the build context {} is not a directory", args.context.display());
    }
    let context = args.context.canonicalize()?;
    let file = args.file.clone().unwrap_or_else(|| context.join("Dockerfile"));
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("reading {} (give the Dockerfile with -f FILE)", file.display()))?;
    let escape = dockerfile::escape_character(&text)?;
    let instructions = dockerfile::parse(&text)?;
    let mut build_args = Vec::new();
    for kv in &args.build_args {
        let (key, value) =
            kv.split_once('=').with_context(|| format!("--build-arg wants KEY=VALUE, not `{kv}`"))?;
        build_args.push((key.to_string(), value.to_string()));
    }
    let ignore = context::Ignore::load(&context)?;
    let store = Store::open(&args.state.dir)?;
    let cache = cache::Cache::open(&args.state.dir)?;
    let scratch = Scratch(args.state.dir.join(format!("tmp/build-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;

    let total = instructions.len();
    let mut variables: Vec<(String, String)> = Vec::new();
    let mut run_args: Vec<String> = Vec::new();
    let mut building: Option<Building> = None;
    let mut parent = String::new();
    let mut made = 0;
    for (index, instruction) in instructions.iter().enumerate() {
        let step = index + 1;
        println!("#{step} [{step}/{total}] {}", instruction.text());
        let at = |error: anyhow::Error| error.context(format!("Dockerfile line {}", instruction.line));
        let expanded = dockerfile::expand(&instruction.args, &variables, escape);
        match instruction.keyword.as_str() {
            "FROM" => {
                if building.is_some() {
                    bail!(
                        "Dockerfile line {}: a second FROM: minibox builds one stage (multi-stage builds are this chapter's challenge)",
                        instruction.line
                    );
                }
                let words: Vec<&str> = expanded.split_whitespace().collect();
                let base = match words.as_slice() {
                    [image] => *image,
                    [image, r#as, _] if r#as.eq_ignore_ascii_case("as") => *image,
                    _ => {
                        bail!("Dockerfile line {}: FROM IMAGE [AS NAME], not `{expanded}`", instruction.line)
                    }
                };
                let (state, manifest) = from(&store, base, args).map_err(at)?;
                parent = manifest.to_string();
                // An ARG before FROM is for FROM only (as in Docker): the stage starts afresh.
                variables.clear();
                run_args.clear();
                building = Some(state);
                continue;
            }
            "ARG" => {
                let (name, default) = match expanded.split_once('=') {
                    Some((name, value)) => (name.trim().to_string(), Some(value.to_string())),
                    None => (expanded.trim().to_string(), None),
                };
                let value =
                    build_args.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).or(default);
                if let Some(value) = value {
                    variables.push((name.clone(), value.clone()));
                    run_args.push(format!("{name}={value}"));
                }
                parent = cache::cache_key(&parent, &format!("ARG {}", run_args.join(" ")), None);
                continue;
            }
            _ => {}
        }
        let state = building.as_mut().context("the first instruction must be FROM")?;
        match instruction.keyword.as_str() {
            "RUN" => {
                let argv = dockerfile::command_words(&instruction.args);
                let key = cache::cache_key(
                    &parent,
                    &format!("{}\n{}", instruction.text(), run_args.join("\n")),
                    None,
                );
                let layer = match (!args.no_cache).then(|| cache.lookup(&key, &store)).flatten() {
                    Some(layer) => {
                        println!("#{step} CACHED");
                        layer
                    }
                    None => {
                        let layer = run_step(&store, args, state, &run_args, argv, &scratch.0, step, epoch)
                            .map_err(|error| match error.downcast::<CodedError>() {
                            Ok(coded) => CodedError::new(
                                coded.code,
                                format!(
                                    "Dockerfile line {}: {}: {}",
                                    instruction.line,
                                    instruction.text(),
                                    coded.message
                                ),
                            )
                            .into(),
                            Err(error) => at(error),
                        })?;
                        cache.record(&key, &layer)?;
                        made += 1;
                        layer
                    }
                };
                add_layer(&store, state, &layer)?;
                state.history(epoch, &instruction.text(), false);
                parent = key;
            }
            "COPY" | "ADD" => {
                let staged = scratch.0.join(format!("copy-{step}"));
                std::fs::create_dir_all(&staged)?;
                copy_step(&context, &ignore, instruction, &expanded, escape, state, &staged).map_err(at)?;
                let tar = scratch.0.join(format!("copy-{step}.tar"));
                let (content, _) = diff::write_layer(&staged, &tar, epoch)?;
                let key = cache::cache_key(&parent, &instruction.text(), Some(&content));
                let layer = match (!args.no_cache).then(|| cache.lookup(&key, &store)).flatten() {
                    Some(layer) => {
                        println!("#{step} CACHED");
                        layer
                    }
                    None => {
                        let layer = put_layer(&store, &tar)?;
                        cache.record(&key, &layer)?;
                        made += 1;
                        layer
                    }
                };
                add_layer(&store, state, &layer)?;
                state.history(epoch, &instruction.text(), false);
                parent = key;
            }
            keyword => {
                metadata(state, keyword, &expanded, &instruction.args, escape, &mut variables).map_err(at)?;
                state.history(epoch, &format!("{keyword} {expanded}"), true);
                parent = cache::cache_key(&parent, &format!("{keyword} {expanded}"), None);
            }
        }
    }
    let state = building.context("no FROM instruction")?;
    let manifest = write_image(&store, &state, epoch, &reference)?;
    println!(
        "#{} writing image: {made} new layer{}, {} in all",
        total + 1,
        if made == 1 { "" } else { "s" },
        state.layers.len()
    );
    println!("built {reference} ({manifest})");
    Ok(0)
}

/// The base image: from the store (the default busybox image is made on first use), or pulled.
fn from(store: &Store, base: &str, args: &BuildArgs) -> Result<(Building, Digest)> {
    let reference = Reference::parse(base)?;
    let descriptor = match store.tagged(&reference)? {
        Some(descriptor) => descriptor,
        None if reference.to_string() == crate::image::DEFAULT_IMAGE => {
            crate::image::find_for_run(&args.state.dir, Some(base))?;
            store.tagged(&reference)?.context("the default image vanished as it was made")?
        }
        None => {
            let remote = crate::registry::reference::RemoteReference::parse(base)?;
            let pulled = crate::registry::pull::pull(store, &args.state.dir, &remote, args.insecure)
                .with_context(|| format!("FROM {base}: not in the store, and pulling it failed"))?;
            store.tagged(&pulled.local_name)?.context("the pulled image vanished")?
        }
    };
    let image = store.find(&reference)?.with_context(|| format!("no image named {reference}"))?;
    let manifest = ImageManifest::from_file(store.blob_path(descriptor.digest())?)?;
    let config_bytes = std::fs::read(store.blob_path(manifest.config().digest())?)?;
    let config = ImageConfiguration::from_reader(config_bytes.as_slice())?;
    let base_config: Value = serde_json::from_slice(&config_bytes)?;
    let runtime = config.config().clone().unwrap_or_default();
    let state = Building {
        layers: manifest.layers().clone(),
        dirs: image.layers,
        diff_ids: config.rootfs().diff_ids().clone(),
        env: runtime.env().clone().unwrap_or_default(),
        cmd: runtime.cmd().clone(),
        entrypoint: runtime.entrypoint().clone(),
        cmd_from_base: true,
        workdir: runtime.working_dir().clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".to_string()),
        user: runtime.user().clone().unwrap_or_default(),
        labels: runtime.labels().clone().unwrap_or_default().into_iter().collect(),
        exposed: runtime
            .exposed_ports()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p, json!({})))
            .collect(),
        history: match base_config.get("history").and_then(Value::as_array) {
            Some(history) if !history.is_empty() => history.clone(),
            // A history entry per layer, as the specification asks, when the base has none.
            _ => manifest.layers().iter().map(|_| json!({ "created_by": "base image layer" })).collect(),
        },
        base_config,
    };
    Ok((state, descriptor.digest().clone()))
}

impl Building {
    fn history(&mut self, epoch: u64, created_by: &str, empty_layer: bool) {
        let mut entry = json!({ "created": crate::oci::state::rfc3339(epoch), "created_by": created_by, "comment": "minibox build" });
        if empty_layer {
            entry["empty_layer"] = json!(true);
        }
        self.history.push(entry);
    }

    /// A directory of the image so far, as the top layer that has it: for COPY's parents.
    fn existing(&self, relative: &Path) -> Option<std::fs::Metadata> {
        self.dirs.iter().rev().find_map(|dir| std::fs::symlink_metadata(dir.join(relative)).ok())
    }

    /// An absolute path in the image: `path` as it is, or under the working directory.
    fn absolute(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{path}", self.workdir.trim_end_matches('/'))
        }
    }
}

/// `ENV`, `WORKDIR`, `USER`, `LABEL`, `EXPOSE`, `CMD`, `ENTRYPOINT`: the configuration changes.
fn metadata(
    state: &mut Building,
    keyword: &str,
    expanded: &str,
    raw: &str,
    escape: char,
    variables: &mut Vec<(String, String)>,
) -> Result<()> {
    match keyword {
        "ENV" => {
            for (key, value) in dockerfile::key_values(raw, escape)? {
                let value = dockerfile::expand(&value, variables, escape);
                container::set_env(&mut state.env, &format!("{key}={value}"));
                variables.push((key, value));
            }
        }
        "WORKDIR" => state.workdir = state.absolute(expanded.trim()),
        "USER" => state.user = expanded.trim().to_string(),
        "LABEL" => {
            for (key, value) in dockerfile::key_values(expanded, escape)? {
                state.labels.insert(key, value);
            }
        }
        "EXPOSE" => {
            for port in expanded.split_whitespace() {
                let port = if port.contains('/') { port.to_string() } else { format!("{port}/tcp") };
                state.exposed.insert(port, json!({}));
            }
        }
        "CMD" => {
            state.cmd = Some(dockerfile::command_words(raw));
            state.cmd_from_base = false;
        }
        "ENTRYPOINT" => {
            state.entrypoint = Some(dockerfile::command_words(raw));
            if state.cmd_from_base {
                state.cmd = None;
            }
        }
        other => bail!("{other} is not a configuration instruction"),
    }
    Ok(())
}

/// A `RUN` step: the command in a container over the image so far; its upper directory as a
/// layer in the store. A command that fails ends the build with its exit code, and no layer.
#[allow(clippy::too_many_arguments)]
fn run_step(
    store: &Store,
    args: &BuildArgs,
    state: &Building,
    run_args: &[String],
    argv: Vec<String>,
    scratch: &Path,
    step: usize,
    epoch: u64,
) -> Result<Digest> {
    let upper = scratch.join(format!("upper-{step}"));
    let mut env = state.env.clone();
    for kv in run_args {
        if !env.iter().any(|e| e.split('=').next() == kv.split('=').next()) {
            env.push(kv.clone());
        }
    }
    let config = Config {
        command: argv,
        state_dir: args.state.dir.clone(),
        network: args.network,
        build: Some(container::RunStep {
            layers: state.dirs.clone(),
            defaults: Defaults {
                entrypoint: vec![],
                cmd: vec![],
                env,
                working_dir: Some(state.workdir.clone()),
            },
            keep_upper: upper.clone(),
        }),
        ..Config::default()
    };
    let code = container::run(&config)?;
    if code != 0 {
        return Err(CodedError::new(code, format!("the command failed with exit code {code}")).into());
    }
    let tar = scratch.join(format!("upper-{step}.tar"));
    diff::write_layer(&upper, &tar, epoch)?;
    put_layer(store, &tar)
}

/// A `COPY` or `ADD`: stage the files in `staged`.
fn copy_step(
    context_dir: &Path,
    ignore: &context::Ignore,
    instruction: &Instruction,
    expanded: &str,
    escape: char,
    state: &Building,
    staged: &Path,
) -> Result<()> {
    let mut words = dockerfile::words(expanded, escape)?;
    let mut owner = (0, 0);
    while let Some(flag) = words.first().filter(|w| w.starts_with("--")).cloned() {
        words.remove(0);
        match flag.split_once('=') {
            Some(("--chown", spec)) => owner = chown(state, spec)?,
            Some(("--from", _)) => bail!(
                "COPY --from copies from another stage: multi-stage builds are this chapter's challenge"
            ),
            _ => bail!("{} {flag}: minibox knows --chown=USER[:GROUP] only", instruction.keyword),
        }
    }
    if words.len() < 2 {
        bail!("{} SOURCE... DEST: give at least one source and a destination", instruction.keyword);
    }
    let dest = words.pop().unwrap_or_default();
    if instruction.keyword == "ADD" && words.iter().any(|w| w.contains("://")) {
        bail!("ADD of a URL: minibox adds local files only (download it in a RUN step)");
    }
    let mut dest_abs = state.absolute(&dest);
    if dest.ends_with('/') && !dest_abs.ends_with('/') {
        dest_abs.push('/');
    }
    context::copy(context_dir, ignore, &words, &dest_abs, owner, staged, &|p| state.existing(p))
}

/// `--chown=USER[:GROUP]`: numbers, or names looked up in the image's /etc/passwd and /etc/group.
fn chown(state: &Building, spec: &str) -> Result<(u32, u32)> {
    let (user, group) = spec.split_once(':').map_or((spec, None), |(u, g)| (u, Some(g)));
    let lookup = |file: &str, name: &str| -> Result<(u32, u32)> {
        if let Ok(id) = name.parse::<u32>() {
            return Ok((id, id));
        }
        let text = state
            .dirs
            .iter()
            .rev()
            .find_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
            .unwrap_or_default();
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0))))
            .with_context(|| format!("--chown={spec}: no `{name}` in the image's /{file}"))
    };
    let (uid, primary) = lookup("etc/passwd", user)?;
    let gid = match group {
        Some(group) => lookup("etc/group", group)?.0,
        None if user.parse::<u32>().is_ok() => uid,
        None => primary,
    };
    Ok((uid, gid))
}

/// Move a layer's tar into the store (named by its digest) and unpack it once.
fn put_layer(store: &Store, tar: &Path) -> Result<Digest> {
    let (digest, _) = diff::digest_of(tar)?;
    let target = store.blob_path(&digest)?;
    if !target.is_file() {
        std::fs::rename(tar, &target).context("moving a layer into the store")?;
    }
    Ok(digest)
}

fn add_layer(store: &Store, state: &mut Building, digest: &Digest) -> Result<()> {
    let blob = store.blob_path(digest)?;
    let size = std::fs::metadata(&blob)?.len();
    let (dir, _) = layer::unpack_once(&blob, &MediaType::ImageLayer, digest, &store.layers_dir())?;
    state.layers.push(Descriptor::new(MediaType::ImageLayer, size, digest.clone()));
    state.dirs.push(dir);
    state.diff_ids.push(digest.to_string());
    Ok(())
}

/// Bytes of a JSON value with its keys in order (serde_json's map is sorted): the same image
/// gives the same bytes, so the same digest.
fn canonical(value: &Value) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

/// The configuration and manifest of the image built, stored and named; returns the manifest's digest.
fn write_image(store: &Store, state: &Building, epoch: u64, reference: &Reference) -> Result<Digest> {
    let mut config = state.base_config.clone();
    let runtime = config.as_object_mut().context("the base image's configuration is not an object")?;
    let mut settings = runtime.get("config").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    settings["Env"] = json!(state.env);
    settings["WorkingDir"] = json!(state.workdir);
    for (key, value) in [("Cmd", &state.cmd), ("Entrypoint", &state.entrypoint)] {
        match value {
            Some(words) => settings[key] = json!(words),
            None => {
                settings.as_object_mut().map(|o| o.remove(key));
            }
        }
    }
    if !state.user.is_empty() {
        settings["User"] = json!(state.user);
    }
    if !state.labels.is_empty() {
        settings["Labels"] = json!(state.labels);
    }
    if !state.exposed.is_empty() {
        settings["ExposedPorts"] = json!(state.exposed);
    }
    runtime.insert("config".to_string(), settings);
    runtime.insert("created".to_string(), json!(crate::oci::state::rfc3339(epoch)));
    runtime.insert("rootfs".to_string(), json!({ "type": "layers", "diff_ids": state.diff_ids }));
    runtime.insert("history".to_string(), json!(state.history));
    let config = store.put_bytes(MediaType::ImageConfig, &canonical(&config)?)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": state.layers,
    });
    let manifest = store.put_bytes(MediaType::ImageManifest, &canonical(&manifest)?)?;
    store.tag(reference, &manifest)?;
    Ok(manifest.digest().clone())
}

/// `minibox image save NAME -o DIR`: the image as an OCI image layout, named by its tag (as
/// `skopeo copy ... oci:DIR:TAG` names it), for skopeo, podman or another minibox to read.
pub fn save(store: &Store, reference: &Reference, output: &Path) -> Result<Digest> {
    let descriptor = store
        .tagged(reference)?
        .with_context(|| format!("no image named {reference} (see `minibox images`)"))?;
    let manifest = ImageManifest::from_file(store.blob_path(descriptor.digest())?)?;
    let blobs = output.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    for digest in std::iter::once(descriptor.digest())
        .chain(std::iter::once(manifest.config().digest()))
        .chain(manifest.layers().iter().map(|l| l.digest()))
    {
        let target = blobs.join(crate::image::blob::check_sha256(digest)?);
        if !target.exists() {
            std::fs::copy(store.blob_path(digest)?, &target)
                .with_context(|| format!("writing {}", target.display()))?;
        }
    }
    std::fs::write(output.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}\n")?;
    let index_path = output.join("index.json");
    let mut manifests: Vec<Value> = std::fs::read(&index_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|index| index.get("manifests").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let name = reference.tag.clone();
    manifests.retain(|m| {
        m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str) != Some(&name)
    });
    let mut entry = serde_json::to_value(&descriptor)?;
    entry["annotations"] = json!({ crate::image::REF_NAME: name });
    manifests.push(entry);
    let index = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
    std::fs::write(&index_path, serde_json::to_vec_pretty(&index)?)?;
    Ok(descriptor.digest().clone())
}
//@ end build
