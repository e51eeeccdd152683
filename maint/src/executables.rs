//! The executables a cargo build made, as its JSON messages report them.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An executable that cargo built.
#[derive(Clone, Debug)]
pub struct Executable {
    /// The target's name: `minibox`, `ch03_rootfs`.
    pub target: String,
    /// The target's kinds: `bin`, `test`.
    pub kinds: Vec<String>,
    pub path: PathBuf,
    /// The directory of the package's Cargo.toml.
    pub package_dir: PathBuf,
}

/// Run a cargo build (`cargo build ...`, `cargo test --no-run ...`) and return the executables it
/// reports. Asking cargo rather than guessing finds them wherever its target directory is.
pub fn build(mut command: Command, dir: &Path) -> Result<Vec<Executable>> {
    command.arg("--message-format=json-render-diagnostics").current_dir(dir).stderr(Stdio::inherit());
    let shown = format!("{command:?}");
    let out = command.output().with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!("failed: {shown}");
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with('{')) {
        let message: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("reading cargo's message {line}"))?;
        found.extend(executable(&message));
    }
    Ok(found)
}

/// The executable a `compiler-artifact` message names, if any.
fn executable(message: &serde_json::Value) -> Option<Executable> {
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let target = &message["target"];
    Some(Executable {
        target: target["name"].as_str().unwrap_or_default().to_string(),
        kinds: target["kind"]
            .as_array()
            .map(|kinds| kinds.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        path: message["executable"].as_str()?.into(),
        package_dir: Path::new(message["manifest_path"].as_str()?).parent()?.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cargo_artifact_message_is_read() {
        let line = r#"{"reason":"compiler-artifact","package_id":"x","manifest_path":"/w/solutions/solution-01/Cargo.toml",
            "target":{"kind":["test"],"name":"ch01_process","test":true},"profile":{"opt_level":"0","debuginfo":null},
            "executable":"/w/target/debug/deps/ch01_process-1\u00e9\"x","fresh":true}"#;
        let found = executable(&serde_json::from_str(line).expect("valid JSON")).expect("an executable");
        assert_eq!(found.target, "ch01_process", "the target's name");
        assert_eq!(found.kinds, ["test"], "the target's kinds");
        assert_eq!(found.path, Path::new("/w/target/debug/deps/ch01_process-1é\"x"), "escapes are read");
        assert_eq!(found.package_dir, Path::new("/w/solutions/solution-01"), "the manifest's directory");
        let library =
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"minibox"},"executable":null}"#;
        assert!(executable(&serde_json::from_str(library).expect("valid JSON")).is_none(), "a library");
        let other = r#"{"reason":"build-finished","success":true}"#;
        assert!(executable(&serde_json::from_str(other).expect("valid JSON")).is_none(), "not an artifact");
    }
}
