//! The results: the tables (printed, and written to results.md for the book), the targets, and
//! the machine they were measured on.

use super::measure::Summary;
use std::fmt::Write;
use std::time::Duration;

/// A runtime's launches in the start lab, warm and cold.
pub struct Row {
    /// A short name, in Markdown.
    pub label: String,
    /// What was run, in Markdown.
    pub command: String,
    /// The runtime's name, for the targets (`minibox`, `crun`, `unshare`, ...).
    pub key: &'static str,
    pub warm: Summary,
    pub cold: Summary,
}

impl Row {
    /// Peak memory: the larger of the warm and cold medians.
    pub fn rss_kib(&self) -> u64 {
        self.warm.rss_median_kib.max(self.cold.rss_median_kib)
    }
}

pub struct ImageRow {
    pub label: String,
    pub archive_bytes: u64,
    pub import: Duration,
    pub run: Summary,
}

pub struct Batch {
    pub total: Duration,
    /// Each container's own start-to-exit time, under the load of the others.
    pub each: Summary,
    /// What was left behind after the batch (empty: nothing).
    pub leftovers: Vec<String>,
}

pub struct VmBoots {
    pub accel: String,
    pub to_init: Summary,
    pub to_power_off: Summary,
    /// QEMU's peak memory (the largest process), median, in KiB.
    pub max_rss_kib: u64,
}

pub struct VmLab {
    pub boots: Vec<VmBoots>,
    /// minibox launches alternated with the boots.
    pub container: Summary,
    /// Why KVM was or was not measured.
    pub kvm: String,
    pub guest: String,
}

pub enum Vm {
    Measured(VmLab),
    Skipped(String),
}

pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub os: String,
    pub cgroups: String,
    pub date: String,
}

pub struct Results {
    pub machine: Machine,
    pub versions: Vec<String>,
    pub conditions: Vec<String>,
    pub rounds: usize,
    pub gap: Duration,
    pub start: Vec<Row>,
    pub images: Option<(ImageRow, ImageRow)>,
    pub concurrent: Option<(usize, Vec<Batch>)>,
    pub vm: Vm,
    /// (when, "1-min 5-min 15-min").
    pub loads: Vec<(String, String)>,
    /// What was left behind at the end (empty: nothing).
    pub leftovers: Vec<String>,
    pub quick: bool,
}

/// A time the way people read it: 2.14 ms, 19.3 ms, 412 ms, 3.85 s.
pub fn time(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    match ms {
        ms if ms < 10.0 => format!("{ms:.2} ms"),
        ms if ms < 100.0 => format!("{ms:.1} ms"),
        ms if ms < 1000.0 => format!("{ms:.0} ms"),
        ms => format!("{:.2} s", ms / 1e3),
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "-".into();
    }
    let r = a.as_secs_f64() / b.as_secs_f64();
    match r {
        r if r < 10.0 => format!("{r:.2}×"),
        r if r < 100.0 => format!("{r:.1}×"),
        r => format!("{r:.0}×"),
    }
}

fn plural(n: usize, word: &str) -> String {
    match (n, word.ends_with("ch")) {
        (1, _) => format!("1 {word}"),
        (n, true) => format!("{n} {word}es"),
        (n, false) => format!("{n} {word}s"),
    }
}

fn span(s: &Summary) -> String {
    format!("{} – {}", time(s.min), time(s.max))
}

fn size(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 100.0 { format!("{mb:.0} MB") } else { format!("{mb:.1} MB") }
}

/// Which of a row's summaries (warm or cold).
type Pick = fn(&Row) -> Summary;

/// One target: its name, the figures compared, whether it holds.
pub struct Target {
    pub name: String,
    pub detail: String,
    pub met: bool,
}

impl Results {
    fn row(&self, key: &str) -> Option<&Row> {
        self.start.iter().find(|r| r.key == key)
    }

