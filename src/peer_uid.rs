//! Which local user owns the other end of a loopback TCP connection. The kernel lists every
//! TCP socket in `/proc/net/tcp` (and `tcp6`) with its owner's uid; the peer's socket is the
//! one whose local address is our connection's peer address and whose remote address is ours.
//! Blocking file reads: call it off the async runtime.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TIME_WAIT: a socket with no owner any more (listed with uid 0).
const TIME_WAIT: &str = "06";

/// The uid owning the socket at `peer` connected to `local`; None when no table lists it.
pub fn owner(peer: SocketAddr, local: SocketAddr) -> std::io::Result<Option<u32>> {
    let want = (canonical(peer), canonical(local));
    let tables: &[&str] = match peer.ip() {
        IpAddr::V4(_) => &["/proc/net/tcp", "/proc/net/tcp6"],
        IpAddr::V6(_) => &["/proc/net/tcp6", "/proc/net/tcp"],
    };
    for table in tables {
        let file = match std::fs::File::open(table) {
            Ok(f) => f,
            // A kernel without IPv6 has no tcp6.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(uid) = find(std::io::BufReader::new(file), want)? {
            return Ok(Some(uid));
        }
    }
    Ok(None)
}

/// The uid on the first live line whose (local, remote) addresses are `want`.
fn find(table: impl BufRead, want: (SocketAddr, SocketAddr)) -> std::io::Result<Option<u32>> {
    // The first line is the header; a line that does not parse is skipped.
    for line in table.lines().skip(1) {
        if let Some(entry) = parse_line(&line?) {
            if (entry.local, entry.remote) == want && entry.state != TIME_WAIT {
                return Ok(Some(entry.uid));
            }
        }
    }
    Ok(None)
}

#[derive(Debug, PartialEq)]
struct Entry<'a> {
    local: SocketAddr,
    remote: SocketAddr,
    state: &'a str,
    uid: u32,
}

/// `sl local_address rem_address st tx:rx tr:when retrnsmt uid ...`
fn parse_line(line: &str) -> Option<Entry<'_>> {
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?;
    let local = parse_addr(fields.next()?)?;
    let remote = parse_addr(fields.next()?)?;
    let state = fields.next()?;
    let uid = fields.nth(3)?.parse().ok()?;
    Some(Entry {
        local: canonical(local),
        remote: canonical(remote),
        state,
        uid,
    })
}

/// `0100007F:1F90`: the address as the kernel holds it (network order) printed as 32-bit
/// words in host order, then the port in hex.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        addr.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// An IPv4-mapped IPv6 address (a dual-stack socket talking IPv4) as the IPv4 one.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_host_order_words() {
        if cfg!(target_endian = "little") {
            assert_eq!(parse_addr("0100007F:1F90"), Some(sa("127.0.0.1:8080")));
            assert_eq!(parse_addr("0101A8C0:0016"), Some(sa("192.168.1.1:22")));
            assert_eq!(
                parse_addr("00000000000000000000000001000000:0050"),
                Some(sa("[::1]:80"))
            );
            assert_eq!(
                parse_addr("0000000000000000FFFF00000100007F:D431"),
                Some(sa("[::ffff:127.0.0.1]:54321"))
            );
            assert_eq!(
                parse_addr("B80D0120000000000000000001000000:01BB"),
                Some(sa("[2001:db8::1]:443"))
            );
        }
        assert_eq!(parse_addr("0100007F"), None);
        assert_eq!(parse_addr("0100007:1F90"), None);
        assert_eq!(parse_addr("0100007G:1F90"), None);
    }

    #[test]
    fn a_line_gives_addresses_state_and_uid() {
        if !cfg!(target_endian = "little") {
            return;
        }
        let line = "   3: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 48213 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(
            parse_line(line),
            Some(Entry {
                local: sa("127.0.0.1:54321"),
                remote: sa("127.0.0.1:8080"),
                state: "01",
                uid: 1001
            })
        );
        // IPv4-mapped, as a dual-stack client shows in tcp6.
        let line6 = "   0: 0000000000000000FFFF00000100007F:D431 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 20 4 30 10 -1";
        let e = parse_line(line6).unwrap();
        assert_eq!(e.local, sa("127.0.0.1:54321"));
        assert_eq!(e.uid, 0);
        assert_eq!(parse_line(HEADER), None);
        assert_eq!(parse_line("   1: 0100007F:D431"), None);
    }

    #[test]
    fn the_peer_is_the_live_socket_with_both_addresses() {
        if !cfg!(target_endian = "little") {
            return;
        }
        let table = [
            HEADER,
            // Our listener, ours; the accepted side, ours.
            "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   500        0 1 1",
            "   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000   500        0 2 1",
            // An old connection from the same port elsewhere, gone: uid 0.
            "   2: 0100007F:D431 0100007F:0050 06 00000000:00000000 00:00000000 00000000     0        0 0 1",
            // The same port to us, closing.
            "   3: 0100007F:D431 0100007F:1F90 06 00000000:00000000 00:00000000 00000000     0        0 0 1",
            "   4: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 3 1",
        ]
        .join("\n");
        let want = (sa("127.0.0.1:54321"), sa("127.0.0.1:8080"));
        assert_eq!(find(table.as_bytes(), want).unwrap(), Some(1001));
        let other = (sa("127.0.0.1:54322"), sa("127.0.0.1:8080"));
        assert_eq!(find(table.as_bytes(), other).unwrap(), None);
    }

    #[test]
    fn a_real_connection_is_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let uid = owner(peer, listener.local_addr().unwrap()).unwrap();
        assert_eq!(uid, Some(nix::unistd::geteuid().as_raw()));
    }
}
