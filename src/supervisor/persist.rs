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

fn worker(rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut latest: HashMap<PathBuf, Box<RunRecord>> = HashMap::new();
        let mut order: Vec<PathBuf> = Vec::new();
        let mut flushes = Vec::new();
        let mut take = |job: Job| match job {
            Job::Save(dir, rec) => {
                if latest.insert(dir.clone(), rec).is_none() {
                    order.push(dir);
                }
            }
            Job::Flush(done) => flushes.push(done),
        };
        take(first);
        while let Ok(job) = rx.try_recv() {
            take(job);
        }
        for dir in order {
            if let Some(rec) = latest.remove(&dir) {
                if let Err(e) = store::write_record(&dir, &rec) {
                    crate::log!("cannot write {}/run.json: {e}", dir.display());
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
