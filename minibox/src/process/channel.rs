//! A channel both ways between minibox and the container's first process, for the steps of the
//! set-up that take turns: the child makes a namespace, the parent acts on it from outside (moves
//! a network device in; in later chapters, writes a user namespace's uid map), the child goes on.
//!
//! The report pipe of `spawn` only goes one way (child to parent) and says one thing at the end.
//! This is a `socketpair(2)` of `SOCK_SEQPACKET` sockets: each `send` arrives as one message, in
//! order, and a side that ends (or dies) closes its end, so the other reads end-of-file instead
//! of waiting forever. Both ends are close-on-exec: the command never inherits them.

use anyhow::{Context, Result, bail};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// What one side tells the other. A later chapter that needs another turn adds a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// Child to parent: the container's namespaces exist; act on them (`/proc/PID/ns/...`).
    NamespacesMade,
    /// Parent to child: the container's network device is in its namespace; configure it.
    NetworkReady,
    //@ begin rootless
    /// minibox to its map helper: minibox's user namespace exists; write its uid and gid maps.
    UserNamespaceMade,
    /// The map helper to minibox: the maps are written.
    IdsMapped,
    //@ end rootless
}

impl Message {
    const ALL: &[Message] = &[
        Message::NamespacesMade,
        Message::NetworkReady,
        //@ begin rootless
        Message::UserNamespaceMade,
        Message::IdsMapped,
        //@ end rootless
    ];

    fn word(self) -> &'static str {
        match self {
            Message::NamespacesMade => "namespaces-made",
            Message::NetworkReady => "network-ready",
            //@ begin rootless
            Message::UserNamespaceMade => "user-namespace-made",
            Message::IdsMapped => "ids-mapped",
            //@ end rootless
        }
    }
}

/// One end of the channel. Made in pairs by [`pair`] before the fork; each side keeps one.
pub struct Channel {
    socket: OwnedFd,
}

/// A connected pair: `(parent's end, child's end)`.
pub fn pair() -> Result<(Channel, Channel)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into an array of two.
    let made = unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    };
    if made != 0 {
        return Err(std::io::Error::last_os_error()).context("socketpair(AF_UNIX, SOCK_SEQPACKET)");
    }
    // SAFETY: both descriptors were just made and belong to nobody else.
    let (parent, child) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Channel { socket: parent }, Channel { socket: child }))
}

impl Channel {
    pub fn send(&self, message: Message) -> Result<()> {
        let word = message.word().as_bytes();
        // SAFETY: send reads `word.len()` bytes from a live slice; MSG_NOSIGNAL: a closed peer is
        // an error (EPIPE), not a SIGPIPE.
        let sent = unsafe {
            libc::send(self.socket.as_raw_fd(), word.as_ptr().cast(), word.len(), libc::MSG_NOSIGNAL)
        };
        if sent < 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EPIPE) {
                bail!("the other side ended while it was being set up, before {message:?} was sent");
            }
            return Err(error).with_context(|| format!("sending {message:?}"));
        }
        Ok(())
    }

    /// The next message, or `None` once the other side has closed its end.
    pub fn receive(&self) -> Result<Option<Message>> {
        let mut buffer = [0u8; 64];
        let received = loop {
            // SAFETY: recv writes at most `buffer.len()` bytes into the buffer.
            let n =
                unsafe { libc::recv(self.socket.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
            if n >= 0 {
                break n as usize;
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error).context("receiving on the set-up channel");
            }
        };
        if received == 0 {
            return Ok(None);
        }
        let word = &buffer[..received];
        match Message::ALL.iter().copied().find(|m| m.word().as_bytes() == word) {
            Some(message) => Ok(Some(message)),
            None => {
                bail!("the set-up channel carried an unknown message {:?}", String::from_utf8_lossy(word))
            }
        }
    }

    /// Wait for `wanted`. `peer` names the other side in the error when it closes first.
    pub fn expect(&self, wanted: Message, peer: &str) -> Result<()> {
        match self.receive()? {
            Some(message) if message == wanted => Ok(()),
            Some(other) => bail!("expected {wanted:?} on the set-up channel, got {other:?}"),
            None => bail!("{peer} ended while it was being set up, before sending {wanted:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_both_ways_and_a_closed_end_reads_as_the_end() {
        let (parent, child) = pair().unwrap();
        child.send(Message::NamespacesMade).unwrap();
        parent.expect(Message::NamespacesMade, "the child").unwrap();
        parent.send(Message::NetworkReady).unwrap();
        assert_eq!(child.receive().unwrap(), Some(Message::NetworkReady));
        drop(parent);
        assert_eq!(child.receive().unwrap(), None, "a closed end reads as None");
        let error = child.expect(Message::NetworkReady, "minibox").unwrap_err();
        assert!(format!("{error}").contains("minibox ended"), "{error}");
    }
}
