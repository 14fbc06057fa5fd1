//! The built-in agent's model client: the Anthropic Messages API and the OpenAI-compatible chat
//! completions API, streamed, with retries and backoff on 429 and 5xx.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::tools;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Anthropic,
    OpenAi,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    pub text: String,
    pub calls: Vec<ToolCall>,
}

pub struct Client {
    pub wire: Wire,
    pub base: String,
    pub key: String,
    pub model: String,
    http: reqwest::Client,
}

const RETRIES: u32 = 5;

impl Client {
    pub fn new(wire: Wire, base: &str, key: &str, model: &str) -> Self {
        Self {
            wire,
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            model: model.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// The conversation's opening, in this wire format.
    pub fn start(&self, task: &str) -> Vec<Value> {
        match self.wire {
            Wire::Anthropic => vec![json!({"role": "user", "content": task})],
            Wire::OpenAi => vec![
                json!({"role": "system", "content": SYSTEM}),
                json!({"role": "user", "content": task}),
            ],
        }
    }

    /// Append the assistant's turn and the tools' results.
    pub fn record(
        &self,
        messages: &mut Vec<Value>,
        turn: &Turn,
        results: &[(String, Result<String, String>)],
    ) {
        match self.wire {
            Wire::Anthropic => {
                let mut content = Vec::new();
                if !turn.text.is_empty() {
                    content.push(json!({"type": "text", "text": turn.text}));
                }
                for c in &turn.calls {
                    content.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input}),
                    );
                }
                messages.push(json!({"role": "assistant", "content": content}));
                if !results.is_empty() {
                    let blocks: Vec<Value> = results
                        .iter()
                        .map(|(id, r)| match r {
                            Ok(out) => json!({"type": "tool_result", "tool_use_id": id, "content": out}),
                            Err(e) => json!({"type": "tool_result", "tool_use_id": id, "content": e, "is_error": true}),
                        })
                        .collect();
                    messages.push(json!({"role": "user", "content": blocks}));
                }
            }
            Wire::OpenAi => {
                let calls: Vec<Value> = turn
                    .calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.input.to_string()}}))
                    .collect();
                let mut msg = json!({"role": "assistant", "content": turn.text});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                messages.push(msg);
                for (id, r) in results {
                    let content = match r {
                        Ok(o) => o.clone(),
                        Err(e) => format!("error: {e}"),
                    };
                    messages.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                }
            }
        }
    }

    fn request(&self, messages: &[Value]) -> (String, Value) {
        let specs = tools::specs();
        match self.wire {
            Wire::Anthropic => {
                let tools: Vec<Value> = specs
                    .iter()
                    .map(|(n, d, s)| json!({"name": n, "description": d, "input_schema": s}))
                    .collect();
                (
                    format!("{}/v1/messages", self.base),
                    json!({"model": self.model, "max_tokens": 8192, "system": SYSTEM, "messages": messages, "tools": tools, "stream": true}),
                )
            }
            Wire::OpenAi => {
                let tools: Vec<Value> = specs
                    .iter()
                    .map(|(n, d, s)| json!({"type": "function", "function": {"name": n, "description": d, "parameters": s}}))
                    .collect();
                (
                    format!("{}/chat/completions", self.base),
                    json!({"model": self.model, "messages": messages, "tools": tools, "stream": true, "stream_options": {"include_usage": true}}),
                )
            }
        }
    }

    /// One model turn, streamed; retried with backoff on 429 and 5xx.
    pub async fn turn(
        &self,
        messages: &[Value],
        mut on_retry: impl FnMut(u32, &str),
    ) -> Result<Turn, String> {
        let (url, body) = self.request(messages);
        let mut attempt = 0;
        loop {
            let mut req = self.http.post(&url).json(&body);
            req = match self.wire {
                Wire::Anthropic => req
                    .header("x-api-key", &self.key)
                    .header("anthropic-version", "2023-06-01"),
                Wire::OpenAi => req.bearer_auth(&self.key),
            };
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if attempt < RETRIES => {
                    attempt += 1;
                    on_retry(attempt, &e.to_string());
                    tokio::time::sleep(backoff(attempt, None)).await;
                    continue;
                }
                Err(e) => return Err(format!("the model could not be reached: {e}")),
            };
            let status = resp.status();
            if status.as_u16() == 429 || status.is_server_error() {
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let text = resp.text().await.unwrap_or_default();
                if attempt >= RETRIES {
                    return Err(format!(
                        "the model answered {status} {RETRIES} times: {text}"
                    ));
                }
                attempt += 1;
                on_retry(attempt, &format!("{status}: {text}"));
                tokio::time::sleep(backoff(attempt, wait)).await;
                continue;
            }
            if !status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                return Err(format!("the model refused the request ({status}): {text}"));
            }
            let mut parser = Parser::new(self.wire);
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("the model's stream broke: {e}"))?;
                parser.feed(&chunk);
            }
            return Ok(parser.finish());
        }
    }
}

