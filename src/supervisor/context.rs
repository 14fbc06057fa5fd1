//! What a run's workers share with the supervisor: the timeline, the process slot, the run's
//! directory. Timeline lines go to the run's writer (run_writer.rs), which broadcasts each to
//! subscribers once it is on disk.

use crate::proof::kind::TimelineKind;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc};

use crate::models::calls::ModelCall;
use crate::protocol::Event;
use crate::run::{Phase, RunRecord};
use crate::supervisor::process::ProcessSlot;
use crate::supervisor::{Internal, Msg};

use super::run_writer::{Job, RunWriter};

pub struct RunCtx {
    pub id: String,
    pub dir: PathBuf,
    pub procs: ProcessSlot,
    /// The run's one writer: timeline, model calls and run.json, in order, off the runtime.
    writer: RunWriter,
    /// Back to the supervisor: model calls add to the run's totals.
    pub(super) notify: mpsc::UnboundedSender<Msg>,
    /// Models already warned about (no price known).
    unpriced: Mutex<HashSet<String>>,
    /// The flightdeck program that runs the run's shim, tethers and built-in agent.
    pub exe: crate::self_exe::SelfExe,
    /// What starts the run's processes.
    pub spawner: super::spawner::Spawner,
    /// PR.md refreshes, written in the order they were asked for.
    pub pr: std::sync::Arc<super::in_order::InOrder>,
}

impl RunCtx {
    pub(super) fn new(
        id: String,
        dir: PathBuf,
        events: broadcast::Sender<Event>,
        notify: mpsc::UnboundedSender<Msg>,
        exe: crate::self_exe::SelfExe,
        spawner: super::spawner::Spawner,
    ) -> Arc<Self> {
        Arc::new(Self {
            writer: RunWriter::new(id.clone(), dir.clone(), events),
            id,
            dir,
            procs: ProcessSlot::new(),
            notify,
            unpriced: Mutex::new(HashSet::new()),
            exe,
            spawner,
            pr: Default::default(),
        })
    }

    /// A tether's owner: this run.
    pub fn tether(&self) -> crate::tether::Owner<'_> {
        crate::tether::Owner {
            exe: &self.exe,
            run_dir: &self.dir,
            spawner: &self.spawner,
        }
    }

    /// A full-disk error this run's writes met, if any.
    pub fn disk_full(&self) -> Option<String> {
        self.writer.health(|h| h.disk_full.clone())
    }

    /// Another write error this run's files met (permissions, I/O), if any.
    pub fn write_failed(&self) -> Option<String> {
        self.writer.health(|h| h.write_failed.clone())
    }

    /// A private directory for the agent's own state, outside the proof pack.
    pub fn agent_home(&self) -> PathBuf {
        let home = self
            .dir
            .parent()
            .and_then(|p| p.parent())
            .unwrap_or(&self.dir);
        home.join("agent-homes").join(&self.id)
    }

    /// Record a model call: `model_calls.jsonl`, an `llm.call` line, the run's totals.
    pub fn record_call(&self, phase: Phase, call: ModelCall) {
        match serde_json::to_vec(&call) {
            Ok(mut line) => {
                line.push(b'\n');
                self.writer.send(Job::Call(line));
            }
            Err(e) => tracing::error!("run {}: cannot encode a model call: {e}", self.id),
        }
        if call.cost_usd.is_none() {
            let first = self
                .unpriced
                .lock()
                .map(|mut s| s.insert(call.model.clone()))
                .unwrap_or(false);
            if first {
                self.emit(
                    phase,
                    TimelineKind::LlmPriceUnknown,
                    crate::fields! {
                        "model" => call.model,
                        "message" => format!(
                            "no price for model `{}` in the price table: its cost is recorded as null; add [pricing.models.\"{}\"] to config",
                            call.model, call.model
                        ),
                    },
                );
            }
        }
        self.emit(phase, TimelineKind::LlmCall, call.timeline_fields());
        let _ = self.notify.send(Msg::Internal(Internal::Call {
            run: self.id.clone(),
            call: Box::new(call),
        }));
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Append a timeline line; it is broadcast once it is on disk. A write error is logged,
    /// never fatal: the run goes on (a full disk fails it at its phase's end).
    pub fn emit(&self, phase: Phase, kind: TimelineKind, fields: Map<String, Value>) {
        self.writer.send(Job::Line {
            phase,
            kind,
            fields,
        });
    }

    /// Write `run.json` after every line sent before it, then tell subscribers.
    pub(super) fn save(&self, record: &RunRecord) {
        self.writer.send(Job::Record(Box::new(record.clone())));
    }

    /// Done once everything sent so far is on disk.
    pub fn flushed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.writer.flushed()
    }

    /// A phase is about to run: keep the timeline open for its lines.
    pub fn activate(&self) {
        self.writer.send(Job::Active(true));
    }

    /// The run ended: make its timeline durable and close it (lines from now on, a merge
    /// say, open and close the file).
    pub fn deactivate(&self) {
        self.writer.send(Job::Active(false));
        self.writer.send(Job::Sync);
    }

    /// Make the timeline durable (phase boundaries): once the returned future is done.
    pub fn sync_timeline(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.writer.send(Job::Sync);
        self.writer.flushed()
    }
}
