//! What the workshop's tools share: where things are in the workspace, running cargo, and the
//! chapter tags.
//! `cargo xtask` (src/main.rs) and the maintainers' `cargo maint` (../maint) both build on it.

pub mod cargo;
pub mod tags;
pub mod workspace;
