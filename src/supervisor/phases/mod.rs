//! Phase workers: each does one phase of one run and reports how it went. They touch the
//! workspace, processes and proof files; the supervisor only applies their reports.

use crate::proof::kind::TimelineKind;
mod agent;
mod agent_adopt;
mod agent_env;
mod agent_output;
pub(super) mod browser;
mod browser_server;
mod deliver;
pub use deliver::write_pr;
pub(super) mod exec;
mod feedback;
mod keep;
mod prepare;
mod proof;
pub(super) mod smoke;

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::fields;
use crate::run::{Phase, RunRecord};
use crate::supervisor::context::RunCtx;
use crate::supervisor::machine::Outcome;

/// Where `flightdeck rebase` leaves the conflicts for the agent's next iteration.
pub const REBASE_FEEDBACK: &str = "rebase/feedback.md";

/// One phase to do.
pub struct PhaseJob {
    pub phase: Phase,
    /// The run as it was when the phase started.
    pub record: RunRecord,
    pub config: Arc<Config>,
    /// Re-running the phase from its checkpoint.
    pub retry: bool,
    pub kill_grace: Duration,
    pub gateway: Option<Arc<crate::gateway::Gateway>>,
    /// Take over an agent a previous server started (its shim is alive or recorded its end).
    pub adopt: bool,
    /// The browser phase's leased port.
    pub port: Option<u16>,
    /// Where it came from: another when a dev server leaves it bound (released by the phase).
    pub leases: Option<crate::browser::ports::Shared>,
    /// The server's warm pools (prepare asks for a refill).
    pub pools: crate::workspace::pool::Keeper,
}

/// Changes to the run record that a worker found out.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Base(String),
    Checkpoint(Phase, String),
    ExitCode(Option<i32>),
    SetupExcludes(Vec<String>),
    Session(String),
    ReportedCost(f64),
    Score(f64),
    Gate(crate::run::MergeState, Vec<crate::run::GateReason>),
    /// The commit the smoke checks ran on.
    Checked(String),
    /// Problems the browser check found.
    Browser(usize),
}

pub struct PhaseReport {
    pub outcome: Outcome,
    pub updates: Vec<Update>,
    /// The phase already put its failure's reason in the timeline (e.g. `agent.spawn_failed`):
    /// the lines after it name the failure without saying it again.
    pub said: bool,
}

impl PhaseReport {
    fn ok(updates: Vec<Update>) -> Self {
        Self {
            outcome: Outcome::Succeeded,
            updates,
            said: false,
        }
    }
    fn failed(reason: impl Into<String>, updates: Vec<Update>) -> Self {
        Self {
            outcome: Outcome::Failed {
                reason: reason.into(),
            },
            updates,
            said: false,
        }
    }
    /// A failure whose reason the phase has just written to the timeline itself.
    fn failed_said(reason: impl Into<String>, updates: Vec<Update>) -> Self {
        Self {
            said: true,
            ..Self::failed(reason, updates)
        }
    }
}

/// A test hook: the phase named here panics as it starts, so tests can see that a panicking
/// phase fails its run instead of leaving it busy.
const PANIC_HOOK: &str = "FLIGHTDECK_TEST_PANIC_IN_PHASE";

/// Panic when the test hook names `name` (a phase, or `merge-test`), saying `what` panicked.
pub(super) fn panic_if_asked(name: &str, what: &str) {
    if std::env::var(PANIC_HOOK).is_ok_and(|p| p == name) {
        panic!("{PANIC_HOOK} asked {what} to panic");
    }
}

pub async fn run(ctx: Arc<RunCtx>, job: PhaseJob) -> PhaseReport {
    let phase = job.phase;
    panic_if_asked(phase.as_str(), &format!("phase {phase}"));
    let report = match phase {
        Phase::Prepare => prepare::run(&ctx, &job).await,
        Phase::Agent => agent::run(&ctx, &job).await,
        Phase::Smoke => smoke::run(&ctx, &job).await,
        Phase::Browser => browser::run(&ctx, &job).await,
        Phase::Proof => proof::run(&ctx, &job).await,
        Phase::Deliver => deliver::run(&ctx, &job).await,
        other => PhaseReport::failed(
            format!("phase {other} is not part of this version's pipeline"),
            vec![],
        ),
    };
    match &report.outcome {
        Outcome::Failed { reason } if !report.said => {
            ctx.emit(
                phase,
                TimelineKind::PhaseFailed,
                fields! {"message" => reason},
            );
        }
        _ => {}
    }
    // The phase boundary: make the timeline durable before the supervisor hears of it.
    ctx.sync_timeline().await;
    report
}

/// Open a log file of the run's for appending (made owner-only), off the runtime.
pub(super) async fn open_log(path: std::path::PathBuf) -> Result<File, String> {
    blocking(move || {
        crate::owner_only::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| e.to_string())
    })
    .await
}

/// Run blocking work (git2, file copies) off the runtime; a panic becomes an error message.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("internal error: {e}"))?
}
