//! `--verbose`: one line on stderr per step, so a learner can watch the container being built.

use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Print a step when `--verbose` is on: `step!("created cgroup {path}")`.
#[macro_export]
macro_rules! step {
    ($($arg:tt)*) => {
        if $crate::log::verbose() {
            eprintln!("minibox: {}", format_args!($($arg)*));
        }
    };
}
