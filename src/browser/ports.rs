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

fn free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
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
}
