//! The images chapter's graded tests: images, layers, overlayfs and copy-on-write.
//!
//! The tests build their own images as OCI image layouts (the format `skopeo copy ... oci:DIR`
//! and `docker save` write), including malicious ones, and load them with `minibox image load`.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use serial_test::serial;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use support::{OrFixture, Sandbox, ensure};

const CONTENT: &str = "images, \"Content addressing\"";
const UNPACK: &str = "images, \"Unpacking layers safely\"";
const WHITEOUTS: &str = "images, \"Whiteouts\"";
const OVERLAY: &str = "images, \"Copy-on-write with overlayfs\"";
const RUNNING: &str = "images, \"Running an image\"";

// ---- building test images ------------------------------------------------------------------

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One entry of a test layer.
enum Entry<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    /// A regular file whose name is written into the header as it is, unchecked: for the
    /// malicious layers (the tar crate would refuse to write such names itself).
    RawName(&'a [u8], &'a str),
}

fn layer(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        match entry {
            Entry::File(path, content) => {
                header.set_mode(0o644);
                header.set_size(content.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                builder
                    .append_data(&mut header, path, content.as_bytes())
                    .or_fixture("building a test layer");
            }
            Entry::Dir(path) => {
                header.set_size(0);
                header.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut header, path, std::io::empty()).or_fixture("building a test layer");
            }
            Entry::Symlink(path, target) => {
                header.set_size(0);
                header.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut header, path, target).or_fixture("building a test layer");
            }
            Entry::RawName(name, content) => {
                header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
                header.set_size(content.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_cksum();
                builder.append(&header, content.as_bytes()).or_fixture("building a test layer");
            }
        }
    }
    builder.into_inner().or_fixture("building a test layer")
}

/// A layer holding the whole of a directory (a root filesystem).
fn layer_of_dir(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir).or_fixture("archiving the test root filesystem");
    builder.into_inner().or_fixture("archiving the test root filesystem")
}

fn oci_arch() -> &'static str {
    if std::env::consts::ARCH == "aarch64" { "arm64" } else { "amd64" }
}

