//! Whether a client has hung up. A client that gave up (its CLI timed out, the user pressed
//! Ctrl-C) must not have its request carried out later: a `run` nobody waits for is a run
//! nobody expects.

use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// True once the peer has closed its socket. Only closing both ways counts: a client that
/// shut down just its writing half after the request still waits for the answer.
pub fn client_gone(socket: &impl AsFd) -> bool {
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::empty())];
    // A zero timeout: a look, never a wait.
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_closed_peer_is_gone_a_half_closed_one_is_not() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        assert!(!client_gone(&ours));
        theirs.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(!client_gone(&ours), "it still waits for the answer");
        drop(theirs);
        assert!(client_gone(&ours));
    }
}
