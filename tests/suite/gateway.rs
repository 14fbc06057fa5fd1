//! The metering gateway against a scripted provider: calls pass through unchanged and are
//! recorded with the scripted token counts and the price table's costs; the provider key
//! reaches no agent and no file of the proof pack; a spent budget refuses calls and pauses the
//! run, and raising the cap and resuming continues it. That last, through the real binary, is
//! `the_gateway_meters_calls_hides_the_key_and_enforces_the_budget`; the budget's behaviour in
//! detail (global caps, earlier attempts, unpriced models) is checked in process (budget.rs).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::common::provider::{json, post, sse, Provider};
use crate::common::*;
use serde_json::json as j;

const ANTHROPIC_KEY: &str = "sk-ant-SECRET-anthropic-0451";
const OPENAI_KEY: &str = "sk-SECRET-openai-2187";

pub(crate) fn config(port: u16, run_usd: f64) -> String {
    format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{port}"
api_key_env = "FD_TEST_ANTHROPIC_KEY"

[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "FD_TEST_OPENAI_KEY"

[budget]
run_usd = {run_usd}

[agents.waiter]
# Writes its environment next to the worktree, then waits for the test to say done.
command = ["sh", "-c", "env > \"$1\"; while [ ! -f \"$2\" ]; do sleep 0.1; done", "sh", "{{worktree}}/../env-{{run_id}}", "{{worktree}}/../done-{{run_id}}"]
"#
    )
}

/// The provider keys, in the environment the server starts with.
pub(crate) fn with_keys(env: &mut Env) {
    env.vars
        .push(("FD_TEST_ANTHROPIC_KEY".into(), ANTHROPIC_KEY.into()));
    env.vars
        .push(("FD_TEST_OPENAI_KEY".into(), OPENAI_KEY.into()));
}

