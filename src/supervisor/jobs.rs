//! The supervisor's off-thread work, through one runner (gitui's `AsyncSingleJob` is the
//! model): a job runs off the supervisor task and its result comes back to the supervisor's
//! inbox as a message. A job that panics still reports, with the panic's message, so nothing
//! waits for it for ever and nothing mistakes a crash for an empty result.
//!
//! Policies beside plain jobs: `SingleFlight` (one at a time; asks while it runs coalesce into
//! one more run: the radar), and keyed order (`in_order::InOrder`: a run's PR.md refreshes land
//! in the order they were asked for). Merges are first-in first-out per target branch, in
//! their lanes (merge_queue.rs).

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

/// A job that did not return: it panicked (with this message) or was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JobFailed(pub String);

impl JobFailed {
    fn from_join(e: tokio::task::JoinError) -> Self {
        if !e.is_panic() {
            return JobFailed("was cancelled".into());
        }
        let payload = e.into_panic();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        JobFailed(format!("panicked: {message}"))
    }
}

/// Starts jobs whose results come back as messages `M` on the owner's inbox.
pub struct Jobs<M> {
    tx: UnboundedSender<M>,
}

impl<M> Clone for Jobs<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<M: Send + 'static> Jobs<M> {
    pub fn new(tx: UnboundedSender<M>) -> Self {
        Self { tx }
    }

    /// Run blocking `work` (git, files) on the blocking pool; `done` makes its result, or how
    /// it failed, into the message the owner gets.
    pub fn blocking<T, W, D>(&self, work: W, done: D)
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        D: FnOnce(Result<T, JobFailed>) -> M + Send + 'static,
    {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(work)
                .await
                .map_err(JobFailed::from_join);
            let _ = tx.send(done(result));
        });
    }

    /// Run async `work` (a phase) as a task of its own; reported like `blocking`.
    pub fn task<T, F, D>(&self, work: F, done: D)
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
        D: FnOnce(Result<T, JobFailed>) -> M + Send + 'static,
    {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = tokio::spawn(work).await.map_err(JobFailed::from_join);
            let _ = tx.send(done(result));
        });
    }

    /// Blocking work whose result nobody waits for (PR.md rewritten, memory given back): a
    /// failure is logged, naming `what`.
    pub fn detached<W>(&self, what: &'static str, work: W)
    where
        W: FnOnce() + Send + 'static,
    {
        self.detached_after(what, async {}, work)
    }

    /// `detached`, once `ready` is done (a record on disk, say).
    pub fn detached_after<R, W>(&self, what: &'static str, ready: R, work: W)
    where
        R: Future<Output = ()> + Send + 'static,
        W: FnOnce() + Send + 'static,
    {
        tokio::spawn(async move {
            ready.await;
            if let Err(e) = tokio::task::spawn_blocking(work).await {
                tracing::error!("{what}: {}", JobFailed::from_join(e));
            }
        });
    }

    /// Send `message` to the owner once every one of `ready` is done.
    pub fn when_all<R>(&self, ready: Vec<R>, message: M)
    where
        R: Future<Output = ()> + Send + 'static,
    {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            for r in ready {
                r.await;
            }
            let _ = tx.send(message);
        });
    }

    /// Send `message` to the owner after `delay`.
    pub fn after(&self, delay: Duration, message: M) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(message);
        });
    }
}

/// One job of a kind at a time. Asking while it runs does not start another: it owes one more
/// run, however many times it was asked, once the running job is done.
#[derive(Debug, Default)]
pub struct SingleFlight {
    running: bool,
    again: bool,
}

impl SingleFlight {
    /// Whether the job may start now; if not, one more run is owed.
    pub fn ask(&mut self) -> bool {
        if self.running {
            self.again = true;
            false
        } else {
            self.running = true;
            true
        }
    }

    /// The running job ended (or was not needed after all): whether a run is owed.
    pub fn done(&mut self) -> bool {
        self.running = false;
        std::mem::take(&mut self.again)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_that_panics_reports_its_message() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let jobs = Jobs::new(tx);
        jobs.blocking(|| -> u32 { panic!("disk on fire") }, |r| r);
        assert_eq!(
            rx.recv().await,
            Some(Err(JobFailed("panicked: disk on fire".into())))
        );
        jobs.task(async { 7u32 }, |r| r);
        assert_eq!(rx.recv().await, Some(Ok(7)));
        jobs.task(
            async {
                let n = std::hint::black_box(1u32);
                if n == 1 {
                    panic!("phase {n} broke");
                }
                n
            },
            |r| r,
        );
        assert_eq!(
            rx.recv().await,
            Some(Err(JobFailed("panicked: phase 1 broke".into())))
        );
    }

    #[test]
    fn asks_while_a_job_runs_coalesce_into_one_more_run() {
        let mut f = SingleFlight::default();
        assert!(f.ask());
        assert!(!f.ask());
        assert!(!f.ask());
        assert!(f.done(), "one run is owed");
        assert!(f.ask());
        assert!(!f.done(), "nothing was asked meanwhile");
    }
}
