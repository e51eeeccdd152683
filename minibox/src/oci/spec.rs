//@ begin oci
//! The bundle's `config.json`, as far as minibox honours it. The runtime spec has far more
//! fields than minibox implements; a field minibox does not implement is refused, by its JSON
//! path, before anything is created: a container that silently lacks its seccomp filter or its
//! hooks is worse than no container.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The fields minibox honours, as JSON paths. `[]` stands for every element of an array, and a
/// path ending in `.*` takes any key under it (free maps such as annotations and sysctls).
pub const HONOURED: &[&str] = &[
    "ociVersion",
    "root.path",
    "root.readonly",
    "process.terminal",
    "process.consoleSize.height",
    "process.consoleSize.width",
    "process.args",
    "process.env",
    "process.cwd",
    "process.user.uid",
    "process.user.gid",
    "process.user.umask",
    "process.user.additionalGids",
    "process.capabilities.bounding",
    "process.capabilities.effective",
    "process.capabilities.inheritable",
    "process.capabilities.permitted",
    "process.capabilities.ambient",
    "process.rlimits[].type",
    "process.rlimits[].soft",
    "process.rlimits[].hard",
    "process.noNewPrivileges",
    "process.oomScoreAdj",
    "hostname",
    "mounts[].destination",
    "mounts[].type",
    "mounts[].source",
    "mounts[].options",
    "annotations.*",
    "linux.namespaces[].type",
    "linux.namespaces[].path",
    "linux.cgroupsPath",
    "linux.resources.memory.limit",
    "linux.resources.memory.swap",
    "linux.resources.pids.limit",
    "linux.resources.cpu.quota",
    "linux.resources.cpu.period",
    "linux.resources.cpu.shares",
    "linux.resources.devices[].allow",
    "linux.resources.devices[].type",
    "linux.resources.devices[].major",
    "linux.resources.devices[].minor",
    "linux.resources.devices[].access",
    "linux.maskedPaths",
    "linux.readonlyPaths",
    "linux.devices[].path",
    "linux.devices[].type",
    "linux.devices[].major",
    "linux.devices[].minor",
    "linux.devices[].fileMode",
    "linux.devices[].uid",
    "linux.devices[].gid",
    "linux.sysctl.*",
    "linux.rootfsPropagation",
    "linux.seccomp.defaultAction",
    "linux.seccomp.defaultErrnoRet",
    "linux.seccomp.architectures",
    "linux.seccomp.flags",
    "linux.seccomp.syscalls[].names",
    "linux.seccomp.syscalls[].action",
    "linux.seccomp.syscalls[].errnoRet",
    "linux.seccomp.syscalls[].args[].index",
    "linux.seccomp.syscalls[].args[].value",
    "linux.seccomp.syscalls[].args[].valueTwo",
    "linux.seccomp.syscalls[].args[].op",
];

/// A value that asks for nothing: `null`, `false`, `""`, `[]` or `{}` (a number, even `0`, is a
/// value). A field present with such a value is not a request minibox would be ignoring.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

// ANCHOR: refuse_unhonoured
/// Walk `value` (found at `path`, "" for the document) and fail on the first field that asks
/// for something not in `honoured`, naming it by its JSON path (`linux.intelRdt`,
/// `mounts[].uidMappings`): the outermost field that no honoured path goes through. Empty
/// values ask for nothing and pass. The error is one line with the path in backticks
/// (`` `linux.intelRdt` is not supported by minibox ``); the caller names the file, `create`
/// prints it on stderr and exits with 125.
pub fn refuse_unhonoured(value: &Value, path: &str, honoured: &[&str]) -> Result<()> {
    //@ exercise oci refuse_unhonoured
    if is_empty(value) || honoured.contains(&path) {
        return Ok(());
    }
    // A field is known when some honoured path goes through it: refuse the first that is not,
    // at its own path (`linux.intelRdt`, not somewhere inside it).
    let leads_somewhere = path.is_empty()
        || honoured.iter().any(|h| h.strip_prefix(path).is_some_and(|rest| rest.starts_with(['.', '['])));
    match value {
        _ if !leads_somewhere => {
            bail!("`{path}` is not supported by minibox (remove it, or use runc)")
        }
        Value::Object(map) => {
            if honoured.contains(&format!("{path}.*").as_str()) {
                return Ok(());
            }
            for (key, inner) in map {
                let inner_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                refuse_unhonoured(inner, &inner_path, honoured)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let inner_path = format!("{path}[]");
            items.iter().try_for_each(|item| refuse_unhonoured(item, &inner_path, honoured))
        }
        _ => bail!("`{path}` should be an object or a list, not {value}"),
    }
    //@ stub
    //| let _ = (value, path, honoured);
    //| todo!("chapter {chapter}, `refuse_unhonoured`: fail on the first field of `value` that is not honoured, naming it by its JSON path; `cargo xtask hint oci refuse_unhonoured` helps (book: Chapter {chapter}, \"Refusing what minibox does not do\")")
    //@ end oci refuse_unhonoured
}
// ANCHOR_END: refuse_unhonoured

/// The honoured part of `config.json`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    pub oci_version: String,
    pub root: Root,
    pub process: Process,
    pub hostname: String,
    pub mounts: Vec<Mount>,
    pub annotations: BTreeMap<String, String>,
    pub linux: Linux,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Root {
    pub path: String,
    pub readonly: bool,
}

/// `process`, also the whole of `exec --process FILE`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Process {
    pub terminal: bool,
    pub console_size: Option<ConsoleSize>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub capabilities: Option<Capabilities>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy)]
