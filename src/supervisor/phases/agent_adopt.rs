//! Adopting an agent after a server restart: the run was in its agent phase when the last
//! server stopped, and its shim is still alive (or recorded the agent's end). Follow
//! agent.log from where the timeline had got to (no line lost, none doubled), put the run's
//! gateway link back under the same token, and carry on as if nothing had happened.

use crate::proof::kind::TimelineKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fields;
use crate::paths::pack;
use crate::proof::timeline;
use crate::run::Phase;
use crate::shim::files::{self, Found, ShimFile};
use crate::supervisor::agent_process::AgentProcess;
use crate::supervisor::context::RunCtx;

use super::agent::{link_for, supervise, Watch};
use super::{blocking, PhaseJob, PhaseReport, Update};

pub const FILE: &str = "agent.json";

/// What the server that started the agent wrote down for a later one (0600: it holds the
/// run's gateway token, which is not a provider key but still a credential).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adoption {
    pub log_offset: u64,
    /// Where this attempt's events start in aider's analytics log.
    #[serde(default)]
    pub analytics_offset: u64,
    pub token: Option<String>,
    pub agent: String,
}

impl Adoption {
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        files::write_json(&dir.join(FILE), self)
    }

    /// Blocking.
    fn read(dir: &Path) -> Result<Self, String> {
        let bytes =
            std::fs::read(dir.join(FILE)).map_err(|e| format!("cannot read {FILE}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{FILE} is unreadable: {e}"))
    }
}

/// Where the timeline's record of agent.log ends for the current attempt: after the last
/// `agent.output` (or where output was cut), else where the attempt's output began.
pub fn resume_offset(dir: &Path, start: u64) -> u64 {
    let mut offset = start;
    let _ = timeline::for_each(&dir.join(pack::TIMELINE), |line: Value| {
        let num = |k: &str| line.get(k).and_then(Value::as_u64);
        match crate::proof::kind::of(&line) {
            Some(TimelineKind::AgentStarted) => offset = num("log_offset").unwrap_or(start),
            Some(TimelineKind::AgentOutput) => {
                if let (Some(o), Some(l)) = (num("offset"), num("len")) {
                    offset = offset.max(o + l);
                }
            }
            _ => {}
        }
        true
    });
    offset
}

pub async fn adopt(ctx: &Arc<RunCtx>, job: &PhaseJob) -> PhaseReport {
    let rec = &job.record;
    let checkpoint = rec
        .checkpoints
        .get(&Phase::Agent)
        .cloned()
        .unwrap_or_else(|| rec.base.clone());
    let updates = vec![Update::Checkpoint(Phase::Agent, checkpoint)];
    let dir = ctx.dir.clone();
    let found = blocking(move || {
        let adoption = Adoption::read(&dir)?;
        let offset = resume_offset(&dir, adoption.log_offset);
        Ok((adoption, offset, files::probe(&dir), files::read_shim(&dir)))
    })
    .await;
    let (adoption, offset, found, shim) = match found {
        Ok(f) => f,
        Err(e) => return PhaseReport::failed(format!("cannot adopt the agent: {e}"), updates),
    };
    let (shim, message) = match (found, shim) {
        (Found::Live(s), _) => {
            let m = format!(
                "adopted by a new server: the agent (pid {}) is still at work",
                s.agent_pid
            );
            (s, m)
        }
        (Found::Exited(e), s) => {
            let m = format!(
                "adopted by a new server: the agent ended at {} while no server was watching",
                e.at
            );
            (s.unwrap_or_else(nobody), m)
        }
        (Found::Gone(_), _) => {
            return PhaseReport::failed(
                "the agent is gone: its shim ended without recording how",
                updates,
            )
        }
    };
    let (_, agent) = match job.config.agent(Some(&adoption.agent)) {
        Ok(a) => a,
        Err(e) => return PhaseReport::failed(e, updates),
    };
    let prices = Arc::new(job.config.prices());
    let gateway = job
        .gateway
        .clone()
        .filter(|_| !job.config.providers.is_empty());
    let token = match (&gateway, adoption.token) {
        (Some(gw), Some(t)) => {
            gw.register_as(&t, link_for(ctx, job, &prices));
            Some(t)
        }
        _ => None,
    };
    ctx.emit(
        Phase::Agent,
        TimelineKind::RunAdopted,
        fields! {"message" => message, "pid" => shim.agent_pid, "log_offset" => offset},
    );
    let watch = Watch {
        kind: agent.kind,
        model: agent.model.clone(),
        timeout: agent.timeout.map(|t| t.0),
        log_path: ctx.path(pack::AGENT_LOG),
        offset,
        analytics_offset: adoption.analytics_offset,
        prices,
        gateway,
        token,
        // The agent's own start, so its duration counts the time before the restart too.
        started: crate::shim::files::age(shim.agent_start)
            .and_then(|ago| Instant::now().checked_sub(ago))
            .unwrap_or_else(Instant::now),
    };
    supervise(
        ctx,
        job,
        AgentProcess::adopt(&ctx.dir, shim),
        watch,
        updates,
    )
    .await
}

/// No shim record (the agent never started): nothing to signal.
fn nobody() -> ShimFile {
    ShimFile {
        shim_pid: 0,
        shim_start: 0,
        agent_pid: 0,
        pgid: 0,
        agent_start: 0,
    }
}
