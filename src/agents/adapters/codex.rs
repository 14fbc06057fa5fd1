//! Codex's `exec --json`: `thread.started`, `item.*` (messages, reasoning, commands, file
//! changes, tool calls), `turn.completed` with the turn's usage, `turn.failed`, `error`.
//!
//! `--json` never names the model. Unless config chose one, the model is the one Codex wrote
//! in its session file (`$CODEX_HOME/sessions/**/rollout-*-<thread>.jsonl`, `turn_context`);
//! failing that it is `unknown`, never a guessed default.

use crate::proof::kind::TimelineKind;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{clip, event, output, u, Adapter, Parsed};
use crate::models::pricing::Usage;

pub struct Codex {
    /// The model config chose (passed to the CLI with `--model`).
    configured: Option<String>,
    /// Codex's own state directory, where its session files are.
    home: Option<PathBuf>,
    thread: Option<String>,
    /// The model read from the session file.
    found: Option<String>,
}

impl Codex {
    pub fn new(configured: Option<&str>, home: Option<&Path>) -> Self {
        Self {
            configured: configured.map(str::to_string),
            home: home.map(Path::to_path_buf),
            thread: None,
            found: None,
        }
    }

    fn model(&mut self) -> String {
        if let Some(m) = &self.configured {
            return m.clone();
        }
        if self.found.is_none() {
            if let (Some(home), Some(thread)) = (&self.home, &self.thread) {
                self.found = session_model(&home.join("sessions"), thread);
            }
        }
        self.found.clone().unwrap_or_else(|| "unknown".into())
    }
}

/// The model of the last `turn_context` in the session file of `thread`.
fn session_model(sessions: &Path, thread: &str) -> Option<String> {
    let file = find_file(sessions, &format!("{thread}.jsonl"), 4)?;
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter(|l| l.contains("\"turn_context\""))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            v.pointer("/payload/model")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .next_back()
}

/// A file whose name ends with `suffix`, at most `depth` directories down.
fn find_file(dir: &Path, suffix: &str, depth: usize) -> Option<PathBuf> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            dirs.push(path);
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(suffix))
        {
            return Some(path);
        }
    }
    if depth == 0 {
        return None;
    }
    // Newest date directories first: the session was just written.
    dirs.sort();
    dirs.iter()
        .rev()
        .find_map(|d| find_file(d, suffix, depth - 1))
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
                self.thread = Some(id.clone());
                vec![
                    Parsed::Session(id.clone()),
                    event(
                        TimelineKind::AgentSession,
                        [
                            ("session_id", id.into()),
                            ("model", self.configured.clone().into()),
                        ],
                    ),
                ]
            }
            "item.completed" => match item_type {
                "agent_message" => vec![event(
                    TimelineKind::AgentMessage,
                    [("text", text(item).into())],
                )],
                "reasoning" => vec![event(
                    TimelineKind::AgentReasoning,
                    [("text", text(item).into())],
                )],
                "command_execution" => vec![event(
                    TimelineKind::ToolCall,
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
                            TimelineKind::FileChanged,
                            [
                                ("path", c.get("path").cloned().unwrap_or(Value::Null)),
                                ("change", c.get("kind").cloned().unwrap_or(Value::Null)),
                                ("source", "agent".into()),
                            ],
                        )
                    })
                    .collect(),
                "mcp_tool_call" | "web_search" => vec![event(
                    TimelineKind::ToolCall,
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
                "error" => vec![event(
                    TimelineKind::AgentError,
                    [("message", text(item).into())],
                )],
                _ => vec![event(
                    TimelineKind::AgentItem,
                    [("item_type", item_type.into())],
                )],
            },
            "turn.completed" => {
                let usage = v.get("usage").unwrap_or(&Value::Null);
                // OpenAI counts cached input inside input_tokens; price them apart.
                let cached = u(usage, "cached_input_tokens");
                let cache_write = u(usage, "cache_write_input_tokens");
                vec![Parsed::Call {
                    provider: "openai".into(),
                    model: self.model(),
                    usage: Usage {
                        input: u(usage, "input_tokens")
                            .saturating_sub(cached)
                            .saturating_sub(cache_write),
                        output: u(usage, "output_tokens"),
                        cache_read: cached,
                        cache_write,
                    },
                    call_id: None,
                }]
            }
            "turn.failed" => vec![event(
                TimelineKind::AgentError,
                [(
                    "message",
                    v.pointer("/error/message").cloned().unwrap_or(Value::Null),
                )],
            )],
            "error" => vec![event(
                TimelineKind::AgentError,
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