    pub fn targets(&self) -> Vec<Target> {
        let (Some(minibox), Some(crun), Some(floor)) =
            (self.row("minibox"), self.row("crun"), self.row("unshare"))
        else {
            return Vec::new();
        };
        let mut targets = Vec::new();
        for (when, pick) in [("warm", (|r: &Row| r.warm) as fn(&Row) -> Summary), ("cold", |r: &Row| r.cold)]
        {
            let (m, c, f) = (pick(minibox).median, pick(crun).median, pick(floor).median);
            targets.push(Target {
                name: format!("minibox at most ½ of crun ({when})"),
                detail: format!("{} against {} ({} of crun)", time(m), time(c), ratio(m, c)),
                met: m.as_secs_f64() <= 0.5 * c.as_secs_f64(),
            });
            targets.push(Target {
                name: format!("minibox within 1.5× of the unshare floor ({when})"),
                detail: format!("{} against {} ({} of the floor)", time(m), time(f), ratio(m, f)),
                met: m.as_secs_f64() <= 1.5 * f.as_secs_f64(),
            });
        }
        // The default (bridged) run against `--network none`: at most 3 ms more, or 1.5×,
        // whichever allows more; and against crun with a veth of its own.
        if let (Some(bridged), Some(none)) = (self.row("minibox-bridge"), self.row("minibox-none")) {
            for (when, pick) in
                [("warm", (|r: &Row| r.warm) as fn(&Row) -> Summary), ("cold", |r: &Row| r.cold)]
            {
                let (b, n) = (pick(bridged).median, pick(none).median);
                let allowed = (n + Duration::from_millis(3)).max(n.mul_f64(1.5));
                let mut detail = format!(
                    "{} against {} ({}, +{})",
                    time(b),
                    time(n),
                    ratio(b, n),
                    time(b.saturating_sub(n))
                );
                if let Some(veth) = self.row("crun-veth") {
                    let v = pick(veth).median;
                    detail.push_str(&format!("; crun + veth {} ({} of it)", time(v), ratio(b, v)));
                }
                targets.push(Target {
                    name: format!("bridged minibox within +3 ms or 1.5× of `--network none` ({when})"),
                    detail,
                    met: b <= allowed,
                });
            }
        }
        let (m, c) = (minibox.rss_kib(), crun.rss_kib());
        targets.push(Target {
            name: "minibox's peak memory below crun's".into(),
            detail: format!("{} against {}", mib(m), mib(c)),
            met: m < c,
        });
        targets
    }

