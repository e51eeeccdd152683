//! The build script of every chapter crate: it compiles the probe (`probe/src/main.rs`) into a
//! statically linked program that the graded tests copy into container root filesystems, and
//! tells the tests where it is (`env!("MINIBOX_PROBE")`).
//!
//! It calls `rustc` directly rather than cargo, because the probe needs nothing but the standard
//! library, and a nested cargo would fight the outer one for the build lock.
//!
//! It also gives the crate's library the name the tests use: each snapshot's library is named
//! after its package (`chapter_05`), so that their files do not collide in `target/`, and the
//! tests, one copy for all, say `minibox::`. It writes `OUT_DIR/minibox.rs`, `extern crate
//! chapter_05 as minibox;`, which each test file includes at its root.

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
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    // Cargo's default name for the library, which `cargo xtask sync` writes in the manifest.
    let library = env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME").replace('-', "_");
    std::fs::write(out_dir.join("minibox.rs"), format!("extern crate {library} as minibox;\n"))
        .expect("writing OUT_DIR/minibox.rs");

    let out = out_dir.join("minibox-probe");
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
