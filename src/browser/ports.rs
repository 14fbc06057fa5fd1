//! Ports for runs' dev servers, leased by the supervisor from a configured range: two runs
//! never get the same port, and a port something else already listens on is skipped.

use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct PortLeases {
    leased: BTreeSet<u16>,
}

impl PortLeases {
    /// The first port in `first..=last` that is neither leased nor in use.
    pub fn lease(&mut self, [first, last]: [u16; 2]) -> Option<u16> {
        let port = (first..=last).find(|p| !self.leased.contains(p) && free(*p))?;
        self.leased.insert(port);
        Some(port)
    }

    pub fn release(&mut self, port: u16) {
        self.leased.remove(&port);
    }
}

/// The leases, shared by the supervisor, its phases and the merge queue's browser checks.
pub type Shared = std::sync::Arc<std::sync::Mutex<PortLeases>>;

/// A port leased for a while, released when this goes.
pub struct Lease {
    leases: Shared,
    pub port: u16,
}

impl Lease {
    /// A port of `range` from `leases`, held until the lease is dropped.
    pub fn take(leases: &Shared, range: [u16; 2]) -> Option<Lease> {
        let port = leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lease(range)?;
        Some(Lease {
            leases: leases.clone(),
            port,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release(self.port);
    }
}

/// [`free`] without blocking the runtime that asks.
pub async fn free_now(port: u16) -> bool {
    if tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .is_err()
    {
        return false;
    }
    match tokio::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, port)).await {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::AddrInUse,
    }
}

/// Whether nothing listens on `port` on the loopback, IPv4 or IPv6 (a dev server told
/// `localhost` may bind `::1` only). Where this machine has no IPv6 loopback, IPv4 decides.
pub fn free(port: u16) -> bool {
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        return false;
    }
    match std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, port)) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::AddrInUse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_never_repeat_and_skip_busy_ports() {
        let busy = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let p = busy.local_addr().unwrap().port();
        let mut l = PortLeases::default();
        let got: Vec<u16> = (0..3)
            .filter_map(|_| l.lease([p, p.saturating_add(3)]))
            .collect();
        assert_eq!(got.len(), 3);
        assert!(!got.contains(&p), "a port in use was leased");
        let mut sorted = got.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 3);
        assert_eq!(l.lease([p, p.saturating_add(3)]), None);
        l.release(got[0]);
        assert_eq!(l.lease([p, p.saturating_add(3)]), Some(got[0]));
    }

    #[test]
    fn a_port_bound_on_the_ipv6_loopback_only_is_not_leased() {
        let Ok(busy) = std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)) else {
            eprintln!("skipped: no IPv6 loopback on this machine");
            return;
        };
        let p = busy.local_addr().unwrap().port();
        // Free on 127.0.0.1: only the IPv6 bind tells.
        drop(std::net::TcpListener::bind(("127.0.0.1", p)).expect("127.0.0.1 is free"));
        assert!(!free(p));
        let mut l = PortLeases::default();
        assert_eq!(l.lease([p, p]), None, "a port bound on ::1 was leased");
        drop(busy);
        assert_eq!(l.lease([p, p]), Some(p));
    }
}
