//! One writer per run for its files: the timeline, the model calls and `run.json`, written in
//! the order they were asked for on a thread of the run's own, never on the async runtime.
//! A line is on disk before it is broadcast, and before any record sent after it is: so a
//! state the supervisor publishes never runs ahead of the lines that explain it. `flushed`
//! says when everything asked so far is on disk (replies to clients wait for it).
//!
//! The thread lives while a phase of the run is under way, or it has something to write, and
//! ends after a while idle otherwise (a server with thousands of finished runs holds no thread
//! for them); the next write starts it again. Lines that wait for a full disk keep it alive and are tried again every second.

use crate::proof::kind::TimelineKind;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::paths::pack;
use crate::proof::timeline::TimelineWriter;
use crate::protocol::Event;
use crate::run::{Phase, RunRecord};

/// How long a writer thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(20);
/// How often writes that met a full disk are tried again.
const RETRY: Duration = Duration::from_secs(1);

pub(super) enum Job {
    Line {
        phase: Phase,
        kind: TimelineKind,
        fields: Map<String, Value>,
    },
    /// A model call's line for `model_calls.jsonl`.
    Call(Vec<u8>),
    /// `run.json`, then the record to subscribers.
    Record(Box<RunRecord>),
    /// Keep the timeline open (a phase runs) or close it after each write.
    Active(bool),
    /// fsync the timeline (a phase boundary, the run's end).
    Sync,
    Flushed(tokio::sync::oneshot::Sender<()>),
}

/// What the writer reports back: the first write a full disk refused (the run fails with it).
#[derive(Default)]
pub(super) struct Health {
    pub disk_full: Option<String>,
    /// Another write error (permissions, I/O): evidence lost all the same.
    pub write_failed: Option<String>,
}

struct Shared {
    id: String,
    dir: std::path::PathBuf,
    events: broadcast::Sender<Event>,
    /// The running thread's inbox; None when no thread runs. Held while sending, and by a
    /// thread that ends, so no job is sent to a thread on its way out.
    inbox: Mutex<Option<mpsc::Sender<Job>>>,
    health: Mutex<Health>,
}

#[derive(Clone)]
pub(super) struct RunWriter {
    shared: Arc<Shared>,
}

impl RunWriter {
    pub fn new(id: String, dir: std::path::PathBuf, events: broadcast::Sender<Event>) -> Self {
        Self {
            shared: Arc::new(Shared {
                id,
                dir,
                events,
                inbox: Mutex::new(None),
                health: Mutex::new(Health::default()),
            }),
        }
    }

    pub fn send(&self, job: Job) {
        let mut inbox = self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let job = match inbox.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel();
        let shared = self.shared.clone();
        let started = std::thread::Builder::new()
            .name(format!("fd-write-{}", shared.id))
            // Small: it only moves lines and records to files.
            .stack_size(256 * 1024)
            .spawn(move || work(&shared, rx));
        match started {
            Ok(_) => {
                let _ = tx.send(job);
                *inbox = Some(tx);
            }
            Err(e) => {
                // Out of threads: written here and now rather than lost.
                tracing::error!(
                    "run {}: cannot start its writer ({e}); writing in place",
                    self.shared.id
                );
                let mut files = Files {
                    shared: &self.shared,
                    timeline: None,
                    active: false,
                    record: None,
                };
                files.take(vec![job]);
            }
        }
    }

