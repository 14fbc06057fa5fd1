//! The demo's model: `flightdeck demo-model`, a scripted provider on loopback that speaks the
//! Anthropic Messages API (`POST /v1/messages`, JSON with a `usage` block). Its answers are
//! canned and its token counts follow from the prompt, so the same prompt always costs the
//! same. The scripted agents reach it only through the run's gateway (a `kind = "demo"`
//! provider), which meters each call, prices it and enforces budgets as for a real model.
//!
//! It runs as a process of its own (runs outlive the cockpit, and so must their model), takes
//! the port it had last time when it is free (the server pins its providers' URLs), and ends
//! once no flightdeck server has been running in its home for a while.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use color_eyre::eyre::{eyre, Result, WrapErr};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};

use crate::gateway::DEMO_KEY;
use crate::paths::Home;

/// The model name the demo's agents ask for, priced in the demo's config.
pub const MODEL: &str = "flightdeck-demo";
/// USD per million tokens: a mid-size model's rates, so COST shows what such a run would cost.
pub const PRICE: (f64, f64, f64) = (3.0, 15.0, 0.3);

/// Context every call pretends to carry beside the prompt: the instructions and the files read.
const CONTEXT_TOKENS: u64 = 1_800;
/// Of which this much is read from the provider's cache.
const CACHED_TOKENS: u64 = 2_400;
/// Largest request read.
const MAX_REQUEST: usize = 1024 * 1024;
/// With no server in the home this long, the model ends.
const ORPHANED: Duration = Duration::from_secs(30);

const ANSWERS: [&str; 6] = [
    "Start with the file the task names; keep the change small and say what it does.",
    "Looks right. Check the page still loads before calling it done.",
    "Read what uses it first, then change it in one place.",
    "Fine as it is; one more pass over the wording would help.",
    "That works. Keep the old behaviour for anything the task does not mention.",
    "Done enough: the checks will tell you what is left.",
];

/// Where the model records its port.
pub fn port_file(home: &Home) -> PathBuf {
    home.root().join("demo").join("model.port")
}

/// The answer to one prompt, and its usage: the same prompt always gets the same.
pub fn answer(prompt: &str) -> (String, u64, u64) {
    let hash = prompt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let text = ANSWERS[(hash % ANSWERS.len() as u64) as usize].to_string();
    let input = CONTEXT_TOKENS + (prompt.len() as u64).div_ceil(4);
    let output = 40 + (text.len() as u64).div_ceil(4);
    (text, input, output)
}

/// A Messages API response for `body` (a request), or the status and message of a refusal.
pub fn respond(body: &[u8]) -> Result<Value, (StatusCode, String)> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("not JSON: {e}")))?;
    let model = v["model"].as_str().unwrap_or(MODEL).to_string();
    let last = v["messages"]
        .as_array()
        .and_then(|m| m.last())
        .ok_or((StatusCode::BAD_REQUEST, "no messages".to_string()))?;
    let prompt = match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let (text, input, output) = answer(&prompt);
    let id = format!(
        "msg_demo_{:016x}",
        input.wrapping_mul(31) ^ prompt.len() as u64
    );
    Ok(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": input,
            "output_tokens": output,
            "cache_read_input_tokens": CACHED_TOKENS,
            "cache_creation_input_tokens": 0
        }
    }))
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

async fn handle(req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() == "/health" {
        return reply(StatusCode::OK, json!({"model": MODEL}));
    }
    if req.uri().path() != "/v1/messages" || req.method() != hyper::Method::POST {
        return error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "the demo model answers POST /v1/messages",
        );
    }
    // Only the gateway has this key: a call that skipped it would not be metered.
    let key = req.headers().get("x-api-key").and_then(|k| k.to_str().ok());
    if key != Some(DEMO_KEY) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "call the demo model through the run's gateway",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &e.to_string(),
            )
        }
    };
    match respond(&body) {
        Ok(v) => reply(StatusCode::OK, v),
        Err((status, message)) => error(status, "invalid_request_error", &message),
    }
}

/// `flightdeck demo-model`: serve until no server has run in `home` for a while.
pub async fn serve(home: Home, port: Option<u16>) -> Result<i32> {
    let listener = match port {
        Some(p) => match tokio::net::TcpListener::bind(("127.0.0.1", p)).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
        },
        None => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
    };
    let port = listener.local_addr()?.port();
    let file = port_file(&home);
    let text = port.to_string();
    tokio::task::spawn_blocking(move || crate::owner_only::write(&file, text.as_bytes()))
        .await
        .map_err(|e| eyre!("{e}"))?
        .wrap_err("cannot record the demo model's port")?;
    eprintln!("flightdeck demo model on http://127.0.0.1:{port}");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req| async {
                    Ok::<_, Infallible>(handle(req).await)
                });
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30));
                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    // Ends once the home's server has been gone (or never came) for `ORPHANED`.
    let socket = home.socket();
    let mut missing = Duration::ZERO;
    let tick = Duration::from_secs(2);
    while missing < ORPHANED {
        tokio::time::sleep(tick).await;
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            missing = Duration::ZERO;
        } else {
            missing += tick;
        }
    }
    Ok(0)
}

/// Whether a demo model answers on `port`. Blocking (at most a second).
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut text = String::new();
    let _ = s.take(4096).read_to_string(&mut text);
    text.contains(MODEL)
}

fn recorded_port(file: &Path) -> Option<u16> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// The port of the home's demo model, started (detached, output to `demo/model.log`) when none
/// answers. Blocking (waits up to 10 s for a new one to listen).
pub fn ensure(home: &Home) -> Result<u16> {
    let file = port_file(home);
    let last = recorded_port(&file);
    if let Some(port) = last.filter(|p| answers(*p)) {
        return Ok(port);
    }
    let _ = std::fs::remove_file(&file);
    let log_path = home.root().join("demo").join("model.log");
    let mut args: Vec<std::ffi::OsString> = vec!["demo-model".into()];
    if let Some(p) = last {
        args.extend(["--port".into(), p.to_string().into()]);
    }
    let mut child = crate::server::spawn::detached(home, &args, &log_path)
        .wrap_err("cannot start the demo model")?;
    for _ in 0..100 {
        if let Some(port) = recorded_port(&file).filter(|p| answers(*p)) {
            // It outlives this process; a thread reaps it if it ends while we are here.
            std::thread::spawn(move || child.wait());
            return Ok(port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(eyre!(
                "the demo model exited at once ({status}); see {}",
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(eyre!(
        "the demo model did not start listening; see {}",
        log_path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_prompt_gets_the_same_answer_and_usage() {
        let body = br#"{"model":"flightdeck-demo","max_tokens":100,"messages":[{"role":"user","content":"plan the README"}]}"#;
        let a = respond(body).unwrap();
        assert_eq!(a, respond(body).unwrap());
        assert_eq!(a["model"], MODEL);
        assert!(a["usage"]["input_tokens"].as_u64().unwrap() > CONTEXT_TOKENS);
        assert!(a["content"][0]["text"].as_str().unwrap().len() > 10);
        let seen = crate::gateway::usage::from_body(a.to_string().as_bytes());
        assert_eq!(seen.usage.unwrap().cache_read, CACHED_TOKENS);
        assert!(respond(b"{}").is_err());
    }
}
