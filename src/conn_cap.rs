//! A cap on open connections, for the control socket and the gateway. At the cap a new
//! connection makes room by closing the oldest idle one (nothing asked yet, or nothing in
//! flight): a flood of idle connections then costs at most the cap in descriptors, and cannot
//! lock out a client that actually asks something.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

pub struct ConnCap {
    cap: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    /// By age: the oldest first.
    open: BTreeMap<u64, Slot>,
}

struct Slot {
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
}

/// One connection's place under the cap; dropping it frees the place.
pub struct Conn {
    cap: Arc<ConnCap>,
    id: u64,
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
}

/// While held, the connection has a request in flight and is not closed to make room.
pub struct Busy(Arc<AtomicUsize>);

impl ConnCap {
    pub fn new(cap: usize) -> Arc<ConnCap> {
        Arc::new(ConnCap {
            cap: cap.max(1),
            state: Mutex::new(State::default()),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A place for a new connection, made if need be by closing the oldest idle one; None
    /// when every open connection is busy.
    pub fn open(self: &Arc<Self>) -> Option<Conn> {
        // Plain bookkeeping: a panic elsewhere cannot leave it half-changed.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.open.len() >= self.cap {
            let idle = state
                .open
                .iter()
                .find(|(_, s)| s.busy.load(Ordering::SeqCst) == 0)
                .map(|(id, _)| *id)?;
            if let Some(slot) = state.open.remove(&idle) {
                slot.close.notify_one();
            }
        }
        let id = state.next;
        state.next += 1;
        let (busy, close) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
        state.open.insert(
            id,
            Slot {
                busy: busy.clone(),
                close: close.clone(),
            },
        );
        Some(Conn {
            cap: self.clone(),
            id,
            busy,
            close,
        })
    }

    /// How many connections hold a place now.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.open.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Conn {
    /// Mark a request in flight until the returned guard is dropped.
    pub fn busy(&self) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.busy.clone())
    }

    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }

    /// Resolves once the connection must close to make room for a newer one.
    pub async fn closed(&self) {
        self.close.notified().await
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut state = self.cap.state.lock().unwrap_or_else(|e| e.into_inner());
        state.open.remove(&self.id);
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_now(conn: &Conn) -> bool {
        let fut = conn.closed();
        futures_util::pin_mut!(fut);
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        fut.as_mut().poll(&mut cx).is_ready()
    }

    use std::future::Future;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let cap = ConnCap::new(3);
        let a = cap.open().unwrap();
        let b = cap.open().unwrap();
        let c = cap.open().unwrap();
        let _busy = a.busy();
        let d = cap.open().expect("room is made");
        assert_eq!(cap.len(), 3);
        assert!(!closed_now(&a), "a busy connection stays");
        assert!(closed_now(&b), "the oldest idle one goes");
        assert!(!closed_now(&c));
        assert!(!closed_now(&d));
        drop(b);
        assert_eq!(cap.len(), 3, "dropping a closed one frees nothing twice");
    }

    #[test]
    fn when_every_connection_is_busy_a_new_one_is_refused() {
        let cap = ConnCap::new(2);
        let a = cap.open().unwrap();
        let b = cap.open().unwrap();
        let (_x, _y) = (a.busy(), b.busy());
        assert!(cap.open().is_none());
        drop(_x);
        assert!(cap.open().is_some(), "an idle one again makes room");
    }

    #[test]
    fn dropping_a_connection_frees_its_place() {
        let cap = ConnCap::new(1);
        let a = cap.open().unwrap();
        drop(a);
        assert!(cap.is_empty());
        let b = cap.open().unwrap();
        assert!(!closed_now(&b));
    }
}
