//! The built-in agent (`kind = "builtin"`): flightdeck's own model client and tools, run as a
//! supervised process like any agent (`flightdeck agent-builtin`, launched by the supervisor).
//! It talks to the model through the metering gateway and prints one JSON line per step.

pub mod client;
pub mod command;
pub mod confined;
pub mod tools;

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};

use client::{Client, Wire};
use tools::Tools;

fn say(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| {
        format!("{name} is not set; the built-in agent runs under the flightdeck server")
    })
}

/// Run the agent loop; the exit code: 0 done, 1 error, 2 turn limit reached.
pub async fn main() -> i32 {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            say(json!({"type": "error", "message": e}));
            1
        }
    }
}

/// What the built-in agent takes on stdin: both hold the run token, so neither is in an
/// environment the agent's commands could read from /proc.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Secrets {
    pub provider_url: String,
    pub token: String,
}

/// The secrets from stdin (the server writes them and closes the pipe).
fn secrets() -> Result<Secrets, String> {
    use std::io::Read;
    let mut text = Vec::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read the gateway token from stdin: {e}"))?;
    serde_json::from_slice(&text).map_err(|_| {
        "no gateway token on stdin; the built-in agent runs under the flightdeck server".to_string()
    })
}

async fn run() -> Result<i32, String> {
    // Its memory holds the run token: not readable through /proc by its commands.
    crate::harden::non_dumpable();
    let Secrets {
        provider_url,
        token,
    } = secrets()?;
    let task = var("FLIGHTDECK_TASK")?;
    let worktree = var("FLIGHTDECK_WORKTREE")?;
    let wire = match var("FLIGHTDECK_PROVIDER_KIND")?.as_str() {
        "anthropic" => Wire::Anthropic,
        "openai" => Wire::OpenAi,
        other => return Err(format!("unknown provider kind `{other}`")),
    };
    let client = Client::new(wire, &provider_url, &token, &var("FLIGHTDECK_MODEL")?);
    let max_turns: u32 = var("FLIGHTDECK_MAX_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let timeout: u64 = var("FLIGHTDECK_COMMAND_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    // Commands the model asks for get this environment less every key and the run token.
    let command_env =
        crate::supervisor::child_env::for_tool_commands(std::env::vars_os(), Some(&token));
    let tools = Tools::new(
        std::path::Path::new(&worktree),
        Duration::from_secs(timeout),
        command_env,
    )
    .map_err(|e| format!("cannot open the worktree: {e}"))?;

    let mut messages = client.start(&task);
    for turn_no in 1..=max_turns {
        let turn = client
            .turn(&messages, |attempt, why| {
                say(json!({"type": "retry", "attempt": attempt, "message": why}))
            })
            .await?;
        if !turn.text.is_empty() {
            say(json!({"type": "message", "turn": turn_no, "text": turn.text}));
        }
        if turn.calls.is_empty() {
            say(json!({"type": "done", "turns": turn_no}));
            return Ok(0);
        }
        let mut results = Vec::new();
        for call in &turn.calls {
            say(
                json!({"type": "tool_call", "id": call.id, "name": call.name, "input": call.input}),
            );
            let r = tools.run(&call.name, &call.input);
            match &r {
                Ok(out) => say(
                    json!({"type": "tool_result", "id": call.id, "name": call.name, "ok": true, "output": out}),
                ),
                Err(e) => say(
                    json!({"type": "tool_result", "id": call.id, "name": call.name, "ok": false, "output": e}),
                ),
            }
            results.push((call.id.clone(), r));
        }
        client.record(&mut messages, &turn, &results);
    }
    say(
        json!({"type": "error", "message": format!("turn limit of {max_turns} reached before the task was done")}),
    );
    Ok(2)
}