#[test]
fn the_gateway_meters_calls_hides_the_key_and_enforces_the_budget() {
    let anthropic_json = json(
        j!({"id":"msg_a1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"hello"}],"usage":{"input_tokens":1000,"output_tokens":200,"cache_read_input_tokens":5000,"cache_creation_input_tokens":100}}),
    );
    let anthropic_stream = sse(&[
        (
            "message_start",
            j!({"type":"message_start","message":{"id":"msg_a2","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":500,"output_tokens":1,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}),
        ),
        (
            "content_block_delta",
            j!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"streamed"}}),
        ),
        (
            "message_delta",
            j!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":300}}),
        ),
        ("message_stop", j!({"type":"message_stop"})),
    ]);
    let openai_stream = sse(&[
        (
            "",
            j!({"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}),
        ),
        (
            "",
            j!({"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":100,"prompt_tokens_details":{"cached_tokens":400}}}),
        ),
    ]);
    let after_raise = json(
        j!({"id":"msg_a3","model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":10}}),
    );
    let script = vec![
        openai_stream.clone(),
        anthropic_json.clone(),
        anthropic_stream.clone(),
        after_raise,
    ];
    let provider = Provider::start(script);

    // A cap that the second call takes past 80% and the third past 100%.
    let mut env = Env::new(&config(provider.port, 0.0034));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "waiter", "talk to the models");
    let wt = PathBuf::from(env.record(&id)["worktree"].as_str().unwrap());
    let env_file = wt.parent().unwrap().join(format!("env-{id}"));
    wait_until("the agent's environment", || {
        std::fs::read_to_string(&env_file)
            .map(|t| t.contains("FLIGHTDECK_GATEWAY_URL"))
            .unwrap_or(false)
    });
    let agent_env: HashMap<String, String> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    assert!(
        !agent_env.values().any(|v| v.contains("SECRET")),
        "the agent saw a provider key"
    );
    assert!(!agent_env.contains_key("FD_TEST_ANTHROPIC_KEY"));
    let token = agent_env["ANTHROPIC_API_KEY"].clone();
    assert_eq!(agent_env["OPENAI_API_KEY"], token);
    let anthropic = agent_env["ANTHROPIC_BASE_URL"].clone();
    let openai = agent_env["OPENAI_BASE_URL"].clone();
    assert!(anthropic.starts_with("http://127.0.0.1:") && anthropic.contains(&token));

    // 1. OpenAI chat, streamed: passed through, with the usage chunk asked for.
    let (status, body) = post(
        &format!("{openai}/chat/completions"),
        &[("Authorization", &format!("Bearer {token}"))],
        r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body, openai_stream.body, "the stream comes back unchanged");
    // 2. Anthropic, JSON.
    let (status, body) = post(
        &format!("{anthropic}/v1/messages"),
        &[("x-api-key", &token)],
        r#"{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body, anthropic_json.body);
    // 3. Anthropic, streamed.
    let (status, body) = post(
        &format!("{anthropic}/v1/messages"),
        &[("x-api-key", &token)],
        r#"{"model":"claude-haiku-4-5","max_tokens":10,"stream":true,"messages":[]}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body, anthropic_stream.body);

    let got = provider.requests();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].path, "/v1/chat/completions");
    assert_eq!(
        got[0].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert!(got[0].body.contains("\"include_usage\":true"));
    assert_eq!(got[1].path, "/v1/messages");
    assert_eq!(got[1].header("x-api-key"), Some(ANTHROPIC_KEY));

    // The budget: a warning past 80%, then the run paused with reason budget.
    let r = env.wait_for(&id, "paused for its budget", |r| r["status"] == "paused");
    assert_eq!(r["pause_reason"], "budget");
    assert!(!env.events_of(&id, "budget.warning").is_empty());
    assert!(
        r["warning"].as_str().unwrap().contains("budget"),
        "the run shows the warning"
    );
    let paused = env.events_of(&id, "run.paused");
    assert_eq!(paused[0]["reason"], "budget");
    assert!(paused[0]["message"]
        .as_str()
        .unwrap()
        .contains("budget.run_usd"));

    // model_calls.jsonl: exactly the scripted counts, priced from the table.
    let calls = env.model_calls(&id);
    let summary: Vec<(String, u64, u64, u64, u64, f64)> = calls
        .iter()
        .map(|c| {
            (
                c["model"].as_str().unwrap().to_string(),
                c["input_tokens"].as_u64().unwrap(),
                c["output_tokens"].as_u64().unwrap(),
                c["cache_read_tokens"].as_u64().unwrap(),
                c["cache_write_tokens"].as_u64().unwrap(),
                c["cost_usd"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("gpt-4o-mini".into(), 600, 100, 400, 0, 0.00018),
            ("claude-haiku-4-5".into(), 1000, 200, 5000, 100, 0.002625),
            ("claude-haiku-4-5".into(), 500, 300, 0, 0, 0.002),
        ]
    );
    assert!(calls
        .iter()
        .all(|c| c["source"] == "gateway" && c["http_status"] == 200 && c["latency_ms"].is_u64()));
    assert_eq!(calls[0]["provider"], "openai");
    assert_eq!(env.record(&id)["cost_usd"], 0.004805);

    // A further call is held at the gateway, not refused (agents give up on errors): it
    // waits while the run is paused and never reaches the provider meanwhile.
    let held = {
        let url = format!("{anthropic}/v1/messages");
        let token = token.clone();
        std::thread::spawn(move || {
            post(
                &url,
                &[("x-api-key", &token)],
                r#"{"model":"claude-haiku-4-5","messages":[]}"#,
            )
        })
    };
    env.wait_for(&id, "the held call in the timeline", |_| {
        env.events_of(&id, "gateway.held")
            .iter()
            .any(|e| e["reason"] == "budget")
    });
    assert!(!held.is_finished(), "the held call was answered");
    assert_eq!(provider.requests().len(), 3);
    // A wrong token gets nowhere either.
    let bad = anthropic.replace(&token, "fd-not-a-token");
    let (status, _) = post(&format!("{bad}/v1/messages"), &[], "{}");
    assert_eq!(status, 401);

    // Resuming with the cap still spent says so and leaves the run paused.
    let err = env.fails(&["resume", &id]);
    assert!(
        err.contains("stays paused") && err.contains("budget.run_usd"),
        "{err}"
    );
    assert_eq!(env.record(&id)["status"], "paused");
    assert!(!held.is_finished(), "the held call was answered");

    // Raise the cap, resume: the held call goes through, as if nothing had happened.
    std::fs::write(&env.config, config(provider.port, 1.0)).unwrap();
    let before_resume = std::time::Instant::now();
    env.ok(&["resume", &id]);
    let r = env.record(&id);
    assert_eq!(r["status"], "running");
    assert!(r["pause_reason"].is_null());
    let (status, body) = held.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(provider.requests().len(), 4);
    // Held, not merely slow: the provider saw the call only once the run was resumed.
    assert!(
        provider.requests()[3].at > before_resume,
        "the held call reached the provider before the resume"
    );
    assert_eq!(env.events_of(&id, "gateway.released").len(), 1);

    std::fs::write(wt.parent().unwrap().join(format!("done-{id}")), "").unwrap();
    env.wait_status(&id, "succeeded");
    // No file of the proof pack holds a key.
    for f in files_under(&env.run_dir(&id)) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !text.contains("SECRET"),
            "{} holds a provider key",
            f.display()
        );
    }
}

