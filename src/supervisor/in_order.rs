//! Refreshes of one file that must land in the order they were asked for (a run's PR.md:
//! the radar's findings, then a merge). Each request takes a number; a job that finds a
//! newer request already written does nothing, so a slow old job never overwrites a new one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct InOrder {
    asked: AtomicU64,
    /// The newest request written; held while writing, so writes do not interleave.
    written: Mutex<u64>,
}

impl InOrder {
    /// A number for a new request (on the supervisor task, in the order of requests).
    pub fn ask(&self) -> u64 {
        self.asked.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Run `write` for request `n` unless a newer one was written already. Blocking.
    pub fn write(&self, n: u64, write: impl FnOnce()) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if *written >= n {
            return false;
        }
        write();
        *written = n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_refresh_that_runs_last_does_not_overwrite_the_newer() {
        let order = InOrder::default();
        let mut file = String::new();
        let (radar, merge) = (order.ask(), order.ask());
        // The race: the merge's refresh runs first, the radar's after it.
        assert!(order.write(merge, || file = "merged".into()));
        assert!(!order.write(radar, || file = "radar".into()));
        assert_eq!(file, "merged");
        // In order, both write.
        let (a, b) = (order.ask(), order.ask());
        assert!(order.write(a, || file = "a".into()));
        assert!(order.write(b, || file = "b".into()));
        assert_eq!(file, "b");
    }
}
