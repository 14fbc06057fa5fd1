//! The run record and the names it is made of: statuses, phases, merge states, run ids.

pub mod allowed;
pub mod gate_reason;
pub mod id;
pub mod pull_request;
pub mod record;
pub mod state;

pub use gate_reason::{GateReason, GateReasons};
pub use pull_request::{PrChecks, PrNote, PrReview, PrState, PullRequest};
pub use record::{
    ConflictFinding, MergeState, Phase, QueueSlot, RunRecord, Status, Tokens, WorkspaceKind,
};
pub use state::RunState;
