//! Claude Code's `--output-format stream-json --verbose`: `system` (init: session, model),
//! `assistant` (message content), `user` (tool results), `result` (the run's totals,
//! `modelUsage` per model and `total_cost_usd`).
//!
//! Usage comes from `result` only: an `assistant` line carries the snapshot taken when the
//! message started streaming (output_tokens 1), not what the call used. Per-call figures come
//! from the gateway, which reads each response to its end.

use crate::proof::kind::TimelineKind;
use serde_json::Value;

use super::{clip, event, output, u, Adapter, Parsed};
use crate::models::pricing::Usage;

#[derive(Default)]
pub struct Claude {
    /// The model the session started with (for a `result` without `modelUsage`).
    model: Option<String>,
}

impl Adapter for Claude {
    fn line(&mut self, line: &str) -> Vec<Parsed> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return vec![output(line)];
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let mut out = Vec::new();
        match kind {
            "system" => {
                if let Some(s) = v.get("session_id").and_then(Value::as_str) {
                    out.push(Parsed::Session(s.to_string()));
                }
                if let Some(m) = v.get("model").and_then(Value::as_str) {
                    self.model = Some(m.to_string());
                }
                out.push(event(
                    TimelineKind::AgentSession,
                    [
                        (
                            "session_id",
                            v.get("session_id").cloned().unwrap_or(Value::Null),
                        ),
                        ("model", v.get("model").cloned().unwrap_or(Value::Null)),
                        ("subtype", v.get("subtype").cloned().unwrap_or(Value::Null)),
                    ],
                ));
            }
            "assistant" => {
                let msg = v.get("message").unwrap_or(&Value::Null);
                for block in msg
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match block.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                            out.push(event(
                                TimelineKind::AgentMessage,
                                [("text", clip(text, 4000).into())],
                            ));
                        }
                        Some("tool_use") => {
                            let input = block
                                .get("input")
                                .map(|i| i.to_string())
                                .unwrap_or_default();
                            out.push(event(
                                TimelineKind::ToolCall,
                                [
                                    ("name", block.get("name").cloned().unwrap_or(Value::Null)),
                                    ("id", block.get("id").cloned().unwrap_or(Value::Null)),
                                    ("input", clip(&input, 2000).into()),
                                ],
                            ));
                        }
                        _ => {}
                    }
                }
            }
            "user" => {
                let content = v.pointer("/message/content").and_then(Value::as_array);
                for block in content.into_iter().flatten() {
                    if block.get("type").and_then(Value::as_str) != Some("tool_result") {
                        continue;
                    }
                    let text = match block.get("content") {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    let is_error = block
                        .get("is_error")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    out.push(event(
                        if is_error {
                            TimelineKind::ToolError
                        } else {
                            TimelineKind::ToolResult
                        },
                        [
                            (
                                "id",
                                block.get("tool_use_id").cloned().unwrap_or(Value::Null),
                            ),
                            ("text", clip(&text, 1000).into()),
                        ],
                    ));
                }
            }
            "result" => {
                out.extend(self.final_usage(&v));
                if let Some(cost) = v.get("total_cost_usd").and_then(Value::as_f64) {
                    out.push(Parsed::ReportedCost(cost));
                }
                let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                out.push(event(
                    if is_error {
                        TimelineKind::AgentError
                    } else {
                        TimelineKind::AgentResult
                    },
                    [
                        ("subtype", v.get("subtype").cloned().unwrap_or(Value::Null)),
                        (
                            "num_turns",
                            v.get("num_turns").cloned().unwrap_or(Value::Null),
                        ),
                        (
                            "total_cost_usd",
                            v.get("total_cost_usd").cloned().unwrap_or(Value::Null),
                        ),
                        ("usage", v.get("usage").cloned().unwrap_or(Value::Null)),
                        (
                            "model_usage",
                            v.get("modelUsage").cloned().unwrap_or(Value::Null),
                        ),
                        (
                            "text",
                            clip(v.get("result").and_then(Value::as_str).unwrap_or(""), 2000)
                                .into(),
                        ),
                    ],
                ));
            }
            _ => out.push(output(line)),
        }
        out
    }
}

impl Claude {
    /// One call per model from `modelUsage` (the session's final figures); without it, the
    /// `usage` totals under the session's model.
    fn final_usage(&self, v: &Value) -> Vec<Parsed> {
        let call = |model: &str, usage: Usage| Parsed::Call {
            provider: "anthropic".into(),
            model: model.to_string(),
            usage,
            call_id: None,
        };
        if let Some(per_model) = v.get("modelUsage").and_then(Value::as_object) {
            return per_model
                .iter()
                .map(|(model, m)| {
                    call(
                        model,
                        Usage {
                            input: u(m, "inputTokens"),
                            output: u(m, "outputTokens"),
                            cache_read: u(m, "cacheReadInputTokens"),
                            cache_write: u(m, "cacheCreationInputTokens"),
                        },
                    )
                })
                .filter(|c| !matches!(c, Parsed::Call { usage, .. } if *usage == Usage::default()))
                .collect();
        }
        let Some(usage) = v.get("usage").filter(|u| u.is_object()) else {
            return Vec::new();
        };
        vec![call(
            self.model.as_deref().unwrap_or("unknown"),
            Usage {
                input: u(usage, "input_tokens"),
                output: u(usage, "output_tokens"),
                cache_read: u(usage, "cache_read_input_tokens"),
                cache_write: u(usage, "cache_creation_input_tokens"),
            },
        )]
    }
}