    /// The tables, as Markdown (printed as they are, and included in the book).
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let w = &mut md;
        let _ = writeln!(
            w,
            "<!-- Written by `cargo maint bench` (maint/src/bench.rs) on {}. Do not edit: run it again. -->\n",
            self.machine.date
        );
        if self.quick {
            let _ = writeln!(w, "**A `--quick` smoke run: too few launches to mean much.**\n");
        }
        let _ = writeln!(w, "### Start a container, run `/bin/true`, tear it down\n");
        let _ = writeln!(
            w,
            "{} rounds; each round launches every runtime once cold ({:.1} s of idle before each \
             launch), then once more warm (back to back), each time in a new random order. Times are for \
             the whole process, from starting the runtime to collecting its exit. Peak memory: the \
             largest single process of a launch (its maximum resident set, from `wait4`), median.\n",
            self.rounds,
            self.gap.as_secs_f64()
        );
        // Ratios against the unshare floor and against crun (without a network namespace), warm
        // against warm and cold against cold.
        let (floor, crun) = (self.row("unshare"), self.row("crun"));
        let against = |row: &Row, other: Option<&Row>, pick: Pick| {
            other.map_or_else(|| "-".to_string(), |o| ratio(pick(row).median, pick(o).median))
        };
        let _ = writeln!(
            w,
            "| runtime | warm: median | × floor | × crun | cold: median | × floor | × crun | peak memory |"
        );
        let _ = writeln!(w, "| --- | --: | --: | --: | --: | --: | --: | --: |");
        for row in &self.start {
            let (warm, cold): (Pick, Pick) = (|r| r.warm, |r| r.cold);
            let _ = writeln!(
                w,
                "| {} | **{}** | {} | {} | **{}** | {} | {} | {} |",
                row.label,
                time(row.warm.median),
                against(row, floor, warm),
                against(row, crun, warm),
                time(row.cold.median),
                against(row, floor, cold),
                against(row, crun, cold),
                mib(row.rss_kib())
            );
        }
        let _ = writeln!(w, "\nThe spread, from the fastest launch to the slowest:\n");
        let _ = writeln!(w, "| runtime | warm: min – max | cold: min – max |");
        let _ = writeln!(w, "| --- | --: | --: |");
        for row in &self.start {
            let _ = writeln!(w, "| {} | {} | {} |", row.label, span(&row.warm), span(&row.cold));
        }
        let _ = writeln!(w, "\nThe commands:\n");
        for row in &self.start {
            let _ = writeln!(w, "- {}: {}", row.label, row.command);
        }
        let targets = self.targets();
        if !targets.is_empty() {
            let _ = writeln!(w, "\n#### Targets\n");
            let _ = writeln!(w, "| target | measured | met |");
            let _ = writeln!(w, "| --- | --- | --- |");
            for t in &targets {
                let _ =
                    writeln!(w, "| {} | {} | {} |", t.name, t.detail, if t.met { "yes" } else { "**no**" });
            }
        }

