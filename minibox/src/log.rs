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

/// A message as it may reach a terminal: control characters (a newline, an escape sequence from
/// a file's bytes) shown escaped, so an error stays one line and cannot drive the terminal.
pub fn printable(message: &str) -> String {
    message
        .chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}
