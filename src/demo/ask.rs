//! `flightdeck demo-ask PROMPT`: how a scripted demo agent calls its model, the way an SDK
//! would: a Messages API request to the run's gateway (`$FLIGHTDECK_GATEWAY_URL/demo`, the
//! run token `$FLIGHTDECK_GATEWAY_TOKEN` as its key). The gateway swaps the token for the
//! provider's key, meters the call, and holds it while the run is paused. Prints one line (the
//! answer and its tokens, or why there is none) and never writes to stderr, so the agent's
//! output stays its own.

use serde_json::{json, Value};

use super::model::MODEL;

/// The provider name the demo's config gives its model.
pub const PROVIDER: &str = "demo";

/// Ask; returns the exit code (1 when there was no answer).
pub async fn main(prompt: &str) -> i32 {
    match ask(prompt).await {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(why) => {
            println!("no answer from the model: {why}");
            1
        }
    }
}

async fn ask(prompt: &str) -> Result<String, String> {
    let (Ok(base), Ok(token)) = (
        std::env::var("FLIGHTDECK_GATEWAY_URL"),
        std::env::var("FLIGHTDECK_GATEWAY_TOKEN"),
    ) else {
        return Err("no gateway (run this as a flightdeck run's agent)".into());
    };
    let body = json!({
        "model": MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": prompt}],
    });
    let response = reqwest::Client::new()
        .post(format!("{base}/{PROVIDER}/v1/messages"))
        .header("x-api-key", token)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let v: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let message = v["error"]["message"].as_str().unwrap_or("no message");
        return Err(format!("{status}: {message}"));
    }
    let text = v["content"][0]["text"].as_str().unwrap_or("");
    let tokens = |k: &str| v["usage"][k].as_u64().unwrap_or(0);
    Ok(format!(
        "{text} ({} tokens in, {} out)",
        tokens("input_tokens") + tokens("cache_read_input_tokens"),
        tokens("output_tokens")
    ))
}
