//! The real Claude Code (pinned in tests/real_agents/package.json) resumes its session when
//! the browser check sends it round again: its first iteration writes a page that logs an
//! error, Chromium catches it, and the second iteration starts with `--resume` and the first's
//! session id; the scripted provider sees the first iteration's conversation in the second's
//! request.

use std::sync::{Arc, Mutex};

use crate::common::provider::{Provider, Received};
use crate::common::*;
use crate::real_agents::{anthropic_reply, world};
use flightdeck::models::pricing::Usage;
use serde_json::{json, Value};

const BROKEN: &str =
    "<h1>broken</h1><script>console.error('boom: the widget is broken')</script>\n";
const FIXED: &str = "<h1>fixed</h1>\n";
/// How flightdeck's feedback prompt begins its report.
const REPORT: &str = "flightdeck ran your change in a headless browser";

fn config(port: u16) -> String {
    format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{port}"
api_key_env = "FD_TEST_ANTHROPIC_KEY"

[browser]
serve = ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
ports = [43400, 43449]
max_iterations = 1

[[browser.pages]]
name = "home"
path = "/index.html"

[agents.claude]
kind = "claude-code"
model = "claude-sonnet-4-5"
allowed_tools = ["Bash"]
timeout = "5m"
"#
    )
}

/// The tool result a request ends with, by tool-use id.
fn last_result(body: &Value) -> Option<String> {
    let last = body["messages"].as_array()?.last()?;
    last["content"]
        .as_array()?
        .iter()
        .find(|b| b["type"] == "tool_result")
        .and_then(|b| b["tool_use_id"].as_str())
        .map(str::to_string)
}

/// Claude Code's side: without the browser's report, Write the broken page; with it, fix it
/// with Bash (Write refuses a file this process has not read); after either result, finish. A request without tools (a side
/// question) gets a short text.
fn provider() -> Provider {
    let n = Arc::new(Mutex::new(0));
    Provider::answering(move |req: &Received| {
        if !req.path.starts_with("/v1/messages") || req.path.contains("count_tokens") {
            return crate::common::provider::json(json!({"input_tokens": 10}));
        }
        let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        let model = body["model"].as_str().unwrap_or("").to_string();
        let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
        let block = match last_result(&body).as_deref() {
            _ if !has_tools => json!({"type":"text","text":"ok"}),
            Some("toolu_broken") => json!({"type":"text","text":"Wrote index.html."}),
            Some("toolu_fixed") => json!({"type":"text","text":"Fixed index.html."}),
            _ if req.body.contains(REPORT) => {
                json!({"type":"tool_use","id":"toolu_fixed","name":"Bash",
                    "input":{"command":format!("printf '{}' > index.html", FIXED.trim_end()),
                        "description":"Fix the page"}})
            }
            _ => json!({"type":"tool_use","id":"toolu_broken","name":"Write",
                "input":{"file_path":"index.html","content":BROKEN}}),
        };
        let mut n = n.lock().unwrap();
        *n += 1;
        let usage = Usage {
            input: 1000,
            output: 20,
            cache_read: 0,
            cache_write: 0,
        };
        anthropic_reply(&format!("msg_{n}"), &model, block, usage)
    })
}

#[test]
fn claude_code_resumes_its_session_on_the_browser_iteration() {
    let provider = provider();
    let env = world(&config(provider.port));
    let repo = git_repo(env.path(), "repo");
    let task = "write index.html with a heading";
    let id = env.start(&repo, "claude", task);
    let r = env.wait_for(&id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert_eq!(
        r["status"],
        "succeeded",
        "{r:#}\n{}",
        env.ok(&["logs", &id])
    );

    // Two iterations: the browser caught the error once, then found none.
    let finished = env.events_of(&id, "browser.finished");
    let errors: Vec<&Value> = finished.iter().map(|f| &f["errors"]).collect();
    assert_eq!(errors, [1, 0], "{finished:#?}");
    let branch = r["branch"].as_str().unwrap();
    let page = git(&repo, &["show", &format!("{branch}:index.html")]);
    assert_eq!(page.trim(), FIXED.trim());

    // The second start resumed the first's session.
    let sessions = env.events_of(&id, "agent.session");
    let first = sessions[0]["session_id"].as_str().expect("a session id");
    let started = env.events_of(&id, "agent.started");
    assert_eq!(started.len(), 2);
    let argv = |e: &Value| -> Vec<String> {
        e["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    assert!(!argv(&started[0]).contains(&"--resume".to_string()));
    let second = argv(&started[1]);
    let at = second
        .iter()
        .position(|a| a == "--resume")
        .expect("--resume");
    assert_eq!(second[at + 1], first, "{second:?}");

    // The provider saw the first iteration's conversation in the second's first request: the
    // task, the broken page written and its result, then the report.
    let requests = provider.requests();
    let resumed = requests
        .iter()
        .find(|r| r.body.contains(REPORT) && r.body.contains("\"tools\""))
        .expect("a request with the browser's report");
    let body: Value = serde_json::from_str(&resumed.body).unwrap();
    let messages = body["messages"].as_array().unwrap();
    let text = |m: &Value| m["content"].to_string();
    let at = |needle: &str| {
        messages
            .iter()
            .position(|m| text(m).contains(needle))
            .unwrap_or_else(|| panic!("no message holds {needle}: {messages:#?}"))
    };
    let (asked, written, result, report) = (
        at(task),
        at("\"toolu_broken\""),
        at("\"tool_result\""),
        at(REPORT),
    );
    assert!(
        asked < written && written < result && result < report,
        "{messages:#?}"
    );
    assert_eq!(messages[written]["role"], "assistant");
    assert!(text(&messages[written]).contains("console.error"));
}
