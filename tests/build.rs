//! The build chapter's graded tests: `minibox build`, from a Dockerfile to an image that
//! `minibox run` and podman both run.
//!
//! The base image is the host's busybox, as an OCI layout made here and loaded into each test's
//! store (`base:1`); nothing reaches the internet. RUN steps run in real containers (overlay,
//! namespaces, cgroups), and every build is followed by the leak check.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

#[path = "support/registry.rs"]
mod registry;

use minibox::build::{cache::cache_key, diff::header_for, dockerfile::logical_lines};
use registry::{Layout, Registry};
use serial_test::serial;
use std::path::{Path, PathBuf};
use support::{Sandbox, ensure};

const LINES: &str = "build, \"From text to instructions\"";
const DIFF: &str = "build, \"The overlay's diff becomes a layer\"";
const CACHE: &str = "build, \"The build cache\"";
const STEPS: &str = "build, \"Running a step\"";
const EXPORT: &str = "build, \"Reproducible layers\"";
const HISTORY: &str = "build, \"Background: an image is a stack of diffs\"";

// ---- helpers ---------------------------------------------------------------------------------

/// The busybox base image as an OCI layout in `dir` (one layer, the same bytes for every store
/// that loads it).
fn base_layout(sandbox: &Sandbox) -> PathBuf {
    let root = sandbox.busybox_rootfs("base-rootfs");
    let layout = Layout::new(&sandbox.dir.join("base-layout"));
    let built = layout.image("linux", registry::this_arch(), &[registry::layer_of(&root, &[])]);
    layout.tag(&built.manifest, "1");
    layout.dir
}

/// A sandbox whose store holds `base:1`.
fn sandbox_with_base() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let layout = base_layout(&sandbox);
    load_base(&sandbox, &layout);
    (sandbox, layout)
}

fn load_base(sandbox: &Sandbox, layout: &Path) {
    let loaded = sandbox.run(&["image", "load", layout.to_str().unwrap(), "--tag", "base:1"]);
    loaded.expect_code(
        0,
        "loading the test's base image (the images chapter's `image load`)",
        "images, \"Running an image\"",
    );
}

/// A build context in the sandbox: `files` (path, content), the Dockerfile among them.
fn context(sandbox: &Sandbox, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = sandbox.dir.join(name);
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).expect("creating a build context");
        std::fs::write(&path, content).expect("writing a build context");
    }
    dir
}

fn build(sandbox: &Sandbox, tag: &str, context: &Path) -> support::Ran {
    sandbox.run(&["build", "-t", tag, context.to_str().unwrap()])
}

fn blobs(sandbox: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sandbox.state.join("oci/blobs/sha256"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The manifest digest a build printed last (`built NAME (sha256:...)`).
fn built_digest(ran: &support::Ran) -> String {
    ran.stdout
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("built ")
                .and_then(|r| r.split_once(" ("))
                .map(|(_, d)| d.trim_end_matches(')').to_string())
        })
        .unwrap_or_default()
}

/// The entry names of the layers of image `tag` in the sandbox's store, per layer.
fn layer_entries(sandbox: &Sandbox, tag: &str) -> Vec<Vec<String>> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sandbox.state.join("oci/index.json")).unwrap()).unwrap();
    let blob =
        |digest: &str| sandbox.state.join("oci/blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .expect("the built image in the index");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest["digest"].as_str().unwrap())).unwrap()).unwrap();
    let mut layers = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let file = std::fs::File::open(blob(layer["digest"].as_str().unwrap())).unwrap();
        let mut archive = tar::Archive::new(file);
        let names = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().trim_start_matches("./").to_string())
            .collect();
        layers.push(names);
    }
    layers
}

/// Removes a directory when dropped (on a failed assertion too).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes cgroups podman made (the conmon child first) when dropped.
struct RemoveCgroups(Vec<PathBuf>);

