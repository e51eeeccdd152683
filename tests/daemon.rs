//! The daemon chapter's graded tests: the real docker CLI (Debian's, API 1.41) against a
//! `minibox daemon` of the test's own, on a socket in the test's sandbox. The exercises are
//! tested alone first; then the CLI's everyday commands, a daemon restart, two clients, a client
//! that vanishes, a user who is not root, a pull from a local registry. Each test removes its
//! containers and checks that nothing is left.

// The package's library, named `minibox` here: tests/support/build.rs writes the line.
include!(concat!(env!("OUT_DIR"), "/minibox.rs"));

mod support;

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/registry.rs"]
mod registry;

use daemon::Daemon;
use minibox::daemon::api::{ApiError, Route, route};
use minibox::daemon::containers::{Named, resolve};
use minibox::daemon::shim::LogFile;
use minibox::daemon::stream::{MAX_FRAME, encode_frame, read_frame};
use serial_test::serial;
use std::io::Read;
use std::time::{Duration, Instant};
use support::{Sandbox, ensure, fail};

const STREAM: &str = "daemon, \"The multiplexed stream\"";
const ROUTING: &str = "daemon, \"Routing a request\"";
const NAMING: &str = "daemon, \"Naming a container\"";
const LOGS: &str = "daemon, \"Logs with a cap\"";
const SHIM: &str = "daemon, \"The shim\"";
const API: &str = "daemon, \"The API, request by request\"";
const COST: &str = "daemon, \"What a daemon costs\"";

// ---- exercises, one at a time ----------------------------------------------------------------

#[test]
fn frames_carry_the_stream_and_a_big_endian_length() {
    let frame = encode_frame(1, b"hi\n");
    ensure(
        frame == [1, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n'],
        "[1, 0, 0, 0, 0, 0, 0, 3] then the bytes: stdout is stream 1, then three zero bytes, then the length",
        format!("{frame:?}"),
        "the header is eight bytes: the stream's number, three zeros, the payload's length as a big-endian u32",
        STREAM,
    );
    let payload = vec![b'x'; 300];
    let frame = encode_frame(2, &payload);
    ensure(
        frame[..8] == [2, 0, 0, 0, 0, 0, 1, 44] && frame.len() == 308,
        "a header [2, 0, 0, 0, 0, 0, 1, 44] (stderr, 300 bytes) and 308 bytes in all",
        format!("header {:?}, {} bytes", &frame[..8.min(frame.len())], frame.len()),
        "300 is 0x012C: big-endian puts 0x01 before 0x2C (to_be_bytes); little-endian puts it last",
        STREAM,
    );
    let empty = encode_frame(1, b"");
    ensure(
        empty == [1, 0, 0, 0, 0, 0, 0, 0],
        "an empty payload: the header alone",
        format!("{empty:?}"),
        "a frame is its header, then the payload",
        STREAM,
    );
}

/// A reader that hands out one byte per read, as a socket may.
struct Trickle(std::io::Cursor<Vec<u8>>);

impl Read for Trickle {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let one = buffer.len().min(1);
        self.0.read(&mut buffer[..one])
    }
}

