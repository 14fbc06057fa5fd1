//! Reading a model call's usage out of a response body as it passed through the gateway:
//! Anthropic Messages and OpenAI chat completions / responses, whole JSON or a server-sent
//! event stream. Pure, so each wire format is tested on its own.

use serde_json::Value;

use crate::models::pricing::Usage;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seen {
    pub model: Option<String>,
    pub id: Option<String>,
    pub usage: Option<Usage>,
}

/// Usage from a response body (JSON or SSE).
pub fn from_body(body: &[u8]) -> Seen {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    let mut seen = Seen::default();
    if trimmed.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
            absorb(&mut seen, &v);
        }
        return seen;
    }
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<Value>(data) {
            absorb(&mut seen, &v);
        }
    }
    seen
}

fn absorb(seen: &mut Seen, v: &Value) {
    match v.get("type").and_then(Value::as_str) {
        // Anthropic stream: the start holds input and cache counts, deltas the output so far.
        Some("message_start") => {
            if let Some(m) = v.get("message") {
                absorb_message(seen, m);
            }
        }
        Some("message_delta") => {
            if let Some(out) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                let mut u = seen.usage.unwrap_or_default();
                u.output = out;
                seen.usage = Some(u);
            }
        }
        // OpenAI responses stream: the last event carries the whole response.
        Some("response.completed") | Some("response.failed") | Some("response.incomplete") => {
            if let Some(r) = v.get("response") {
                absorb_message(seen, r);
            }
        }
        _ => absorb_message(seen, v),
    }
}

/// A message / completion / response object: model, id, usage in any of the three shapes.
fn absorb_message(seen: &mut Seen, m: &Value) {
    if let Some(model) = m.get("model").and_then(Value::as_str) {
        seen.model = Some(model.to_string());
    }
    if let Some(id) = m.get("id").and_then(Value::as_str) {
        seen.id = Some(id.to_string());
    }
    let Some(u) = m.get("usage").filter(|u| u.is_object()) else {
        return;
    };
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let usage = if let Some(prompt) = n("prompt_tokens") {
        // chat completions: cached tokens are part of prompt_tokens
        let cached = u
            .pointer("/prompt_tokens_details/cached_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Usage {
            input: prompt.saturating_sub(cached),
            output: n("completion_tokens").unwrap_or(0),
            cache_read: cached,
            cache_write: 0,
        }
    } else if u.get("input_tokens_details").is_some() {
        // responses API: cached tokens are part of input_tokens
        let cached = u
            .pointer("/input_tokens_details/cached_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Usage {
            input: n("input_tokens").unwrap_or(0).saturating_sub(cached),
            output: n("output_tokens").unwrap_or(0),
            cache_read: cached,
            cache_write: 0,
        }
    } else {
        // Anthropic: cache counts are apart from input_tokens
        Usage {
            input: n("input_tokens").unwrap_or(0),
            output: n("output_tokens").unwrap_or(0),
            cache_read: n("cache_read_input_tokens").unwrap_or(0),
            cache_write: n("cache_creation_input_tokens").unwrap_or(0),
        }
    };
    seen.usage = Some(usage);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_json_and_stream() {
        let json = br#"{"id":"msg_1","type":"message","model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":7}}"#;
        let s = from_body(json);
        assert_eq!(s.model.as_deref(), Some("claude-haiku-4-5"));
        assert_eq!(
            s.usage,
            Some(Usage {
                input: 10,
                output: 5,
                cache_read: 100,
                cache_write: 7
            })
        );

        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":20,\"output_tokens\":1,\"cache_read_input_tokens\":3,\"cache_creation_input_tokens\":0}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":42}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let s = from_body(sse.as_bytes());
        assert_eq!(s.id.as_deref(), Some("msg_2"));
        assert_eq!(
            s.usage,
            Some(Usage {
                input: 20,
                output: 42,
                cache_read: 3,
                cache_write: 0
            })
        );
    }

    #[test]
    fn openai_chat_and_responses() {
        let json = br#"{"id":"chatcmpl-1","model":"gpt-4o-mini","usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":60}}}"#;
        assert_eq!(
            from_body(json).usage,
            Some(Usage {
                input: 40,
                output: 20,
                cache_read: 60,
                cache_write: 0
            })
        );

        let sse = "data: {\"id\":\"c2\",\"model\":\"gpt-5-mini\",\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}\n\ndata: {\"id\":\"c2\",\"model\":\"gpt-5-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n";
        let s = from_body(sse.as_bytes());
        assert_eq!(s.model.as_deref(), Some("gpt-5-mini"));
        assert_eq!(
            s.usage,
            Some(Usage {
                input: 9,
                output: 4,
                cache_read: 0,
                cache_write: 0
            })
        );

        let resp = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5-codex\",\"usage\":{\"input_tokens\":500,\"input_tokens_details\":{\"cached_tokens\":400},\"output_tokens\":30}}}\n\n";
        let s = from_body(resp.as_bytes());
        assert_eq!(
            s.usage,
            Some(Usage {
                input: 100,
                output: 30,
                cache_read: 400,
                cache_write: 0
            })
        );
    }

    #[test]
    fn no_usage_is_none() {
        assert_eq!(from_body(b"not json").usage, None);
        assert_eq!(from_body(br#"{"error":{"message":"bad"}}"#).usage, None);
    }
}