impl Drop for RemoveCgroups {
    fn drop(&mut self) {
        for parent in &self.0 {
            let _ = std::fs::remove_dir(parent.join("conmon"));
            let _ = std::fs::remove_dir(parent);
        }
    }
}

// ---- exercises, one at a time ----------------------------------------------------------------

#[test]
fn logical_lines_join_continuations_and_drop_comments() {
    let text = "# a comment\nFROM base:1\n\nRUN echo one \\\n    two \\\n# a comment inside\n    three\n  \\\nENV A=1\nRUN echo last \\\n";
    let seen = std::panic::catch_unwind(|| logical_lines(text, '\\')).ok();
    let expected = vec![
        (2, "FROM base:1".to_string()),
        (4, "RUN echo one     two     three".to_string()),
        (8, "ENV A=1".to_string()),
        (10, "RUN echo last".to_string()),
    ];
    let lines_of = |v: &Vec<(usize, String)>| v.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    ensure(
        seen.as_ref().map(lines_of) == Some(lines_of(&expected)),
        format!("logical lines starting on lines {:?}", lines_of(&expected)),
        format!("{seen:?}"),
        "each logical line carries the number of the physical line it starts on; comment and empty lines are \
         dropped, even in the middle of a continued instruction (they do not end it)",
        LINES,
    );
    ensure(
        seen.as_ref() == Some(&expected),
        format!("{expected:?}"),
        format!("{seen:?}"),
        "a line ending with the escape character goes on on the next: drop the escape character and join the \
         next line as it is; trim each logical line",
        LINES,
    );
    // Spaces after the escape character (invisible in an editor) still continue the line.
    let spaced = std::panic::catch_unwind(|| logical_lines("RUN a \\  \n b \\\t\n c\nCMD d\n", '\\')).ok();
    ensure(
        spaced == Some(vec![(1, "RUN a  b  c".to_string()), (4, "CMD d".to_string())]),
        "RUN a \\ (two spaces after), b \\ (a tab after), c: one instruction `RUN a  b  c`, then CMD d",
        format!("{spaced:?}"),
        "a line whose last character is the escape character once trailing spaces are trimmed goes on on the next",
        LINES,
    );
    let backtick = std::panic::catch_unwind(|| logical_lines("RUN a `\n b\nRUN c:\\\\d\n", '`')).ok();
    ensure(
        backtick == Some(vec![(1, "RUN a  b".to_string()), (3, "RUN c:\\\\d".to_string())]),
        "with `# escape=`` the backtick continues a line and a backslash is an ordinary character",
        format!("{backtick:?}"),
        "continue a line on the escape character you are given, not always on a backslash",
        LINES,
    );
}

