//! The oci chapter's graded tests: minibox behind runc's interface.
//!
//! The lifecycle is driven directly (`minibox --root DIR create|start|state|kill|delete`) over
//! bundles made here from the host's busybox, then by the real clients that call runtimes:
//! podman (with a storage of its own in a temporary directory) and containerd (a daemon of the
//! test's own, with a temporary config, root, state and socket, stopped afterwards). Each
//! container gets a cgroup path of its own, and each test checks that nothing is left.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

use minibox::oci::spec::{self, HONOURED, refuse_unhonoured};
use minibox::oci::state::{Operation, Status, check_allowed};
use serde_json::{Value, json};
use serial_test::serial;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use support::{Sandbox, ensure, fail};

const LIFECYCLE: &str = "oci, \"The lifecycle\"";
const REFUSING: &str = "oci, \"Refusing what minibox does not do\"";
const HOLDING: &str = "oci, \"Holding the process until start\"";
const EXEC: &str = "oci, \"exec: one more process\"";
const ENGINES: &str = "oci, \"podman and containerd\"";
const TERMINAL: &str = "oci, \"A terminal through the console socket\"";
const CAPABILITIES: &str = "oci, \"Contained on every path\"";
const CONTAINED: &str = "oci, \"Contained on every path\"";
const SECCOMP: &str = "oci, \"Seccomp profiles from config.json\"";

static CONTAINERS: AtomicU32 = AtomicU32::new(0);

/// What one minibox run said.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn shown(&self) -> String {
        format!("exit code {}, stdout {:?}, stderr {:?}", self.code, self.stdout.trim(), self.stderr.trim())
    }
}

/// A sandbox with an OCI state root, and the cgroups its containers were given (removed, with
/// their processes, when the test ends, whatever happened).
struct Oci {
    sandbox: Sandbox,
    root: PathBuf,
    cgroups: std::cell::RefCell<Vec<String>>,
}

impl Oci {
    fn new() -> Oci {
        let sandbox = Sandbox::new();
        let root = sandbox.dir.join("oci-root");
        Oci { sandbox, root, cgroups: Default::default() }
    }

    /// A bundle: the busybox root (with the probe) and config.json running `args`, as
    /// `minibox spec` writes it, with a cgroup path of its own, edited by `edit`.
    fn bundle(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let bundle = self.sandbox.dir.join(name);
        std::fs::create_dir_all(&bundle).unwrap();
        self.sandbox.busybox_rootfs(&format!("{name}/rootfs"));
        let cgroup =
            format!("minibox-test-oci-{}-{}", std::process::id(), CONTAINERS.fetch_add(1, Ordering::Relaxed));
        self.cgroups.borrow_mut().push(cgroup.clone());
        let mut config = spec::example();
        config["process"]["args"] = json!(args);
        config["root"]["readonly"] = json!(false);
        config["linux"]["cgroupsPath"] = json!(format!("/{cgroup}"));
        edit(&mut config);
        std::fs::write(bundle.join("config.json"), config.to_string()).unwrap();
        bundle
    }

    /// `minibox --root ROOT ARGS...`, its output in files (a container's process inherits them
    /// and may hold them open long after minibox ended), in bounded time.
    fn run(&self, args: &[&str]) -> Out {
        self.run_with(Path::new(support::MINIBOX), args)
    }

    /// `run`, with another binary as the runtime (a copy of minibox).
    fn run_with(&self, binary: &Path, args: &[&str]) -> Out {
        self.run_in(binary, &self.root, args)
    }

    /// `run`, with another binary as the runtime (a copy of minibox, or runc) and another root.
    fn run_in(&self, binary: &Path, root: &Path, args: &[&str]) -> Out {
        let n = CONTAINERS.fetch_add(1, Ordering::Relaxed);
        let (out, err) =
            (self.sandbox.dir.join(format!("out-{n}")), self.sandbox.dir.join(format!("err-{n}")));
        let mut child = Command::new(binary)
            .arg("--root")
            .arg(root)
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                fail(
                    format!("`minibox {}` to end within 30 s", args.join(" ")),
                    "it was still running",
                    "an OCI operation returns at once: create returns with the process waiting at the exec fifo, start once it is released",
                    HOLDING,
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Out {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        }
    }

    /// `create` and check it worked; returns the file the container writes its output to.
    fn create(&self, bundle: &Path, id: &str) -> PathBuf {
        self.create_with(Path::new(support::MINIBOX), bundle, id)
    }

    /// `create` with another binary as the runtime.
    fn create_with(&self, binary: &Path, bundle: &Path, id: &str) -> PathBuf {
        let pid_file = self.sandbox.dir.join(format!("{id}.pid"));
        let n = CONTAINERS.load(Ordering::Relaxed);
        let out = self.run_with(
            binary,
            &["create", "--bundle", bundle.to_str().unwrap(), "--pid-file", pid_file.to_str().unwrap(), id],
        );
        ensure(out.code == 0, "create to succeed (exit 0)", out.shown(), "see the message", LIFECYCLE);
        self.sandbox.dir.join(format!("out-{n}"))
    }

    fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        ensure(
            out.code == 0,
            format!("`state {id}` to succeed"),
            out.shown(),
            "state reads ROOT/ID/state.json",
            LIFECYCLE,
        );
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            fail("the state as JSON", format!("{e}: {:?}", out.stdout), "print the state JSON", LIFECYCLE)
        })
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Wait (up to 5 s) until `id`'s status is `wanted`.
    fn wait_status(&self, id: &str, wanted: &str, cause: &str, book: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = self.status(id);
            if status == wanted {
                return;
            }
            if Instant::now() > deadline {
                fail(format!("status {wanted}"), format!("status {status}"), cause, book);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The cgroup directories that `cgroup` names, in every hierarchy.
    fn cgroup_dirs(cgroup: &str) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| d.flatten().map(|e| e.path().join(cgroup)).collect())
            .unwrap_or_default();
        dirs.push(Path::new("/sys/fs/cgroup").join(cgroup));
        dirs.into_iter().filter(|d| d.is_dir()).collect()
    }

    fn last_cgroup(&self) -> String {
        self.cgroups.borrow().last().cloned().unwrap()
    }
}

