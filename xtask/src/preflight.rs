//! Before `cargo xtask test` runs anything slow: is every tool it will call on this machine?
//! A missing tool is named with what needs it and the package that brings it, all at once,
//! instead of a failure twenty minutes in.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};

/// One tool the suite calls.
struct Tool {
    /// What the suite runs: names looked up on PATH, or absolute paths.
    programs: &'static [&'static str],
    /// Any one of `programs` will do (names or places that differ between distributions).
    any: bool,
    /// Which part of the suite needs it.
    for_what: &'static str,
    /// The Debian package that brings it (Ubuntu's name after a slash where it differs).
    package: &'static str,
    /// Only for the VM tests.
    vm_only: bool,
}

const TOOLS: &[Tool] = &[
    // The rootless chapter: a throwaway user (useradd, userdel), minibox run as it (runuser), and
    // the setuid helpers that write its subordinate ids into the maps.
    Tool {
        programs: &["newuidmap", "newgidmap", "useradd", "userdel", "runuser"],
        for_what: "the rootless chapter's tests (a test user with subordinate ids, minibox run as it)",
        package: "uidmap passwd util-linux",
        any: false,
        vm_only: false,
    },
    // The registry chapter: a real registry, the clients that push into it and pull from it,
    // and the signing of the token service's tokens.
    Tool {
        programs: &["docker-registry", "skopeo", "podman", "openssl"],
        for_what: "the registry chapter's tests (a local registry, its clients, its token service)",
        package: "docker-registry skopeo podman openssl",
        any: false,
        vm_only: false,
    },
    // The oci chapter: a containerd of the tests' own, and its client, with minibox as runtime.
    Tool {
        programs: &["containerd", "ctr"],
        for_what: "the oci chapter's tests (containerd and ctr calling minibox as their runtime)",
        package: "containerd",
        any: false,
        vm_only: false,
    },
    // The daemon chapter: the docker CLI that drives minibox's daemon, Debian's, taken out of
    // its package by tools/provision.sh (installing docker.io would start dockerd).
    Tool {
        programs: &["/usr/local/lib/minibox/docker"],
        for_what: "the daemon chapter's tests (the docker CLI against minibox's daemon)",
        package: "docker.io's CLI alone: `sudo tools/provision.sh` puts it there",
        any: false,
        vm_only: false,
    },
    Tool {
        programs: &["shellcheck"],
        for_what: "linting the shell scripts",
        package: "shellcheck",
        any: false,
        vm_only: false,
    },
    Tool {
        programs: &["vagrant"],
        for_what: "validating the Vagrantfile",
        package: "vagrant",
        any: false,
        vm_only: false,
    },
    Tool {
        programs: &["cloud-init"],
        for_what: "validating tools/cloud-init.yaml",
        package: "cloud-init",
        any: false,
        vm_only: false,
    },
    Tool {
        programs: &["mdbook", "mdbook-mermaid"],
        for_what: "building the book",
        package: "cargo install mdbook mdbook-mermaid (tools/provision.sh pins the versions)",
        any: false,
        vm_only: false,
    },
    Tool {
        programs: &["chromium", "chromium-browser"],
        for_what: "rendering the book's pages",
        package: "chromium (Ubuntu: chromium-browser)",
        any: true,
        vm_only: false,
    },
    Tool {
        programs: &["node"],
        for_what: "the book's page checker",
        package: "nodejs",
        any: false,
        vm_only: false,
    },
    Tool {
        programs: &["npm"],
        for_what: "the book's page checker",
        package: "npm",
        any: false,
        vm_only: false,
    },
    Tool {
        programs: &["qemu-system-x86_64"],
        for_what: "the cgroup v2 VM (vm-test)",
        package: "qemu-system-x86",
        any: false,
        vm_only: true,
    },
    Tool {
        programs: &fixtures::VIRTIOFSD_PATHS,
        for_what: "sharing files with the cgroup v2 VM",
        package: "qemu-system-x86 (Ubuntu: virtiofsd)",
        any: true,
        vm_only: true,
    },
    Tool {
        programs: &["apt-get", "dpkg-deb"],
        for_what: "fetching the cgroup v2 VM's kernel",
        package: "apt (a Debian or Ubuntu machine)",
        any: false,
        vm_only: true,
    },
];

/// Fail, naming every missing tool and its fix, unless all of them are here.
pub fn run(with_vm: bool) -> Result<()> {
    let mut missing = Vec::new();
    for tool in TOOLS.iter().filter(|t| with_vm || !t.vm_only) {
        let absent: Vec<&str> = tool.programs.iter().copied().filter(|p| !found(p)).collect();
        let absent = if tool.any && absent.len() < tool.programs.len() { vec![] } else { absent };
        for program in absent {
            missing.push(format!("  {program:<20} for {}: {}", tool.for_what, tool.package));
        }
    }
    for (subcommand, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        let works = Command::new("cargo")
            .args([subcommand, "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !works {
            let program = format!("cargo {subcommand}");
            missing
                .push(format!("  {program:<20} for verify's style checks: rustup component add {component}"));
        }
    }
    if missing.is_empty() {
        println!("preflight: every tool the suite calls is here");
        return Ok(());
    }
    bail!(
        "this machine lacks {} tool(s) that `cargo xtask test` calls (what needs it: how to install):\n{}\n\
         Install them all at once with `tools/provision.sh`, as root (or with sudo); it skips what is there.",
        missing.len(),
        missing.join("\n")
    )
}

/// An absolute path that exists, or a name found on PATH.
fn found(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
