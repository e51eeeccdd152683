//@ begin oci
//! A container's state, kept in `ROOT/ID/state.json` between minibox's runs (each of `create`,
//! `start`, `kill`, `delete` is a minibox process of its own), and the status the runtime spec
//! reports: `creating`, `created`, `running`, `stopped`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A container's status, as the runtime spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `create` is still setting it up.
    Creating,
    /// Set up; its process waits at the exec fifo for `start`.
    Created,
    /// Its process runs the user's program.
    Running,
    /// Its process has ended.
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// The lifecycle operations that depend on the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Start,
    Kill,
    Delete,
    Exec,
}

// ANCHOR: check_allowed
/// May `operation` run on a container in `status`? runc's rules, which engines rely on: `start`
/// only a created container; `kill` only one whose process exists (created or running); `delete`
/// a stopped one, or a created one (whose process it kills: containerd deletes a container that
/// never started that way), and with `--force` any. minibox's rule for `exec` (not in the spec)
/// is a running container only. The error says why, and what to do.
pub fn check_allowed(operation: Operation, status: Status, force: bool) -> Result<()> {
    //@ exercise oci check_allowed
    let allowed = match operation {
        Operation::Start => status == Status::Created,
        Operation::Kill => matches!(status, Status::Created | Status::Running),
        Operation::Delete => force || matches!(status, Status::Stopped | Status::Created),
        Operation::Exec => status == Status::Running,
    };
    if allowed {
        return Ok(());
    }
    let advice = match operation {
        Operation::Start => "only a created container starts, once",
        Operation::Kill => "its process has ended: delete it",
        Operation::Delete => "kill it first, or delete --force",
        Operation::Exec => "exec needs a running container: start it first",
    };
    bail!("cannot {} a container that is {} ({advice})", operation.verb(), status.as_str())
    //@ stub
    //| let _ = (operation, status, force);
    //| todo!("chapter {chapter}, `check_allowed`: allow each operation only in the statuses of the lifecycle table; `cargo xtask hint oci check_allowed` helps (book: Chapter {chapter}, \"The lifecycle\")")
    //@ end oci check_allowed
}
// ANCHOR_END: check_allowed

impl Operation {
    pub fn verb(self) -> &'static str {
        match self {
            Operation::Start => "start",
            Operation::Kill => "kill",
            Operation::Delete => "delete",
            Operation::Exec => "exec in",
        }
    }
}

/// What minibox records about a container.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// The process's start time (field 22 of /proc/PID/stat), so a recycled pid is not taken
    /// for the container's process.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub annotations: Value,
    /// The container's cgroup directories.
    pub cgroups: Vec<PathBuf>,
    /// Its namespaces as made or joined (`type` to `/proc/PID/ns/...`), for exec.
    pub created: String,
}

/// The directory where a container's state lives.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// The fifo at which the container's process waits for `start` (present from create to start).
pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

/// Check an id before it names a directory: letters, digits, `_`, `-`, `.`, no leading dot.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c));
    if !ok {
        bail!("container id `{id}`: use letters, digits, `_`, `-`, `.` and `+` (and no leading dot)");
    }
    Ok(())
}

impl Record {
    pub fn save(&self, root: &Path) -> Result<()> {
        let value = json!({
            "id": self.id,
            "pid": self.pid,
            "startTime": self.start_time,
            "bundle": self.bundle,
            "annotations": self.annotations,
            "cgroups": self.cgroups,
            "created": self.created,
        });
        let path = dir(root, &self.id).join("state.json");
        write_whole(&path, value.to_string().as_bytes())
    }

    pub fn load(root: &Path, id: &str) -> Result<Record> {
        check_id(id)?;
        let path = dir(root, id).join("state.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "container `{id}` does not exist (under {}; see `minibox --root DIR list`)",
                    root.display()
                )
            }
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        };
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
        Ok(Record {
            id: id.to_string(),
            pid: value["pid"].as_i64().unwrap_or(0) as i32,
            start_time: value["startTime"].as_u64().unwrap_or(0),
            bundle: PathBuf::from(value["bundle"].as_str().unwrap_or("")),
            annotations: value["annotations"].clone(),
            cgroups: value["cgroups"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p.as_str().map(PathBuf::from)).collect())
                .unwrap_or_default(),
            created: value["created"].as_str().unwrap_or("").to_string(),
        })
    }

    /// The container's status now: from its process (alive, and the same process) and its fifo.
    pub fn status(&self, root: &Path) -> Status {
        let alive = self.pid > 0 && start_time(self.pid) == Some(self.start_time);
        status_of(alive, fifo(root, &self.id).exists())
    }

    /// The state as the runtime spec's `state` operation reports it.
    pub fn to_json(&self, root: &Path) -> Value {
        let status = self.status(root);
        let mut state = json!({
            "ociVersion": "1.0.2",
            "id": self.id,
            "status": status.as_str(),
            "bundle": self.bundle,
            "created": self.created,
            "owner": "",
        });
        if status != Status::Stopped {
            state["pid"] = json!(self.pid);
        } else {
            state["pid"] = json!(0);
        }
        if self.annotations.is_object() {
            state["annotations"] = self.annotations.clone();
        }
        state
    }
}

/// The status of a container whose process is (or is not) `alive` and whose exec fifo does (or
/// does not) exist: the fifo goes when `start` releases the process.
pub fn status_of(alive: bool, fifo_exists: bool) -> Status {
    match (alive, fifo_exists) {
        (true, true) => Status::Created,
        (true, false) => Status::Running,
        (false, _) => Status::Stopped,
    }
}

/// Field 22 of /proc/PID/stat (the start time, in clock ticks since boot), or `None` when the
/// process is gone or a zombie (ended, not yet reaped: stopped).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after its end.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Write `path` aside and rename it into place, so that a reader never sees half of it (and a
/// writer killed midway leaves the old file).
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut partial = path.as_os_str().to_os_string();
    partial.push(".minibox-new");
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("writing {}", path.display()))
}

/// Now, as the runtime spec's `created` wants it (RFC 3339, UTC).
pub fn now_rfc3339() -> String {
    rfc3339(now_unix())
}

/// Now, in seconds since 1970.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seconds since 1970 as RFC 3339 in UTC (`1970-01-01T00:00:00Z`): the state's `created`, and
/// the build chapter's image times.
pub fn rfc3339(seconds: u64) -> String {
    let (days, rest) = (seconds / 86400, seconds % 86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("abc-1_2.x").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn this_process_has_a_start_time() {
        assert!(start_time(std::process::id() as i32).is_some());
    }
}
//@ end oci