        if let Some((small, large)) = &self.images {
            let _ = writeln!(w, "\n### A 5 MB image against a 500 MB image\n");
            let _ = writeln!(
                w,
                "`minibox run IMAGE -- /bin/true`, the two images alternating, warm, {} rounds. Both are the \
                 busybox root filesystem plus a file of random (incompressible) bytes.\n",
                small.run.count
            );
            let _ =
                writeln!(w, "| image | archive | import (once) | run: median | min – max | peak memory |");
            let _ = writeln!(w, "| --- | --: | --: | --: | --: | --: |");
            for image in [small, large] {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | **{}** | {} | {} |",
                    image.label,
                    size(image.archive_bytes),
                    time(image.import),
                    time(image.run.median),
                    span(&image.run),
                    mib(image.run.rss_median_kib)
                );
            }
            let _ = writeln!(
                w,
                "\nThe larger image starts in {} the time of the smaller one (medians); importing it took {} as long.",
                ratio(large.run.median, small.run.median),
                ratio(large.import, small.import)
            );
        }

        if let Some((count, batches)) = &self.concurrent {
            let _ = writeln!(w, "\n### {count} containers at once\n");
            let _ = writeln!(
                w,
                "{count} `minibox run IMAGE -- /bin/true` started together (the 5 MB image), then waited for. \
                 Clean: afterwards no cgroup under a `minibox` parent, no container directory in the \
                 state directory, no new mount, no process left.\n"
            );
            let _ = writeln!(
                w,
                "| batch | all {count} done in | containers per second | each: median | slowest | clean |"
            );
            let _ = writeln!(w, "| --: | --: | --: | --: | --: | --- |");
            for (i, batch) in batches.iter().enumerate() {
                let clean = if batch.leftovers.is_empty() {
                    "yes".to_string()
                } else {
                    format!("**no**: {}", batch.leftovers.join("; "))
                };
                let _ = writeln!(
                    w,
                    "| {} | **{}** | {:.0} | {} | {} | {} |",
                    i + 1,
                    time(batch.total),
                    *count as f64 / batch.total.as_secs_f64(),
                    time(batch.each.median),
                    time(batch.each.max),
                    clean
                );
            }
        }

        let _ = writeln!(w, "\n### A VM boot against a container start\n");
        match &self.vm {
            Vm::Skipped(why) => {
                let _ = writeln!(w, "Not measured in this run: {why}.");
            }
            Vm::Measured(vm) => {
                let accels: Vec<&str> = vm.boots.iter().map(|b| b.accel.as_str()).collect();
                let _ = writeln!(
                    w,
                    "{}, booted to its `/init` (which mounts /proc, /sys, /dev and cgroup2, then powers off), \
                     alternating with minibox container starts (`--rootfs`, as above). Times from starting \
                     QEMU. Accelerator: {}.\n",
                    vm.guest,
                    accels.join("; then ")
                );
                let _ = writeln!(w, "| what | median | min – max | × minibox | peak memory |");
                let _ = writeln!(w, "| --- | --: | --: | --: | --: |");
                for boots in &vm.boots {
                    let accel = boots.accel.split_whitespace().next().unwrap_or("?");
                    for (what, s) in [("to `/init`", &boots.to_init), ("to power-off", &boots.to_power_off)] {
                        let _ = writeln!(
                            w,
                            "| VM boot {what}, {accel} ({}) | **{}** | {} | {} | {} |",
                            plural(s.count, "boot"),
                            time(s.median),
                            span(s),
                            ratio(s.median, vm.container.median),
                            mib(boots.max_rss_kib)
                        );
                    }
                }
                let _ = writeln!(
                    w,
                    "| minibox container, start to exit ({}) | **{}** | {} | 1× | {} |",
                    plural(vm.container.count, "launch"),
                    time(vm.container.median),
                    span(&vm.container),
                    mib(vm.container.rss_median_kib)
                );
                let _ = writeln!(w, "\nKVM: {}", vm.kvm);
            }
        }

        let m = &self.machine;
        let _ = writeln!(w, "\n### The machine and the conditions\n");
        let _ = writeln!(w, "- Date: {}", m.date);
        let _ = writeln!(w, "- CPU: {}, {} cores as the kernel sees them", m.cpu, m.cores);
        let _ = writeln!(w, "- Kernel: Linux {} ({})", m.kernel, m.os);
        let _ = writeln!(w, "- cgroups: {}", m.cgroups);
        let loads: Vec<String> = self.loads.iter().map(|(when, load)| format!("{load} ({when})")).collect();
        let _ = writeln!(w, "- Load average (1, 5, 15 min): {}", loads.join("; "));
        let _ = writeln!(w, "- Versions: {}", self.versions.join("; "));
        for condition in &self.conditions {
            let _ = writeln!(w, "- {condition}");
        }
        if self.leftovers.is_empty() {
            let _ = writeln!(
                w,
                "- Left behind at the end: nothing (cgroups, container directories, mounts, processes, runtime state)."
            );
        } else {
            let _ = writeln!(w, "- **Left behind at the end**: {}", self.leftovers.join("; "));
        }
        md
    }
}

/// Today's date and time in UTC, from the system clock: `2025-06-01 14:03 UTC`.
pub fn now_utc() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

/// The first three fields of /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Machine {
    pub fn read(cgroups: String) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            os,
            cgroups,
            date: now_utc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_with_sensible_precision() {
        assert_eq!(time(Duration::from_micros(2140)), "2.14 ms");
        assert_eq!(time(Duration::from_micros(19_340)), "19.3 ms");
        assert_eq!(time(Duration::from_millis(412)), "412 ms");
        assert_eq!(time(Duration::from_millis(3850)), "3.85 s");
        assert_eq!(ratio(Duration::from_millis(8), Duration::from_millis(2)), "4.00×");
        assert_eq!(ratio(Duration::from_secs(4), Duration::from_millis(2)), "2000×");
    }

    #[test]
    fn the_date_is_a_civil_date() {
        let date = now_utc();
        assert!(date.len() == "2025-06-01 14:03 UTC".len() && date.ends_with(" UTC"), "{date}");
        assert!(date.starts_with("20"), "{date}");
    }
}
