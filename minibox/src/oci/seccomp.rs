//@ begin oci
//! `linux.seccomp`: the profile an engine sends (runc's JSON form), compiled and loaded with the
//! hardening chapter's code (`security::seccomp`, where minibox's own filter is written in the
//! same form), and loaded where runc loads it.

pub use crate::security::seccomp::{
    ACTIONS, Arg, FLAGS, Filters, OPERATORS, Seccomp, Syscall, compile, default_profile, load,
};
use anyhow::{Context, Result};

/// A profile as a client sends it (`docker run --security-opt seccomp=FILE` sends the file's
/// content): config.json's form, checked as config.json is. `comment` fields are dropped (they
/// ask for nothing); Docker's own additions (`archMap`, `includes`, `excludes`) are refused by
/// name.
pub fn from_client(text: &str) -> Result<Seccomp> {
    fn drop_comments(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("comment");
                map.values_mut().for_each(drop_comments);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(drop_comments),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(text).context("the profile is not JSON")?;
    drop_comments(&mut value);
    super::spec::refuse_unhonoured(&value, "linux.seccomp", super::spec::HONOURED)?;
    let profile: Seccomp =
        serde_json::from_value(value).context("a field of the profile has the wrong type")?;
    compile(&profile)?;
    Ok(profile)
}

/// Keep the container's profile in its state directory `dir`: `exec` loads the same filters
/// into every further process, as runc does.
pub fn save(dir: &std::path::Path, profile: Option<&Seccomp>) -> Result<()> {
    let Some(profile) = profile else { return Ok(()) };
    std::fs::write(dir.join("seccomp.json"), serde_json::to_vec(profile)?)
        .context("saving the seccomp profile")
}

/// The profile `save` kept in `dir`, if the container has one.
pub fn saved(dir: &std::path::Path) -> Result<Option<Seccomp>> {
    match std::fs::read(dir.join("seccomp.json")) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).context("reading the saved seccomp profile")?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).context("reading the saved seccomp profile"),
    }
}

/// Run `become_process` (the user switch, the capabilities, `no_new_privs`) with the profile
/// loaded where runc loads it: after it when `no_new_privileges` (as near `execve` as can be,
/// so that few calls of minibox's own must pass the filter), before it otherwise, while this
/// process still has the CAP_SYS_ADMIN that loading a filter without `no_new_privs` needs.
pub fn around(
    profile: Option<&Seccomp>,
    no_new_privileges: bool,
    become_process: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let Some(profile) = profile else { return become_process() };
    let filters = compile(profile).context("config.json: `linux.seccomp`")?;
    if no_new_privileges {
        become_process()?;
        load(&filters)
    } else {
        load(&filters)?;
        become_process()
    }
}
//@ end oci
//@ begin oci

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_profile_is_checked_as_config_json_is() {
        let sent = r#"{"comment": "ours", "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"comment": "x", "names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;
        assert!(from_client(sent).is_ok(), "comments are dropped");
        let docker =
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#;
        let error = format!("{:#}", from_client(docker).unwrap_err());
        assert!(error.contains("linux.seccomp.archMap"), "{error}");
    }
}
//@ end oci
