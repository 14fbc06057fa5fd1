//! Turning agents' machine-readable output into timeline events and model calls. Each adapter
//! reads one line at a time; a line it cannot parse stays plain `agent.output`, never an error.

use crate::proof::kind::TimelineKind;
mod aider;
mod builtin;
mod claude;
mod codex;

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::config::AgentKind;
use crate::models::pricing::Usage;

pub use aider::analytics_calls;

/// What a line of agent output means.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A timeline line of this type with these fields.
    Event {
        kind: TimelineKind,
        fields: Map<String, Value>,
    },
    /// A model call the agent reported.
    Call {
        provider: String,
        model: String,
        usage: Usage,
        call_id: Option<String>,
    },
    /// The agent's session id (for resuming).
    Session(String),
    /// The total cost the agent itself reports, in USD.
    ReportedCost(f64),
}

pub trait Adapter: Send {
    fn line(&mut self, line: &str) -> Vec<Parsed>;
    /// Whether every line matters even once the timeline has no room for output (it may
    /// carry usage, a session id or a cost).
    fn needs_every_line(&self) -> bool {
        true
    }
    /// What the agent left beside its output, read once it has ended (blocking).
    fn finish(&mut self) -> Vec<Parsed> {
        Vec::new()
    }
}

/// Where an adapter finds what the agent writes beside its output.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The run's private directory for the agent's own state (Codex keeps its session files
    /// there).
    pub agent_home: Option<PathBuf>,
    /// Aider's analytics log, and where this attempt's events start in it.
    pub analytics: Option<(PathBuf, u64)>,
}

/// The adapter for an agent kind. `model`: the one config chose.
pub fn for_kind(kind: AgentKind, model: Option<&str>, sources: Sources) -> Box<dyn Adapter> {
    match kind {
        AgentKind::ClaudeCode => Box::new(claude::Claude::default()),
        AgentKind::Codex => Box::new(codex::Codex::new(
            model,
            sources.agent_home.map(|h| h.join("codex")).as_deref(),
        )),
        AgentKind::Aider => Box::new(aider::Aider::new(model, sources.analytics)),
        AgentKind::Builtin => Box::new(builtin::Builtin),
        AgentKind::Command => Box::new(Plain),
    }
}

/// Output as it is: one `agent.output` line each.
pub struct Plain;

impl Adapter for Plain {
    fn line(&mut self, line: &str) -> Vec<Parsed> {
        vec![output(line)]
    }

    fn needs_every_line(&self) -> bool {
        false
    }
}

pub fn output(text: &str) -> Parsed {
    event(TimelineKind::AgentOutput, [("text", Value::from(text))])
}

fn event<const N: usize>(kind: TimelineKind, fields: [(&str, Value); N]) -> Parsed {
    Parsed::Event {
        kind,
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// Long texts (tool inputs, results) cut for the timeline; the agent log has them whole.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let cut = s.floor_char_boundary(max);
    format!("{}… ({} bytes)", &s[..cut], s.len())
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}
