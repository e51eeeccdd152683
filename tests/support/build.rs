//! The build script of every chapter crate: it compiles the probe (`probe/src/main.rs`) into a
//! statically linked program that the graded tests copy into container root filesystems, and
//! tells the tests where it is (`env!("MINIBOX_PROBE")`).
//!
//! It calls `rustc` directly rather than cargo, because the probe needs nothing but the standard
//! library, and a nested cargo would fight the outer one for the build lock.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let source = manifest
        .ancestors()
        .map(|dir| dir.join("probe/src/main.rs"))
        .find(|path| path.exists())
        .expect("probe/src/main.rs should be in the workspace");
    println!("cargo:rerun-if-changed={}", source.display());

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("minibox-probe");
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let status = Command::new(&rustc)
        .args(["--edition=2024", "--crate-name=probe", "-O", "-C", "target-feature=+crt-static"])
        .args(["--target", &target, "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .expect("running rustc for the probe");
    assert!(
        status.success(),
        "building the test probe ({}) failed: see rustc's message above. If it says it cannot find \
         -lc or crt1.o, the static C library is missing: on Debian or Ubuntu `apt install libc6-dev`, \
         on Fedora `dnf install glibc-static`",
        source.display()
    );
    println!("cargo:rustc-env=MINIBOX_PROBE={}", out.display());
}