/// One streamed Anthropic turn: some text, maybe a tool call, the usage.
pub(crate) fn anthropic_turn(
    n: usize,
    text: &str,
    tool: Option<(&str, serde_json::Value)>,
    usage: [u64; 4],
) -> crate::common::provider::Scripted {
    let [input, output, cache_read, cache_write] = usage;
    let mut events = vec![
        (
            "message_start",
            j!({"type":"message_start","message":{"id":format!("msg_t{n}"),"type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":input,"output_tokens":1,"cache_read_input_tokens":cache_read,"cache_creation_input_tokens":cache_write}}}),
        ),
        (
            "content_block_start",
            j!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        (
            "content_block_delta",
            j!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}}),
        ),
        (
            "content_block_stop",
            j!({"type":"content_block_stop","index":0}),
        ),
    ];
    if let Some((name, input)) = &tool {
        let args = input.to_string();
        let (a, b) = args.split_at(args.len() / 2);
        events.push(("content_block_start", j!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":format!("toolu_{n}"),"name":name,"input":{}}})));
        events.push(("content_block_delta", j!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":a}})));
        events.push(("content_block_delta", j!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":b}})));
        events.push((
            "content_block_stop",
            j!({"type":"content_block_stop","index":1}),
        ));
    }
    let stop = if tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    events.push((
        "message_delta",
        j!({"type":"message_delta","delta":{"stop_reason":stop},"usage":{"output_tokens":output}}),
    ));
    events.push(("message_stop", j!({"type":"message_stop"})));
    sse(&events)
}

#[test]
fn the_builtin_agent_edits_through_the_gateway_over_anthropic_streaming() {
    let script = vec![
        crate::common::provider::failure(503), // retried with backoff
        anthropic_turn(
            1,
            "Let me look around.",
            Some(("list_dir", j!({"path": "."}))),
            [100, 20, 0, 50],
        ),
        anthropic_turn(
            2,
            "Reading the code.",
            Some(("read_file", j!({"path": "src/lib.rs"}))),
            [150, 25, 50, 0],
        ),
        anthropic_turn(
            3,
            "Fixing it.",
            Some((
                "write_file",
                j!({"path": "src/lib.rs", "content": "pub fn answer() -> u32 { 43 }\n"}),
            )),
            [200, 60, 100, 0],
        ),
        anthropic_turn(4, "Done: answer() returns 43.", None, [250, 10, 150, 0]),
    ];
    let provider = Provider::start(script);
    let mut env = Env::new(&format!(
        "{}\n[agents.builtin-claude]\nkind = \"builtin\"\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nmax_turns = 10\n",
        config(provider.port, 5.0)
    ));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "builtin-claude", "make answer() return 43");
    let r = env.wait_for(&id, "finished", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r:#}\n{:#?}", env.timeline(&id));
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(wt.join("src/lib.rs")).unwrap(),
        "pub fn answer() -> u32 { 43 }\n"
    );
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(patch.contains("+pub fn answer() -> u32 { 43 }"), "{patch}");

    let got = provider.requests();
    assert_eq!(got.len(), 5);
    assert!(got
        .iter()
        .all(|g| g.header("x-api-key") == Some(ANTHROPIC_KEY)));
    assert!(
        got[2].body.contains("tool_result") && got[2].body.contains("src/"),
        "the listing went back to the model"
    );
    assert!(got[4].body.contains("wrote 30 bytes to src/lib.rs"));

    let calls = env.model_calls(&id);
    let tokens: Vec<[u64; 4]> = calls
        .iter()
        .map(|c| {
            [
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
            ]
            .map(|k| c[k].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        tokens,
        vec![
            [100, 20, 0, 50],
            [150, 25, 50, 0],
            [200, 60, 100, 0],
            [250, 10, 150, 0]
        ]
    );
    let costs: Vec<f64> = calls
        .iter()
        .map(|c| c["cost_usd"].as_f64().unwrap())
        .collect();
    assert_eq!(costs, vec![0.0002625, 0.00028, 0.00051, 0.000315]);
    assert_eq!(r["tokens"]["input"], 700);
    assert_eq!(r["cost_usd"], 0.0013675);
    let tools: Vec<String> = env
        .events_of(&id, "tool.call")
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tools, vec!["list_dir", "read_file", "write_file"]);
    assert_eq!(env.events_of(&id, "agent.retry").len(), 1);
}

#[test]
fn the_builtin_agent_speaks_openai_chat_streaming() {
    let chunk = |v: serde_json::Value| ("", v);
    let turn1 = sse(&[
        chunk(
            j!({"id":"c1","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"write_file","arguments":""}}]}}]}),
        ),
        chunk(
            j!({"id":"c1","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"NOTES.md\",\"content\":\"# notes\\n\"}"}}]}}]}),
        ),
        chunk(
            j!({"id":"c1","model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
        ),
        chunk(
            j!({"id":"c1","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":300,"completion_tokens":40}}),
        ),
    ]);
    let turn2 = sse(&[
        chunk(
            j!({"id":"c2","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Wrote NOTES.md."}}]}),
        ),
        chunk(
            j!({"id":"c2","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":400,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":200}}}),
        ),
    ]);
    let provider = Provider::start(vec![turn1, turn2]);
    let mut env = Env::new(&format!(
        "{}\n[agents.builtin-gpt]\nkind = \"builtin\"\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n",
        config(provider.port, 5.0)
    ));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "builtin-gpt", "write notes");
    let r = env.wait_for(&id, "finished", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert!(PathBuf::from(r["worktree"].as_str().unwrap())
        .join("NOTES.md")
        .exists());
    let got = provider.requests();
    assert_eq!(got[0].path, "/v1/chat/completions");
    assert!(got[1].body.contains("\"role\":\"tool\""));
    let calls = std::fs::read_to_string(env.run_dir(&id).join("model_calls.jsonl")).unwrap();
    assert_eq!(calls.lines().count(), 2);
    // gpt-4o-mini: 300×0.15 + 40×0.6 = 69; 200×0.15 + 200×0.075 + 5×0.6 = 48 (per million).
    assert_eq!(r["cost_usd"], 0.000117);
}

/// The agent's environment as the `waiter` agent wrote it.
pub(crate) fn agent_env_of(env: &Env, id: &str) -> HashMap<String, String> {
    let wt = PathBuf::from(env.record(id)["worktree"].as_str().unwrap());
    let env_file = wt.parent().unwrap().join(format!("env-{id}"));
    wait_until("the agent's environment", || {
        std::fs::read_to_string(&env_file)
            .map(|t| t.contains("FLIGHTDECK_GATEWAY_URL"))
            .unwrap_or(false)
    });
    std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let mut req = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[test]
fn the_gateway_forwards_only_model_endpoints_and_holds_calls_while_paused() {
    let reply = || {
        json(
            j!({"id":"msg_ok","type":"message","model":"claude-haiku-4-5","usage":{"input_tokens":1,"output_tokens":1}}),
        )
    };
    let provider = Provider::start(vec![reply(), reply(), reply(), reply()]);
    let mut env = Env::new(&config(provider.port, 5.0));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "waiter", "stay within the model endpoints");
    let agent_env = agent_env_of(&env, &id);
    let token = agent_env["ANTHROPIC_API_KEY"].clone();
    let anthropic = agent_env["ANTHROPIC_BASE_URL"].clone();
    let openai = agent_env["OPENAI_BASE_URL"].clone();
    let auth = [("x-api-key", token.as_str())];
    let body = r#"{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}"#;

    // Not model endpoints, or dressed up to look like one: refused, never forwarded.
    let refused = [
        format!("{anthropic}/v1/files"),
        format!("{anthropic}/v1/messages/batches"),
        format!("{anthropic}/v1/messages/../files"),
        format!("{anthropic}/v1/messages/%2e%2e/files"),
        format!("{anthropic}/v1/messages%2F..%2F..%2Ffiles"),
        format!("{anthropic}/../../v1/files"),
        format!("{anthropic}/v1/messages/%252e%252e/files"),
        format!("{openai}/files"),
        format!("{openai}//../chat/completions"),
    ];
    for url in &refused {
        let (status, text) = post(url, &auth, body);
        assert_eq!(status, 403, "{url}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("flightdeck's gateway") && message.contains("model"),
            "{message}"
        );
    }
    let (status, text) = get(&format!("{anthropic}/v1/messages"), &auth);
    assert_eq!(status, 405, "{text}");
    assert_eq!(
        provider.requests().len(),
        0,
        "a refused path reached the provider"
    );

    // Model endpoints pass, normalised, with their query string.
    let (status, _) = post(&format!("{anthropic}/v1/messages?beta=true"), &auth, body);
    assert_eq!(status, 200);
    let (status, _) = post(&format!("{anthropic}//v1/./messages"), &auth, body);
    assert_eq!(status, 200);
    let got = provider.requests();
    assert_eq!(got[0].path, "/v1/messages?beta=true");
    assert_eq!(got[1].path, "/v1/messages");

    // The timeline names each refused path and why, and never the token.
    let events = env.events_of(&id, "gateway.refused");
    assert_eq!(events.len(), refused.len() + 1, "{events:#?}");
    assert_eq!(events[0]["path"], "/v1/files");
    assert_eq!(events[0]["reason"], "not_a_model_endpoint");
    assert_eq!(events[0]["status"], 403);
    assert_eq!(events[0]["provider"], "anthropic");
    assert_eq!(events[2]["path"], "/v1/messages/../files");
    assert_eq!(events[2]["reason"], "bad_path");
    assert!(events[3]["message"].as_str().unwrap().contains("%2e%2e"));
    assert_eq!(events[refused.len()]["reason"], "method_not_allowed");
    let timeline = std::fs::read_to_string(env.run_dir(&id).join("timeline.jsonl")).unwrap();
    assert!(
        !timeline.contains(&token),
        "the run token reached the timeline"
    );

    // Paused: a call waits until the run resumes, then goes through.
    env.ok(&["pause", &id]);
    let held = {
        let url = format!("{anthropic}/v1/messages");
        let token = token.clone();
        std::thread::spawn(move || post(&url, &[("x-api-key", &token)], body))
    };
    env.wait_for(&id, "the held call in the timeline", |_| {
        env.events_of(&id, "gateway.held")
            .iter()
            .any(|e| e["reason"] == "paused")
    });
    assert!(!held.is_finished(), "a paused run's call was answered");
    assert_eq!(provider.requests().len(), 2);
    let before_resume = std::time::Instant::now();
    env.ok(&["resume", &id]);
    let (status, text) = held.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(provider.requests().len(), 3);
    // Held, not merely slow: the provider saw the call only once the run was resumed.
    assert!(
        provider.requests()[2].at > before_resume,
        "a paused run's call reached the provider before the resume"
    );
    let (status, _) = post(&format!("{anthropic}/v1/messages"), &auth, body);
    assert_eq!(status, 200);
    assert_eq!(provider.requests().len(), 4);

    let wt = PathBuf::from(env.record(&id)["worktree"].as_str().unwrap());
    std::fs::write(wt.parent().unwrap().join(format!("done-{id}")), "").unwrap();
    env.wait_status(&id, "succeeded");
}

const BUILTIN: &str = "\n[agents.builtin-claude]\nkind = \"builtin\"\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nmax_turns = 5\n";

#[test]
fn run_command_runs_in_the_worktree_without_keys_or_the_run_token_even_from_its_parents() {
    let script = vec![
        anthropic_turn(
            1,
            "Where am I?",
            // Its own environment, and what it can read of its parent's and grandparent's.
            Some((
                "run_command",
                j!({"command": "pwd -P; env; tr '\\0' '\\n' < /proc/$PPID/environ; echo; G=$(awk '{print $4}' /proc/$PPID/stat); tr '\\0' '\\n' < /proc/$G/environ; echo; cat /proc/$PPID/cmdline /proc/$G/cmdline"}),
            )),
            [10, 10, 0, 0],
        ),
        anthropic_turn(2, "Done.", None, [10, 10, 0, 0]),
    ];
    let provider = Provider::start(script);
    let mut env = Env::new(&format!("{}{BUILTIN}", config(provider.port, 5.0)));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "builtin-claude", "look around");
    let r = env.wait_for(&id, "finished", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let wt = std::fs::canonicalize(r["worktree"].as_str().unwrap()).unwrap();
    let got = provider.requests();
    assert_eq!(got.len(), 2);
    // The tool's output went back to the model in the second request.
    let sent: serde_json::Value = serde_json::from_str(&got[1].body).unwrap();
    let output = sent.to_string();
    assert!(
        output.contains(&format!("exit code 0\\n{}\\n", wt.display())),
        "the command did not run in the worktree: {output}"
    );
    assert!(output.contains("FLIGHTDECK_RUN_ID="), "{output}");
    // The parent environments were read (the agent's holds its model).
    assert!(
        output.contains("FLIGHTDECK_MODEL=claude-haiku-4-5"),
        "{output}"
    );
    let adoption: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.run_dir(&id).join("agent.json")).unwrap())
            .unwrap();
    let token = adoption["token"].as_str().expect("a run token").to_string();
    assert!(
        !output.contains(&token),
        "run_command read the run token: {output}"
    );
    for leak in [
        "/r/fd-",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "FLIGHTDECK_GATEWAY",
        "FLIGHTDECK_PROVIDER_URL",
        "FD_TEST_",
        "SECRET",
    ] {
        assert!(!output.contains(leak), "run_command saw {leak}: {output}");
    }
}