#[serde(default)]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Capabilities {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub inheritable: Vec<String>,
    pub permitted: Vec<String>,
    pub ambient: Vec<String>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Mount {
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Linux {
    pub namespaces: Vec<Namespace>,
    pub cgroups_path: String,
    pub resources: Resources,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub devices: Vec<Device>,
    pub sysctl: BTreeMap<String, String>,
    pub rootfs_propagation: String,
    pub seccomp: Option<super::seccomp::Seccomp>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Resources {
    pub memory: Memory,
    pub pids: Pids,
    pub cpu: Cpu,
    pub devices: Vec<DeviceRule>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Memory {
    pub limit: Option<i64>,
    pub swap: Option<i64>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Pids {
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Cpu {
    pub quota: Option<i64>,
    pub period: Option<u64>,
    pub shares: Option<u64>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct DeviceRule {
    pub allow: bool,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Device {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub major: i64,
    pub minor: i64,
    pub file_mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// The namespace types minibox makes or joins; `user` and `time` are refused.
pub const NAMESPACES: [&str; 6] = ["pid", "network", "ipc", "uts", "mount", "cgroup"];

/// Read and check `BUNDLE/config.json`: refuse what minibox does not honour, then the values it
/// cannot take.
pub fn load(bundle: &Path) -> Result<Spec> {
    let file = bundle.join("config.json");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("reading {} (is --bundle the bundle's directory?)", file.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", file.display()))?;
    refuse_unhonoured(&value, "", HONOURED).context("config.json")?;
    let spec: Spec = serde_json::from_value(value)
        .with_context(|| format!("{}: a field has the wrong type", file.display()))?;
    check(&spec)?;
    Ok(spec)
}

/// The values of honoured fields that minibox still cannot take.
pub fn check(spec: &Spec) -> Result<()> {
    if spec.process.args.is_empty() {
        bail!("config.json: `process.args` is empty: give the command to run");
    }
    if spec.root.path.is_empty() {
        bail!("config.json: `root.path` is missing: give the root filesystem's directory");
    }
    let mut mount_namespace = false;
    for namespace in &spec.linux.namespaces {
        if !NAMESPACES.contains(&namespace.kind.as_str()) {
            bail!(
                "config.json: `linux.namespaces[].type` {:?} is not supported by minibox (it makes {})",
                namespace.kind,
                NAMESPACES.join(", ")
            );
        }
        if namespace.kind == "mount" {
            if !namespace.path.is_empty() {
                bail!(
                    "config.json: joining a mount namespace (`linux.namespaces[].path` for mount) is not supported"
                );
            }
            mount_namespace = true;
        }
    }
    if !mount_namespace {
        bail!(
            "config.json: `linux.namespaces` has no mount namespace: minibox always gives the container its own"
        );
    }
    let has_uts = spec.linux.namespaces.iter().any(|n| n.kind == "uts" && n.path.is_empty());
    if !spec.hostname.is_empty() && !has_uts {
        bail!(
            "config.json: `hostname` needs a new uts namespace in `linux.namespaces` (it would rename the host)"
        );
    }
    if !matches!(spec.linux.rootfs_propagation.as_str(), "" | "private" | "rprivate") {
        bail!(
            "config.json: `linux.rootfsPropagation` {:?} is not supported (minibox makes every mount private)",
            spec.linux.rootfs_propagation
        );
    }
    if let Some(profile) = &spec.linux.seccomp {
        super::seccomp::compile(profile).context("config.json: `linux.seccomp`")?;
    }
    Ok(())
}

/// `minibox spec`: a starting config.json, as `runc spec` writes one: busybox's `sh`, the
/// usual mounts, new namespaces, runc's three capabilities (no inheritable ones), no new
/// privileges, the hardening chapter's masked and read-only paths.
pub fn example() -> Value {
    let masked: Vec<&str> = crate::security::paths::MASKED.to_vec();
    let read_only: Vec<&str> = crate::security::paths::READ_ONLY.to_vec();
    let capabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": capabilities, "effective": capabilities,
                             "permitted": capabilities, "ambient": capabilities},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "minibox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": masked,
            "readonlyPaths": read_only
        }
    })
}
//@ end oci
//@ begin oci

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unhonoured_field_is_named_at_its_outermost_path() {
        let config = serde_json::json!({"linux": {"intelRdt": {"closID": "x"}}});
        let error = refuse_unhonoured(&config, "", HONOURED).unwrap_err().to_string();
        assert!(error.contains("`linux.intelRdt`"), "{error}");
        let config = serde_json::json!({"mounts": [{"destination": "/x", "uidMappings": [1]}]});
        let error = refuse_unhonoured(&config, "", HONOURED).unwrap_err().to_string();
        assert!(error.contains("`mounts[].uidMappings`"), "{error}");
        assert!(refuse_unhonoured(&example(), "", HONOURED).is_ok());
    }
}
//@ end oci