#[test]
#[serial]
fn header_for_writes_whiteouts_and_normalises_files() {
    let sandbox = Sandbox::new();
    let upper = sandbox.dir.join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("etc/motd"), "hello\n").unwrap();
    std::os::unix::fs::lchown(upper.join("etc/motd"), Some(1000), Some(100)).unwrap();
    std::fs::set_permissions(upper.join("etc/motd"), std::os::unix::fs::PermissionsExt::from_mode(0o4750))
        .unwrap();
    let whiteout = upper.join("etc/gone");
    let made =
        nix::sys::stat::mknod(&whiteout, nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0);
    assert!(made.is_ok(), "making a whiteout (a character device 0:0) for the test: {made:?}");
    std::os::unix::fs::symlink("motd", upper.join("etc/link")).expect("making a symbolic link for the test");
    let device = nix::sys::stat::mknod(
        &upper.join("etc/null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    );
    assert!(device.is_ok(), "making a character device 1:3 for the test: {device:?}");
    // mknod's mode went through the umask: chmod sets it as the test means it.
    std::fs::set_permissions(upper.join("etc/null"), std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .unwrap();
    let header = |relative: &str| {
        let metadata = std::fs::symlink_metadata(upper.join(relative)).unwrap();
        std::panic::catch_unwind(|| header_for(Path::new(relative), &metadata, 1234).ok()).ok().flatten()
    };
    let gone = header("etc/gone");
    let gone_seen = gone.as_ref().map(|(p, h)| (p.clone(), h.entry_type(), h.size().unwrap_or(99)));
    ensure(
        gone_seen == Some((PathBuf::from("etc/.wh.gone"), tar::EntryType::Regular, 0)),
        "the whiteout of etc/gone as an empty regular file etc/.wh.gone",
        format!("{gone_seen:?}"),
        "overlayfs marks a deleted file with a character device 0:0; the OCI layer format says it with an empty \
         file named .wh.NAME in the same directory",
        DIFF,
    );
    let motd = header("etc/motd");
    let motd_seen = motd.as_ref().map(|(p, h)| {
        (
            p.clone(),
            h.entry_type(),
            h.size().unwrap_or(0),
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            h.mtime().unwrap_or(0),
        )
    });
    ensure(
        motd_seen == Some((PathBuf::from("etc/motd"), tar::EntryType::Regular, 6, 0o4750, 1000, 100, 1234)),
        "etc/motd: a regular file of 6 bytes, mode 4750, uid 1000, gid 100, time 1234 (the epoch given)",
        format!("(path, type, size, mode, uid, gid, mtime) = {motd_seen:?}"),
        "keep the file's type, permission bits (setuid included), owner and size, and set every time to the \
         epoch: the same files must give the same bytes",
        DIFF,
    );
    let link = header("etc/link");
    let link_seen = link.as_ref().map(|(p, h)| (p.clone(), h.entry_type(), h.size().unwrap_or(99)));
    ensure(
        link_seen == Some((PathBuf::from("etc/link"), tar::EntryType::Symlink, 0)),
        "etc/link (a symbolic link to motd) as a symlink entry of size 0",
        format!("(path, type, size) = {link_seen:?}"),
        "a symbolic link stays a symbolic link (the caller writes its target): only a directory, a regular \
         file and a whiteout are not the same case, and `metadata` is an lstat, so look at its file type",
        DIFF,
    );
    let null = header("etc/null");
    let null_seen = null.as_ref().map(|(p, h)| (p.clone(), h.entry_type(), h.mode().unwrap_or(0)));
    ensure(
        null_seen == Some((PathBuf::from("etc/null"), tar::EntryType::Char, 0o666)),
        "etc/null, a character device 1:3, as a character device entry etc/null of mode 666 (not a whiteout)",
        format!("(path, type, mode) = {null_seen:?}"),
        "only a character device whose device number is 0:0 is a whiteout: look at `rdev()` too; any other \
         device keeps its type (the caller writes its numbers)",
        DIFF,
    );
    let dir = header("etc");
    let dir_seen = dir.as_ref().map(|(p, h)| (p.clone(), h.entry_type(), h.mtime().unwrap_or(0)));
    ensure(
        dir_seen == Some((PathBuf::from("etc"), tar::EntryType::Directory, 1234)),
        "etc as a directory entry with time 1234",
        format!("{dir_seen:?}"),
        "a directory is an entry of its own, of type directory",
        DIFF,
    );
}

#[test]
fn cache_keys_change_with_every_input() {
    let content = |c: &str| format!("sha256:{}", c.repeat(64)).as_str().try_into().unwrap();
    let (a, b): (oci_spec::image::Digest, oci_spec::image::Digest) = (content("a"), content("b"));
    let key = |p: &str, i: &str, c: Option<&oci_spec::image::Digest>| {
        std::panic::catch_unwind(|| cache_key(p, i, c)).unwrap_or_else(|_| "panicked".to_string())
    };
    let base = key("sha256:parent", "RUN make", None);
    ensure(
        base.starts_with("sha256:") && base.len() == 71 && base == key("sha256:parent", "RUN make", None),
        "a key of the form sha256:HEX (64 hex digits), the same for the same inputs",
        &base,
        "hash the inputs with SHA-256 and write the digest as sha256:HEX",
        CACHE,
    );
    for (what, other) in [
        ("another parent", key("sha256:other", "RUN make", None)),
        ("another instruction", key("sha256:parent", "RUN make install", None)),
        ("copied content", key("sha256:parent", "RUN make", Some(&a))),
    ] {
        ensure(
            other != base,
            format!("a different key for {what}"),
            format!("the same key {base}"),
            "every input must go into the hash",
            CACHE,
        );
    }
    ensure(
        key("p", "COPY . .", Some(&a)) != key("p", "COPY . .", Some(&b)),
        "different keys for different copied content",
        "the same key",
        "the content's digest must go into the hash",
        CACHE,
    );
    ensure(
        key("ab", "c", None) != key("a", "bc", None) && key("p", "RUN x", None) != key("p", "RUN ", None),
        "different keys for (\"ab\", \"c\") and (\"a\", \"bc\")",
        "the same key",
        "inputs hashed one after the other without a boundary can run into each other: write each one's length \
         (or a separator that cannot occur in it) before it",
        CACHE,
    );
    // A separator that may occur in an input does not make a boundary: an instruction can hold any
    // character, a new line or a NUL included.
    for separator in ["|", "\n", "\0", " ", ":", ",", ";", "\t"] {
        let (one, two) = (format!("a{separator}b"), format!("b{separator}c"));
        ensure(
            key(&one, "c", None) != key("a", &two, None),
            format!("different keys for ({one:?}, \"c\") and (\"a\", {two:?})"),
            "the same key",
            "inputs joined with a separator that may occur in them run into each other (an instruction can hold \
             any character): write each input's length before it",
            CACHE,
        );
    }
}

// ---- building --------------------------------------------------------------------------------

const APP_DOCKERFILE: &str = r#"# escape=\
FROM base:1
ARG GREETING=hello
ENV WHO=world \
    PLACE="the box"
WORKDIR /app
COPY message.txt ./
COPY --chown=1000:1000 scripts/ /app/scripts/
# a comment between steps
RUN echo "$GREETING from a RUN step" > /app/run.txt && \
    chmod +x /app/scripts/show.sh && \
    ln -s message.txt /app/link.txt && \
    echo "the app's RUN step ran"
LABEL org.example.title="a test image"
CMD ["/app/scripts/show.sh"]
"#;

fn app_context(sandbox: &Sandbox, name: &str, message: &str) -> PathBuf {
    context(
        sandbox,
        name,
        &[
            ("Dockerfile", APP_DOCKERFILE),
            ("message.txt", message),
            (
                "scripts/show.sh",
                "#!/bin/sh\ncat /app/message.txt /app/run.txt\necho \"$WHO in $PLACE, in $(pwd), owner $(stat -c %u /app/scripts/show.sh)\"\n",
            ),
            ("secret.txt", "not for the image\n"),
            (".dockerignore", "secret.txt\n"),
        ],
    )
}

/// What the RUN step of `APP_DOCKERFILE` prints, on the build's output, each time it runs.
const APP_RUN_MARKER: &str = "the app's RUN step ran";

const APP_OUTPUT: &str = "a message\nhello from a RUN step\nworld in the box, in /app, owner 1000\n";

#[test]
#[serial]
fn a_multi_step_dockerfile_builds_and_runs() {
    let (sandbox, _) = sandbox_with_base();
    let dir = app_context(&sandbox, "app", "a message\n");
    let built = build(&sandbox, "app:1", &dir);
    built.expect_code(0, "the Dockerfile uses only instructions minibox builds", STEPS);
    let ran = sandbox.run(&["run", "app:1"]);
    ran.expect_code(0, "the built image's CMD should run", STEPS);
    ran.expect_stdout(
        APP_OUTPUT,
        "COPY puts the files under WORKDIR, RUN's changes are a layer, ENV and CMD are in the configuration",
        STEPS,
    );
    let link = sandbox.run(&["run", "app:1", "readlink", "/app/link.txt"]);
    ensure(
        link.code == Some(0) && link.stdout == "message.txt\n",
        "/app/link.txt, made by `ln -s message.txt` in the RUN step, still a symbolic link to message.txt",
        link.transcript(),
        "a symbolic link in the upper directory becomes a symlink entry of the layer, with its target",
        DIFF,
    );
    let layers = layer_entries(&sandbox, "app:1");
    ensure(
        layers.len() == 4,
        "4 layers: the base, two COPY and one RUN (ARG, ENV, WORKDIR, LABEL and CMD change only the configuration)",
        format!("{} layers: {layers:?}", layers.len()),
        "a metadata-only instruction changes the configuration, not the layers",
        STEPS,
    );
    let everything: Vec<&String> = layers.iter().flatten().collect();
    ensure(
        !everything.iter().any(|n| n.contains("secret.txt")),
        "no secret.txt in any layer (.dockerignore leaves it out)",
        format!("{everything:?}"),
        "COPY copies what .dockerignore does not leave out",
        STEPS,
    );
}

#[test]
#[serial]
fn a_deleted_file_stays_deleted() {
    let (sandbox, _) = sandbox_with_base();
    let dir = context(
        &sandbox,
        "deletes",
        &[(
            "Dockerfile",
            "FROM base:1\nRUN echo x > /gone && mkdir -p /d && touch /d/old\nRUN rm /gone /bin/vi && rm -r /d && mkdir /d && touch /d/new\nCMD [\"sh\", \"-c\", \"ls /gone /bin/vi 2>&1; ls /d\"]\n",
        )],
    );
    build(&sandbox, "deletes:1", &dir).expect_code(0, "the build should succeed", DIFF);
    let ran = sandbox.run(&["run", "deletes:1"]);
    ran.expect_code(0, "the image should run", DIFF);
    ensure(
        ran.stdout.contains("/gone: No such file") && ran.stdout.contains("/bin/vi: No such file"),
        "/gone (made by an earlier RUN) and /bin/vi (from the base) both absent",
        ran.transcript(),
        "a file deleted in a RUN step must be written in its layer as a whiteout (.wh.NAME), or the lower \
         layer's file shows through",
        DIFF,
    );
    ensure(
        ran.stdout.trim_end().ends_with("new") && !ran.stdout.contains("old"),
        "/d holding only new",
        ran.transcript(),
        "a directory removed and made again is opaque in the upper directory: its layer needs DIR/.wh..wh..opq",
        DIFF,
    );
    let layers = layer_entries(&sandbox, "deletes:1");
    let last = layers.last().cloned().unwrap_or_default();
    ensure(
        last.contains(&".wh.gone".to_string()) && last.contains(&"bin/.wh.vi".to_string()),
        "the last layer holding .wh.gone and bin/.wh.vi",
        format!("{last:?}"),
        "whiteouts are empty files named .wh.NAME beside the deleted file",
        DIFF,
    );
}

#[test]
#[serial]
fn the_cache_hits_on_a_rebuild_and_misses_after_a_change() {
    let (sandbox, _) = sandbox_with_base();
    let dir = app_context(&sandbox, "app", "a message\n");
    let first = build(&sandbox, "app:1", &dir);
    first.expect_code(0, "the first build should succeed", CACHE);
    let ran_step = |ran: &support::Ran| ran.stdout.lines().any(|l| l == APP_RUN_MARKER);
    ensure(
        ran_step(&first),
        format!("the first build's output holding {APP_RUN_MARKER:?}, which the RUN step prints"),
        first.transcript(),
        "a RUN step's command writes to the build's own output",
        STEPS,
    );
    let before = blobs(&sandbox);
    let again = build(&sandbox, "app:1", &dir);
    again.expect_code(0, "the rebuild should succeed", CACHE);
    let cached = again.stdout.lines().filter(|l| l.ends_with(" CACHED")).count();
    ensure(
        cached == 3,
        "3 steps reported CACHED (two COPY and the RUN)",
        again.transcript(),
        "a step whose key (parent, instruction, copied content) was seen before reuses its layer",
        CACHE,
    );
    ensure(
        blobs(&sandbox) == before && !ran_step(&again),
        format!("no new blob in the store, and no {APP_RUN_MARKER:?} (the RUN step did not run again)"),
        again.transcript(),
        "a rebuild with nothing changed creates no layer",
        CACHE,
    );
    std::fs::write(dir.join("message.txt"), "another message\n").unwrap();
    let changed = build(&sandbox, "app:2", &dir);
    changed.expect_code(0, "the build after the change should succeed", CACHE);
    let cached: Vec<&str> = changed.stdout.lines().filter(|l| l.ends_with(" CACHED")).collect();
    ensure(
        cached.is_empty(),
        "no step CACHED: the first COPY copies changed content, and every step after it has a new parent",
        changed.transcript(),
        "the content of what COPY copies is part of its key, and each key includes its parent's",
        CACHE,
    );
    ensure(
        ran_step(&changed),
        format!("{APP_RUN_MARKER:?} again: the RUN step runs over the changed COPY"),
        changed.transcript(),
        "a step whose parent changed is a cache miss and runs",
        CACHE,
    );
    let ran = sandbox.run(&["run", "app:2"]);
    ran.expect_stdout(
        &APP_OUTPUT.replace("a message", "another message"),
        "the rebuilt image should hold the changed file",
        CACHE,
    );
}

#[test]
#[serial]
fn a_failing_run_stops_the_build_and_leaves_nothing() {
    let (sandbox, _) = sandbox_with_base();
    let dir = context(
        &sandbox,
        "fails",
        &[("Dockerfile", "FROM base:1\nRUN echo made > /made\nRUN touch /half && exit 7\nRUN echo never\n")],
    );
    let before = blobs(&sandbox);
    let failed = build(&sandbox, "fails:1", &dir);
    failed.expect_code(7, "the build ends with the failing RUN's exit code", STEPS);
    failed.expect_one_line_error(STEPS);
    failed.expect_stderr_contains("line 3", "the error names the Dockerfile's line", STEPS);
    let after = blobs(&sandbox);
    ensure(
        after.len() == before.len() + 1,
        "one new blob (the layer of the RUN that succeeded), none for the failed one",
        format!("{} blobs before, {} after", before.len(), after.len()),
        "a failed step makes no layer",
        STEPS,
    );
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.state.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    ensure(
        leftovers.is_empty(),
        "nothing left in the state's tmp directory",
        format!("{leftovers:?}"),
        "the build's scratch directory goes when it ends, on every path",
        STEPS,
    );
    let images = sandbox.run(&["images"]);
    ensure(
        !images.stdout.contains("fails"),
        "no image named fails",
        images.transcript(),
        "a failed build names nothing",
        STEPS,
    );
    let refused =
        context(&sandbox, "refused", &[("Dockerfile", "FROM base:1\nRUN true\nHEALTHCHECK CMD true\n")]);
    let ran = build(&sandbox, "refused:1", &refused);
    ran.expect_code(125, "an instruction minibox does not build is refused", LINES);
    ran.expect_one_line_error(LINES);
    ran.expect_stderr_contains("line 3", "the refusal names the line", LINES);
}

#[test]
#[serial]
fn two_builds_of_one_context_give_the_same_digest() {
    let (first, layout) = sandbox_with_base();
    let second = Sandbox::new();
    load_base(&second, &layout);
    let dir = app_context(&first, "app", "a message\n");
    let one = build(&first, "app:1", &dir);
    one.expect_code(0, "the first build should succeed", DIFF);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let two = build(&second, "app:1", &dir);
    two.expect_code(0, "the second build should succeed", DIFF);
    let (a, b) = (built_digest(&one), built_digest(&two));
    ensure(
        !a.is_empty() && a == b,
        format!("the same manifest digest from both stores: {a}"),
        format!("{b}{}{}", one.transcript(), two.transcript()),
        "a layer's bytes must depend on its files only: names in order, every time set to the epoch \
         (SOURCE_DATE_EPOCH or 0), no user names (see also \"Reproducible layers\")",
        DIFF,
    );
}

#[test]
#[serial]
fn podman_runs_the_exported_image() {
    let (sandbox, _) = sandbox_with_base();
    let dir = app_context(&sandbox, "app", "a message\n");
    build(&sandbox, "app:1", &dir).expect_code(0, "the build should succeed", EXPORT);
    // podman names an image from an `oci:` path after the path, which must then be lower case:
    // the sandbox's random name is not.
    let out = PathBuf::from(format!("/tmp/minibox-build-export-{}", std::process::id()));
    let _remove = RemoveOnDrop(out.clone());
    let saved = sandbox.run(&["image", "save", "app:1", "-o", out.to_str().unwrap()]);
    saved.expect_code(0, "image save writes an OCI layout", EXPORT);
    let storage = sandbox.dir.join("podman");
    // podman (cgroupfs) makes libpod_parent/ and libpod_parent/conmon/ in every hierarchy and
    // leaves them: those this test makes, it removes (rmdir only removes an empty cgroup).
    let podman_cgroups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| d.flatten().map(|e| e.path().join("libpod_parent")).collect())
        .unwrap_or_default();
    let new_cgroups: Vec<PathBuf> = podman_cgroups.into_iter().filter(|p| !p.exists()).collect();
    let _cgroups = RemoveCgroups(new_cgroups);
    // Every directory podman writes is under the sandbox: its storage (--root), its run state
    // (--runroot), its libpod state (--tmpdir: else /run/libpod, with its alive lock and exit
    // files) and its temporary copies of the image (TMPDIR: else /var/tmp); and it logs no events.
    let tmp = storage.join("tmp");
    std::fs::create_dir_all(&tmp).expect("making podman's temporary directory in the sandbox");
    let podman = std::process::Command::new("podman")
        .arg("--root")
        .arg(storage.join("root"))
        .arg("--runroot")
        .arg(storage.join("run"))
        .arg("--tmpdir")
        .arg(storage.join("libpod"))
        .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"])
        .env("TMPDIR", &tmp)
        .args(["run", "--rm", "--network", "none"])
        // crun refuses a hybrid cgroup layout (v1 with a cgroup2 mount holding a controller):
        // runc, when it is there, runs on both.
        .args(
            ["/usr/sbin/runc", "/usr/bin/runc"]
                .iter()
                .find(|p| Path::new(p).exists())
                .map(|p| format!("--runtime={p}")),
        )
        .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
        .arg(format!("oci:{}:1", out.display()))
        .output();
    let Ok(podman) = podman else {
        support::fail(
            "podman to run",
            "podman could not be started",
            "install podman (tools/provision.sh)",
            EXPORT,
        );
    };
    let stdout = String::from_utf8_lossy(&podman.stdout);
    ensure(
        podman.status.success() && stdout == APP_OUTPUT,
        format!("podman printing {APP_OUTPUT:?}"),
        format!(
            "{:?}, stdout {stdout:?}, stderr {:?}",
            podman.status,
            String::from_utf8_lossy(&podman.stderr)
        ),
        "the saved layout must be a valid OCI image: manifest, configuration (with rootfs.diff_ids and history) \
         and layers, named in index.json",
        EXPORT,
    );
}

#[test]
#[serial]
fn metadata_instructions_change_the_configuration_and_the_history() {
    let (sandbox, _) = sandbox_with_base();
    let dir = context(
        &sandbox,
        "meta",
        &[
            (
                "Dockerfile",
                "FROM base:1\nARG PORT=8080\nENV MODE=production\nLABEL a=1 \"b c\"=\"two words\"\nEXPOSE $PORT 53/udp\n\
             ADD hello.txt /srv/\nUSER 1000:1000\nENTRYPOINT [\"/bin/echo\", \"entry\"]\nCMD [\"default\"]\n",
            ),
            ("hello.txt", "hi\n"),
        ],
    );
    build(&sandbox, "meta:1", &dir).expect_code(0, "the build should succeed", HISTORY);
    let ran = sandbox.run(&["run", "meta:1"]);
    ran.expect_stdout("entry default\n", "ENTRYPOINT then CMD, in exec form", HISTORY);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sandbox.state.join("oci/index.json")).unwrap()).unwrap();
    let blob = |digest: &serde_json::Value| {
        let hex = digest.as_str().unwrap_or_default().trim_start_matches("sha256:").to_string();
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(sandbox.state.join("oci/blobs/sha256").join(hex)).unwrap_or_default(),
        )
        .unwrap_or_default()
    };
    let descriptor = index["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "meta:1"))
        .cloned()
        .unwrap_or_default();
    let manifest = blob(&descriptor["digest"]);
    let config = blob(&manifest["config"]["digest"]);
    let runtime = &config["config"];
    let seen = serde_json::json!({
        "User": runtime["User"], "ExposedPorts": runtime["ExposedPorts"], "Labels": runtime["Labels"],
        "Entrypoint": runtime["Entrypoint"], "Cmd": runtime["Cmd"],
        "MODE": runtime["Env"].as_array().is_some_and(|e| e.iter().any(|v| v == "MODE=production")),
    });
    let expected = serde_json::json!({
        "User": "1000:1000", "ExposedPorts": {"8080/tcp": {}, "53/udp": {}}, "Labels": {"a": "1", "b c": "two words"},
        "Entrypoint": ["/bin/echo", "entry"], "Cmd": ["default"], "MODE": true,
    });
    ensure(
        seen == expected,
        &expected,
        &seen,
        "metadata instructions write the image configuration",
        HISTORY,
    );
    let history = config["history"].as_array().cloned().unwrap_or_default();
    let layers = manifest["layers"].as_array().map_or(0, Vec::len);
    let with_layer = history.iter().filter(|h| h["empty_layer"] != true).count();
    ensure(
        layers == 2
            && with_layer == layers
            && history.len() == 8
            && config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len) == 2,
        "2 layers (the base and ADD), 8 history entries (the base's and one per instruction after FROM and ARG), \
         as many without empty_layer as layers, 2 diff_ids",
        format!("{layers} layers, history {history:?}"),
        "each instruction adds a history entry; only those that made a layer leave empty_layer unset",
        HISTORY,
    );
}

