//@ begin hardening
//! The devices allowlist, enforced by the kernel on the container's cgroup: whatever node the
//! container makes or finds, and wherever, opening a device not on the list fails with EPERM.
//! The `nodev` and read-only mounts of [`super::paths`] close the ways to a node; this is the
//! second wall, and the one Docker relies on.
//!
//! - cgroup v1: the `devices` controller. Write `a` (all) to `devices.deny`, then each allowed
//!   device to `devices.allow`.
//! - cgroup v2 has no devices controller: the check is a small BPF program of type
//!   `BPF_PROG_TYPE_CGROUP_DEVICE`, attached to the cgroup, that the kernel runs on every
//!   mknod and open of a device node and that answers 1 (allow) or 0 (deny). minibox assembles
//!   it by hand: sixty instructions (nine that read the request, five for each device on the
//!   list, two that deny) need no compiler.

use anyhow::{Context, Result, bail};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The v1 controller the container's cgroup joins from this chapter on.
pub const V1_CONTROLLER: &str = "devices";

/// One allowed character device: a major number and a minor number (`None`: any). No block
/// device is allowed.
pub struct Allowed {
    pub major: u32,
    pub minor: Option<u32>,
}

/// Docker's default list: the nodes minibox puts in /dev, the console, the pseudo-terminals and
/// `/dev/net/tun`. Any node may be *made* (mknod); only these may be opened.
pub const ALLOWED: [Allowed; 10] = [
    Allowed { major: 1, minor: Some(3) },    // null
    Allowed { major: 1, minor: Some(5) },    // zero
    Allowed { major: 1, minor: Some(7) },    // full
    Allowed { major: 1, minor: Some(8) },    // random
    Allowed { major: 1, minor: Some(9) },    // urandom
    Allowed { major: 5, minor: Some(0) },    // tty
    Allowed { major: 5, minor: Some(1) },    // console
    Allowed { major: 5, minor: Some(2) },    // ptmx
    Allowed { major: 136, minor: None },     // /dev/pts/N
    Allowed { major: 10, minor: Some(200) }, // net/tun
];

/// Restrict the devices of the container's cgroup directories (`paths`, as created by chapter
/// 4): the v1 devices cgroup among them, or the v2 cgroup.
pub fn restrict(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        if path.join("devices.deny").exists() {
            restrict_v1(path)?;
        } else if path.join("cgroup.controllers").exists() {
            restrict_v2(path)?;
        }
    }
    Ok(())
}

fn restrict_v1(cgroup: &Path) -> Result<()> {
    let write = |file: &str, rule: &str| {
        std::fs::write(cgroup.join(file), rule)
            .with_context(|| format!("writing `{rule}` to {}", cgroup.join(file).display()))
    };
    write("devices.deny", "a")?;
    write("devices.allow", "c *:* m")?;
    write("devices.allow", "b *:* m")?;
    for device in &ALLOWED {
        let minor = device.minor.map_or("*".to_string(), |m| m.to_string());
        write("devices.allow", &format!("c {}:{minor} rwm", device.major))?;
    }
    Ok(())
}

// ANCHOR: program
/// One eBPF instruction (`struct bpf_insn`): opcode, registers, offset, immediate.
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8, // destination in the low 4 bits, source in the high 4
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

// The opcodes used (linux/bpf.h, linux/bpf_common.h).
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV_REG: u8 = 0xbf; // dst = src (64-bit)
const MOV_IMM: u8 = 0xb7; // dst = imm
const AND_IMM: u8 = 0x57; // dst &= imm
const RSH_IMM: u8 = 0x77; // dst >>= imm
const JNE_IMM: u8 = 0x55; // if dst != imm: skip off instructions
const EXIT: u8 = 0x95; // return r0

/// The access bits of `bpf_cgroup_dev_ctx.access_type` (high 16 bits) and the device types (low).
const ACCESS_MKNOD: i32 = 1;
const TYPE_CHAR: i32 = 2;

