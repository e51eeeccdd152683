//! What the workshop's tools share: where things are in the workspace, and running cargo.
//! `cargo xtask` (src/main.rs) and the maintainers' `cargo maint` (../maint) both build on it.

pub mod cargo;
pub mod workspace;
