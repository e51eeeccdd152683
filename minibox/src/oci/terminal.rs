//@ begin oci
//! `process.terminal`: the container's process gets a pseudo-terminal of its own, made inside
//! the container (its `/dev/pts`), as its standard input, output and error and its controlling
//! terminal. The other end, the master, goes to whoever holds `--console-socket` (the shim, or
//! conmon), as a file descriptor passed over the Unix socket (`SCM_RIGHTS`): it relays the bytes
//! between the user's terminal and the container's.

use super::spec::ConsoleSize;
use anyhow::{Context, Result, bail};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// In the container, after its `/dev/pts` is mounted: make the pair, send the master, and make
/// the slave this process's terminal.
pub fn attach(socket: &UnixStream, size: Option<ConsoleSize>, uid: u32, gid: u32) -> Result<()> {
    // SAFETY: open with a NUL-terminated path; the descriptor is owned at once.
    let master =
        unsafe { libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if master < 0 {
        return Err(std::io::Error::last_os_error()).context("opening /dev/ptmx (is /dev/pts mounted?)");
    }
    // SAFETY: `master` was just opened and belongs to nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK reads an int, and `unlock` is ours.
    let unlocked = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) } == 0;
    // SAFETY: TIOCGPTN writes an unsigned int, and `number` is ours.
    if !unlocked || unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unlocking the pseudo-terminal");
    }
    let name = format!("/dev/pts/{number}");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .with_context(|| format!("opening {name}"))?;
    nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid)))
        .with_context(|| format!("chown {name}"))?;
    if let Some(size) = size {
        let winsize = libc::winsize { ws_row: size.height, ws_col: size.width, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads one winsize.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &winsize) };
    }
    send_fd(socket, &master, &name)?;
    drop(master);
    // A new session, whose controlling terminal is the slave; then it is stdin, stdout, stderr.
    nix::unistd::setsid().context("setsid")?;
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal).
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("making the terminal the controlling one");
    }
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error()).context("dup2 of the terminal");
        }
    }
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

/// Send `fd` over `socket` as runc does: the terminal's name as the message, the descriptor in
/// an `SCM_RIGHTS` control message.
fn send_fd(socket: &UnixStream, fd: &OwnedFd, name: &str) -> Result<()> {
    let mut payload = name.as_bytes().to_vec();
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space as _;
    // SAFETY: the control buffer has room for one header and one int (CMSG_SPACE above).
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    // SAFETY: `message` points at live buffers.
    if unsafe { libc::sendmsg(socket.as_raw_fd(), &message, libc::MSG_NOSIGNAL) } < 0 {
        return Err(std::io::Error::last_os_error()).context("sending the terminal to --console-socket");
    }
    if payload.is_empty() {
        bail!("an empty terminal name");
    }
    Ok(())
}
//@ end oci