/// The program. Its argument (r1) is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
/// u32 minor; }`; it returns 1 to allow, 0 to deny.
fn program() -> Vec<Insn> {
    let mut code = vec![
        insn(LDX_W, 2, 1, 0, 0), // r2 = access_type
        insn(MOV_REG, 3, 2, 0, 0),
        insn(AND_IMM, 3, 0, 0, 0xffff), // r3 = type
        insn(RSH_IMM, 2, 0, 0, 16),     // r2 = access
        insn(LDX_W, 4, 1, 4, 0),        // r4 = major
        insn(LDX_W, 5, 1, 8, 0),        // r5 = minor
        // mknod alone, of any node, is allowed (as Docker does): skip to the list otherwise.
        insn(JNE_IMM, 2, 0, 2, ACCESS_MKNOD),
        insn(MOV_IMM, 0, 0, 0, 1),
        insn(EXIT, 0, 0, 0, 0),
    ];
    for device in &ALLOWED {
        // Each entry: compare, and allow on a match; a mismatch skips the rest of the entry.
        let length: i16 = if device.minor.is_some() { 5 } else { 4 };
        code.push(insn(JNE_IMM, 3, 0, length - 1, TYPE_CHAR));
        code.push(insn(JNE_IMM, 4, 0, length - 2, device.major as i32));
        if let Some(minor) = device.minor {
            code.push(insn(JNE_IMM, 5, 0, 2, minor as i32));
        }
        code.push(insn(MOV_IMM, 0, 0, 0, 1));
        code.push(insn(EXIT, 0, 0, 0, 0));
    }
    code.push(insn(MOV_IMM, 0, 0, 0, 0)); // nothing matched: deny
    code.push(insn(EXIT, 0, 0, 0, 0));
    code
}
// ANCHOR_END: program

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `bpf(command, attr)`, with `attr` a zeroed `union bpf_attr` filled in by the caller.
fn bpf(command: libc::c_long, attr: &[u8; 128]) -> std::io::Result<i32> {
    // SAFETY: attr is a bpf_attr-sized buffer that outlives the call; pointers in it point to
    // data the caller keeps alive.
    let result = unsafe { libc::syscall(libc::SYS_bpf, command, attr.as_ptr(), attr.len()) };
    if result < 0 { Err(std::io::Error::last_os_error()) } else { Ok(result as i32) }
}

fn put(attr: &mut [u8; 128], at: usize, bytes: &[u8]) {
    attr[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Load the program and attach it to the cgroup at `cgroup`. The attachment keeps the program
/// alive; it goes when the cgroup is removed.
fn restrict_v2(cgroup: &Path) -> Result<()> {
    let code = program();
    let license = c"Apache-2.0";
    let mut load = [0u8; 128];
    put(&mut load, 0, &BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    put(&mut load, 4, &(code.len() as u32).to_ne_bytes());
    put(&mut load, 8, &(code.as_ptr() as u64).to_ne_bytes());
    put(&mut load, 16, &(license.as_ptr() as u64).to_ne_bytes());
    put(&mut load, 48, b"minibox_devices");
    put(&mut load, 68, &BPF_CGROUP_DEVICE.to_ne_bytes());
    let program = bpf(BPF_PROG_LOAD, &load).context("loading the devices program (bpf BPF_PROG_LOAD)")?;
    // SAFETY: a descriptor the kernel just returned, owned by nothing else.
    let program = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(program) };
    let directory = std::fs::File::open(cgroup).with_context(|| format!("opening {}", cgroup.display()))?;
    let mut attach = [0u8; 128];
    put(&mut attach, 0, &(directory.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attach, 4, &(program.as_raw_fd() as u32).to_ne_bytes());
    put(&mut attach, 8, &BPF_CGROUP_DEVICE.to_ne_bytes());
    put(&mut attach, 12, &BPF_F_ALLOW_MULTI.to_ne_bytes());
    if let Err(error) = bpf(BPF_PROG_ATTACH, &attach) {
        bail!("attaching the devices program to {}: {error}", cgroup.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_jump_of_the_program_lands_inside_it() {
        let code = super::program();
        for (at, insn) in code.iter().enumerate() {
            if insn.code == super::JNE_IMM {
                let target = at as i64 + 1 + i64::from(insn.off);
                assert!(target < code.len() as i64, "the jump at {at} leaves the program");
                assert_eq!(
                    code[target as usize - 1].code,
                    super::EXIT,
                    "the jump at {at} skips to an entry's end"
                );
            }
        }
    }
}
//@ end hardening
