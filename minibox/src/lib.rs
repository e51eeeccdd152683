//! minibox: a small Linux container runtime, written to be read.
//!
//! Start at [`container::run`]: it is `minibox run` from beginning to end, one step per chapter
//! of the workshop. Each step lives in its own module:
//!
//! | chapter | module | what it does |
//! | --- | --- | --- |
//! | 1 | [`process`] | fork, exec, wait; exit codes; passing signals on |
//@ begin 2
//! | 2 | [`namespaces`], [`init`] | new UTS, PID and IPC namespaces; a small init for PID 1 |
//@ end
//@ begin 3
//! | 3 | [`rootfs`] | a mount namespace, pivot_root, /proc, /dev and /sys |
//@ end
//@ begin 4
//! | 4 | [`cgroups`] | memory, pids and cpu limits with control groups |
//@ end
//@ begin 5
//! | 5 | [`image`] | images: layers, overlayfs, copy-on-write |
//@ end
//@ begin 6
//! | 6 | [`security`] | capabilities, no_new_privs, seccomp, masked paths, devices |
//@ end

pub mod cli;
pub mod container;
pub mod exit;
pub mod log;
pub mod process;
//@ begin 2
pub mod init;
pub mod namespaces;
//@ end
//@ begin 3
pub mod rootfs;
//@ end
//@ begin 4
pub mod cgroups;
//@ end
//@ begin 5
pub mod image;
//@ end
//@ begin 6
pub mod security;
//@ end
