//! The few system calls the bench needs that std does not offer: `wait4` (a child's exit status
//! with its resource usage, for peak memory), `unshare` and `mount` (the bench's private mount
//! namespace), `umount2`. Declared here to keep xtask free of a libc dependency (as doctor.rs
//! does); the constants and `struct rusage` are those of Linux on 64-bit targets.

use anyhow::{Result, bail};
use std::ffi::{CString, c_char, c_int, c_long, c_ulong, c_void};
use std::io;
use std::path::Path;

unsafe extern "C" {
    fn wait4(pid: c_int, status: *mut c_int, options: c_int, rusage: *mut Rusage) -> c_int;
    fn unshare(flags: c_int) -> c_int;
    fn mount(
        source: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: c_ulong,
        data: *const c_void,
    ) -> c_int;
    fn umount2(target: *const c_char, flags: c_int) -> c_int;
    fn geteuid() -> u32;
    fn sync();
}

const CLONE_NEWNS: c_int = 0x0002_0000;
const MS_REC: c_ulong = 0x4000;
const MS_PRIVATE: c_ulong = 1 << 18;
const MNT_DETACH: c_int = 2;

/// `struct rusage`: two `struct timeval`s, then fourteen longs.
#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: [c_long; 2],
    stime: [c_long; 2],
    /// The largest resident set size, in KiB.
    maxrss: c_long,
    rest: [c_long; 13],
}

/// How a child ended, with the resources it used.
#[derive(Clone, Copy, Debug)]
pub struct Ended {
    pub pid: i32,
    /// The exit code, or 128 + N for signal N.
    pub code: i32,
    /// The largest resident set of the child or of any descendant it waited for, in KiB:
    /// the kernel keeps the high-water mark across `execve` and passes it up on each wait.
    pub max_rss_kib: u64,
}

/// Wait for the child `pid` (or for any child, with -1) to end.
pub fn wait(pid: i32) -> Result<Ended> {
    let mut status: c_int = 0;
    let mut usage = Rusage::default();
    loop {
        // SAFETY: `status` and `usage` are valid for writes; wait4 writes no more than their sizes.
        let got = unsafe { wait4(pid, &mut status, 0, &mut usage) };
        if got > 0 {
            let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
            return Ok(Ended { pid: got, code, max_rss_kib: usage.maxrss.max(0) as u64 });
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            bail!("wait4({pid}): {error}");
        }
    }
}

/// Write every dirty page to disk (sync(2)): a lab must not compete with the writeback of
/// the previous one's files.
pub fn sync_disks() {
    // SAFETY: no arguments, cannot fail.
    unsafe { sync() }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { geteuid() == 0 }
}

/// Move this process into a mount namespace of its own whose mounts are all private: what is
/// mounted or unmounted here from now on (by the bench or by its children) never reaches the
/// host. The process must not have started other threads.
pub fn private_mount_namespace() -> Result<()> {
    // SAFETY: plain system calls with constant arguments.
    if unsafe { unshare(CLONE_NEWNS) } != 0 {
        bail!("unshare(CLONE_NEWNS): {}", io::Error::last_os_error());
    }
    let root = c"/";
    // SAFETY: NUL-terminated strings; null source, type and data are allowed for a propagation change.
    let made = unsafe {
        mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), MS_REC | MS_PRIVATE, std::ptr::null())
    };
    if made != 0 {
        bail!("mount --make-rprivate /: {}", io::Error::last_os_error());
    }
    Ok(())
}

/// Detach the mount at `path` (in the bench's own mount namespace: the host keeps it).
pub fn detach(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: a NUL-terminated path.
    if unsafe { umount2(c.as_ptr(), MNT_DETACH) } != 0 {
        bail!("umount -l {}: {}", path.display(), io::Error::last_os_error());
    }
    Ok(())
}