fn backoff(attempt: u32, retry_after: Option<u64>) -> Duration {
    match retry_after {
        Some(s) => Duration::from_secs(s.min(30)),
        None => Duration::from_millis((250u64 << attempt.min(6)).min(8000)),
    }
}

pub const SYSTEM: &str = "You are a coding agent working in a project directory. Use the tools to read, change and check the project. Paths are relative to the project root. When the task is done, answer with a short summary and no tool call.";

/// Server-sent events into a turn: text and tool calls, for either wire format.
pub struct Parser {
    wire: Wire,
    pending: String,
    text: String,
    /// index → (id, name, arguments so far)
    calls: BTreeMap<u64, (String, String, String)>,
}

impl Parser {
    pub fn new(wire: Wire) -> Self {
        Self {
            wire,
            pending: String::new(),
            text: String::new(),
            calls: BTreeMap::new(),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.push_str(&String::from_utf8_lossy(bytes));
        while let Some(nl) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=nl).collect();
            if let Some(data) = line.trim_end().strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                    self.event(&v);
                }
            }
        }
    }

    fn event(&mut self, v: &Value) {
        match self.wire {
            Wire::Anthropic => match v.get("type").and_then(Value::as_str) {
                Some("content_block_start") => {
                    let i = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let b = &v["content_block"];
                    if b["type"] == "tool_use" {
                        let id = b["id"].as_str().unwrap_or("").to_string();
                        let name = b["name"].as_str().unwrap_or("").to_string();
                        self.calls.insert(i, (id, name, String::new()));
                    }
                }
                Some("content_block_delta") => {
                    let i = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let d = &v["delta"];
                    if let Some(t) = d.get("text").and_then(Value::as_str) {
                        self.text.push_str(t);
                    }
                    if let (Some(p), Some(call)) = (
                        d.get("partial_json").and_then(Value::as_str),
                        self.calls.get_mut(&i),
                    ) {
                        call.2.push_str(p);
                    }
                }
                _ => {}
            },
            Wire::OpenAi => {
                let Some(delta) = v.pointer("/choices/0/delta") else {
                    return;
                };
                if let Some(t) = delta.get("content").and_then(Value::as_str) {
                    self.text.push_str(t);
                }
                for tc in delta
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let i = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let entry = self.calls.entry(i).or_default();
                    if let Some(id) = tc.get("id").and_then(Value::as_str) {
                        entry.0 = id.to_string();
                    }
                    if let Some(n) = tc.pointer("/function/name").and_then(Value::as_str) {
                        entry.1.push_str(n);
                    }
                    if let Some(a) = tc.pointer("/function/arguments").and_then(Value::as_str) {
                        entry.2.push_str(a);
                    }
                }
            }
        }
    }

    pub fn finish(mut self) -> Turn {
        self.feed(b"\n");
        Turn {
            text: self.text,
            calls: self
                .calls
                .into_values()
                .map(|(id, name, args)| ToolCall {
                    id,
                    name,
                    input: serde_json::from_str(if args.trim().is_empty() { "{}" } else { &args })
                        .unwrap_or_else(|_| json!({"_unparsed": args})),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_stream_with_a_tool_call() {
        let mut p = Parser::new(Wire::Anthropic);
        let events = [
            r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":5}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me "}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"look."}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"read_file","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"a.txt\"}"}}"#,
        ];
        let text: String = events
            .iter()
            .map(|e| format!("event: x\ndata: {e}\n\n"))
            .collect();
        // Fed in awkward pieces, as a network would.
        for piece in text.as_bytes().chunks(7) {
            p.feed(piece);
        }
        let t = p.finish();
        assert_eq!(t.text, "Let me look.");
        assert_eq!(
            t.calls,
            vec![ToolCall {
                id: "t1".into(),
                name: "read_file".into(),
                input: json!({"path": "a.txt"})
            }]
        );
    }

    #[test]
    fn openai_stream_with_tool_calls() {
        let mut p = Parser::new(Wire::OpenAi);
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"write_file","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"b\","}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"content\":\"x\"}"}}]}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
        ];
        let text: String = chunks
            .iter()
            .map(|c| format!("data: {c}\n\n"))
            .collect::<String>()
            + "data: [DONE]\n\n";
        p.feed(text.as_bytes());
        let t = p.finish();
        assert_eq!(t.calls[0].name, "write_file");
        assert_eq!(t.calls[0].input, json!({"path": "b", "content": "x"}));
    }
}
