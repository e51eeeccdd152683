//! minibox: a small Linux container runtime, written to be read.
//!
//! Start at [`container::run`]: it is `minibox run` from beginning to end, one step per chapter
//! of the workshop. Each step lives in its own module:
//!
//! | chapter | module | what it does |
//! | --- | --- | --- |
//! | process | [`process`] | fork, exec, wait; exit codes; passing signals on |
//@ begin namespaces
//! | namespaces | [`namespaces`], [`init`] | new UTS, PID and IPC namespaces; a small init for PID 1 |
//@ end namespaces
//@ begin rootfs
//! | rootfs | [`rootfs`], [`state`] | a mount namespace, pivot_root, /proc, /dev and /sys; the state directory |
//@ end rootfs
//@ begin cgroups
//! | cgroups | [`cgroups`] | memory, pids and cpu limits with control groups |
//@ end cgroups
//@ begin images
//! | images | [`image`] | images: layers, overlayfs, copy-on-write |
//@ end images
//@ begin hardening
//! | hardening | [`security`] | capabilities, no_new_privs, seccomp, masked paths, devices |
//@ end hardening
//@ begin network
//! | network | [`network`] | a network namespace, veth, a bridge, addresses, NAT, published ports |
//@ end network
//@ begin registry
//! | registry | [`registry`] | pulling and pushing images: the distribution API, tokens |
//@ end registry
//@ begin oci
//! | oci | [`oci`] | runc's interface: bundles, create/start/state/kill/delete, exec |
//@ end oci
//@ begin daemon
//! | daemon | [`daemon`] | a daemon that speaks the Docker Engine API; a shim per container |
//@ end daemon
//@ begin build
//! | build | [`build`] | building images from a Dockerfile: layers from overlay diffs, a cache |
//@ end build
//@ begin rootless
//! | rootless | [`rootless`] | a user namespace, uid and gid maps, subordinate ids |
//@ end rootless

pub mod cli;
pub mod container;
pub mod exit;
pub mod log;
pub mod process;
//@ begin namespaces
pub mod init;
pub mod namespaces;
//@ end namespaces
//@ begin rootfs
pub mod rootfs;
pub mod state;
//@ end rootfs
//@ begin cgroups
pub mod cgroups;
//@ end cgroups
//@ begin images
pub mod image;
//@ end images
//@ begin hardening
pub mod security;
//@ end hardening
//@ begin network
pub mod network;
//@ end network
//@ begin registry
pub mod registry;
//@ end registry
//@ begin oci
pub mod oci;
//@ end oci
//@ begin daemon
pub mod daemon;
//@ end daemon
//@ begin build
pub mod build;
//@ end build
//@ begin rootless
pub mod rootless;
//@ end rootless
