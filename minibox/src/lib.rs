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
//@ end
//@ begin rootfs
//! | rootfs | [`rootfs`], [`state`] | a mount namespace, pivot_root, /proc, /dev and /sys; the state directory |
//@ end
//@ begin cgroups
//! | cgroups | [`cgroups`] | memory, pids and cpu limits with control groups |
//@ end
//@ begin images
//! | images | [`image`] | images: layers, overlayfs, copy-on-write |
//@ end
//@ begin hardening
//! | hardening | [`security`] | capabilities, no_new_privs, seccomp, masked paths, devices |
//@ end
//@ begin network
//! | network | [`network`] | a network namespace, veth, a bridge, addresses, NAT, published ports |
//@ end
//@ begin registry
//! | registry | [`registry`] | pulling and pushing images: the distribution API, tokens |
//@ end
//@ begin oci
//! | oci | [`oci`] | runc's interface: bundles, create/start/state/kill/delete, exec |
//@ end
//@ begin daemon
//! | daemon | [`daemon`] | a daemon that speaks the Docker Engine API; a shim per container |
//@ end
//@ begin build
//! | build | [`build`] | building images from a Dockerfile: layers from overlay diffs, a cache |
//@ end
//@ begin rootless
//! | rootless | [`rootless`] | a user namespace, uid and gid maps, subordinate ids |
//@ end

pub mod cli;
pub mod container;
pub mod exit;
pub mod log;
pub mod process;
//@ begin namespaces
pub mod init;
pub mod namespaces;
//@ end
//@ begin rootfs
pub mod rootfs;
pub mod state;
//@ end
//@ begin cgroups
pub mod cgroups;
//@ end
//@ begin images
pub mod image;
//@ end
//@ begin hardening
pub mod security;
//@ end
//@ begin network
pub mod network;
//@ end
//@ begin registry
pub mod registry;
//@ end
//@ begin oci
pub mod oci;
//@ end
//@ begin daemon
pub mod daemon;
//@ end
//@ begin build
pub mod build;
//@ end
//@ begin rootless
pub mod rootless;
//@ end
