//! Aider: its output is text (kept as `agent.output`); its usage comes from the analytics log
//! (`--analytics-log FILE`), whose `message_send` events carry the model, prompt and completion
//! tokens and aider's own cost figure.

use serde_json::Value;

use super::{u, Parsed};
use crate::models::pricing::Usage;

/// Model calls (and aider's reported total cost) from an analytics log's text.
pub fn analytics_calls(text: &str) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut reported = 0.0;
    let mut any = false;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v.get("event").and_then(Value::as_str) != Some("message_send") {
            continue;
        }
        let p = v.get("properties").unwrap_or(&Value::Null);
        let model = p
            .get("main_model")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let provider = model
            .split('/')
            .next()
            .filter(|_| model.contains('/'))
            .unwrap_or("unknown");
        out.push(Parsed::Call {
            provider: provider.into(),
            model: model.rsplit('/').next().unwrap_or(model).into(),
            usage: Usage {
                input: u(p, "prompt_tokens"),
                output: u(p, "completion_tokens"),
                cache_read: 0,
                cache_write: 0,
            },
            call_id: None,
        });
        if let Some(c) = p.get("cost").and_then(Value::as_f64) {
            reported += c;
            any = true;
        }
    }
    if any {
        out.push(Parsed::ReportedCost(reported));
    }
    out
}
