//! Aider: its output is text, kept as `agent.output`; the `Main model: NAME with FORMAT edit
//! format` line it starts with also becomes `agent.session`. Its usage comes from its analytics
//! log (`--analytics-log FILE`), read once it has ended: each `message_send` event carries one
//! main-model call's prompt and completion tokens and aider's own cost for it. Aider names the
//! model there only when its model list knows it (`None` or `openai/REDACTED` otherwise, as
//! offline), so the name it printed, else config's, stands in.
//!
//! The weak model's calls (commit messages, chat summaries) are not in the log: only the gateway
//! sees those.

use std::path::PathBuf;

use serde_json::Value;

use super::{event, output, u, Adapter, Parsed};
use crate::models::pricing::Usage;
use crate::proof::kind::TimelineKind;

pub struct Aider {
    configured: Option<String>,
    /// The model aider said it uses.
    printed: Option<String>,
    /// The analytics log, and where this attempt's events start in it.
    log: Option<(PathBuf, u64)>,
}

impl Aider {
    pub fn new(configured: Option<&str>, log: Option<(PathBuf, u64)>) -> Self {
        Self {
            configured: configured.map(str::to_string),
            printed: None,
            log,
        }
    }
}

impl Adapter for Aider {
    fn line(&mut self, line: &str) -> Vec<Parsed> {
        let mut out = vec![output(line)];
        let main = line
            .trim()
            .strip_prefix("Main model: ")
            .and_then(|rest| rest.split(" with ").next())
            .map(str::trim)
            .filter(|m| !m.is_empty());
        if let Some(m) = main {
            self.printed = Some(m.to_string());
            out.push(event(TimelineKind::AgentSession, [("model", m.into())]));
        }
        out
    }

    fn needs_every_line(&self) -> bool {
        false
    }

    fn finish(&mut self) -> Vec<Parsed> {
        let Some((path, from)) = &self.log else {
            return Vec::new();
        };
        // A log that is missing (aider never started) holds no calls.
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let hint = self.printed.as_deref().or(self.configured.as_deref());
        analytics_calls(&text, *from as usize, hint)
    }
}

/// Model calls from an analytics log's text: those of events from byte `from` on (earlier ones
/// were an earlier attempt's), named with `hint` where aider's log does not name the model; then
/// aider's reported cost over the whole log, as the run's calls are.
pub fn analytics_calls(text: &str, from: usize, hint: Option<&str>) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut reported = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v.get("event").and_then(Value::as_str) != Some("message_send") {
            continue;
        }
        let p = v.get("properties").unwrap_or(&Value::Null);
        if let Some(c) = p.get("cost").and_then(Value::as_f64) {
            *reported.get_or_insert(0.0) += c;
        }
        if start < from {
            continue;
        }
        let logged = p.get("main_model").and_then(Value::as_str).unwrap_or("");
        let (provider, model) = name(logged, hint);
        out.push(Parsed::Call {
            provider,
            model,
            usage: Usage {
                input: u(p, "prompt_tokens"),
                output: u(p, "completion_tokens"),
                cache_read: 0,
                cache_write: 0,
            },
            call_id: None,
        });
    }
    out.extend(reported.map(Parsed::ReportedCost));
    out
}

/// (provider, model) of a call: aider's logged name when it is one, else `hint`; the provider
/// from a `provider/` prefix of either, else `unknown`.
fn name(logged: &str, hint: Option<&str>) -> (String, String) {
    let real = !logged.is_empty() && logged != "None" && !logged.ends_with("/REDACTED");
    let full = if real {
        logged
    } else {
        hint.unwrap_or("unknown")
    };
    let prefix = |s: &str| s.split_once('/').map(|(p, _)| p.to_string());
    let model = full.split_once('/').map_or(full, |(_, m)| m);
    let provider = prefix(full)
        .or_else(|| prefix(logged))
        .unwrap_or_else(|| "unknown".into());
    (provider, model.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_log_or_the_hint() {
        let n = |l: &str, h: Option<&str>| name(l, h);
        assert_eq!(n("gpt-4o", None), ("unknown".into(), "gpt-4o".into()));
        assert_eq!(
            n("anthropic/claude-sonnet-4-5", Some("x")),
            ("anthropic".into(), "claude-sonnet-4-5".into())
        );
        assert_eq!(
            n("openai/REDACTED", Some("gpt-4o")),
            ("openai".into(), "gpt-4o".into())
        );
        assert_eq!(
            n("None", Some("openai/gpt-4o")),
            ("openai".into(), "gpt-4o".into())
        );
        assert_eq!(n("None", None), ("unknown".into(), "unknown".into()));
    }

    #[test]
    fn the_main_model_line_names_the_session() {
        let mut a = Aider::new(None, None);
        let p = a.line("Main model: openai/gpt-4o with diff edit format");
        assert_eq!(p.len(), 2);
        assert_eq!(a.printed.as_deref(), Some("openai/gpt-4o"));
        assert_eq!(a.line("Weak model: gpt-4o-mini").len(), 1);
        assert!(a.finish().is_empty());
    }
}
