//! Writing `run.json` off the runtime, in order, keeping only the latest record of each run
//! when writes pile up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;

use crate::proof::store;
use crate::run::RunRecord;

enum Job {
    Save(PathBuf, Box<RunRecord>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

pub struct Persister {
    tx: mpsc::Sender<Job>,
}

impl Persister {
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("flightdeck-persist".into())
            .spawn(move || worker(rx))
            .map(|_| ())
            .unwrap_or_else(|e| crate::log!("cannot start the record writer: {e}"));
        Self { tx }
    }

    pub fn save(&self, dir: PathBuf, record: &RunRecord) {
        let _ = self.tx.send(Job::Save(dir, Box::new(record.clone())));
    }

    /// Wait until everything sent so far is on disk.
    pub async fn flush(&self) {
        self.flushed().await
    }

    /// A future that is done once everything sent so far is on disk (it holds no borrow, so a
    /// task can wait on it while the supervisor goes on).
    pub fn flushed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.tx.send(Job::Flush(tx)).is_ok();
        async move {
            if sent {
                let _ = rx.await;
            }
        }
    }
}

/// How often records that could not be written (a full disk) are tried again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

fn worker(rx: mpsc::Receiver<Job>) {
    // Records not on disk yet: written again until they are, unless a newer one comes.
    let mut failed: HashMap<PathBuf, Box<RunRecord>> = HashMap::new();
    loop {
        let first = match rx.recv_timeout(RETRY) {
            Ok(job) => Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) if !failed.is_empty() => None,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut order: Vec<PathBuf> = failed.keys().cloned().collect();
        let retried: std::collections::HashSet<PathBuf> = order.iter().cloned().collect();
        let mut latest: HashMap<PathBuf, Box<RunRecord>> = std::mem::take(&mut failed);
        let mut flushes = Vec::new();
        let mut take = |job: Job| match job {
            Job::Save(dir, rec) => {
                if latest.insert(dir.clone(), rec).is_none() {
                    order.push(dir);
                }
            }
            Job::Flush(done) => flushes.push(done),
        };
        if let Some(first) = first {
            take(first);
        }
        while let Ok(job) = rx.try_recv() {
            take(job);
        }
        for dir in order {
            if let Some(rec) = latest.remove(&dir) {
                if let Err(e) = store::write_record(&dir, &rec) {
                    // Said once, not at every retry.
                    if !retried.contains(&dir) {
                        crate::log!("cannot write {}/run.json: {e}", dir.display());
                    }
                    if crate::disk::is_full(&e) {
                        failed.insert(dir, rec);
                    }
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