#[test]
fn frames_are_read_back_whole_from_a_trickle() {
    let mut bytes = encode_frame(1, b"first line\n");
    bytes.extend(encode_frame(2, &[b'e'; 300]));
    // An empty frame (the shim's heartbeat to a quiet client), then one more.
    bytes.extend(encode_frame(1, b""));
    bytes.extend(encode_frame(2, b"after\n"));
    let mut reader = Trickle(std::io::Cursor::new(bytes));
    let first = read_frame(&mut reader);
    ensure(
        matches!(&first, Ok(Some((1, p))) if p == b"first line\n"),
        "Some((1, b\"first line\\n\"))",
        format!("{first:?}"),
        "a read may return fewer bytes than asked (here one at a time): read_exact fills the header and the payload",
        STREAM,
    );
    let second = read_frame(&mut reader);
    ensure(
        matches!(&second, Ok(Some((2, p))) if p.len() == 300),
        "Some((2, 300 bytes)): the length is big-endian",
        format!("{:?}", second.as_ref().map(|f| f.as_ref().map(|(s, p)| (*s, p.len())))),
        "the length is the header's last four bytes, big-endian (u32::from_be_bytes)",
        STREAM,
    );
    let empty = read_frame(&mut reader);
    let after = read_frame(&mut reader);
    ensure(
        matches!(&empty, Ok(Some((1, p))) if p.is_empty())
            && matches!(&after, Ok(Some((2, p))) if p == b"after\n"),
        "Some((1, b\"\")) for an empty frame, then Some((2, b\"after\\n\")): an empty frame is a frame",
        format!("{empty:?}, then {after:?}"),
        "a length of 0 is a frame with nothing in it (the daemon sends them as a heartbeat): only the end before a header is the end",
        STREAM,
    );
    let end = read_frame(&mut reader);
    ensure(
        matches!(end, Ok(None)),
        "Ok(None) at the end of the stream, before a header",
        format!("{end:?}"),
        "no byte of a next header is the clean end: check for it before reading the rest (read_exact fails there)",
        STREAM,
    );
    for (cut, what) in [(4, "inside the header"), (10, "inside the payload")] {
        let whole = encode_frame(1, b"0123456789");
        let mut reader = Trickle(std::io::Cursor::new(whole[..cut].to_vec()));
        let seen = read_frame(&mut reader);
        ensure(
            seen.is_err(),
            format!("an error for a stream cut {what}"),
            format!("{seen:?}"),
            "only the end before a header is clean: a frame cut short is an error (UnexpectedEof)",
            STREAM,
        );
    }
    let full = encode_frame(2, &vec![b'f'; MAX_FRAME]);
    let seen = read_frame(&mut std::io::Cursor::new(full));
    ensure(
        matches!(&seen, Ok(Some((2, p))) if p.len() == MAX_FRAME),
        format!("Some((2, {MAX_FRAME} bytes)): a frame of exactly MAX_FRAME bytes is read"),
        format!("{:?}", seen.map(|f| f.map(|(s, p)| (s, p.len())))),
        "refuse lengths ABOVE MAX_FRAME: a frame that fills it exactly is a frame",
        STREAM,
    );
    let mut huge = vec![1, 0, 0, 0];
    huge.extend(u32::MAX.to_be_bytes());
    let seen = read_frame(&mut std::io::Cursor::new(huge));
    ensure(
        seen.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::InvalidData),
        "an InvalidData error for a header that announces 4 GiB, before any read of the payload",
        format!("{:?}", seen.map(|f| f.map(|(s, p)| (s, p.len())))),
        "a corrupt length must not allocate gigabytes: refuse lengths above MAX_FRAME",
        STREAM,
    );
}

/// A reader interrupted by a signal once before each success, as a read(2) may be.
struct Interrupted {
    inner: std::io::Cursor<Vec<u8>>,
    next_fails: bool,
}

impl Read for Interrupted {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.next_fails = !self.next_fails;
        if self.next_fails {
            return Err(std::io::Error::from(std::io::ErrorKind::Interrupted));
        }
        self.inner.read(buffer)
    }
}

#[test]
fn a_read_interrupted_by_a_signal_is_tried_again() {
    let mut reader =
        Interrupted { inner: std::io::Cursor::new(encode_frame(2, b"again\n")), next_fails: false };
    let seen = read_frame(&mut reader);
    ensure(
        matches!(&seen, Ok(Some((2, p))) if p == b"again\n"),
        "Some((2, b\"again\\n\")): an Interrupted read is tried again",
        format!("{seen:?}"),
        "a read interrupted by a signal (ErrorKind::Interrupted) is no error: try it again (read_exact does so itself)",
        STREAM,
    );
    // Any other failure is one: the connection reset before a header is not a clean end.
    let mut reader = FailOnce { failed: false, kind: std::io::ErrorKind::ConnectionReset };
    let seen = read_frame(&mut reader);
    ensure(
        seen.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "Err(ConnectionReset) for a connection reset before the first byte of a header",
        format!("{seen:?}"),
        "only Interrupted is tried again: any other error of the first read is passed up, never taken for the end",
        STREAM,
    );
}

/// A reader that fails once with `kind`, then has nothing more.
struct FailOnce {
    failed: bool,
    kind: std::io::ErrorKind,
}

impl Read for FailOnce {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        if self.failed {
            return Ok(0);
        }
        self.failed = true;
        Err(std::io::Error::from(self.kind))
    }
}