    /// Done once everything sent so far is on disk (or was refused by it). With no thread
    /// running nothing is waiting, and none is started to say so.
    pub fn flushed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let running = self
            .shared
            .inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if running {
            self.send(Job::Flushed(tx));
        }
        async move {
            if running {
                let _ = rx.await;
            }
        }
    }

    pub fn health<T>(&self, read: impl FnOnce(&Health) -> T) -> T {
        read(&self.shared.health.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The writer thread: take what is sent, in order, until idle for a while.
fn work(shared: &Arc<Shared>, rx: mpsc::Receiver<Job>) {
    let mut files = Files {
        shared,
        timeline: None,
        active: false,
        record: None,
    };
    loop {
        let waiting = files.waiting();
        let job = match rx.recv_timeout(if waiting { RETRY } else { IDLE }) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Timeout) if waiting => None,
            Err(RecvTimeoutError::Timeout) => {
                let mut inbox = shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
                match rx.try_recv() {
                    Ok(job) => {
                        drop(inbox);
                        Some(job)
                    }
                    // A phase under way keeps its thread and its open timeline, however quiet
                    // its agent (a new thread would open the file again for every line).
                    Err(_) if !files.waiting() && !files.active => {
                        // Ends here, with the inbox held: the next send starts a new thread.
                        *inbox = None;
                        return;
                    }
                    Err(_) => None,
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        files.retry();
        if let Some(job) = job {
            let mut batch = vec![job];
            batch.extend(rx.try_iter());
            files.take(batch);
        }
    }
}

struct Files<'a> {
    shared: &'a Shared,
    timeline: Option<TimelineWriter>,
    active: bool,
    /// A record the disk refused (full, or any write error), written again until it is
    /// (unless a newer one comes).
    record: Option<Box<RunRecord>>,
}

impl Files<'_> {
    fn waiting(&self) -> bool {
        self.record.is_some() || self.timeline.as_ref().is_some_and(|t| t.has_pending())
    }

    fn take(&mut self, batch: Vec<Job>) {
        // Only the newest record of a batch is written: the others are already out of date.
        let newest = batch.iter().rposition(|j| matches!(j, Job::Record(_)));
        for (i, job) in batch.into_iter().enumerate() {
            match job {
                Job::Line {
                    phase,
                    kind,
                    fields,
                } => self.line(phase, kind, fields),
                Job::Call(line) => self.call(&line),
                Job::Record(rec) if Some(i) == newest => self.record(rec),
                Job::Record(_) => {}
                Job::Active(on) => {
                    self.active = on;
                    self.close_if_idle();
                }
                Job::Sync => {
                    if let Some(Err(e)) = self.timeline.as_mut().map(|t| t.sync()) {
                        tracing::warn!("run {}: cannot sync timeline: {e}", self.shared.id);
                    }
                    self.close_if_idle();
                }
                Job::Flushed(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    /// A finished run holds no descriptor: its timeline closes after each write.
    fn close_if_idle(&mut self) {
        if !self.active && !self.timeline.as_ref().is_some_and(|t| t.has_pending()) {
            self.timeline = None;
        }
    }

    /// Blocking, like every write here: this runs on the run's writer thread.
    fn line(&mut self, phase: Phase, kind: TimelineKind, fields: Map<String, Value>) {
        if self.timeline.is_none() {
            match TimelineWriter::open(&self.shared.dir.join(pack::TIMELINE), &self.shared.id) {
                Ok(w) => self.timeline = Some(w),
                Err(e) => {
                    self.failed("the timeline", &e);
                    tracing::error!("run {}: cannot open timeline: {e}", self.shared.id);
                    return;
                }
            }
        }
        let Some(writer) = self.timeline.as_mut() else {
            return;
        };
        let appended = writer.append_all(phase, kind.as_str(), fields);
        match appended {
            // Lines that waited for a full disk go out too, in order.
            Ok(lines) => self.broadcast(lines),
            Err(e) => {
                self.failed("the timeline", &e);
                tracing::warn!(
                    "run {}: cannot write timeline ({kind}): {e}",
                    self.shared.id
                );
            }
        }
        self.close_if_idle();
    }

    /// Blocking (the writer thread).
    fn call(&mut self, line: &[u8]) {
        use std::io::Write;
        let appended = crate::owner_only::options()
            .create(true)
            .append(true)
            .open(self.shared.dir.join(pack::MODEL_CALLS))
            .and_then(|mut f| f.write_all(line));
        if let Err(e) = appended {
            self.failed("model_calls.jsonl", &e);
            tracing::error!(
                "run {}: cannot write model_calls.jsonl: {e}",
                self.shared.id
            );
        }
    }

    /// Blocking (the writer thread).
    fn record(&mut self, rec: Box<RunRecord>) {
        let event = Event::Run { run: rec.clone() };
        match crate::proof::store::write_record(&self.shared.dir, &rec) {
            Ok(()) => self.record = None,
            Err(e) => {
                // Said once, not at every retry.
                if self.record.is_none() {
                    tracing::error!("cannot write {}/run.json: {e}", self.shared.dir.display());
                }
                self.failed("run.json", &e);
                // Kept to be written again: run.json never stays behind what `ls` says.
                self.record = Some(rec);
            }
        }
        // Subscribers hear of the state even when the disk refused it: the server goes on.
        let _ = self.shared.events.send(event);
    }

    /// Writes that met a full disk, once more. Blocking (the writer thread).
    fn retry(&mut self) {
        if let Some(rec) = self.record.take() {
            if crate::proof::store::write_record(&self.shared.dir, &rec).is_err() {
                self.record = Some(rec);
            }
        }
        if let Some(w) = self.timeline.as_mut().filter(|t| t.has_pending()) {
            if let Ok(lines) = w.flush_pending() {
                self.broadcast(lines);
                self.close_if_idle();
            }
        }
    }

    fn failed(&self, what: &str, e: &std::io::Error) {
        let said = format!("cannot write {what}: {e}");
        self.health(|h| {
            if crate::disk::is_full(e) {
                h.disk_full.get_or_insert(said);
            } else {
                h.write_failed.get_or_insert(said);
            }
        });
    }

    fn health(&self, change: impl FnOnce(&mut Health)) {
        change(&mut self.shared.health.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn broadcast(&self, lines: Vec<Value>) {
        for line in lines {
            let _ = self.shared.events.send(Event::Timeline {
                run: self.shared.id.clone(),
                line,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(dir: &std::path::Path) -> RunRecord {
        RunRecord::queued(
            "ab12cd34",
            "t",
            "scripted",
            dir.into(),
            dir.into(),
            crate::run::WorkspaceKind::Worktree,
        )
    }

    #[tokio::test]
    async fn lines_reach_disk_and_subscribers_before_the_record_sent_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let (events, mut rx) = broadcast::channel(64);
        let w = RunWriter::new("ab12cd34".into(), dir.path().into(), events);
        for i in 0..3 {
            w.send(Job::Line {
                phase: Phase::Agent,
                kind: TimelineKind::AgentOutput,
                fields: crate::fields! {"text" => format!("line {i}")},
            });
        }
        w.send(Job::Record(Box::new(record(dir.path()))));
        w.send(Job::Call(b"{\"model\":\"m\"}\n".to_vec()));
        w.flushed().await;
        let lines = crate::proof::timeline::read_all(&dir.path().join(pack::TIMELINE)).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["seq"], 3);
        assert!(dir.path().join(pack::RUN).exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(pack::MODEL_CALLS)).unwrap(),
            "{\"model\":\"m\"}\n"
        );
        let mut order = Vec::new();
        while let Ok(e) = rx.try_recv() {
            order.push(match e {
                Event::Timeline { .. } => "line",
                Event::Run { .. } => "record",
                _ => "other",
            });
        }
        assert_eq!(order, ["line", "line", "line", "record"]);
    }

    #[tokio::test]
    async fn the_newest_record_wins_and_flushing_an_idle_writer_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (events, mut rx) = broadcast::channel(64);
        let w = RunWriter::new("ab12cd34".into(), dir.path().into(), events);
        // Nothing was ever sent: nothing to wait for, and no thread is started to say so.
        w.flushed().await;
        assert!(w.shared.inbox.lock().unwrap().is_none());
        let mut first = record(dir.path());
        first.task = "first".into();
        let mut second = record(dir.path());
        second.task = "second".into();
        w.send(Job::Record(Box::new(first)));
        w.send(Job::Record(Box::new(second)));
        w.flushed().await;
        let on_disk = crate::proof::store::read_record(dir.path()).unwrap();
        assert_eq!(on_disk.task, "second");
        let mut tasks = Vec::new();
        while let Ok(Event::Run { run }) = rx.try_recv() {
            tasks.push(run.task);
        }
        assert_eq!(tasks.last().map(String::as_str), Some("second"));
    }
}