/// Write an OCI image layout at `dir` with one image named `name`, made of `layers` (bottom
/// first) and the configuration `config` (the image configuration's `config` object).
fn write_layout(dir: &Path, name: &str, layers: &[Vec<u8>], config: serde_json::Value) -> PathBuf {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).or_fixture("writing a test image layout");
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).or_fixture("writing a test image layout");
        serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    };
    let mut layer_descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let mut descriptor = put(layer);
        descriptor["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
        diff_ids.push(descriptor["digest"].clone());
        layer_descriptors.push(descriptor);
    }
    let image_config = serde_json::json!({
        "architecture": oci_arch(), "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let mut config_descriptor = put(image_config.to_string().as_bytes());
    config_descriptor["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_descriptor, "layers": layer_descriptors,
    });
    let mut manifest_descriptor = put(manifest.to_string().as_bytes());
    manifest_descriptor["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    manifest_descriptor["annotations"] = serde_json::json!({"io.containerd.image.name": name});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest_descriptor]});
    std::fs::write(dir.join("index.json"), index.to_string()).or_fixture("writing a test image layout");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .or_fixture("writing a test image layout");
    dir.to_path_buf()
}

fn sh_config() -> serde_json::Value {
    serde_json::json!({"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]})
}

/// The busybox-and-probe root filesystem of the sandbox, as one layer (built once per test).
fn base_layer(sandbox: &Sandbox) -> Vec<u8> {
    layer_of_dir(&sandbox.busybox_rootfs("base-rootfs"))
}

/// `minibox image load DIR`, which must succeed.
fn load(sandbox: &Sandbox, layout: &Path, book: &str) {
    sandbox.run(&["image", "load", layout.to_str().unwrap()]).expect_code(
        0,
        "loading a well-formed OCI image layout should work",
        book,
    );
}

/// The unpacked layer directories in the store.
fn layer_dirs(sandbox: &Sandbox) -> BTreeSet<String> {
    std::fs::read_dir(sandbox.state.join("layers"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
        .unwrap_or_default()
}

// ---- the tests -----------------------------------------------------------------------------

#[test]
fn tar_entry_paths_are_checked() {
    use minibox::image::layer::safe_relative_path;
    for (path, expected) in [("a/b", "a/b"), ("./etc/passwd", "etc/passwd"), ("./", ""), ("a/./b", "a/b")] {
        let seen = safe_relative_path(Path::new(path)).ok();
        ensure(
            seen.as_deref() == Some(Path::new(expected)),
            format!("safe_relative_path({path:?}) == {expected:?}"),
            format!("{seen:?}"),
            "keep the normal components, drop `.`",
            UNPACK,
        );
    }
    for bad in ["../etc/passwd", "a/../../b", "/etc/passwd", "a/.."] {
        let seen = safe_relative_path(Path::new(bad));
        ensure(
            seen.is_err(),
            format!("safe_relative_path({bad:?}) to be refused"),
            format!("{seen:?}"),
            "refuse `..` and absolute paths",
            UNPACK,
        );
    }
}

#[test]
#[serial]
fn containers_of_one_image_do_not_see_each_others_writes_and_the_layer_is_untouched() {
    let sandbox = Sandbox::new();
    let data = layer(&[Entry::Dir("data"), Entry::File("data/greeting", "hello\n")]);
    let layout = write_layout(
        &sandbox.dir.join("layout"),
        "shared:v1",
        &[base_layer(&sandbox), data.clone()],
        sh_config(),
    );
    load(&sandbox, &layout, OVERLAY);

    // One container rewrites, deletes and adds files, and stays up.
    let writer = sandbox.start(&[
        "run",
        "shared:v1",
        "sh",
        "-c",
        "echo changed > /data/greeting && rm /bin/ls && echo mine > /data/new && cat /data/greeting; sleep 30",
    ]);
    let (writer, _) = writer.expect_process(|p| p.command == "sleep", "the writing container", OVERLAY);
    // Meanwhile a second one looks.
    let reader = sandbox.run(&[
        "run",
        "shared:v1",
        "sh",
        "-c",
        "cat /data/greeting; ls /data; test -e /bin/ls && echo ls-present",
    ]);
    writer.kill_container();
    let written = writer.wait();
    ensure(
        written.stdout == "changed\n",
        "the writing container to change, delete and add files in its own root (stdout \"changed\")",
        written.transcript(),
        "the overlay must be writable: writes go to the container's upper directory (no MS_RDONLY)",
        OVERLAY,
    );
    reader.expect_stdout(
        "hello\ngreeting\nls-present\n",
        "each container writes into an upper directory of its own; the image's layers are read-only",
        OVERLAY,
    );
    let layer_file = sandbox.state.join("layers").join(sha256_hex(&data)).join("data/greeting");
    let content = std::fs::read_to_string(&layer_file).unwrap_or_default();
    ensure(
        content == "hello\n",
        format!("the layer's own copy of /data/greeting ({}) still to say hello", layer_file.display()),
        format!("{content:?}"),
        "writes must go to the upper directory (copy-up), never into a lower layer",
        OVERLAY,
    );
}

#[test]
#[serial]
fn a_whiteout_in_an_upper_layer_deletes_a_file_of_a_lower_one() {
    let sandbox = Sandbox::new();
    let lower = layer(&[
        Entry::File("etc/secret", "s3cret\n"),
        Entry::Dir("opt/dir"),
        Entry::File("opt/dir/old-1", "1"),
        Entry::File("opt/dir/old-2", "2"),
    ]);
    let upper = layer(&[
        Entry::File("etc/.wh.secret", ""),
        Entry::File("opt/dir/.wh..wh..opq", ""),
        Entry::File("opt/dir/new", "3"),
    ]);
    let layout = write_layout(
        &sandbox.dir.join("layout"),
        "whiteouts:v1",
        &[base_layer(&sandbox), lower, upper],
        sh_config(),
    );
    load(&sandbox, &layout, WHITEOUTS);
    let ran = sandbox.run(&[
        "run",
        "whiteouts:v1",
        "sh",
        "-c",
        "test -e /etc/secret && echo secret-visible; ls -A /opt/dir",
    ]);
    ran.expect_stdout(
        "new\n",
        "`.wh.secret` must hide /etc/secret and `.wh..wh..opq` must hide everything the lower layers had in /opt/dir: \
         unpack them as a 0/0 character device and the trusted.overlay.opaque=y attribute",
        WHITEOUTS,
    );
}

#[test]
#[serial]
fn a_layer_shared_by_two_images_is_unpacked_once() {
    let sandbox = Sandbox::new();
    let base = base_layer(&sandbox);
    let base_hex = sha256_hex(&base);
    let first =
        write_layout(&sandbox.dir.join("first"), "first:v1", std::slice::from_ref(&base), sh_config());
    load(&sandbox, &first, CONTENT);
    let inode = std::fs::metadata(sandbox.state.join("layers").join(&base_hex)).map(|m| m.ino()).ok();
    let extra = layer(&[Entry::File("extra", "x")]);
    let second = write_layout(&sandbox.dir.join("second"), "second:v1", &[base, extra.clone()], sh_config());
    load(&sandbox, &second, CONTENT);
    let inode_after = std::fs::metadata(sandbox.state.join("layers").join(&base_hex)).map(|m| m.ino()).ok();
    let dirs = layer_dirs(&sandbox);
    let expected: BTreeSet<String> = [base_hex, sha256_hex(&extra)].into();
    ensure(
        dirs == expected && inode.is_some() && inode == inode_after,
        format!("exactly the layer directories {expected:?}, the shared one untouched by the second load"),
        format!("{dirs:?}, inode {inode:?} then {inode_after:?}"),
        "key unpacked layers by digest and skip a layer that is already there",
        CONTENT,
    );
    sandbox.run(&["run", "second:v1", "cat", "/extra"]).expect_stdout(
        "x",
        "the second image runs with both layers",
        CONTENT,
    );
}

/// Everything under `dir` (recursively), for checking that nothing landed where it should not.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                found.extend(all_files(&path));
            }
            found.push(path);
        }
    }
    found
}

#[test]
#[serial]
fn malicious_layers_are_refused_and_leave_nothing_behind() {
    let sandbox = Sandbox::new();
    let absolute_target = sandbox.dir.join("escaped-absolute");
    let absolute_name = absolute_target.to_str().unwrap().as_bytes().to_vec();
    let outside = sandbox.dir.to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("traversal", layer(&[Entry::RawName(b"../../../escaped-traversal", "gotcha")]), ".."),
        ("absolute", layer(&[Entry::RawName(&absolute_name, "gotcha")]), "absolute"),
        (
            "symlink",
            layer(&[Entry::Symlink("link", &outside), Entry::File("link/escaped-through-link", "gotcha")]),
            "symbolic link",
        ),
        (
            "symlink-deep",
            layer(&[Entry::Symlink("link", &outside), Entry::File("link/sub/escaped-below-link", "gotcha")]),
            "symbolic link",
        ),
    ];
    for (what, bad_layer, message) in cases {
        let layout =
            write_layout(&sandbox.dir.join(what), &format!("evil-{what}:v1"), &[bad_layer], sh_config());
        let cause = "check every entry before writing it: no absolute path, no `..`, no parent that is a symbolic link";
        sandbox
            .run(&["image", "load", layout.to_str().unwrap()])
            .expect_code(125, cause, UNPACK)
            .expect_stderr_contains(message, cause, UNPACK)
            .expect_one_line_error(UNPACK);
    }

    // A blob that does not match its digest.
    let layout = write_layout(
        &sandbox.dir.join("tampered"),
        "evil-tampered:v1",
        &[layer(&[Entry::File("a", "honest")])],
        sh_config(),
    );
    let tampered_hex = sha256_hex(&layer(&[Entry::File("a", "honest")]));
    let blob = layout.join("blobs/sha256").join(&tampered_hex);
    let mut bytes = std::fs::read(&blob).or_fixture("reading the blob to tamper with");
    let at = bytes
        .windows(6)
        .position(|w| w == b"honest")
        .ok_or("no `honest` in the blob")
        .or_fixture("tampering with a blob");
    bytes[at..at + 6].copy_from_slice(b"sneaky");
    std::fs::write(&blob, bytes).or_fixture("tampering with a blob");
    let cause = "hash every blob and compare it with its digest before using it";
    sandbox
        .run(&["image", "load", layout.to_str().unwrap()])
        .expect_code(125, cause, CONTENT)
        .expect_stderr_contains("does not match its digest", cause, CONTENT)
        .expect_one_line_error(CONTENT);

    let escaped: Vec<PathBuf> = all_files(&sandbox.dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("escaped")))
        .collect();
    ensure(
        escaped.is_empty(),
        "no file written outside the layer",
        format!("{escaped:?}"),
        "a refused entry must not be written",
        UNPACK,
    );
    let layers = layer_dirs(&sandbox);
    ensure(
        layers.is_empty(),
        "no layer directory, not even a partial one, for refused layers",
        format!("{layers:?}"),
        "unpack into a temporary directory and rename it into place only when the whole layer succeeded",
        UNPACK,
    );
    let listed = sandbox.run(&["images"]);
    ensure(
        !listed.stdout.contains("evil"),
        "no refused image in `minibox images`",
        listed.stdout.clone(),
        "name an image only once it is complete",
        UNPACK,
    );
}

