//! `cargo xtask bench`: minibox against runc, crun and the unshare floor; a VM boot against a
//! container start. (Being written: see issue 11.)

use crate::workspace::Workspace;
use anyhow::{Result, bail};

pub fn run(_ws: &Workspace) -> Result<()> {
    bail!("cargo xtask bench is not written yet")
}
