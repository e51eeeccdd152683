//! What the workshop's tools share: where things are in the workspace, running cargo, the chapter
//! tags, and the check that the runtime's layers point one way.
//! `cargo xtask` (src/main.rs) and the maintainers' `cargo maint` (../maint) both build on it.

pub mod cargo;
pub mod layers;
pub mod tags;
pub mod workspace;