impl Drop for Oci {
    fn drop(&mut self) {
        for cgroup in self.cgroups.borrow().iter() {
            for dir in Oci::cgroup_dirs(cgroup) {
                for _ in 0..200 {
                    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        // SAFETY: kill has no memory-safety preconditions.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(") ").next().is_some_and(|rest| !rest.starts_with('Z')))
}

fn wait_for_text(file: &Path, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if std::fs::read_to_string(file).unwrap_or_default().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

// ---- exercises, one at a time ----------------------------------------------------------------

#[test]
fn each_operation_is_allowed_in_its_statuses_only() {
    use Operation::*;
    use Status::*;
    let cases = [
        (Start, Created, false, true),
        (Start, Running, false, false),
        (Start, Stopped, false, false),
        (Kill, Created, false, true),
        (Kill, Running, false, true),
        (Kill, Stopped, false, false),
        (Delete, Stopped, false, true),
        (Delete, Running, false, false),
        (Delete, Created, false, true),
        (Delete, Running, true, true),
        (Delete, Created, true, true),
        (Exec, Running, false, true),
        (Exec, Created, false, false),
        (Exec, Stopped, false, false),
    ];
    for (operation, status, force, allowed) in cases {
        let got = check_allowed(operation, status, force);
        ensure(
            got.is_ok() == allowed,
            format!(
                "{operation:?} on a {status:?} container (force {force}): {}",
                if allowed { "allowed" } else { "refused" }
            ),
            match &got {
                Ok(()) => "allowed".to_string(),
                Err(e) => format!("refused: {e}"),
            },
            "the lifecycle table (runc's): start only a created container, kill one whose process exists, delete a stopped or created one (any with --force), exec in a running one",
            LIFECYCLE,
        );
    }
}

#[test]
fn an_unhonoured_field_is_refused_by_its_json_path() {
    let cases = [
        (
            json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/x.sock"}}}),
            "linux.seccomp.listenerPath",
        ),
        (json!({"hooks": {"prestart": [{"path": "/bin/true"}]}}), "hooks"),
        (json!({"process": {"apparmorProfile": "docker-default"}}), "process.apparmorProfile"),
        (
            json!({"mounts": [{"destination": "/x", "type": "bind", "uidMappings": [{"containerID": 0}]}]}),
            "mounts[].uidMappings",
        ),
        (json!({"linux": {"resources": {"memory": {"kernel": 1}}}}), "linux.resources.memory.kernel"),
        // A scalar where honoured fields lie below: not empty, and nothing minibox could honour.
        (json!({"linux": 5}), "linux"),
        (json!({"linux": {"resources": "all"}}), "linux.resources"),
    ];
    for (config, path) in cases {
        let seen = match refuse_unhonoured(&config, "", HONOURED) {
            Ok(()) => "accepted".to_string(),
            Err(error) => format!("{error:#}"),
        };
        ensure(
            seen.contains(&format!("`{path}`")),
            format!("{config} refused, naming `{path}`"),
            &seen,
            "walk the JSON; refuse the first field that no honoured path goes through, at its own path",
            REFUSING,
        );
    }
    // Empty values ask for nothing; free maps take any key; the honoured fields pass.
    let mut fine = spec::example();
    fine["hooks"] = json!({});
    fine["linux"]["seccomp"] = Value::Null;
    fine["process"]["selinuxLabel"] = json!("");
    fine["annotations"] = json!({"io.example/anything": "goes"});
    fine["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    fine["linux"]["resources"] = json!({"memory": {"limit": 1048576}, "pids": {"limit": 10}});
    if let Err(error) = refuse_unhonoured(&fine, "", HONOURED) {
        fail(
            "a config.json with empty unhonoured fields, free maps and honoured fields accepted",
            format!("{error:#}"),
            "an empty value (null, \"\", [], {}, false) asks for nothing; a path ending in `.*` takes any key",
            REFUSING,
        );
    }
}

// ---- the lifecycle, driven directly ------------------------------------------------------------

#[test]
#[serial]
fn create_holds_the_process_until_start_and_delete_leaves_nothing() {
    let oci = Oci::new();
    let bundle = oci.bundle("b1", &["sh", "-c", "echo started; exec sleep 30"], |_| {});
    let output = oci.create(&bundle, "c1");
    let cgroup = oci.last_cgroup();
    let state = oci.state("c1");
    let pid = state["pid"].as_i64().unwrap_or(0) as i32;
    ensure(
        state["status"] == "created"
            && state["id"] == "c1"
            && state["ociVersion"].is_string()
            && state["bundle"] == json!(bundle),
        "after create: state with ociVersion, id c1, status created, the bundle's path and a pid",
        &state,
        "the state JSON of the runtime spec",
        LIFECYCLE,
    );
    let pid_file = std::fs::read_to_string(oci.sandbox.dir.join("c1.pid")).unwrap_or_default();
    ensure(
        pid_file.trim() == pid.to_string(),
        format!("the pid file to hold {pid}"),
        &pid_file,
        "write --pid-file once the process exists",
        LIFECYCLE,
    );
    std::thread::sleep(Duration::from_millis(300));
    let early = std::fs::read_to_string(&output).unwrap_or_default();
    ensure(
        !early.contains("started") && pid_alive(pid),
        "after create, the process set up and alive, but the command not yet run",
        format!("output {early:?}, process alive: {}", pid_alive(pid)),
        "the process must wait (at the exec fifo) until start",
        HOLDING,
    );
    ensure(
        !Oci::cgroup_dirs(&cgroup).is_empty(),
        "the container's cgroup to exist after create",
        "none",
        "create makes the cgroup",
        LIFECYCLE,
    );

    let started = oci.run(&["start", "c1"]);
    ensure(started.code == 0, "start to succeed", started.shown(), "start releases the process", HOLDING);
    ensure(
        wait_for_text(&output, "started"),
        "the command to run once started",
        std::fs::read_to_string(&output).unwrap_or_default(),
        "start must let the process through the fifo",
        HOLDING,
    );
    oci.wait_status("c1", "running", "start removes the fifo: the container is running", HOLDING);

    let again = oci.run(&["start", "c1"]);
    ensure(
        again.code != 0,
        "a second start to fail",
        again.shown(),
        "only a created container starts",
        LIFECYCLE,
    );
    let delete = oci.run(&["delete", "c1"]);
    ensure(
        delete.code != 0 && pid_alive(pid),
        "delete of a running container without --force to fail and leave it running",
        format!("{}; process alive: {}", delete.shown(), pid_alive(pid)),
        "delete only a stopped container",
        LIFECYCLE,
    );
    let kill = oci.run(&["kill", "c1", "KILL"]);
    ensure(kill.code == 0, "kill c1 KILL to succeed", kill.shown(), "kill a running container", LIFECYCLE);
    oci.wait_status("c1", "stopped", "a container whose process has ended is stopped", LIFECYCLE);
    let again = oci.run(&["kill", "c1", "KILL"]);
    ensure(
        again.code != 0,
        "kill of a stopped container to fail",
        again.shown(),
        "kill only a created or running container",
        LIFECYCLE,
    );
    let delete = oci.run(&["delete", "c1"]);
    ensure(
        delete.code == 0,
        "delete of the stopped container to succeed",
        delete.shown(),
        "delete a stopped container",
        LIFECYCLE,
    );
    ensure(
        !oci.root.join("c1").exists(),
        "no state directory after delete",
        oci.root.join("c1").display(),
        "delete removes ROOT/ID",
        LIFECYCLE,
    );
    let left = Oci::cgroup_dirs(&cgroup);
    ensure(
        left.is_empty(),
        "no cgroup after delete",
        format!("{left:?}"),
        "delete removes the container's cgroup",
        LIFECYCLE,
    );
    let state = oci.run(&["state", "c1"]);
    ensure(
        state.code != 0,
        "state of a deleted container to fail",
        state.shown(),
        "it no longer exists",
        LIFECYCLE,
    );
}

#[test]
#[serial]
fn delete_force_removes_a_created_container() {
    let oci = Oci::new();
    let bundle = oci.bundle("b2", &["sh", "-c", "echo should-not-run"], |_| {});
    let output = oci.create(&bundle, "c2");
    let cgroup = oci.last_cgroup();
    let pid = oci.state("c2")["pid"].as_i64().unwrap_or(0) as i32;
    let delete = oci.run(&["delete", "--force", "c2"]);
    ensure(
        delete.code == 0,
        "delete --force of a created container to succeed",
        delete.shown(),
        "--force kills it first",
        LIFECYCLE,
    );
    std::thread::sleep(Duration::from_millis(200));
    ensure(
        !pid_alive(pid),
        "its process gone",
        format!("pid {pid} alive"),
        "--force kills the process",
        LIFECYCLE,
    );
    ensure(
        !std::fs::read_to_string(&output).unwrap_or_default().contains("should-not-run"),
        "the command never to run",
        "it ran",
        "only start releases the process",
        HOLDING,
    );
    ensure(
        Oci::cgroup_dirs(&cgroup).is_empty() && !oci.root.join("c2").exists(),
        "no cgroup and no state left",
        format!("{:?}", Oci::cgroup_dirs(&cgroup)),
        "delete removes both",
        LIFECYCLE,
    );
}

#[test]
#[serial]
fn create_refuses_an_unhonoured_field_and_leaves_nothing() {
    let oci = Oci::new();
    let bundle = oci.bundle("b3", &["true"], |config| {
        config["linux"]["intelRdt"] = json!({"closID": "guaranteed_group", "l3CacheSchema": "L3:0=7f0"});
    });
    let cgroup = oci.last_cgroup();
    let out = oci.run(&["create", "--bundle", bundle.to_str().unwrap(), "c3"]);
    ensure(
        out.code == 125 && out.stderr.contains("`linux.intelRdt`") && out.stderr.trim().lines().count() == 1,
        "exit 125 and one line naming `linux.intelRdt`",
        out.shown(),
        "a field minibox does not honour is refused by its JSON path, before anything is made",
        REFUSING,
    );
    ensure(
        !oci.root.join("c3").exists() && Oci::cgroup_dirs(&cgroup).is_empty(),
        "no state directory and no cgroup after a refused create",
        format!(
            "state dir exists: {}; cgroups {:?}",
            oci.root.join("c3").exists(),
            Oci::cgroup_dirs(&cgroup)
        ),
        "check config.json before creating anything",
        REFUSING,
    );
}

/// The process's state letter (`S`, `T`, `Z`...), from /proc/PID/stat.
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(") ").next()?.chars().next()
}

#[test]
#[serial]
fn start_gives_up_on_a_process_that_died_before_reaching_the_fifo() {
    let oci = Oci::new();
    let bundle = oci.bundle("b5", &["sh", "-c", "echo should-not-run"], |_| {});
    let output = oci.create(&bundle, "c5");
    let state = oci.state("c5");
    let waiting = "the created container's process (`pid` in `state`), waiting at the exec fifo";
    let cause = "after create, the process waits at the fifo until start: it must not run (and end) \
                 before start, and `state` must give its pid";
    let process = support::process_at(state["pid"].as_i64().unwrap_or(0), waiting, cause, HOLDING);
    let pid = process.pid;
    // A stop interrupts the process's open of the fifo (it would start over once continued):
    // while stopped, nobody holds the fifo's writing end, and the status is still created.
    support::signal_or_fail(&process, libc::SIGSTOP, waiting, cause, HOLDING);
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_state(pid) != Some('T') {
        if Instant::now() > deadline {
            support::fixture_failed("stopping the created container's process", format!("pid {pid}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (out, err) = (oci.sandbox.dir.join("start-out"), oci.sandbox.dir.join("start-err"));
    let mut start = Command::new(support::MINIBOX)
        .arg("--root")
        .arg(&oci.root)
        .args(["start", "c5"])
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", support::MINIBOX));
    // Let start reach its wait at the fifo (blocked in a system call for a few samples in a
    // row), then end the container's process under it.
    std::thread::sleep(Duration::from_millis(300));
    let (deadline, mut blocked) = (Instant::now() + Duration::from_secs(3), 0);
    while blocked < 3 && Instant::now() < deadline {
        let syscall = std::fs::read_to_string(format!("/proc/{}/syscall", start.id())).unwrap_or_default();
        blocked = if syscall.is_empty() || syscall.starts_with("running") { 0 } else { blocked + 1 };
        std::thread::sleep(Duration::from_millis(30));
    }
    process.signal(libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = start.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = start.kill();
            let _ = start.wait();
            fail(
                "`minibox start` to fail within 10 s once the container's process was killed before it \
                 reached the fifo",
                "it was still waiting after 10 s",
                "open the fifo without blocking (O_NONBLOCK) and wait in short steps, checking between them that \
                 the process is still alive and the same one: a blocking open or read waits forever for a \
                 process that is gone",
                HOLDING,
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    ensure(
        !status.success(),
        "start to fail: the container's process ended before it was released",
        format!("{status}, stderr {:?}", stderr.trim()),
        "release must notice that the process is gone, and report it",
        HOLDING,
    );
    ensure(
        !std::fs::read_to_string(&output).unwrap_or_default().contains("should-not-run"),
        "the command never to run",
        "it ran",
        "only a released process runs its command",
        HOLDING,
    );
    let _ = oci.run(&["delete", "--force", "c5"]);
}

#[test]
#[serial]
fn exec_joins_a_running_container() {
    let oci = Oci::new();
    let bundle = oci.bundle("b4", &["sleep", "30"], |config| config["hostname"] = json!("oci-box"));
    oci.create(&bundle, "c4");
    let early = oci.run(&["exec", "c4", "hostname"]);
    ensure(
        early.code != 0,
        "exec in a created (not started) container to fail",
        early.shown(),
        "exec needs a running container",
        LIFECYCLE,
    );
    let started = oci.run(&["start", "c4"]);
    ensure(started.code == 0, "start to succeed", started.shown(), "start releases the process", HOLDING);
    let pid = oci.state("c4")["pid"].as_i64().unwrap_or(0);
    let ps = oci.run(&["ps", "--format", "json", "c4"]);
    ensure(
        ps.code == 0
            && serde_json::from_str::<Vec<i64>>(ps.stdout.trim()).is_ok_and(|pids| pids.contains(&pid)),
        format!("ps --format json to list the container's process {pid}"),
        ps.shown(),
        "ps lists the pids of the container's cgroup",
        EXEC,
    );
    let out = oci.run(&["exec", "c4", "sh", "-c", "hostname; exit 3"]);
    ensure(
        out.code == 3 && out.stdout.trim() == "oci-box",
        "exec to print the container's hostname oci-box and pass its exit code 3 through",
        out.shown(),
        "exec joins the container's namespaces (setns) and cgroup, then runs the process",
        EXEC,
    );
    let delete = oci.run(&["delete", "--force", "c4"]);
    ensure(
        delete.code == 0,
        "delete --force to succeed",
        delete.shown(),
        "delete --force kills and removes",
        LIFECYCLE,
    );
}

// ---- answered as runc answers, and contained -------------------------------------------------

/// One answer of a runtime: did it succeed, what did it say, and (for `state`) the status.
#[derive(Debug)]
struct Answer {
    ok: bool,
    said: String,
    status: Option<String>,
}

fn answer(out: &Out) -> Answer {
    let status = serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .and_then(|state| state["status"].as_str().map(String::from));
    Answer { ok: out.code == 0, said: out.stderr.trim().to_string(), status }
}

/// The words engines look for in a runtime's error: containerd's shim takes "container not
/// running" for a process already gone and "does not exist" for a container already deleted.
const ENGINE_WORDS: [&str; 2] = ["container not running", "does not exist"];

#[test]
#[serial]
fn lifecycle_answers_match_runcs_on_the_same_bundle() {
    let runc = PathBuf::from(tool("runc", "runc"));
    let oci = Oci::new();
    let minibox = PathBuf::from(support::MINIBOX);
    // The rows: each runtime runs the same steps on a bundle of its own (its own cgroup) and its
    // own --root; the table compares success, the status, and the words engines look for.
    type Step = (&'static str, Vec<&'static str>);
    let steps = |id: &'static str| -> Vec<Step> {
        vec![
            ("kill a created container", vec!["kill", id, "TERM"]),
            ("state of a created container killed", vec!["state", id]),
            ("kill an ended container", vec!["kill", id, "KILL"]),
            ("kill 9 of an ended container", vec!["kill", id, "9"]),
            ("kill --all of an ended container (containerd's stop)", vec!["kill", "--all", id, "9"]),
            ("start an ended container", vec!["start", id]),
            ("exec in an ended container", vec!["exec", id, "true"]),
            ("state of an ended container", vec!["state", id]),
            ("delete an ended container", vec!["delete", id]),
            ("delete a deleted container", vec!["delete", id]),
            ("delete --force a deleted container", vec!["delete", "--force", id]),
            ("state of a deleted container", vec!["state", id]),
            ("kill a deleted container", vec!["kill", id, "KILL"]),
            ("kill --all of a deleted container", vec!["kill", "--all", id, "KILL"]),
            ("start a deleted container", vec!["start", id]),
        ]
    };
    let mut table = Vec::new();
    for (name, binary) in [("runc", &runc), ("minibox", &minibox)] {
        let root = oci.sandbox.dir.join(format!("{name}-root"));
        let run = |args: &[&str]| oci.run_in(binary, &root, args);
        let create = |id: &str| {
            let bundle = oci.bundle(&format!("{name}-{id}"), &["sleep", "30"], |_| {});
            let created = run(&["create", "--bundle", bundle.to_str().unwrap(), id]);
            ensure(
                created.code == 0,
                format!("{name} create {id} to succeed"),
                created.shown(),
                "create",
                LIFECYCLE,
            );
        };
        let mut answers = Vec::new();
        // A: created, killed before start, then every call an engine makes on what has ended.
        create("lc-a");
        for (i, (row, args)) in steps("lc-a").into_iter().enumerate() {
            answers.push((row, answer(&run(&args))));
            if i == 0 {
                wait_stopped_in(&oci, binary, &root, "lc-a");
            }
        }
        // B: started, started again, deleted while running (refused), killed with --all.
        create("lc-b");
        answers.push(("start a created container", answer(&run(&["start", "lc-b"]))));
        answers.push(("start a running container", answer(&run(&["start", "lc-b"]))));
        answers.push(("delete a running container", answer(&run(&["delete", "lc-b"]))));
        answers.push(("kill --all of a running container", answer(&run(&["kill", "--all", "lc-b", "KILL"]))));
        wait_stopped_in(&oci, binary, &root, "lc-b");
        answers.push(("delete it once ended", answer(&run(&["delete", "lc-b"]))));
        // C: created, deleted without --force (runc kills it: containerd deletes a task that
        // never started so).
        create("lc-c");
        answers.push(("delete a created container", answer(&run(&["delete", "lc-c"]))));
        answers.push(("state of it then", answer(&run(&["state", "lc-c"]))));
        table.push(answers);
    }
    let (runcs, miniboxs) = (&table[0], &table[1]);
    let mut differences = Vec::new();
    for ((row, theirs), (_, ours)) in runcs.iter().zip(miniboxs) {
        let words_missing: Vec<&str> = ENGINE_WORDS
            .iter()
            .copied()
            .filter(|w| theirs.said.contains(w) && !ours.said.contains(w))
            .collect();
        if theirs.ok != ours.ok || theirs.status != ours.status || !words_missing.is_empty() {
            differences.push(format!(
                "{row}: runc {} {:?} {:?}, minibox {} {:?} {:?}",
                if theirs.ok { "succeeds" } else { "fails" },
                theirs.status.as_deref().unwrap_or(""),
                theirs.said,
                if ours.ok { "succeeds" } else { "fails" },
                ours.status.as_deref().unwrap_or(""),
                ours.said
            ));
        }
    }
    ensure(
        differences.is_empty(),
        "every row answered as runc answers it (success or failure, the status, and the words engines look for: \
         \"container not running\", \"does not exist\")",
        differences.join("; "),
        "runc's lifecycle: kill a created or running container; kill of an ended one fails with \"container not \
         running\" but `kill --all` succeeds; delete a stopped or created one (any with --force); start only a \
         created one",
        LIFECYCLE,
    );
}

/// Wait (up to 5 s) until `binary`'s `state ID` under `root` says stopped.
fn wait_stopped_in(oci: &Oci, binary: &Path, root: &Path, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = answer(&oci.run_in(binary, root, &["state", id]));
        if seen.status.as_deref() == Some("stopped") {
            return;
        }
        if Instant::now() > deadline {
            fail(
                format!("{} to report `{id}` stopped once its process was killed", binary.display()),
                format!("{seen:?}"),
                "a container whose process has ended is stopped",
                LIFECYCLE,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The five capability lines of `/proc/self/status` as a container's process sees them.
fn capability_sets(oci: &Oci, id: &str, edit: impl FnOnce(&mut Value)) -> Vec<(String, u64)> {
    let bundle = oci.bundle(id, &["sh", "-c", "grep ^Cap /proc/self/status; echo done"], edit);
    let output = oci.create(&bundle, id);
    let started = oci.run(&["start", id]);
    ensure(started.code == 0, "start to succeed", started.shown(), "start releases the process", HOLDING);
    let done = wait_for_text(&output, "done");
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    let _ = oci.run(&["delete", "--force", id]);
    ensure(done, "the container to print its capability sets", &text, "see its output", CAPABILITIES);
    text.lines()
        .filter_map(|line| line.split_once(":\t"))
        .filter_map(|(name, hex)| Some((name.to_string(), u64::from_str_radix(hex.trim(), 16).ok()?)))
        .collect()
}

fn bits(names: &[&str]) -> u64 {
    minibox::security::capabilities::parse(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
#[serial]
fn capabilities_are_exactly_config_jsons_five_sets_and_none_given_is_none() {
    let oci = Oci::new();
    let none = capability_sets(&oci, "cap-none", |config| {
        config["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let expected: Vec<(String, u64)> =
        ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].iter().map(|n| (n.to_string(), 0)).collect();
    ensure(
        none == expected,
        format!("without `process.capabilities`, every set empty: {expected:?}"),
        format!("{none:?}"),
        "a process whose config.json gives no capabilities keeps none (as runc): drop them all, bounding set \
         included, whoever the user",
        CAPABILITIES,
    );
    // Five different sets. Another user gets at execve the ambient set alone. The ambient
    // capability is both permitted and inheritable, as the kernel requires.
    let sets = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL"],
        "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    let bounding = bits(&["CHOWN", "KILL", "NET_BIND_SERVICE", "AUDIT_WRITE"]);
    let (inheritable, ambient) = (bits(&["NET_BIND_SERVICE", "KILL"]), bits(&["NET_BIND_SERVICE"]));
    // Under no_new_privs (as `minibox spec` writes it) root's execve gains nothing beyond the
    // permitted set: root shows the permitted set exactly.
    let permitted = bits(&["CHOWN", "KILL", "NET_BIND_SERVICE"]);
    for (uid, permitted) in [(0, permitted), (1000, ambient)] {
        let seen = capability_sets(&oci, &format!("cap-{uid}"), |config| {
            config["process"]["capabilities"] = sets.clone();
            config["process"]["user"] = json!({"uid": uid, "gid": uid});
        });
        let expected: Vec<(String, u64)> = [
            ("CapInh", inheritable),
            ("CapPrm", permitted),
            ("CapEff", permitted),
            ("CapBnd", bounding),
            ("CapAmb", ambient),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
        ensure(
            seen == expected,
            format!("uid {uid} with five different sets: {expected:?}"),
            format!("{seen:?}"),
            "set each of the five sets as config.json gives it: the bounding set, then (after the user) \
             effective, permitted and inheritable with capset, then the ambient set",
            CAPABILITIES,
        );
    }
}

#[test]
#[serial]
fn minibox_spec_writes_runcs_defaults() {
    let runc = tool("runc", "runc");
    let sandbox = Sandbox::new();
    let (ours, theirs) = (sandbox.dir.join("ours"), sandbox.dir.join("theirs"));
    for dir in [&ours, &theirs] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let out = Command::new(support::MINIBOX).arg("spec").current_dir(&ours).output().unwrap();
    ensure(out.status.success(), "`minibox spec` to succeed", format!("{out:?}"), "spec", CAPABILITIES);
    let out = Command::new(&runc).arg("spec").current_dir(&theirs).output().unwrap();
    if !out.status.success() {
        support::fixture_failed("runc spec", format!("{out:?}"));
    }
    let read = |dir: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap_or_default())
            .unwrap_or_default()
    };
    let (ours, theirs) = (read(&ours), read(&theirs));
    let list = |v: &Value| -> Vec<String> {
        let mut items: Vec<String> = v
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default();
        items.sort();
        items
    };
    for set in ["bounding", "effective", "inheritable", "permitted", "ambient"] {
        let (a, b) =
            (list(&ours["process"]["capabilities"][set]), list(&theirs["process"]["capabilities"][set]));
        ensure(
            a == b,
            format!("`process.capabilities.{set}` as runc's spec writes it: {b:?}"),
            format!("{a:?}"),
            "minibox spec writes runc's defaults",
            CAPABILITIES,
        );
    }
    ensure(
        ours["process"]["noNewPrivileges"] == json!(true),
        "`process.noNewPrivileges` true, as runc's spec",
        &ours["process"]["noNewPrivileges"],
        "minibox spec writes runc's defaults",
        CAPABILITIES,
    );
    for field in ["maskedPaths", "readonlyPaths"] {
        let (a, b) = (list(&ours["linux"][field]), list(&theirs["linux"][field]));
        let missing: Vec<&String> = b.iter().filter(|p| !a.contains(p)).collect();
        ensure(
            missing.is_empty(),
            format!("`linux.{field}` to hold every path of runc's: {b:?}"),
            format!("missing {missing:?}"),
            "minibox spec writes runc's defaults (the hardening chapter's lists hold them)",
            CAPABILITIES,
        );
    }
    // And a container from that bundle keeps those three capabilities, and nothing else.
    let oci = Oci::new();
    let seen = capability_sets(&oci, "spec-caps", |_| {});
    let three = bits(&["AUDIT_WRITE", "KILL", "NET_BIND_SERVICE"]);
    let expected: Vec<(String, u64)> =
        [("CapInh", 0), ("CapPrm", three), ("CapEff", three), ("CapBnd", three), ("CapAmb", 0)]
            .iter()
            .map(|(n, v)| (n.to_string(), *v))
            .collect();
    ensure(
        seen == expected,
        format!("a container of `minibox spec`'s bundle: {expected:?}"),
        format!("{seen:?}"),
        "config.json's capability sets, exactly (an ambient capability that is not inheritable is skipped, as runc)",
        CAPABILITIES,
    );
}

/// The probe's report, once the container's output holds it.
fn probe_report(output: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let text = std::fs::read_to_string(output).unwrap_or_default();
        if let Some(report) = text.lines().find_map(|l| serde_json::from_str::<Value>(l).ok()) {
            return report;
        }
        if Instant::now() > deadline {
            support::fixture_failed("the probe's exe-watch report", text);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a report says, checked: the runtime's process was seen, and nothing of the binary could
/// be opened for writing. With `open_denied`, the open itself must have failed (not dumpable).
fn check_exe_report(report: &Value, path: &str, open_denied: bool) {
    ensure(
        report["seen"] == json!(true),
        format!("the attacker to see minibox's process in its PID namespace ({path})"),
        report,
        "the test's attacker watches /proc for the runtime's process",
        CONTAINED,
    );
    ensure(
        report["reopened_for_writing"] == json!(false),
        format!("{path}: the handle on minibox's /proc/PID/exe not to reopen for writing once minibox ended"),
        report,
        "CVE-2019-5736: run minibox from a read-only view of its binary (a read-only bind mount, detached, \
         re-executed through) before it joins the container, so its exe is on a read-only mount",
        CONTAINED,
    );
    if open_denied {
        ensure(
            report["open_errno"].as_i64().is_some_and(|e| e == 1 || e == 13),
            format!(
                "{path}: opening minibox's /proc/PID/exe to fail (EPERM or EACCES) without CAP_SYS_PTRACE"
            ),
            report,
            "make minibox not dumpable (PR_SET_DUMPABLE 0) before it joins any namespace of the container",
            CONTAINED,
        );
    }
}

#[test]
#[serial]
fn the_host_binary_is_out_of_reach_from_the_container_on_exec_and_create() {
    let oci = Oci::new();
    // The runtime is a copy: the attack never gets near the real binary, and writes nothing.
    let copy = oci.sandbox.dir.join("minibox-copy");
    std::fs::copy(support::MINIBOX, &copy).expect("copying minibox");
    let identity = {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&copy).expect("stat of the copy");
        format!("{}:{}", meta.dev(), meta.ino())
    };
    let identity = identity.as_str();
    let with_ptrace = |config: &mut Value| {
        for set in ["bounding", "effective", "permitted"] {
            config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_PTRACE"));
        }
    };
    // exec, with the attacker's default capabilities and with CAP_SYS_PTRACE (the open works,
    // so the reopen must fail). The attacker must catch the exec between its fork and its
    // execve: a few tries.
    for (ptrace, id) in [(false, "cve-exec"), (true, "cve-exec-ptrace")] {
        let bundle = oci.bundle(id, &["/probe", "exe-watch", id, "/go", identity], |config| {
            if ptrace {
                with_ptrace(config)
            }
        });
        let output = oci.create_with(&copy, &bundle, id);
        let started = oci.run_with(&copy, &["start", id]);
        ensure(started.code == 0, "start to succeed", started.shown(), "start releases the process", HOLDING);
        let go = bundle.join("rootfs/go");
        for _ in 0..50 {
            // Its answer does not matter: an attacker that has its answer ends, and with it the
            // container (its first process), the exec's process included.
            let _ = oci.run_with(&copy, &["exec", id, "true"]);
            // This exec has ended: an attacker holding a handle may try it now; one still
            // watching ignores the go and goes on watching, once it is taken back.
            std::fs::write(&go, "").unwrap();
            if wait_for_text_within(&output, "seen", Duration::from_millis(300)) {
                break;
            }
            let _ = std::fs::remove_file(&go);
        }
        std::fs::write(bundle.join("rootfs/go"), "").unwrap();
        let report = probe_report(&output);
        let _ = oci.run_with(&copy, &["delete", "--force", id]);
        check_exe_report(&report, if ptrace { "exec, CAP_SYS_PTRACE" } else { "exec" }, false);
    }
    // create: a second container joins the attacker's PID namespace; its process waits at the
    // fifo, running minibox, with the capabilities the attacker has too, until start. Without
    // CAP_SYS_PTRACE only its being not dumpable stops the open.
    for (ptrace, watch, joiner) in [(false, "cve-watch", "cve-joiner"), (true, "cve-watch-p", "cve-joiner-p")]
    {
        let attacker = oci.bundle(watch, &["/probe", "exe-watch", joiner, "/go", identity], |config| {
            if ptrace {
                with_ptrace(config)
            }
        });
        let output = oci.create_with(&copy, &attacker, watch);
        let started = oci.run_with(&copy, &["start", watch]);
        ensure(started.code == 0, "start to succeed", started.shown(), "start releases the process", HOLDING);
        let pid = checked_pid(&oci, watch);
        let bundle = oci.bundle(joiner, &["true"], |config| {
            config["linux"]["namespaces"] = json!([{"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
                {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]);
        });
        oci.create_with(&copy, &bundle, joiner);
        wait_for_text_within(&output, "seen", Duration::from_millis(500));
        let _ = oci.run_with(&copy, &["start", joiner]);
        let _ = oci.run_with(&copy, &["delete", "--force", joiner]);
        std::fs::write(attacker.join("rootfs/go"), "").unwrap();
        let report = probe_report(&output);
        let _ = oci.run_with(&copy, &["delete", "--force", watch]);
        let path = if ptrace {
            "create's process at the fifo, CAP_SYS_PTRACE"
        } else {
            "create's process at the fifo"
        };
        check_exe_report(&report, path, !ptrace);
    }
}

fn wait_for_text_within(file: &Path, text: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::fs::read_to_string(file).unwrap_or_default().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The pid of a created container's process, checked: a process of its own, not this test's.
fn checked_pid(oci: &Oci, id: &str) -> i32 {
    let pid = oci.state(id)["pid"].as_i64().unwrap_or(0) as i32;
    if pid <= 0 || pid as u32 == std::process::id() || process_state(pid).is_none() {
        fail(
            format!("a live pid in the state of `{id}`"),
            pid,
            "create records the process's pid",
            LIFECYCLE,
        );
    }
    pid
}

/// Stop the created container's process `pid` (its open of the fifo is interrupted), start
/// `minibox start ID` and wait until it waits at the fifo.
fn start_against_a_stopped_process(oci: &Oci, id: &str, pid: i32) -> std::process::Child {
    // SAFETY: kill has no memory-safety preconditions; `pid` was checked.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_state(pid) != Some('T') {
        if Instant::now() > deadline {
            support::fixture_failed("stopping the created container's process", format!("pid {pid}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let start = Command::new(support::MINIBOX)
        .arg("--root")
        .arg(&oci.root)
        .args(["start", id])
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", support::MINIBOX));
    std::thread::sleep(Duration::from_millis(300));
    let (deadline, mut blocked) = (Instant::now() + Duration::from_secs(3), 0);
    while blocked < 3 && Instant::now() < deadline {
        let syscall = std::fs::read_to_string(format!("/proc/{}/syscall", start.id())).unwrap_or_default();
        blocked = if syscall.is_empty() || syscall.starts_with("running") { 0 } else { blocked + 1 };
        std::thread::sleep(Duration::from_millis(30));
    }
    start
}

#[test]
#[serial]
fn a_zombie_is_not_alive_and_a_reused_pid_is_not_the_container() {
    let oci = Oci::new();
    let bundle = oci.bundle("z1", &["sh", "-c", "echo should-not-run"], |_| {});
    // This test adopts the container's process once `create` has ended (a subreaper) and does
    // not reap it at once: killed, it stays a zombie, whose pid still answers kill(pid, 0).
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    oci.create(&bundle, "z1");
    let pid = checked_pid(&oci, "z1");
    let mut start = start_against_a_stopped_process(&oci, "z1", pid);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_state(pid) != Some('Z') && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let ended = loop {
        if let Some(status) = start.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = start.kill();
            let _ = start.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let status = oci.status("z1");
    // Reap it now, whatever happened, and stop adopting.
    // SAFETY: waitpid on our own child, and prctl with integers.
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    }
    ensure(
        ended.is_some_and(|s| !s.success()),
        "start to fail within 5 s: the container's process is a zombie (ended, not yet reaped)",
        format!("{ended:?}"),
        "a zombie's pid still exists (kill(pid, 0) succeeds): check liveness by the process's state and start \
         time (/proc/PID/stat), not by its pid",
        HOLDING,
    );
    ensure(
        status == "stopped",
        "the state of a container whose process is a zombie: stopped",
        &status,
        "a zombie has ended",
        LIFECYCLE,
    );
    // A pid given to another process: the state's pid now names a sleep of this test's own.
    let mut other = Command::new("sleep").arg("30").spawn().expect("running sleep");
    let path = oci.root.join("z1/state.json");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state["pid"] = json!(other.id());
    std::fs::write(&path, state.to_string()).unwrap();
    let status = oci.status("z1");
    let kill = oci.run(&["kill", "z1", "KILL"]);
    let kill_all = oci.run(&["kill", "--all", "z1", "KILL"]);
    std::thread::sleep(Duration::from_millis(100));
    let survived = other.try_wait().unwrap().is_none();
    let _ = other.kill();
    let _ = other.wait();
    ensure(
        status == "stopped" && kill.code != 0 && kill_all.code == 0 && survived,
        "with the state's pid reused by another process: status stopped, `kill` refused, `kill --all` \
         succeeding, and the other process untouched",
        format!(
            "status {status}, kill: {}, kill --all: {}, other process alive: {survived}",
            kill.shown(),
            kill_all.shown()
        ),
        "the saved start time tells the container's process from a later one with its pid",
        LIFECYCLE,
    );
    let _ = oci.run(&["delete", "--force", "z1"]);
}

#[test]
#[serial]
fn a_start_cut_short_leaves_a_container_that_still_starts() {
    let oci = Oci::new();
    let bundle = oci.bundle("f1", &["sh", "-c", "echo started; exec sleep 30"], |_| {});
    let output = oci.create(&bundle, "f1");
    let pid = checked_pid(&oci, "f1");
    let mut start = start_against_a_stopped_process(&oci, "f1", pid);
    // The start is killed while it waits; the container's process goes on.
    let _ = start.kill();
    let _ = start.wait();
    // SAFETY: kill has no memory-safety preconditions; `pid` was checked.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let status = oci.status("f1");
    ensure(
        status == "created",
        "after a start killed before the process came through the fifo: status still created",
        &status,
        "remove the fifo only once the byte has come through: a fifo removed earlier marks the container running \
         though its process never started, and no start can release it any more",
        HOLDING,
    );
    let again = oci.run(&["start", "f1"]);
    ensure(
        again.code == 0 && wait_for_text(&output, "started"),
        "a second start to release the process",
        format!("{}; output {:?}", again.shown(), std::fs::read_to_string(&output).unwrap_or_default()),
        "a start that did not finish must leave the container as it found it",
        HOLDING,
    );
    let _ = oci.run(&["delete", "--force", "f1"]);
}

// ---- the real clients ------------------------------------------------------------------------

/// A tool the test calls, or a clear failure naming its package.
fn tool(name: &str, package: &str) -> String {
    let found = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()));
    match found {
        Some(path) => path.display().to_string(),
        None => fail(
            format!("{name} on PATH"),
            "not found",
            &format!("apt install {package} (or `cargo xtask doctor`)"),
            "Setting up",
        ),
    }
}

/// The host's own directories that podman and containerd use unless told otherwise: libpod's
/// tmpdir, containerd's `opt` plugin directory, the runc shim's default root for the test's
/// namespace, and conmon's terminal sockets (`conmon-term.*`, in `TMPDIR`, never removed). The
/// tests keep all of it in their sandbox; those that exist now.
fn host_state_dirs() -> Vec<PathBuf> {
    let shim_root = Path::new("/run/containerd/runc").join(format!("minibox-test-{}", std::process::id()));
    let conmon_sockets = std::fs::read_dir("/tmp")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("conmon-term."))
                .map(|e| e.path())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    [PathBuf::from("/run/libpod"), PathBuf::from("/opt/containerd"), shim_root]
        .into_iter()
        .filter(|dir| dir.exists())
        .chain(conmon_sockets)
        .collect()
}

/// Fail if podman or containerd made one of the host's own directories (`host_state_dirs`) that
/// did not exist `before`: the test's options no longer keep them in the sandbox. The shim's
/// root, ours alone, is removed.
fn no_new_host_state_dirs(before: &[PathBuf]) {
    let new: Vec<PathBuf> = host_state_dirs().into_iter().filter(|dir| !before.contains(dir)).collect();
    for dir in new.iter().filter(|dir| dir.starts_with("/run/containerd/runc")) {
        let _ = std::fs::remove_dir(dir);
    }
    if !new.is_empty() {
        support::fixture_failed(
            "keeping podman's and containerd's state in the test's sandbox",
            format!("made on the host: {new:?}"),
        );
    }
}

/// podman with a storage, run directory and cgroup parent of its own under `dir`.
struct Podman {
    dir: PathBuf,
    parent: String,
}

impl Podman {
    fn new(dir: &Path) -> Podman {
        tool("podman", "podman");
        Podman { dir: dir.to_path_buf(), parent: format!("minibox-test-podman-{}", std::process::id()) }
    }

    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            // libpod's own state (the `alive` lock, exit codes, the events log) would otherwise
            // go to the host's /run/libpod.
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .arg("--runtime")
            .arg(support::MINIBOX)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Out {
        let output = self.command().args(args).output().expect("running podman");
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Import the busybox root (with the probe) as `localhost/minibox-test:v1`.
    fn import(&self, rootfs: &Path) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let archive = self.dir.join("rootfs.tar");
        let tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .arg("-cf")
            .arg(&archive)
            .arg(".")
            .status()
            .expect("running tar");
        assert!(tar.success(), "tar of the busybox root failed");
        let out = self.run(&["import", "-q", archive.to_str().unwrap(), "localhost/minibox-test:v1"]);
        if out.code != 0 {
            support::fixture_failed("podman import of the busybox root", out.shown());
        }
    }

    /// `podman run` options this machine needs: no network set-up, limits that need no
    /// CAP_SYS_RESOURCE, and our cgroup parent. Everything else is podman's default, its seccomp
    /// profile included.
    fn run_options(&self) -> Vec<String> {
        ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("--cgroup-parent=/{}", self.parent)])
            .collect()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command().args(["rm", "--all", "--force", "--time", "0"]).output();
        for line in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().rev() {
            if let Some(point) =
                line.split_whitespace().nth(4).filter(|p| p.starts_with(self.dir.to_str().unwrap()))
            {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
        // conmon leaves a `conmon` cgroup under the parent, and may still be ending: retry for
        // a while (empty directories only, the deepest first).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Oci::cgroup_dirs(&self.parent).is_empty() && Instant::now() < deadline {
            for dir in Oci::cgroup_dirs(&self.parent) {
                let _ = std::fs::remove_dir(dir.join("conmon"));
                let _ = std::fs::remove_dir(&dir);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
#[serial]
fn podman_runs_a_container_through_minibox() {
    let before = host_state_dirs();
    let sandbox = Sandbox::new();
    let podman = Podman::new(&sandbox.dir.join("podman"));
    podman.import(&sandbox.busybox_rootfs("image-root"));
    let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
    args.extend(podman.run_options());
    args.extend(
        ["localhost/minibox-test:v1", "sh", "-c", "echo hello from podman; exit 7"].map(String::from),
    );
    let out = podman.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ensure(
        out.code == 7 && out.stdout.contains("hello from podman"),
        "podman run --rm --runtime minibox: the command's output, and its exit code 7 passed through",
        out.shown(),
        "podman calls create (with --pid-file, --log and --log-format json), start, state and delete: each must behave as runc's",
        ENGINES,
    );

    // A detached container: exec into it, then kill it; podman reads the end through conmon.
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), "long".into()];
    args.extend(podman.run_options());
    args.extend(["localhost/minibox-test:v1", "sleep", "60"].map(String::from));
    let out = podman.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ensure(out.code == 0, "podman run -d to succeed", out.shown(), "create and start, detached", ENGINES);
    let out = podman.run(&["exec", "long", "sh", "-c", "echo exec in podman; exit 4"]);
    ensure(
        out.code == 4 && out.stdout.contains("exec in podman"),
        "podman exec: the output and exit code 4",
        out.shown(),
        "podman calls `exec --detach --pid-file F --process FILE ID` through conmon",
        EXEC,
    );
    let out = podman.run(&["kill", "long"]);
    ensure(
        out.code == 0,
        "podman kill to succeed",
        out.shown(),
        "kill signals the container's process",
        ENGINES,
    );
    let out = podman.run(&["wait", "long"]);
    ensure(
        out.stdout.trim() == "137",
        "podman wait to report 137 (SIGKILL)",
        out.shown(),
        "the container's process ends by the signal",
        ENGINES,
    );
    let out = podman.run(&["rm", "long"]);
    ensure(out.code == 0, "podman rm to succeed", out.shown(), "delete removes a stopped container", ENGINES);
    drop(podman);
    no_new_host_state_dirs(&before);
}

#[test]
#[serial]
fn podman_run_it_gets_a_terminal_through_the_console_socket() {
    let before = host_state_dirs();
    let sandbox = Sandbox::new();
    let podman = Podman::new(&sandbox.dir.join("podman"));
    podman.import(&sandbox.busybox_rootfs("image-root"));
    tool("script", "bsdutils");
    // podman -it wants a terminal of its own: `script` gives it one (a pty), and passes the
    // exit code on (-e). The commands wait half a second before they exit: output that the
    // container writes just before its end can reach podman after podman saw the end (conmon
    // relays the terminal); about 1 run in 12 lost it without the wait.
    let in_a_terminal = |args: &[String]| -> Out {
        let mut words: Vec<String> = vec!["podman".into()];
        words.extend(podman.command().get_args().map(|a| a.to_string_lossy().into_owned()));
        words.extend(args.iter().cloned());
        // conmon makes the terminal's socket in TMPDIR (else /tmp) and leaves it there.
        let tmp = podman.dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("making podman's temporary directory");
        let output = Command::new("script")
            .args(["-qec", &words.join(" "), "/dev/null"])
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .output()
            .expect("running script");
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    };
    let mut args: Vec<String> = vec!["run".into(), "-it".into(), "--rm".into()];
    args.extend(podman.run_options());
    args.extend(["localhost/minibox-test:v1", "sh", "-c", "'tty; sleep 0.5; exit 3'"].map(String::from));
    let out = in_a_terminal(&args);
    ensure(
        out.code == 3 && out.stdout.contains("/dev/pts/"),
        "podman run -it: `tty` names a pseudo-terminal (/dev/pts/N), and the exit code 3 comes through",
        out.shown(),
        "with process.terminal, make a pty in the container, send its master over --console-socket \
         (SCM_RIGHTS), and make the slave the process's stdin, stdout, stderr and controlling terminal",
        TERMINAL,
    );
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), "long".into()];
    args.extend(podman.run_options());
    args.extend(["localhost/minibox-test:v1", "sleep", "60"].map(String::from));
    let out = podman.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ensure(out.code == 0, "podman run -d to succeed", out.shown(), "create and start, detached", ENGINES);
    let args = ["exec", "-it", "long", "sh", "-c", "'tty; sleep 0.5; exit 2'"].map(String::from);
    let out = in_a_terminal(&args);
    ensure(
        out.code == 2 && out.stdout.contains("/dev/pts/"),
        "podman exec -it: a pseudo-terminal, and the exit code 2",
        out.shown(),
        "exec with a terminal: the same pty and console socket, after joining the namespaces",
        TERMINAL,
    );
    drop(podman);
    no_new_host_state_dirs(&before);
}

/// A containerd of the test's own: config, root, state and socket in `dir`.
struct Containerd {
    dir: PathBuf,
    daemon: std::process::Child,
    namespace: String,
}

impl Containerd {
    /// A containerd of the sandbox's own with `localhost/minibox-test:v1` imported: the busybox
    /// root, imported into a podman storage of the test's own and saved as an OCI archive,
    /// which ctr imports. No registry, no network. The podman is returned to be dropped last.
    fn with_test_image(sandbox: &Sandbox) -> (Containerd, Podman) {
        let podman = Podman::new(&sandbox.dir.join("podman"));
        podman.import(&sandbox.busybox_rootfs("image-root"));
        let archive = sandbox.dir.join("image.tar");
        let saved = podman.run(&[
            "save",
            "-q",
            "--format",
            "oci-archive",
            "-o",
            archive.to_str().unwrap(),
            "localhost/minibox-test:v1",
        ]);
        if saved.code != 0 {
            support::fixture_failed("podman save of the test image", saved.shown());
        }
        let containerd = Containerd::start(&sandbox.dir.join("containerd"));
        let imported =
            containerd.ctr(&["images", "import", "--snapshotter", "native", archive.to_str().unwrap()]);
        if imported.code != 0 {
            support::fixture_failed("ctr images import", imported.shown());
        }
        (containerd, podman)
    }

    fn start(dir: &Path) -> Containerd {
        let containerd = tool("containerd", "containerd");
        tool("ctr", "containerd");
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("config.toml");
        // Everything in `dir`; the `opt` plugin (which would make /opt/containerd/{bin,lib}) and
        // the CRI plugin are off.
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.internal.v1.opt\"]\n\
                 [grpc]\n  address = \"{0}/containerd.sock\"\n[ttrpc]\n  address = \"{0}/containerd.sock.ttrpc\"\n",
                dir.display()
            ),
        )
        .unwrap();
        let daemon = Command::new(containerd)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("log")).unwrap())
            .stderr(std::fs::File::create(dir.join("log.err")).unwrap())
            .spawn()
            .expect("starting containerd");
        let containerd = Containerd {
            dir: dir.to_path_buf(),
            daemon,
            namespace: format!("minibox-test-{}", std::process::id()),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while containerd.ctr(&["version"]).code != 0 {
            if Instant::now() > deadline {
                support::fixture_failed(
                    "starting containerd",
                    std::fs::read_to_string(dir.join("log.err")).unwrap_or_default(),
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    fn ctr(&self, args: &[&str]) -> Out {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .arg("--namespace")
            .arg(&self.namespace);
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running ctr");
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let output = child.wait_with_output().unwrap();
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for task in ["t1", "t2"] {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", task]);
            let _ = self.ctr(&["task", "delete", "--force", task]);
            let _ = self.ctr(&["container", "rm", task]);
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        for line in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().rev() {
            if let Some(point) =
                line.split_whitespace().nth(4).filter(|p| p.starts_with(self.dir.to_str().unwrap()))
            {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
        for dir in Oci::cgroup_dirs(&self.namespace) {
            let _ = Command::new("find")
                .arg(&dir)
                .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
                .status();
        }
    }
}

#[test]
#[serial]
fn containerd_runs_a_container_through_minibox() {
    let before = host_state_dirs();
    let sandbox = Sandbox::new();
    let (containerd, podman) = Containerd::with_test_image(&sandbox);
    let image = "localhost/minibox-test:v1";
    // The shim's runtime root (it passes `--root RUNC_ROOT/NAMESPACE` to minibox): without it,
    // /run/containerd/runc/NAMESPACE on the host.
    let runc_root = containerd.dir.join("runc");
    let out = containerd.ctr(&[
        "run",
        "--rm",
        "--snapshotter",
        "native",
        "--runc-binary",
        support::MINIBOX,
        "--runc-root",
        runc_root.to_str().unwrap(),
        image,
        "t1",
        "sh",
        "-c",
        "echo hello from containerd; exit 5",
    ]);
    ensure(
        out.code == 5 && out.stdout.contains("hello from containerd"),
        "ctr run --runc-binary minibox: the output, and the exit code 5 passed through",
        out.shown(),
        "containerd's shim calls create (with --pid-file and --log), start, state, delete",
        ENGINES,
    );
    let out = containerd.ctr(&[
        "run",
        "-d",
        "--snapshotter",
        "native",
        "--runc-binary",
        support::MINIBOX,
        "--runc-root",
        runc_root.to_str().unwrap(),
        image,
        "t2",
        "sleep",
        "60",
    ]);
    ensure(out.code == 0, "ctr run -d to succeed", out.shown(), "create and start, detached", ENGINES);
    let out = containerd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t2",
        "sh",
        "-c",
        "echo exec in containerd; exit 6",
    ]);
    ensure(
        out.code == 6 && out.stdout.contains("exec in containerd"),
        "ctr task exec: the output, and exit code 6",
        out.shown(),
        "the shim calls exec --process FILE --detach --pid-file F",
        EXEC,
    );
    let out = containerd.ctr(&["task", "kill", "-s", "SIGKILL", "t2"]);
    ensure(
        out.code == 0,
        "ctr task kill to succeed",
        out.shown(),
        "kill signals the container's process",
        ENGINES,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = containerd.ctr(&["task", "ls"]);
        if tasks.stdout.contains("STOPPED") {
            break;
        }
        if Instant::now() > deadline {
            fail(
                "the task STOPPED after kill",
                tasks.shown(),
                "state must report the ended process as stopped",
                LIFECYCLE,
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = containerd.ctr(&["task", "delete", "t2"]);
    ensure(
        out.code == 0,
        "ctr task delete to succeed",
        out.shown(),
        "delete removes a stopped container",
        ENGINES,
    );
    drop(containerd);
    drop(podman);
    no_new_host_state_dirs(&before);
}

// ---- seccomp profiles from config.json ------------------------------------------------------------

/// Create and start a container that runs `script` (ending with `echo done`) under `profile`;
/// its output once `done` is there. The container is deleted.
fn run_with_profile(oci: &Oci, id: &str, script: &str, profile: Value) -> String {
    let bundle = oci.bundle(id, &["sh", "-c", script], |config| config["linux"]["seccomp"] = profile);
    let output = oci.create(&bundle, id);
    let started = oci.run(&["start", id]);
    ensure(started.code == 0, "start to succeed", started.shown(), "start releases the process", HOLDING);
    let done = wait_for_text(&output, "done");
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    let _ = oci.run(&["delete", "--force", id]);
    ensure(
        done,
        format!("the container's script to run to its end (`done`) under the profile {id}"),
        &text,
        "the profile's filter must let minibox's last steps (the fifo, execve) and the shell through",
        SECCOMP,
    );
    text
}

#[test]
#[serial]
fn a_seccomp_profile_denies_with_its_errno_and_checks_arguments() {
    let oci = Oci::new();
    // mkdir fails with EACCES (13), the profile's errno; personality is denied only when its
    // argument has the PER_LINUX32 bit (8): `linux64` (personality 0) passes, `linux32` does not.
    // A name this machine does not know is skipped; the 32-bit ABIs listed are accepted.
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat", "a_call_from_a_future_kernel"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 8, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    });
    let script = "mkdir /made 2>&1; echo mkdir=$?; linux64 true; echo linux64=$?; linux32 true; echo linux32=$?; \
                  grep '^Seccomp:' /proc/self/status; echo done";
    let out = run_with_profile(&oci, "s1", script, profile);
    ensure(
        out.contains("Permission denied") && out.contains("mkdir=1"),
        "mkdir to fail with the profile's errno 13 (\"Permission denied\"), mkdir=1",
        &out,
        "SCMP_ACT_ERRNO returns the rule's `errnoRet` (EPERM only when it has none)",
        SECCOMP,
    );
    ensure(
        out.contains("linux64=0") && out.contains("linux32=1"),
        "personality(0) allowed (linux64=0) and personality(8) denied (linux32=1)",
        &out,
        "a rule with `args` matches only when its conditions hold; SCMP_CMP_MASKED_EQ is (arg & value) == valueTwo",
        SECCOMP,
    );
    ensure(
        out.contains("Seccomp:\t2"),
        "`Seccomp: 2` (a filter) in the container's /proc/self/status",
        &out,
        "load the profile's filter in the container's process, before execve",
        SECCOMP,
    );
}

#[test]
#[serial]
fn a_call_denied_under_kill_process_kills_the_process_and_exec_gets_the_filter_too() {
    let oci = Oci::new();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]
    });
    let out = run_with_profile(&oci, "s2", "mkdir /made; echo mkdir=$?; echo done", profile.clone());
    ensure(
        out.contains("mkdir=159"),
        "mkdir killed by SIGSYS: the shell sees status 159 (128 + 31)",
        &out,
        "SCMP_ACT_KILL_PROCESS is the filter's answer SECCOMP_RET_KILL_PROCESS",
        SECCOMP,
    );
    let bundle = oci.bundle("s3", &["sleep", "30"], |config| config["linux"]["seccomp"] = profile);
    oci.create(&bundle, "s3");
    let started = oci.run(&["start", "s3"]);
    ensure(started.code == 0, "start to succeed", started.shown(), "start releases the process", HOLDING);
    let exec = oci.run(&["exec", "s3", "sh", "-c", "mkdir /made; echo mkdir=$?"]);
    let _ = oci.run(&["delete", "--force", "s3"]);
    ensure(
        exec.stdout.contains("mkdir=159"),
        "mkdir in an exec'd process killed by SIGSYS too (mkdir=159)",
        exec.shown(),
        "exec loads the container's profile into every further process, as runc does",
        SECCOMP,
    );
}

#[test]
#[serial]
fn a_profile_action_minibox_cannot_take_is_refused_by_name() {
    let oci = Oci::new();
    for (n, action) in ["SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE"].into_iter().enumerate() {
        let id = format!("s4-{n}");
        let bundle = oci.bundle(&id, &["true"], |config| {
            config["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": action}]
            });
        });
        let cgroup = oci.last_cgroup();
        let out = oci.run(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        ensure(
            out.code == 125 && out.stderr.contains(action) && out.stderr.trim().lines().count() == 1,
            format!("exit 125 and one line naming {action}"),
            out.shown(),
            "an action minibox cannot carry out is refused before anything is made, never dropped",
            SECCOMP,
        );
        ensure(
            !oci.root.join(&id).exists() && Oci::cgroup_dirs(&cgroup).is_empty(),
            "no state directory and no cgroup after a refused profile",
            format!(
                "state dir exists: {}; cgroups {:?}",
                oci.root.join(&id).exists(),
                Oci::cgroup_dirs(&cgroup)
            ),
            "compile the profile when config.json is checked",
            SECCOMP,
        );
    }
}

#[test]
#[serial]
fn podman_runs_with_its_default_seccomp_profile() {
    let before = host_state_dirs();
    let sandbox = Sandbox::new();
    let podman = Podman::new(&sandbox.dir.join("podman"));
    podman.import(&sandbox.busybox_rootfs("image-root"));
    // podman's profile allows personality for five values only: `linux32` (8) passes,
    // `linux32 -R` (0x40008) gets the profile's default answer, ENOSYS ("Function not
    // implemented"). Without the filter both would work.
    let script =
        "grep '^Seccomp:' /proc/self/status; linux32 true; echo linux32=$?; linux32 -R true 2>&1; exit 0";
    let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
    args.extend(podman.run_options());
    args.extend(["localhost/minibox-test:v1", "sh", "-c", script].map(String::from));
    let out = podman.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ensure(
        out.code == 0
            && out.stdout.contains("Seccomp:\t2")
            && out.stdout.contains("linux32=0")
            && out.stdout.contains("Function not implemented"),
        "podman run with its defaults: `Seccomp: 2`, personality(8) allowed, personality(0x40008) refused \
         with ENOSYS (the profile's default)",
        out.shown(),
        "podman sends its seccomp profile in `linux.seccomp`: compile it and load it before execve",
        SECCOMP,
    );
    drop(podman);
    no_new_host_state_dirs(&before);
}

#[test]
#[serial]
fn containerd_runs_with_its_default_seccomp_profile() {
    let before = host_state_dirs();
    let sandbox = Sandbox::new();
    let (containerd, podman) = Containerd::with_test_image(&sandbox);
    let runc_root = containerd.dir.join("runc");
    let out = containerd.ctr(&[
        "run",
        "--rm",
        "--seccomp",
        "--snapshotter",
        "native",
        "--runc-binary",
        support::MINIBOX,
        "--runc-root",
        runc_root.to_str().unwrap(),
        "localhost/minibox-test:v1",
        "t1",
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status",
    ]);
    ensure(
        out.code == 0 && out.stdout.contains("Seccomp:\t2"),
        "ctr run --seccomp: `Seccomp: 2` (a filter) in the container",
        out.shown(),
        "containerd's default profile travels in `linux.seccomp`: compile it and load it before execve",
        SECCOMP,
    );
    drop(containerd);
    drop(podman);
    no_new_host_state_dirs(&before);
}
