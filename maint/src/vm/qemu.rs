//! Starting QEMU and virtiofsd, reading the guest's console, and stopping both by their pid.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The marker `/init` prints first; the time to it is the boot time.
pub const INIT_MARKER: &str = "minibox-vm: init reached";

/// How QEMU runs the guest's instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization: the guest runs on the CPU, at near native speed.
    Kvm,
    /// QEMU's Tiny Code Generator: every guest instruction translated in software. Works
    /// anywhere; a boot takes seconds rather than a fraction of one, and the guest runs several
    /// times slower than the host.
    Tcg,
}

impl Accel {
    /// The name, honest about what it means for speed.
    pub fn label(self) -> &'static str {
        match self {
            Accel::Kvm => "KVM (hardware virtualization)",
            Accel::Tcg => "TCG (software emulation, no KVM)",
        }
    }

    fn args(self) -> [&'static str; 4] {
        match self {
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
            // `max`: every CPU feature TCG can emulate, so that host binaries built for a newer
            // CPU level than the x86-64 baseline still run.
            Accel::Tcg => ["-accel", "tcg", "-cpu", "max"],
        }
    }
}

/// One boot of the guest.
pub struct Boot<'a> {
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Appended to the kernel command line, for example `minibox.mode=boot`.
    pub append: &'a str,
    /// A virtiofsd socket to offer the guest as tag `host0`.
    pub virtiofs: Option<&'a Path>,
    /// The guest is killed when it has not powered off by then.
    pub timeout: Duration,
    /// Print the guest's console as it comes.
    pub echo: bool,
}

/// What a boot printed, and how long it took.
pub struct Console {
    /// The guest's console, line by line (carriage returns removed).
    pub lines: Vec<String>,
    /// From starting QEMU to `INIT_MARKER`, if the guest got that far.
    pub to_init: Option<Duration>,
    /// From starting QEMU to its exit (or to its kill, on a timeout).
    pub total: Duration,
    pub timed_out: bool,
    pub status: Option<ExitStatus>,
    /// What QEMU itself printed on stderr.
    pub qemu_errors: String,
}

/// The kernel's command line, before `Boot::append`: the console on the first serial port,
/// few messages, power off (QEMU exits, with -no-reboot) rather than hang on a panic, and no
/// cgroup v1 controller at all, so the one hierarchy is v2. `mitigations=off`: the guest runs
/// only our own tests, and under TCG the speculative-execution mitigations (page-table
/// isolation's TLB flush on every system call above all) made the graded tests 4 times slower.
const CMDLINE: &str = "console=ttyS0 quiet panic=-1 cgroup_no_v1=all mitigations=off";

pub fn boot(boot: &Boot) -> Result<Console> {
    let mut command = Command::new("qemu-system-x86_64");
    command
        .args(boot.accel.args())
        .args(["-m", &boot.memory_mib.to_string(), "-smp", &boot.cpus.to_string()])
        // No network, display, monitor or default devices: a serial console and what we add.
        .args(["-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none"])
        .args(["-serial", "stdio", "-no-reboot"])
        .arg("-kernel")
        .arg(boot.kernel)
        .arg("-initrd")
        .arg(boot.initramfs)
        .args(["-append", &format!("{CMDLINE} {}", boot.append)]);
    if let Some(socket) = boot.virtiofs {
        // vhost-user needs the guest's memory shared with virtiofsd.
        command
            .args(["-object", &format!("memory-backend-memfd,id=mem,size={}M,share=on", boot.memory_mib)])
            .args(["-numa", "node,memdev=mem", "-chardev"])
            .arg(format!("socket,id=vfs,path={}", socket.display()))
            .args(["-device", "vhost-user-fs-pci,chardev=vfs,tag=host0"]);
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());

    let started = Instant::now();
    let mut child =
        command.spawn().context("starting qemu-system-x86_64 (apt-get install qemu-system-x86)")?;
    let guard = Stop(&mut child);
    let (sender, receiver) = mpsc::channel::<String>();
    let stdout = guard.0.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = Vec::new();
        while stdout.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).replace('\r', "");
            if sender.send(text).is_err() {
                break;
            }
            line.clear();
        }
    });
    let mut stderr = guard.0.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut lines = Vec::new();
    let mut to_init = None;
    let mut timed_out = false;
    loop {
        let left = boot.timeout.saturating_sub(started.elapsed());
        match receiver.recv_timeout(left) {
            Ok(line) => {
                if to_init.is_none() && line.contains(INIT_MARKER) {
                    to_init = Some(started.elapsed());
                }
                if boot.echo {
                    println!("{line}");
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break, // QEMU closed its stdout: it exited
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    let status = if timed_out { None } else { Some(guard.0.wait().context("waiting for QEMU")?) };
    drop(guard); // on a timeout, kills QEMU (by its pid); in any case reaps it
    let total = started.elapsed();
    let _ = reader.join();
    // After a kill, what was left: the line in progress tells which test hung.
    for line in receiver.try_iter() {
        if boot.echo {
            println!("{line}");
        }
        lines.push(line);
    }
    let qemu_errors = errors.join().unwrap_or_default();
    Ok(Console { lines, to_init, total, timed_out, status, qemu_errors })
}

/// Kills and reaps a child when dropped (QEMU on a timeout or an error; virtiofsd at the end).
struct Stop<'a>(&'a mut Child);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A virtiofsd sharing a host directory over a vhost-user socket; stopped when dropped.
pub struct Virtiofsd {
    child: Child,
    socket: PathBuf,
}

impl Virtiofsd {
    /// Share `shared` on `socket`. `cache=always`: the guest keeps what it has looked up for
    /// as long as it likes, which is right for a tree that nothing changes while the tests run
    /// (they are built before the boot), and made a test binary under TCG a third faster.
    pub fn start(shared: &Path, socket: &Path, log: &Path) -> Result<Virtiofsd> {
        let program =
            fixtures::VIRTIOFSD_PATHS.iter().map(Path::new).find(|p| p.exists()).context(
                "virtiofsd is missing: apt-get install qemu-system-x86 (or the virtiofsd package)",
            )?;
        let mut command = Command::new(program);
        if program.starts_with("/usr/lib/qemu") {
            command
                .arg(format!("--socket-path={}", socket.display()))
                .arg("-o")
                .arg(format!("source={}", shared.display()))
                .args(["-o", "cache=always", "-o", "sandbox=chroot"]);
        } else {
            command.arg("--socket-path").arg(socket).arg("--shared-dir").arg(shared).args([
                "--cache",
                "always",
                "--sandbox",
                "chroot",
            ]);
        }
        let log_file = std::fs::File::create(log)?;
        command.stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
        let child = command.spawn().with_context(|| format!("starting {}", program.display()))?;
        let mut daemon = Virtiofsd { child, socket: socket.to_path_buf() };
        let started = Instant::now();
        while !socket.exists() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("virtiofsd exited ({status}) before it was ready:\n{}", log.trim());
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("virtiofsd did not create its socket {} within 10 s", socket.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }
}

impl Drop for Virtiofsd {
    fn drop(&mut self) {
        // It normally exits by itself when QEMU disconnects.
        for _ in 0..50 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(Stop(&mut self.child));
        let _ = std::fs::remove_file(&self.socket);
    }
}
