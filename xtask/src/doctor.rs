//! `cargo xtask doctor`: a preflight table, a line per requirement, each OK or the exact fix.
//! (Being written: see issue 8.)

use crate::workspace::Workspace;
use anyhow::{Result, bail};

pub fn run(_ws: &Workspace) -> Result<()> {
    bail!("cargo xtask doctor is not written yet")
}
