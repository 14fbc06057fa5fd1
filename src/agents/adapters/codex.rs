//! Codex's `exec --json`: `thread.started`, `item.*` (messages, reasoning, commands, file
//! changes, tool calls), `turn.completed` with the turn's usage, `turn.failed`, `error`.

use serde_json::Value;

use super::{clip, event, output, u, Adapter, Parsed};
use crate::models::pricing::Usage;

/// Codex's default model when config names none.
pub const DEFAULT_MODEL: &str = "gpt-5-codex";

pub struct Codex {
    model: String,
}

impl Codex {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.into(),
        }
    }
}

impl Adapter for Codex {
    fn line(&mut self, line: &str) -> Vec<Parsed> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return vec![output(line)];
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let item = v.get("item").unwrap_or(&Value::Null);
        let item_type = item.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "thread.started" => {
                let id = v
                    .get("thread_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                vec![
                    Parsed::Session(id.clone()),
                    event(
                        "agent.session",
                        [
                            ("session_id", id.into()),
                            ("model", self.model.clone().into()),
                        ],
                    ),
                ]
            }
            "item.completed" => match item_type {
                "agent_message" => vec![event("agent.message", [("text", text(item).into())])],
                "reasoning" => vec![event("agent.reasoning", [("text", text(item).into())])],
                "command_execution" => vec![event(
                    "tool.call",
                    [
                        ("name", "command".into()),
                        (
                            "input",
                            clip(
                                item.get("command").and_then(Value::as_str).unwrap_or(""),
                                2000,
                            )
                            .into(),
                        ),
                        (
                            "exit_code",
                            item.get("exit_code").cloned().unwrap_or(Value::Null),
                        ),
                        ("status", item.get("status").cloned().unwrap_or(Value::Null)),
                    ],
                )],
                "file_change" => item
                    .get("changes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        event(
                            "file.changed",
                            [
                                ("path", c.get("path").cloned().unwrap_or(Value::Null)),
                                ("change", c.get("kind").cloned().unwrap_or(Value::Null)),
                                ("source", "agent".into()),
                            ],
                        )
                    })
                    .collect(),
                "mcp_tool_call" | "web_search" => vec![event(
                    "tool.call",
                    [
                        (
                            "name",
                            item.get("tool")
                                .or_else(|| item.get("query"))
                                .cloned()
                                .unwrap_or(item_type.into()),
                        ),
                        ("status", item.get("status").cloned().unwrap_or(Value::Null)),
                    ],
                )],
                "error" => vec![event("agent.error", [("message", text(item).into())])],
                _ => vec![event("agent.item", [("item_type", item_type.into())])],
            },
            "turn.completed" => {
                let usage = v.get("usage").unwrap_or(&Value::Null);
                // OpenAI counts cached input inside input_tokens; price them apart.
                let cached = u(usage, "cached_input_tokens");
                vec![Parsed::Call {
                    provider: "openai".into(),
                    model: self.model.clone(),
                    usage: Usage {
                        input: u(usage, "input_tokens").saturating_sub(cached),
                        output: u(usage, "output_tokens"),
                        cache_read: cached,
                        cache_write: 0,
                    },
                    call_id: None,
                }]
            }
            "turn.failed" => vec![event(
                "agent.error",
                [(
                    "message",
                    v.pointer("/error/message").cloned().unwrap_or(Value::Null),
                )],
            )],
            "error" => vec![event(
                "agent.error",
                [("message", v.get("message").cloned().unwrap_or(Value::Null))],
            )],
            "turn.started" | "item.started" | "item.updated" => vec![],
            _ => vec![output(line)],
        }
    }
}

fn text(item: &Value) -> String {
    clip(
        item.get("text")
            .or_else(|| item.get("message"))
            .and_then(Value::as_str)
            .unwrap_or(""),
        4000,
    )
}