#[test]
#[serial]
fn starting_a_container_copies_nothing_the_root_is_an_overlay_of_the_shared_layer() {
    let sandbox = Sandbox::new();
    let base = base_layer(&sandbox);
    let layer_dir = sandbox.state.join("layers").join(sha256_hex(&base));
    let big = "x".repeat(8 << 20);
    let layout = write_layout(
        &sandbox.dir.join("layout"),
        "big:v1",
        &[base, layer(&[Entry::File("big-file", &big)])],
        sh_config(),
    );
    load(&sandbox, &layout, OVERLAY);
    let running = sandbox.start(&["run", "big:v1", "sh", "-c", "/probe; sleep 30"]);
    let (running, _) = running.expect_process(|p| p.command == "sleep", "the container", OVERLAY);
    let containers = all_files(&sandbox.state.join("containers"));
    let upper_entries: Vec<&PathBuf> =
        containers.iter().filter(|p| p.parent().is_some_and(|d| d.ends_with("upper"))).collect();
    running.kill_container();
    let ran = running.wait();
    let report: serde_json::Value =
        ran.stdout.lines().next().and_then(|l| serde_json::from_str(l).ok()).unwrap_or_default();
    let root = report["mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["target"] == "/"))
        .cloned()
        .unwrap_or_default();
    let super_options = root["super"].as_str().unwrap_or("");
    ensure(
        root["fstype"] == "overlay",
        "the container's / to be an overlay mount",
        format!("{root}{}", ran.transcript()),
        "mount overlayfs with the image's layers as lowerdir, a fresh upperdir and workdir",
        OVERLAY,
    );
    ensure(
        layer_dir.is_dir() && super_options.contains(layer_dir.to_str().unwrap()),
        format!("the overlay's lowerdir to include the shared layer directory {}", layer_dir.display()),
        format!("overlay options {super_options:?}"),
        "the image's unpacked layers are the overlay's lower directories, used in place",
        OVERLAY,
    );
    ensure(
        upper_entries.is_empty(),
        "nothing in the container's upper directory until it writes (nothing copied at start)",
        format!("{upper_entries:?}"),
        "starting must not copy the image: the layers are shared lower directories",
        OVERLAY,
    );
}

#[test]
#[serial]
fn the_image_configuration_is_applied() {
    let sandbox = Sandbox::new();
    let base = base_layer(&sandbox);
    let config = serde_json::json!({
        "Entrypoint": ["/bin/echo", "from-entrypoint"], "Cmd": ["default-arg"],
        "Env": ["PATH=/bin:/usr/bin", "GREETING=hi"], "WorkingDir": "/srv/app",
    });
    let layout = write_layout(&sandbox.dir.join("echo"), "echo:v1", std::slice::from_ref(&base), config);
    load(&sandbox, &layout, RUNNING);
    sandbox.run(&["run", "echo:v1"]).expect_stdout(
        "from-entrypoint default-arg\n",
        "the command is the image's Entrypoint followed by its Cmd",
        RUNNING,
    );
    sandbox.run(&["run", "echo:v1", "given"]).expect_stdout(
        "from-entrypoint given\n",
        "arguments after the image replace Cmd, not Entrypoint",
        RUNNING,
    );
    let config = serde_json::json!({"Cmd": ["sh", "-c", "echo \"$GREETING $PATH\"; pwd"], "Env": ["PATH=/bin:/usr/bin", "GREETING=hi"], "WorkingDir": "/srv/app"});
    let layout = write_layout(&sandbox.dir.join("env"), "env:v1", &[base], config);
    load(&sandbox, &layout, RUNNING);
    sandbox.run(&["run", "env:v1"]).expect_stdout(
        "hi /bin:/usr/bin\n/srv/app\n",
        "apply the image's Env and WorkingDir",
        RUNNING,
    );
    sandbox.run(&["run", "--env", "GREETING=bye", "env:v1"]).expect_stdout(
        "bye /bin:/usr/bin\n/srv/app\n",
        "--env settings win over the image's Env",
        RUNNING,
    );
}

#[test]
#[serial]
fn import_load_from_a_tar_list_and_remove() {
    let sandbox = Sandbox::new();
    // `image import`: a root filesystem archive becomes a one-layer image.
    let rootfs_tar = sandbox.dir.join("rootfs.tar");
    std::fs::write(&rootfs_tar, base_layer(&sandbox)).or_fixture("writing a rootfs archive");
    sandbox.run(&["image", "import", rootfs_tar.to_str().unwrap(), "imported:v1"]).expect_code(
        0,
        "import a rootfs tar",
        RUNNING,
    );
    sandbox.run(&["run", "imported:v1", "cat", "/etc/passwd"]).expect_stdout(
        "root:x:0:0:root:/root:/bin/sh\n",
        "an imported root filesystem runs",
        RUNNING,
    );
    // `image load` of a tar, as `docker save` writes it (an OCI layout, archived).
    let layout = write_layout(
        &sandbox.dir.join("saved"),
        "docker.io/library/saved:v2",
        &[layer(&[Entry::File("marker", "saved\n")])],
        sh_config(),
    );
    let archive = sandbox.dir.join("saved.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&archive).or_fixture("archiving a layout"));
    builder.append_dir_all(".", &layout).or_fixture("archiving a layout");
    builder.finish().or_fixture("archiving a layout");
    sandbox.run(&["image", "load", archive.to_str().unwrap()]).expect_code(
        0,
        "load a docker-save style archive",
        RUNNING,
    );
    let listed = sandbox.run(&["images"]);
    ensure(
        listed.stdout.contains("imported") && listed.stdout.contains("saved") && listed.stdout.contains("v2"),
        "`minibox images` to list imported:v1 and saved:v2",
        listed.stdout.clone(),
        "name images from the layout's annotations (docker save records docker.io/library/NAME:TAG)",
        RUNNING,
    );
    let before = layer_dirs(&sandbox).len();
    sandbox.run(&["rmi", "saved:v2"]).expect_code(0, "rmi removes an image", RUNNING);
    let after = layer_dirs(&sandbox).len();
    let listed = sandbox.run(&["images"]);
    ensure(
        !listed.stdout.contains("saved") && after == before - 1,
        "saved:v2 gone from the list, and its now unused layer removed",
        format!("{} layer dirs before, {after} after; list: {}", before, listed.stdout),
        "rmi forgets the name, then removes blobs and layers no image uses",
        RUNNING,
    );
}

#[test]
#[serial]
fn a_file_in_a_higher_layer_hides_the_same_file_below() {
    let sandbox = Sandbox::new();
    let older = layer(&[Entry::Dir("etc"), Entry::File("etc/release", "old\n")]);
    let newer = layer(&[Entry::Dir("etc"), Entry::File("etc/release", "new\n")]);
    let layout = write_layout(
        &sandbox.dir.join("layout"),
        "layered:v1",
        &[base_layer(&sandbox), older, newer],
        sh_config(),
    );
    load(&sandbox, &layout, OVERLAY);
    sandbox.run(&["run", "layered:v1", "cat", "/etc/release"]).expect_stdout(
        "new\n",
        "the last layer of the manifest is the top one: overlayfs's lowerdir lists the top layer first",
        OVERLAY,
    );
}