#[test]
fn routes_follow_the_engine_api() {
    let cases: &[(&str, &str, Result<Route, u16>)] = &[
        ("HEAD", "/_ping", Ok(Route::Ping)),
        ("GET", "/v1.41/version", Ok(Route::Version)),
        ("GET", "/version", Ok(Route::Version)),
        ("GET", "/v1.24/containers/json", Ok(Route::ListContainers)),
        ("POST", "/v1.41/containers/create", Ok(Route::Create)),
        ("POST", "/v1.41/containers/abc123/start", Ok(Route::Start("abc123".into()))),
        ("POST", "/v1.41/containers/web/attach", Ok(Route::Attach("web".into()))),
        ("DELETE", "/v1.41/containers/web", Ok(Route::Remove("web".into()))),
        ("GET", "/v1.41/containers/web/logs", Ok(Route::Logs("web".into()))),
        ("POST", "/v1.41/exec/e1/start", Ok(Route::ExecStart("e1".into()))),
        ("GET", "/v1.41/info", Ok(Route::Info)),
        ("GET", "/v1.41/images/json", Ok(Route::ListImages)),
        ("POST", "/v1.41/images/create", Ok(Route::Pull)),
        ("GET", "/v1.41/containers/web/json", Ok(Route::Inspect("web".into()))),
        ("POST", "/v1.41/containers/web/stop", Ok(Route::Stop("web".into()))),
        ("POST", "/v1.41/containers/web/kill", Ok(Route::Kill("web".into()))),
        ("POST", "/v1.41/containers/web/wait", Ok(Route::Wait("web".into()))),
        ("POST", "/v1.41/containers/web/resize", Ok(Route::Resize("web".into()))),
        ("POST", "/v1.41/containers/web/exec", Ok(Route::ExecCreate("web".into()))),
        ("GET", "/v1.41/exec/e1/json", Ok(Route::ExecInspect("e1".into()))),
        ("POST", "/v1.41/exec/e1/resize", Ok(Route::ExecResize("e1".into()))),
        (
            "GET",
            "/v1.41/images/127.0.0.1:5000/library/busybox/json",
            Ok(Route::InspectImage("127.0.0.1:5000/library/busybox".into())),
        ),
        ("GET", "/v1.41/images/busybox/json", Ok(Route::InspectImage("busybox".into()))),
        ("GET", "/v1.41/containers/create", Err(404)),
        ("POST", "/v1.41/containers/web/json", Err(404)),
        ("GET", "/v1.41/nothing/here", Err(404)),
        ("GET", "/v1.42/version", Err(400)),
        ("GET", "/v1.100/version", Err(400)),
        ("GET", "/v2.0/version", Err(400)),
        ("GET", "/v1.9/version", Err(400)),
        ("GET", "/v1.23/version", Err(400)),
    ];
    for (method, path, expected) in cases {
        let seen = route(method, path);
        let right = match (expected, &seen) {
            (Ok(want), Ok(got)) => want == got,
            (Err(status), Err(ApiError { status: got, .. })) => status == got,
            _ => false,
        };
        let cause = match expected {
            Err(400) => {
                "a version outside MIN_VERSION..=VERSION is a 400; compare versions as numbers (1.9 is older than 1.24, though \"1.9\" > \"1.24\" as text)"
            }
            Err(_) => "an unknown path, or a known path with another method, is a 404",
            Ok(_) => {
                "strip an optional /vMAJOR.MINOR, then match the method and the segments; an image name may hold slashes"
            }
        };
        ensure(right, format!("{method} {path} -> {expected:?}"), format!("{seen:?}"), cause, ROUTING);
    }
    for (path, age) in [
        ("/v1.42/version", "too new"),
        ("/v2.0/version", "too new"),
        ("/v1.9/version", "too old"),
        ("/v1.23/version", "too old"),
    ] {
        let message = route("GET", path).err().map(|e| e.message).unwrap_or_default();
        ensure(
            message.contains(age) && message.contains(if age == "too new" { "1.41" } else { "1.24" }),
            format!("GET {path}: a 400 that says the client is {age}, naming the version minibox takes"),
            format!("{message:?}"),
            "compare (major, minor) as numbers: 1.9 is older than 1.24, though \"1.9\" > \"1.24\" as text; say what to do",
            ROUTING,
        );
    }
}

#[test]
fn containers_are_found_by_id_name_or_a_unique_start() {
    let named = |id: &str, name: &str| Named { id: id.repeat(64 / id.len()), name: name.into() };
    let known = vec![named("a1", "web"), named("a2", "db"), named("b7", "a1a")];
    let id_of = |query: &str| resolve(&known, query).map(|c| c.name.clone()).map_err(|e| e.status);
    for (query, expected, cause) in [
        (known[0].id.as_str(), Ok("web"), "a whole id is that container"),
        ("web", Ok("web"), "a name is that container"),
        ("/db", Ok("db"), "the API shows names with a leading `/`: clients may send it back"),
        ("b7", Ok("a1a"), "the start of exactly one id is that container"),
        ("a1a", Ok("a1a"), "a name wins over an id that starts the same way"),
        ("a", Err(400), "a start that fits several ids is refused (400), never the first one found"),
        ("c", Err(404), "nothing matches: 404, No such container"),
        ("", Err(404), "an empty query is no container, though every id starts with it"),
    ] {
        let seen = id_of(query);
        ensure(
            seen == expected.map(String::from),
            format!("{query:?} -> {expected:?}"),
            format!("{seen:?}"),
            cause,
            NAMING,
        );
    }
}

