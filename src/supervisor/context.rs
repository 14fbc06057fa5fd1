//! What a run's workers share with the supervisor: the timeline, the process slot, the run's
//! directory. Timeline lines are written here and broadcast to subscribers as they are written.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc};

use crate::models::calls::ModelCall;
use crate::paths::pack;
use crate::proof::timeline::TimelineWriter;
use crate::protocol::Event;
use crate::run::Phase;
use crate::supervisor::process::ProcessSlot;
use crate::supervisor::{Internal, Msg};

pub struct RunCtx {
    pub id: String,
    pub dir: PathBuf,
    pub procs: ProcessSlot,
    timeline: Mutex<Option<TimelineWriter>>,
    /// While a phase runs the timeline stays open; otherwise each line opens and closes it,
    /// so finished runs hold no descriptors (a server with thousands of runs must not leak).
    active: AtomicBool,
    events: broadcast::Sender<Event>,
    /// Back to the supervisor: model calls add to the run's totals.
    pub(super) notify: mpsc::UnboundedSender<Msg>,
    /// Models already warned about (no price known).
    unpriced: Mutex<HashSet<String>>,
    /// The first full-disk error a write of this run met (its phase then fails with it).
    disk_full: Mutex<Option<String>>,
    /// Timeline lines wait to be written (a full disk): retried until they are.
    pending: AtomicBool,
    /// The flightdeck program that runs the run's shim, tethers and built-in agent.
    pub exe: crate::self_exe::SelfExe,
    /// PR.md refreshes, written in the order they were asked for.
    pub pr: super::in_order::InOrder,
}

impl RunCtx {
    pub(super) fn new(
        id: String,
        dir: PathBuf,
        events: broadcast::Sender<Event>,
        notify: mpsc::UnboundedSender<Msg>,
        exe: crate::self_exe::SelfExe,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            dir,
            procs: ProcessSlot::new(),
            timeline: Mutex::new(None),
            active: AtomicBool::new(false),
            events,
            notify,
            unpriced: Mutex::new(HashSet::new()),
            disk_full: Mutex::new(None),
            pending: AtomicBool::new(false),
            exe,
            pr: Default::default(),
        })
    }

    /// A tether's owner: this run.
    pub fn tether(&self) -> crate::tether::Owner<'_> {
        crate::tether::Owner {
            exe: &self.exe,
            run_dir: &self.dir,
        }
    }

    /// A full-disk error this run's writes met, if any.
    pub fn disk_full(&self) -> Option<String> {
        self.disk_full
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Note a write error; a full disk is kept to fail the run with.
    pub fn write_failed(&self, what: &str, e: &std::io::Error) {
        if crate::disk::is_full(e) {
            let mut full = self.disk_full.lock().unwrap_or_else(|p| p.into_inner());
            if full.is_none() {
                *full = Some(format!("cannot write {what}: {e}"));
            }
        }
    }

    /// Whether timeline lines wait to be written.
    pub fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Write the timeline lines that wait (space came back). Blocking.
    pub fn retry_pending(&self) {
        let mut guard = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        let Some(w) = guard.as_mut() else {
            self.pending.store(false, Ordering::Release);
            return;
        };
        if let Ok(lines) = w.flush_pending() {
            self.broadcast(lines);
            self.pending.store(false, Ordering::Release);
            if !self.active.load(Ordering::Acquire) {
                *guard = None;
            }
        }
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
                let appended = crate::owner_only::options()
                    .create(true)
                    .append(true)
                    .open(self.path(pack::MODEL_CALLS))
                    .and_then(|mut f| f.write_all(&line));
                if let Err(e) = appended {
                    crate::log!("run {}: cannot write model_calls.jsonl: {e}", self.id);
                }
            }
            Err(e) => crate::log!("run {}: cannot encode a model call: {e}", self.id),
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
                    "llm.price_unknown",
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
        self.emit(phase, "llm.call", call.timeline_fields());
        let _ = self.notify.send(Msg::Internal(Internal::Call {
            run: self.id.clone(),
            call: Box::new(call),
        }));
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Append a timeline line and broadcast it. A write error is logged, never fatal: the run
    /// goes on, and the server log says what could not be recorded.
    pub fn emit(&self, phase: Phase, kind: &str, fields: Map<String, Value>) {
        let mut guard = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            match TimelineWriter::open(&self.path(pack::TIMELINE), &self.id) {
                Ok(w) => *guard = Some(w),
                Err(e) => {
                    crate::log!("run {}: cannot open timeline: {e}", self.id);
                    return;
                }
            }
        }
        let Some(writer) = guard.as_mut() else { return };
        let appended = writer.append_all(phase, kind, fields);
        let waiting = writer.has_pending();
        self.pending.store(waiting, Ordering::Release);
        // Lines that wait keep the writer (they are only in it).
        if !self.active.load(Ordering::Acquire) && !waiting {
            *guard = None;
        }
        match appended {
            // Lines that waited for a full disk go out too, in order. Nobody listening is fine.
            Ok(lines) => self.broadcast(lines),
            Err(e) => {
                self.write_failed("the timeline", &e);
                crate::log!("run {}: cannot write timeline ({kind}): {e}", self.id)
            }
        }
    }

    fn broadcast(&self, lines: Vec<Value>) {
        for line in lines {
            let _ = self.events.send(Event::Timeline {
                run: self.id.clone(),
                line,
            });
        }
    }

    /// A phase is about to run: keep the timeline open for its lines.
    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    /// The run ended: lines from now on (a merge, say) open and close the file.
    pub fn deactivate(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// After the run ended: make the timeline durable and close it, unless a new phase
    /// started meanwhile. Blocking: fsync.
    pub fn finish_files(&self) {
        let mut guard = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = guard.as_mut() {
            if let Err(e) = w.sync() {
                crate::log!("run {}: cannot sync timeline: {e}", self.id);
            }
        }
        if !self.active.load(Ordering::Acquire) && !guard.as_ref().is_some_and(|w| w.has_pending())
        {
            *guard = None;
        }
    }

    /// Make the timeline durable (phase boundaries). Blocking: fsync.
    pub fn sync_timeline(&self) {
        let mut guard = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = guard.as_mut() {
            if let Err(e) = w.sync() {
                crate::log!("run {}: cannot sync timeline: {e}", self.id);
            }
        }
    }
}