#[test]
#[serial]
fn a_base_image_is_pulled_and_the_result_pushed() {
    let sandbox = Sandbox::new();
    let registry = Registry::start();
    let layout = base_layout(&sandbox);
    registry.push_layout(&layout, "1", "test/base");
    let dockerfile =
        format!("FROM {}/test/base:1\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n", registry.host);
    let dir = context(&sandbox, "pulled", &[("Dockerfile", &dockerfile)]);
    let built = sandbox.run(&["build", "--insecure", "-t", "app:1", dir.to_str().unwrap()]);
    built.expect_code(
        0,
        "FROM an image that is not in the store pulls it (the registry chapter's pull)",
        STEPS,
    );
    sandbox.run(&["run", "app:1"]).expect_stdout("built\n", "the image built on the pulled base runs", STEPS);
    let remote = format!("{}/test/app:1", registry.host);
    let pushed = sandbox.run(&["push", "app:1", &remote, "--insecure"]);
    pushed.expect_code(0, "the built image is pushed like any other (the registry chapter's push)", STEPS);
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{remote}")])
        .output();
    let manifest: serde_json::Value =
        inspect.as_ref().ok().and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or_default();
    let layers = manifest["layers"].as_array().map_or(0, Vec::len);
    ensure(
        layers == 2,
        "skopeo reading a manifest of 2 layers (the base and the RUN) from the registry",
        format!("{manifest}"),
        "the built image's manifest and blobs must be valid OCI for a registry to accept and serve them",
        STEPS,
    );
}
