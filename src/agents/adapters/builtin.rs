//! The built-in agent's own lines (`flightdeck agent-builtin`): messages, tool calls and
//! results, retries, errors. Its model calls are measured by the gateway, not read here.

use crate::proof::kind::TimelineKind;
use serde_json::Value;

use super::{clip, event, output, Adapter, Parsed};

pub struct Builtin;

impl Adapter for Builtin {
    fn line(&mut self, line: &str) -> Vec<Parsed> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return vec![output(line)];
        };
        let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let text = |k: &str| clip(v.get(k).and_then(Value::as_str).unwrap_or(""), 2000);
        match v.get("type").and_then(Value::as_str) {
            Some("message") => vec![event(
                TimelineKind::AgentMessage,
                [("text", text("text").into()), ("turn", get("turn"))],
            )],
            Some("tool_call") => vec![event(
                TimelineKind::ToolCall,
                [
                    ("name", get("name")),
                    ("id", get("id")),
                    ("input", clip(&get("input").to_string(), 2000).into()),
                ],
            )],
            Some("tool_result") => {
                let ok = v.get("ok").and_then(Value::as_bool).unwrap_or(false);
                vec![event(
                    if ok {
                        TimelineKind::ToolResult
                    } else {
                        TimelineKind::ToolError
                    },
                    [
                        ("name", get("name")),
                        ("id", get("id")),
                        ("text", text("output").into()),
                    ],
                )]
            }
            Some("retry") => vec![event(
                TimelineKind::AgentRetry,
                [
                    ("attempt", get("attempt")),
                    ("message", text("message").into()),
                ],
            )],
            Some("error") => vec![event(
                TimelineKind::AgentError,
                [("message", text("message").into())],
            )],
            Some("done") => vec![event(TimelineKind::AgentResult, [("turns", get("turns"))])],
            _ => vec![output(line)],
        }
    }
}
