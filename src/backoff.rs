//! Backing off when `accept` fails. Out of descriptors (EMFILE), `accept` fails at once and
//! forever; retrying in a tight loop burns a core and writes thousands of log lines a second.
//! Wait longer after each failure (10 ms doubling to 1 s), log the first failure and then at
//! most once a minute with a count, and say when accepting works again.

use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_millis(10);
const MOST: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
    failures: u64,
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl AcceptBackoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// After a failed accept: how long to wait before the next one, and a line to log if
    /// one is due.
    pub fn failed(
        &mut self,
        what: &str,
        err: &std::io::Error,
        now: Instant,
    ) -> (Duration, Option<String>) {
        let delay = self.delay.map_or(FIRST, |d| (d * 2).min(MOST));
        self.delay = Some(delay);
        self.failures += 1;
        self.unlogged += 1;
        let due = self
            .logged_at
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY);
        if !due {
            return (delay, None);
        }
        let line = if self.unlogged > 1 {
            format!(
                "{what}: accept failed {} times since the last report: {err}; waiting up to {} ms between tries",
                self.unlogged,
                MOST.as_millis()
            )
        } else {
            format!("{what}: accept failed: {err}; backing off")
        };
        self.logged_at = Some(now);
        self.unlogged = 0;
        (delay, Some(line))
    }

    /// After a successful accept: a line to log if it had been failing.
    pub fn succeeded(&mut self, what: &str) -> Option<String> {
        if self.failures == 0 {
            return None;
        }
        let line = format!("{what}: accepting again after {} failures", self.failures);
        *self = Self::default();
        Some(line)
    }
}

/// Waiting between tries to reach something that went away (a host's feed over ssh): `first`,
/// doubling up to `most`; back to `first` once it answered.
#[derive(Debug, Clone)]
pub struct Retry {
    first: Duration,
    most: Duration,
    next: Duration,
}

impl Retry {
    pub fn new(first: Duration, most: Duration) -> Self {
        Self {
            first,
            most,
            next: first,
        }
    }

    /// How long to wait before the next try.
    pub fn wait(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.most);
        now
    }

    /// It answered: the next loss starts again from `first`.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_waits_double_up_to_the_most_and_start_again_after_an_answer() {
        let mut r = Retry::new(Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<u64> = (0..5).map(|_| r.wait().as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5]);
        r.reset();
        assert_eq!(r.wait(), Duration::from_secs(1));
    }

    #[test]
    fn waits_grow_and_logging_is_rate_limited() {
        let mut b = AcceptBackoff::new();
        let err = std::io::Error::from_raw_os_error(24); // EMFILE
        let t0 = Instant::now();
        let (d, line) = b.failed("server", &err, t0);
        assert_eq!(d, FIRST);
        assert!(line.unwrap().contains("accept failed"));
        let mut waits = vec![d];
        let mut lines = 0;
        for i in 1..1000 {
            let (d, line) = b.failed("server", &err, t0 + Duration::from_millis(i));
            waits.push(d);
            lines += line.is_some() as usize;
        }
        assert_eq!(lines, 0, "a burst logs once");
        assert_eq!(*waits.last().unwrap(), MOST);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        let (_, line) = b.failed("server", &err, t0 + LOG_EVERY);
        assert!(line.unwrap().contains("1000 times"));
        assert!(b.succeeded("server").unwrap().contains("1001 failures"));
        assert!(b.succeeded("server").is_none());
        assert_eq!(b.failed("server", &err, t0).0, FIRST);
    }
}
