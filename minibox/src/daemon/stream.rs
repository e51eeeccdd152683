//@ begin daemon
//! The bytes between a container and its clients. Without a terminal, a container's standard
//! output and standard error share one connection, so each piece travels in a frame: eight
//! bytes of header (which stream, three zero bytes, the length as a big-endian `u32`), then the
//! bytes. The Engine API calls this the multiplexed stream. minibox's shim writes its log files
//! in the same frames, so `docker logs` is a replay of the file.

use anyhow::{Context, Result, bail};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const HEADER_LEN: usize = 8;
/// A longer frame is refused when read: a corrupt header must not allocate gigabytes.
pub const MAX_FRAME: usize = 1 << 20;

// ANCHOR: encode_frame
/// One frame of the multiplexed stream: the header, then `payload`.
pub fn encode_frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    //@ exercise daemon encode_frame
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.push(stream);
    frame.extend_from_slice(&[0, 0, 0]);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
    //@ stub
    //| let _ = (stream, payload);
    //| todo!("chapter {chapter}, `encode_frame`: put `payload` in a frame of the multiplexed stream; `cargo xtask hint daemon encode_frame` helps (book: Chapter {chapter}, \"The multiplexed stream\")")
    //@ end daemon encode_frame
}
// ANCHOR_END: encode_frame

// ANCHOR: read_frame
/// Read one frame: `Some((stream, payload))`, or `None` where the stream ends cleanly, before
/// the first byte of a header. A stream that ends inside a frame is an error.
pub fn read_frame(reader: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    //@ exercise daemon read_frame
    let mut header = [0u8; HEADER_LEN];
    // The first byte alone: nothing here is the end; nothing later is a frame cut short.
    loop {
        match reader.read(&mut header[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    reader.read_exact(&mut header[1..])?;
    let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if length > MAX_FRAME {
        let message = format!("a frame of {length} bytes: not the multiplexed stream");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
    }
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
    //@ stub
    //| let _ = reader;
    //| todo!("chapter {chapter}, `read_frame`: read one frame of the multiplexed stream; `cargo xtask hint daemon read_frame` helps (book: Chapter {chapter}, \"The multiplexed stream\")")
    //@ end daemon read_frame
}
// ANCHOR_END: read_frame

/// Which of a container's output a client asked for, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub stdout: bool,
    pub stderr: bool,
    /// With a terminal there is one stream and no frames: the bytes go as they are.
    pub raw: bool,
}

impl Wanted {
    pub fn takes(&self, stream: u8) -> bool {
        (stream == STDOUT && self.stdout) || (stream == STDERR && self.stderr)
    }

    /// The bytes a client gets for one frame.
    pub fn render(&self, stream: u8, payload: &[u8], out: &mut Vec<u8>) {
        if self.takes(stream) {
            if self.raw {
                out.extend_from_slice(payload);
            } else {
                out.extend_from_slice(&encode_frame(stream, payload));
            }
        }
    }
}

/// `docker logs`: the frames of a container's log files (the older first), the last `tail`
/// lines of them when a tail is asked for, rendered for the client.
pub fn replay(files: &[&Path], wanted: Wanted, tail: Option<usize>) -> Result<Vec<u8>> {
    let mut frames = Vec::new();
    for path in files {
        let mut reader = match std::fs::File::open(path) {
            Ok(file) => std::io::BufReader::new(file),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).with_context(|| format!("opening {}", path.display())),
        };
        // A log cut inside its last frame (the shim was killed as it wrote) ends there.
        while let Ok(Some((stream, payload))) = read_frame(&mut reader) {
            if wanted.takes(stream) {
                frames.push((stream, payload));
            }
        }
    }
    if let Some(lines) = tail {
        frames = last_lines(frames, lines);
    }
    let mut out = Vec::new();
    for (stream, payload) in frames {
        wanted.render(stream, &payload, &mut out);
    }
    Ok(out)
}

/// The last `count` lines of the frames, one frame per line, each in its own stream.
fn last_lines(frames: Vec<(u8, Vec<u8>)>, count: usize) -> Vec<(u8, Vec<u8>)> {
    let mut lines: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut open = [false; 3];
    for (stream, payload) in frames {
        for piece in payload.split_inclusive(|&b| b == b'\n') {
            let index = usize::from(stream.min(2));
            match lines.iter_mut().rev().find(|(s, _)| *s == stream) {
                Some((_, line)) if open[index] => line.extend_from_slice(piece),
                _ => lines.push((stream, piece.to_vec())),
            }
            open[index] = !piece.ends_with(b"\n");
        }
    }
    let skip = lines.len().saturating_sub(count);
    lines.split_off(skip)
}

/// Receive the file descriptor a peer sent with `SCM_RIGHTS` (the terminal's master, from
/// `minibox create --console-socket` or `minibox exec --console-socket`).
pub fn receive_fd(socket: &UnixStream) -> Result<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut byte = [0u8; 1];
    let mut buffer = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let message =
        recvmsg::<()>(socket.as_raw_fd(), &mut buffer, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .context("receiving the terminal")?;
    for control in message.cmsgs().context("reading the control messages")? {
        if let ControlMessageOwned::ScmRights(fds) = control
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel just installed this descriptor in our table, for us alone.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    bail!("the peer sent no file descriptor")
}

//@ end daemon