#[test]
fn the_log_keeps_its_cap_and_the_latest_output() {
    let sandbox = Sandbox::new();
    let path = sandbox.dir.join("log");
    let mut log = LogFile::open(&path, 100).expect("opening a log");
    let frames: Vec<Vec<u8>> =
        (0..9).map(|i| encode_frame(1, format!("line {i:02} of output\n").as_bytes())).collect();
    for frame in &frames {
        if let Err(error) = log.append(frame) {
            fail(
                "append succeeds",
                format!("{error:#}"),
                "appending writes the frame, rotating first when it would not fit",
                LOGS,
            );
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let previous = std::fs::metadata(LogFile::previous(&path)).map(|m| m.len()).unwrap_or(0);
        ensure(
            size <= 100 && previous <= 100,
            "log and log.1 each at most 100 bytes (the cap) after every append",
            format!("log {size} bytes, log.1 {previous} bytes"),
            "rotate BEFORE writing a frame that would take the file past the cap",
            LOGS,
        );
    }
    let current = std::fs::read(&path).unwrap_or_default();
    let previous = std::fs::read(LogFile::previous(&path)).unwrap_or_default();
    let frame_len = frames[0].len();
    ensure(
        current.ends_with(&frames[8]) && previous.len() == 3 * frame_len && current.len() == 3 * frame_len,
        format!("log.1 holds frames 3-5 and log frames 6-8 ({} bytes each)", 3 * frame_len),
        format!("log.1 {} bytes, log {} bytes", previous.len(), current.len()),
        "a full log becomes log.1 (rename, replacing the older one), and the new log starts empty: \
         reset the size you keep",
        LOGS,
    );
    ensure(
        previous.starts_with(&frames[3]) && previous.ends_with(&frames[5]),
        "log.1 holds the frames just before those of the log: no output lost or repeated between them",
        format!("{:?}", String::from_utf8_lossy(&previous)),
        "rename the full log aside; do not truncate it or copy part of it",
        LOGS,
    );
}

#[test]
fn a_frame_that_fits_exactly_stays_and_an_empty_log_is_never_rotated() {
    let sandbox = Sandbox::new();
    let path = sandbox.dir.join("log");
    let frame = encode_frame(1, b"twelve bytes");
    let mut log = LogFile::open(&path, 4 * frame.len() as u64).expect("opening a log");
    for _ in 0..4 {
        if let Err(error) = log.append(&frame) {
            fail("append succeeds", format!("{error:#}"), "appending writes the frame", LOGS);
        }
    }
    let previous = LogFile::previous(&path);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    ensure(
        !previous.exists() && size == 4 * frame.len() as u64,
        "four frames in a log whose cap is four frames: no rotation (size + frame <= cap fits)",
        format!("log.1 exists: {}, log {size} bytes", previous.exists()),
        "rotate only when the frame would take the log PAST the cap: a frame that fills it exactly fits",
        LOGS,
    );
    let other = sandbox.dir.join("other");
    std::fs::write(LogFile::previous(&other), "older").expect("writing an older log.1");
    let mut log = LogFile::open(&other, 100).expect("opening a log");
    if let Err(error) = log.append(&encode_frame(1, &[b'x'; 150])) {
        fail("append succeeds", format!("{error:#}"), "appending writes the frame", LOGS);
    }
    let kept = std::fs::read_to_string(LogFile::previous(&other)).unwrap_or_default();
    let size = std::fs::metadata(&other).map_or(0, |m| m.len());
    ensure(
        kept == "older" && size == 158,
        "a frame larger than the cap, into an empty log: written there, log.1 untouched",
        format!("log.1 {kept:?}, log {size} bytes"),
        "never rotate an empty log: it would replace the older output with nothing",
        LOGS,
    );
}

// ---- the docker CLI against minibox's daemon ------------------------------------------------

#[test]
#[serial]
fn docker_run_prints_and_passes_the_exit_code_on() {
    let daemon = Daemon::start();
    let ran = daemon.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    ran.expect_code(0, "docker run --rm busybox echo hi should succeed", API);
    ensure(
        ran.stdout == "hi\n",
        "stdout \"hi\\n\"",
        ran.shown(),
        "the attach stream carries the container's output to the client",
        STREAM,
    );
    let ran = daemon.docker(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    ensure(
        ran.code == 3 && ran.stdout == "out\n" && ran.stderr == "err\n",
        "exit code 3, stdout \"out\\n\", stderr \"err\\n\"",
        ran.shown(),
        "each stream in its own frames (stdout 1, stderr 2); the wait's StatusCode is the container's exit code",
        STREAM,
    );
    let listed = daemon.docker(&["ps", "-a", "-q"]);
    ensure(
        listed.stdout.trim().is_empty(),
        "no container left after --rm",
        listed.shown(),
        "--rm removes the container once it has ended",
        SHIM,
    );
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn a_detached_container_is_listed_logged_execed_stopped_and_removed() {
    let daemon = Daemon::start();
    let script = "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done";
    let ran = daemon.docker(&["run", "-d", "--name", "web", "busybox", "sh", "-c", script]);
    ran.expect_code(0, "docker run -d should print the id and return", API);
    let id = ran.stdout.trim().to_string();
    ensure(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "a 64-digit id on stdout",
        ran.shown(),
        "create answers {\"Id\": ...}",
        API,
    );
    let listed = daemon.docker(&["ps"]);
    ensure(
        listed.stdout.contains(&id[..12]) && listed.stdout.contains("web") && listed.stdout.contains("Up "),
        format!("`docker ps` lists {} as web, Up", &id[..12]),
        listed.shown(),
        "GET /containers/json lists the running containers with their names and status",
        API,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut logs = daemon.docker(&["logs", "web"]);
    while !logs.stdout.contains("started") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        logs = daemon.docker(&["logs", "web"]);
    }
    ensure(
        logs.stdout == "started\n",
        "docker logs web prints \"started\\n\"",
        logs.shown(),
        "the shim writes the output in frames to the log; logs replays them",
        LOGS,
    );
    let exec = daemon.docker(&["exec", "web", "sh", "-c", "echo in $(hostname); exit 4"]);
    ensure(
        exec.code == 4 && exec.stdout == format!("in {}\n", &id[..12]),
        format!("exit code 4 and \"in {}\" (the container's hostname)", &id[..12]),
        exec.shown(),
        "exec runs in the container's namespaces, and its exit code is recorded before the stream closes",
        API,
    );
    let input = daemon.docker_input(&["exec", "-i", "web", "cat"], "through exec\n");
    ensure(
        input.stdout == "through exec\n",
        "stdin reaches an exec'd cat",
        input.shown(),
        "exec -i: the client's bytes go to the process's stdin",
        API,
    );
    let stop = daemon.docker(&["stop", "-t", "5", "web"]);
    stop.expect_code(0, "docker stop should stop it", SHIM);
    let inspected = daemon.docker(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"]);
    ensure(
        inspected.stdout.trim() == "exited 0",
        "exited 0 (the trap ran on SIGTERM)",
        inspected.shown(),
        "stop sends SIGTERM first; the shim records the exit",
        SHIM,
    );
    let logs = daemon.docker(&["logs", "web"]);
    ensure(
        logs.stdout == "started\nbye\n",
        "the log keeps both lines after the end",
        logs.shown(),
        "the log outlives the process until the container is removed",
        LOGS,
    );
    daemon.docker(&["rm", "web"]).expect_code(0, "docker rm of an exited container should succeed", SHIM);
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn stdin_and_a_terminal_reach_the_container() {
    let daemon = Daemon::start();
    let ran =
        daemon.docker_input(&["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"], "piped in\n");
    ensure(
        ran.code == 0 && ran.stdout == "piped in\ndone\n",
        "\"piped in\\ndone\\n\": the input, then its end",
        ran.shown(),
        "-i: the client's bytes go to the shim and on to the container's stdin; the end of the client's input closes it",
        SHIM,
    );
    let ran = daemon.docker(&["run", "--rm", "-t", "busybox", "sh", "-c", "tty; exit 2"]);
    ensure(
        ran.code == 2 && ran.stdout.trim_end() == "/dev/pts/0",
        "exit code 2 and /dev/pts/0: a terminal of the container's own, its bytes unframed",
        ran.shown(),
        "-t: the shim gets the terminal's master over the console socket, and relays its bytes as they are",
        SHIM,
    );
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn containers_outlive_a_daemon_restart() {
    let mut daemon = Daemon::start();
    let ran =
        daemon.docker(&["run", "-d", "--name", "long", "busybox", "sh", "-c", "echo before; sleep 300"]);
    ran.expect_code(0, "docker run -d should start it", SHIM);
    let pid_of = |daemon: &Daemon| {
        daemon.docker(&["inspect", "-f", "{{.State.Pid}}", "long"]).stdout.trim().to_string()
    };
    let pid = pid_of(&daemon);
    daemon.restart();
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    ensure(
        alive,
        format!("the container's process {pid} alive after the daemon's restart"),
        "it is gone",
        "the container is the shim's, not the daemon's: the shim runs in a session of its own",
        SHIM,
    );
    let listed = daemon.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    ensure(
        listed.stdout.starts_with("long Up"),
        "the restarted daemon lists `long`, Up",
        listed.shown(),
        "the daemon keeps nothing in memory: it reads the containers' directories",
        SHIM,
    );
    ensure(
        pid_of(&daemon) == pid,
        format!("the same process, {pid}"),
        pid_of(&daemon),
        "the state comes from the runtime's state directory",
        SHIM,
    );
    let exec = daemon.docker(&["exec", "long", "echo", "still here"]);
    ensure(
        exec.stdout == "still here\n",
        "exec works after the restart",
        exec.shown(),
        "exec goes through the runtime's state, which the restart did not touch",
        SHIM,
    );
    let logs = daemon.docker(&["logs", "long"]);
    ensure(
        logs.stdout == "before\n",
        "the log written before the restart",
        logs.shown(),
        "the shim, not the daemon, writes the log",
        LOGS,
    );
    daemon.docker(&["rm", "-f", "long"]).expect_code(0, "docker rm -f should remove it", SHIM);
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn two_clients_at_once_each_get_their_own_stream() {
    let daemon = Daemon::start();
    let (a, a_out, _) = daemon.docker_spawn(&["run", "--rm", "busybox", "sh", "-c", "sleep 0.5; echo first"]);
    let (b, b_out, _) =
        daemon.docker_spawn(&["run", "--rm", "busybox", "sh", "-c", "echo second; sleep 0.5; exit 6"]);
    let a_code = daemon::wait_bounded(a, Duration::from_secs(60), "docker run (first)");
    let b_code = daemon::wait_bounded(b, Duration::from_secs(60), "docker run (second)");
    let (a_seen, b_seen) = (
        std::fs::read_to_string(&a_out).unwrap_or_default(),
        std::fs::read_to_string(&b_out).unwrap_or_default(),
    );
    ensure(
        a_code == 0 && a_seen == "first\n" && b_code == 6 && b_seen == "second\n",
        "first: exit 0, \"first\"; second: exit 6, \"second\"",
        format!("first: exit {a_code}, {a_seen:?}; second: exit {b_code}, {b_seen:?}"),
        "every connection is served on its own: nothing blocks the daemon's one thread (blocking work goes to spawn_blocking)",
        API,
    );
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn a_client_that_vanishes_mid_stream_leaves_nothing_behind() {
    let daemon = Daemon::start();
    let ran = daemon.docker(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.05; done",
    ]);
    ran.expect_code(0, "docker run -d should start it", SHIM);
    // The connections of `run -d` end with their clients; a socket count steady for 1.5 s (the
    // heartbeat's period and more) is the baseline.
    let mut before = daemon.open_sockets();
    let mut steady_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while steady_since.elapsed() < Duration::from_millis(1500) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = daemon.open_sockets();
        if now != before {
            (before, steady_since) = (now, Instant::now());
        }
    }
    for args in [&["logs", "-f", "chatty"][..], &["attach", "chatty"][..]] {
        let (mut client, out, _) = daemon.docker_spawn(args);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&out).map_or(0, |m| m.len()) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = client.kill();
        let _ = client.wait();
        daemon::forget_output(&out);
    }
    // The container writes every 50 ms: the daemon's next write to a vanished client fails.
    let deadline = Instant::now() + Duration::from_secs(5);
    while daemon.open_sockets() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    ensure(
        daemon.open_sockets() <= before,
        format!("the daemon back to {before} open sockets once the clients are gone"),
        format!("{} open", daemon.open_sockets()),
        "a stream whose client is gone must end: a failed write to the client ends the copy, and both connections close",
        SHIM,
    );
    daemon.docker(&["rm", "-f", "chatty"]).expect_code(0, "docker rm -f should remove it", SHIM);
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn what_minibox_does_not_do_is_refused_in_one_line_and_leaves_nothing() {
    let daemon = Daemon::start();
    let ran = daemon.docker(&["run", "--rm", "-v", "/:/host", "busybox", "true"]);
    ensure(
        ran.code == 125 && ran.stderr.contains("HostConfig.Binds") && ran.stderr.trim().lines().count() <= 2,
        "exit code 125 and a message naming HostConfig.Binds",
        ran.shown(),
        "a field minibox does not honour is refused by name, never ignored",
        API,
    );
    for (args, field) in [
        (&["--network", "bridge"][..], "HostConfig.NetworkMode"),
        (&["--ulimit", "nofile=10:10"][..], "HostConfig.Ulimits"),
        (&["--security-opt", "apparmor=unconfined"][..], "HostConfig.SecurityOpt"),
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "true"]);
        let ran = daemon.docker(&all);
        ensure(
            ran.code == 125 && ran.stderr.contains(field),
            format!("docker run {}: exit code 125 and a message naming {field}", args.join(" ")),
            ran.shown(),
            "a field minibox does not honour is refused by name, never ignored",
            API,
        );
    }
    let ran = daemon.docker(&["run", "--rm", "busybox", "no-such-program"]);
    ensure(
        ran.code != 0 && ran.stderr.contains("no-such-program"),
        "a failure that names no-such-program",
        ran.shown(),
        "the runtime's create fails; the shim reports why and the daemon removes what it made",
        API,
    );
    daemon.docker(&["run", "-d", "--name", "busy", "busybox", "sleep", "300"]).expect_code(0, "run -d", API);
    let ran = daemon.docker(&["rm", "busy"]);
    ensure(
        ran.code != 0 && ran.stderr.contains("running"),
        "docker rm of a running container refused",
        ran.shown(),
        "removing a running container needs force: 409",
        API,
    );
    let ran = daemon.docker(&["run", "-d", "--name", "busy", "busybox", "true"]);
    ensure(
        ran.code != 0 && ran.stderr.contains("already in use"),
        "a second container named busy refused",
        ran.shown(),
        "names are unique: 409 Conflict",
        NAMING,
    );
    let ran = daemon.docker_as(&["version"], None, None, &[("DOCKER_API_VERSION", "1.42")]);
    ensure(
        ran.stderr.contains("1.42") && ran.stderr.contains("1.41"),
        "a client fixed at API 1.42 told that 1.41 is the newest",
        ran.shown(),
        "the route checks the version",
        ROUTING,
    );
    daemon.docker(&["rm", "-f", "busy"]).expect_code(0, "docker rm -f", API);
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn the_socket_is_for_root_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let daemon = Daemon::start();
    let root = daemon.docker(&["version", "--format", "{{.Server.Platform.Name}}"]);
    ensure(
        root.code == 0 && root.stdout.trim() == "minibox",
        "docker version as root: the server is minibox",
        root.shown(),
        "the daemon answers /_ping and /version (route them)",
        API,
    );
    let meta = std::fs::metadata(&daemon.socket).expect("the socket");
    ensure(
        meta.mode() & 0o777 == 0o600 && meta.uid() == 0,
        "the socket owned by root, mode 0600",
        format!("uid {}, mode {:o}", meta.uid(), meta.mode() & 0o777),
        "whoever can write to the socket can run any container, as root: bind it with a umask that leaves root alone",
        COST,
    );
    // The way to the socket open to all, so only the socket's own mode can refuse.
    std::fs::set_permissions(&daemon.sandbox.dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let user = support::rootless::TestUser::create(support::rootless::Subordinate::None);
    let ran = daemon.docker_as(&["version"], None, Some(&user.name), &[("DOCKER_CONFIG", "/nonexistent")]);
    ensure(
        ran.code != 0 && ran.stderr.contains("permission denied"),
        "docker version as an ordinary user: permission denied",
        ran.shown(),
        "the socket is a root credential: mode 0600",
        COST,
    );
    drop(user);
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn an_image_is_pulled_from_a_local_registry_and_run() {
    let daemon = Daemon::start();
    let registry = registry::Registry::start();
    let root = daemon.sandbox.busybox_rootfs("pushed-rootfs");
    let layout = registry::Layout::new(&daemon.sandbox.dir.join("pushed"));
    let built = layout.image(
        "linux",
        registry::this_arch(),
        &[registry::layer_of(&root, &[("marker", "from the registry\n")])],
    );
    layout.tag(&built.manifest, "v1");
    registry.push_layout(&layout.dir, "v1", "test/app");
    let name = format!("{}/test/app:v1", registry.host);
    let pulled = daemon.docker(&["pull", &name]);
    pulled.expect_code(0, "docker pull from a registry on loopback should succeed", API);
    let images = daemon.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    ensure(
        images.stdout.lines().any(|l| l == name),
        format!("docker images lists {name}"),
        images.shown(),
        "GET /images/json lists the store's images",
        API,
    );
    let ran = daemon.docker(&["run", "--rm", &name, "cat", "/marker"]);
    ensure(
        ran.code == 0 && ran.stdout == "from the registry\n",
        "the pulled image runs",
        ran.shown(),
        "the container's overlay is the pulled image's layers",
        API,
    );
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn the_log_stays_under_its_cap_through_the_daemon() {
    let daemon = Daemon::start_with(&["--log-max-size", "64k"]);
    let script = "i=0; while [ $i -lt 4000 ]; do echo line $i of a long and steady output; i=$((i+1)); done";
    daemon.docker(&["run", "--name", "loud", "busybox", "sh", "-c", script]).expect_code(
        0,
        "a loud container runs",
        LOGS,
    );
    let dir = daemon.container_dirs().into_iter().next().expect("the container's directory");
    let sizes: Vec<u64> =
        ["log", "log.1"].iter().map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len())).collect();
    ensure(
        sizes.iter().all(|s| *s <= 64 * 1024) && sizes[1] > 0,
        "log and log.1 each at most 64 KiB (the cap), log.1 not empty",
        format!("log {} bytes, log.1 {} bytes", sizes[0], sizes[1]),
        "the shim rotates its log at the cap",
        LOGS,
    );
    let logs = daemon.docker(&["logs", "--tail", "1", "loud"]);
    ensure(
        logs.stdout == "line 3999 of a long and steady output\n",
        "the last line survives the rotations",
        logs.shown(),
        "rotation keeps the newest output",
        LOGS,
    );
    daemon.docker(&["rm", "loud"]).expect_code(0, "docker rm", LOGS);
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn minibox_itself_is_a_client_of_the_daemon() {
    let daemon = Daemon::start();
    let ran =
        daemon.minibox_client(&["run", "busybox", "sh", "-c", "echo via the daemon; echo oops >&2; exit 4"]);
    ensure(
        ran.code == 4 && ran.stdout == "via the daemon\n" && ran.stderr == "oops\n",
        "exit code 4, stdout \"via the daemon\\n\", stderr \"oops\\n\"",
        ran.shown(),
        "with --host, `minibox run` makes docker run's requests (create, attach, wait, start) and reads the frames",
        STREAM,
    );
    let images = daemon.minibox_client(&["images"]);
    ensure(
        images.code == 0 && images.stdout.lines().any(|l| l.starts_with("busybox ")),
        "`minibox --host ... images` lists busybox, from the daemon's store",
        images.shown(),
        "with --host, `images` asks GET /images/json",
        API,
    );
    let ran = daemon.minibox_client(&["run", "--rootfs", "/", "--", "true"]);
    ensure(
        ran.code == 125 && ran.stderr.lines().count() == 1 && ran.stderr.contains("without --host"),
        "exit code 125 and one line saying to run without --host",
        ran.shown(),
        "what the daemon cannot do is refused before any request",
        API,
    );
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn the_options_docker_run_sends_reach_the_container() {
    let daemon = Daemon::start();
    let script = "echo $GREETING; pwd; hostname; id -u; grep NoNewPrivs /proc/self/status; touch /written && echo writable";
    let ran = daemon.docker(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hello",
        "-w",
        "/tmp",
        "--hostname",
        "box",
        "-u",
        "1000:1000",
        "--security-opt",
        "no-new-privileges",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let expected = "hello\n/tmp\nbox\n1000\nNoNewPrivs:\t1\n";
    ensure(
        ran.stdout == expected && ran.stderr.contains("Read-only file system"),
        format!("stdout {expected:?} and a refused write (read-only root)"),
        ran.shown(),
        "Env, WorkingDir, Hostname, User, SecurityOpt no-new-privileges and ReadonlyRootfs go into the bundle's config.json",
        API,
    );
    daemon.check_nothing_left(SHIM);
}

#[test]
#[serial]
fn docker_run_gets_a_seccomp_profile_and_the_capabilities_asked_for() {
    let daemon = Daemon::start();
    // A new user namespace needs no capability: only the seccomp filter stops `unshare -U`.
    let script = "grep -E '^(Seccomp|CapEff):' /proc/self/status; unshare -U true 2>&1; echo unshare=$?";
    let run = |options: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(options);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        daemon.docker(&args)
    };
    let field = |out: &str, name: &str| {
        out.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).unwrap_or_default()
    };
    let cap_eff = |out: &str| u64::from_str_radix(&field(out, "CapEff:"), 16).unwrap_or(u64::MAX);
    let docker_default = minibox::security::capabilities::DOCKER_DEFAULT;
    let ran = run(&[]);
    ensure(
        field(&ran.stdout, "Seccomp:") == "2"
            && cap_eff(&ran.stdout) == docker_default
            && ran.stdout.contains("unshare=1"),
        format!(
            "by default: a seccomp filter (Seccomp: 2), Docker's capabilities ({docker_default:016x}), unshare refused"
        ),
        ran.shown(),
        "the daemon writes Docker's capabilities and minibox run's filter (oci::seccomp::default_profile) into config.json",
        API,
    );
    let ran = run(&["--security-opt", "seccomp=unconfined"]);
    ensure(
        field(&ran.stdout, "Seccomp:") == "0" && ran.stdout.contains("unshare=0"),
        "with --security-opt seccomp=unconfined: no filter (Seccomp: 0), and unshare -U works",
        ran.shown(),
        "seccomp=unconfined leaves `linux.seccomp` out of config.json",
        API,
    );
    let sys_admin = 1u64 << 21;
    let net_raw = 1u64 << 13;
    let ran = run(&["--cap-add", "SYS_ADMIN", "--cap-drop", "NET_RAW"]);
    ensure(
        cap_eff(&ran.stdout) == (docker_default | sys_admin) & !net_raw && ran.stdout.contains("unshare=0"),
        "--cap-add SYS_ADMIN --cap-drop NET_RAW: CAP_SYS_ADMIN in CapEff, CAP_NET_RAW out, and the filter lets \
         a container with CAP_SYS_ADMIN unshare (as Docker's profile does)",
        ran.shown(),
        "CapAdd and CapDrop change the capability sets of config.json, and the default profile follows them",
        API,
    );
    let own = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ran = run(&["--privileged"]);
    ensure(
        field(&ran.stdout, "Seccomp:") == "0" && field(&ran.stdout, "CapEff:") == field(&own, "CapBnd:"),
        format!(
            "--privileged: no filter, and every capability the host has (CapEff {})",
            field(&own, "CapBnd:")
        ),
        ran.shown(),
        "Privileged gives every capability the daemon holds, no seccomp profile, nothing masked",
        API,
    );
    // The docker CLI reads the file and sends its content.
    let profile = daemon.sandbox.dir.join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let option = format!("seccomp={}", profile.display());
    let ran = daemon.docker(&["run", "--rm", "--security-opt", &option, "busybox", "mkdir", "/made"]);
    ensure(
        ran.code != 0 && ran.stderr.contains("Permission denied"),
        "--security-opt seccomp=FILE: mkdir fails with the profile's errno 13 (\"Permission denied\")",
        ran.shown(),
        "the CLI sends the profile's content in SecurityOpt (`seccomp=` then the JSON): it becomes `linux.seccomp`",
        API,
    );
    daemon.check_nothing_left(SHIM);
}
