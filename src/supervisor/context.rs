//! What a run's workers share with the supervisor: the timeline, the process slot, the run's
//! directory. Timeline lines are written here and broadcast to subscribers as they are written.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::paths::pack;
use crate::proof::timeline::TimelineWriter;
use crate::protocol::Event;
use crate::run::Phase;
use crate::supervisor::process::ProcessSlot;

pub struct RunCtx {
    pub id: String,
    pub dir: PathBuf,
    pub procs: ProcessSlot,
    timeline: Mutex<Option<TimelineWriter>>,
    events: broadcast::Sender<Event>,
}

impl RunCtx {
    pub fn new(id: String, dir: PathBuf, events: broadcast::Sender<Event>) -> Arc<Self> {
        Arc::new(Self {
            id,
            dir,
            procs: ProcessSlot::new(),
            timeline: Mutex::new(None),
            events,
        })
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
        match writer.append(phase, kind, fields) {
            Ok(line) => {
                // Nobody listening is fine.
                let _ = self.events.send(Event::Timeline {
                    run: self.id.clone(),
                    line,
                });
            }
            Err(e) => crate::log!("run {}: cannot write timeline ({kind}): {e}", self.id),
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