/// Kills a process left behind by a failing test.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[test]
fn killing_the_run_kills_what_run_command_started() {
    let pid_file = tempfile::tempdir().unwrap();
    let pid_path = pid_file.path().join("sleep.pid");
    let script = vec![anthropic_turn(
        1,
        "Waiting a while.",
        Some((
            "run_command",
            j!({"command": format!("echo $$ > {}; exec sleep 120", pid_path.display())}),
        )),
        [10, 10, 0, 0],
    )];
    let provider = Provider::start(script);
    let mut env = Env::new(&format!("{}{BUILTIN}", config(provider.port, 5.0)));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "builtin-claude", "wait");
    let sleep = read_pids(&pid_path, 1)[0];
    let _guard = KillOnDrop(sleep);
    wait_until("the sleep to start", || {
        std::fs::read_to_string(format!("/proc/{sleep}/cmdline"))
            .map(|c| c.starts_with("sleep"))
            .unwrap_or(false)
    });

    env.ok(&["kill", &id]);
    env.wait_status(&id, "killed");
    wait_until("run_command's sleep to be gone", || !alive(sleep));
}

#[test]
fn an_adopted_agent_keeps_its_gateway_url_and_token_across_a_server_kill() {
    let reply = || {
        json(
            j!({"id":"msg_ok","type":"message","model":"claude-haiku-4-5","usage":{"input_tokens":7,"output_tokens":3}}),
        )
    };
    let provider = Provider::start(vec![reply(), reply()]);
    let mut env = Env::new(&config(provider.port, 5.0));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "waiter", "talk across a restart");
    let agent_env = agent_env_of(&env, &id);
    let token = agent_env["ANTHROPIC_API_KEY"].clone();
    let anthropic = agent_env["ANTHROPIC_BASE_URL"].clone();
    let auth = [("x-api-key", token.as_str())];
    let body = r#"{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}"#;
    let (status, text) = post(&format!("{anthropic}/v1/messages"), &auth, body);
    assert_eq!(status, 200, "{text}");
    // The call is recorded just after its answer went back (under load, a kill -9 in those few
    // milliseconds lost it once): the crash comes once it is on disk.
    wait_until("the first call recorded", || {
        env.model_calls(&id).len() == 1
    });

    env.kill_server();
    env.ok(&["ls"]); // a new server, which adopts the run
    env.wait_for(&id, "adopted", |_| {
        !env.events_of(&id, "run.adopted").is_empty()
    });
    // Same URL, same token: the agent in flight carries on.
    let (status, text) = post(&format!("{anthropic}/v1/messages"), &auth, body);
    assert_eq!(status, 200, "{text}");
    let wt = PathBuf::from(env.record(&id)["worktree"].as_str().unwrap());
    std::fs::write(wt.parent().unwrap().join(format!("done-{id}")), "").unwrap();
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(env.model_calls(&id).len(), 2);
    assert_eq!(r["tokens"]["input"], 14);
}
