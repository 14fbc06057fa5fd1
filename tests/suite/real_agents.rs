//! The real agent CLIs (pinned in tests/real_agents/package.json, installed from npm) run by
//! flightdeck with their default argv, through the metering gateway, against a scripted
//! provider on loopback: Claude Code over Anthropic Messages streaming with its own Write and
//! Bash tools, Codex over OpenAI Responses streaming with its exec_command tool. Each run
//! writes a file that lands on its branch, is metered to the exact scripted tokens and priced
//! from the table, is paused by its budget without being killed, and carries on once the cap
//! is raised. The provider key is in no file and not in the agent's environment.
//!
//! A version bump that breaks an adapter, or a flag the CLI no longer takes, fails here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::common::provider::{sse, Provider, Received, Scripted};
use crate::common::*;
use flightdeck::models::pricing::{PriceTable, Usage};
use serde_json::{json, Value};

const ANTHROPIC_KEY: &str = "sk-ant-SECRET-anthropic-7731";
pub(crate) const OPENAI_KEY: &str = "sk-SECRET-openai-9904";

/// The directory of the pinned CLIs' executables, installing them first if needed (`.ci/run`
/// installs them beforehand; this covers a plain `cargo test`).
fn cli_bin() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real_agents");
    let bin = dir.join("node_modules/.bin");
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !(bin.join("claude").exists() && bin.join("codex").exists()) {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "these tests run the real agent CLIs from npm, and npm could not start ({e}); \
                     install Node.js and npm, or run `npm ci` in {}",
                    dir.display()
                )
            });
        assert!(status.success(), "`npm ci` in {} failed", dir.display());
    }
    bin
}

/// A world whose server finds the pinned CLIs on its PATH, holds the provider keys, and gives
/// agents a private HOME (Claude Code writes its settings there).
pub(crate) fn world(config: &str) -> Env {
    let bin = cli_bin();
    let mut env = Env::new(config);
    let home = env.path().join("user-home");
    std::fs::create_dir_all(&home).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.vars.push(("PATH".into(), path));
    env.vars
        .push(("HOME".into(), home.to_string_lossy().into_owned()));
    env.vars
        .push(("FD_TEST_ANTHROPIC_KEY".into(), ANTHROPIC_KEY.into()));
    env.vars
        .push(("FD_TEST_OPENAI_KEY".into(), OPENAI_KEY.into()));
    env
}

fn config(port: u16, run_tokens: u64) -> String {
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
run_tokens = {run_tokens}

[agents.claude]
kind = "claude-code"
model = "claude-sonnet-4-5"
allowed_tools = ["Bash"]
timeout = "5m"

[agents.codex]
kind = "codex"
model = "gpt-5-codex"
timeout = "5m"
"#
    )
}

/// What the scripted provider answered with: the usage of each metered reply, in order.
type Answered = Arc<Mutex<Vec<(String, Usage)>>>;

/// The environment of the run's agent process (from its shim's record), read while it waits
/// for the provider.
pub(crate) fn agent_environ(home: &Path) -> Option<String> {
    for run in std::fs::read_dir(home.join("runs")).ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(run.path().join("shim.json")) else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).ok()?;
        let pid = v["agent_pid"].as_i64()?;
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        return Some(String::from_utf8_lossy(&environ).replace('\0', "\n"));
    }
    None
}

/// Tool results so far in an Anthropic request.
fn anthropic_results(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| b["content"].to_string())
        .collect()
}

/// One streamed Anthropic reply: a tool call or text; the start carries the early usage
/// snapshot (output 1), the delta the final output count, as the real API does.
pub(crate) fn anthropic_reply(id: &str, model: &str, block: Value, usage: Usage) -> Scripted {
    let stop = if block["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    };
    let (start_block, delta) = if block["type"] == "tool_use" {
        (
            json!({"type":"tool_use","id":block["id"],"name":block["name"],"input":{}}),
            json!({"type":"input_json_delta","partial_json":block["input"].to_string()}),
        )
    } else {
        (
            json!({"type":"text","text":""}),
            json!({"type":"text_delta","text":block["text"]}),
        )
    };
    sse(&[
        (
            "message_start",
            json!({"type":"message_start","message":{"id":id,"type":"message","role":"assistant","model":model,"content":[],"stop_reason":null,
                "usage":{"input_tokens":usage.input,"output_tokens":1,"cache_read_input_tokens":usage.cache_read,"cache_creation_input_tokens":usage.cache_write}}}),
        ),
        (
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":start_block}),
        ),
        (
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,"delta":delta}),
        ),
        (
            "content_block_stop",
            json!({"type":"content_block_stop","index":0}),
        ),
        (
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":stop,"stop_sequence":null},"usage":{"output_tokens":usage.output}}),
        ),
        ("message_stop", json!({"type":"message_stop"})),
    ])
}

/// Claude Code's side of the conversation: Write a file, then Bash to read it back and show
/// the environment its tools see, then finish. A request without tools (a side question) gets
/// a short text.
fn claude_provider(
    home: PathBuf,
    answered: Answered,
    seen_env: Arc<Mutex<Option<String>>>,
) -> Provider {
    Provider::answering(move |req: &Received| {
        if !req.path.starts_with("/v1/messages") || req.path.contains("count_tokens") {
            return crate::common::provider::json(json!({"input_tokens": 10}));
        }
        let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        let model = body["model"].as_str().unwrap_or("").to_string();
        if seen_env.lock().unwrap().is_none() {
            *seen_env.lock().unwrap() = agent_environ(&home);
        }
        let step = anthropic_results(&body).len() as u64;
        let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
        let block = match (has_tools, step) {
            (false, _) => json!({"type":"text","text":"ok"}),
            (true, 0) => json!({"type":"tool_use","id":"toolu_w","name":"Write",
                "input":{"file_path":"hello.txt","content":"hello from claude\n"}}),
            (true, 1) => json!({"type":"tool_use","id":"toolu_b","name":"Bash",
                "input":{"command":"cat hello.txt; env","description":"Show the file and the environment"}}),
            _ => json!({"type":"text","text":"Created hello.txt."}),
        };
        let usage = Usage {
            input: 1000 + 100 * step,
            output: 40 + step,
            cache_read: 300,
            cache_write: 50,
        };
        let mut a = answered.lock().unwrap();
        let id = format!("msg_{}", a.len() + 1);
        a.push((model.clone(), usage));
        anthropic_reply(&id, &model, block, usage)
    })
}

/// Codex's side: exec_command to write a file, exec_command to read it back with the
/// environment, then a message.
fn codex_provider(
    home: PathBuf,
    answered: Answered,
    seen_env: Arc<Mutex<Option<String>>>,
) -> Provider {
    Provider::answering(move |req: &Received| {
        if !req.path.starts_with("/v1/responses") {
            return crate::common::provider::json(json!({"object":"list","data":[]}));
        }
        let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        let model = body["model"].as_str().unwrap_or("").to_string();
        if seen_env.lock().unwrap().is_none() {
            *seen_env.lock().unwrap() = agent_environ(&home);
        }
        let step = body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == "function_call_output")
            .count() as u64;
        let call = |id: &str, cmd: &str| {
            json!({"type":"function_call","id":format!("fc_{id}"),"call_id":format!("call_{id}"),
                "name":"exec_command","arguments":json!({"cmd":cmd}).to_string()})
        };
        let item = match step {
            0 => call("w", "printf 'hello from codex\\n' > hello.txt"),
            1 => call("r", "cat hello.txt; env"),
            _ => json!({"type":"message","id":"msg_done","role":"assistant","status":"completed",
                "content":[{"type":"output_text","text":"Created hello.txt.","annotations":[]}]}),
        };
        let cached = 200;
        let (input, output) = (1200 + 100 * step, 30 + step);
        let mut a = answered.lock().unwrap();
        let id = format!("resp_{}", a.len() + 1);
        a.push((
            model.clone(),
            Usage {
                input: input - cached,
                output,
                cache_read: cached,
                cache_write: 0,
            },
        ));
        let usage = json!({"input_tokens":input,"input_tokens_details":{"cached_tokens":cached},
            "output_tokens":output,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":input + output});
        sse(&[
            (
                "response.created",
                json!({"type":"response.created","response":{"id":id,"model":model}}),
            ),
            (
                "response.output_item.added",
                json!({"type":"response.output_item.added","output_index":0,"item":item}),
            ),
            (
                "response.output_item.done",
                json!({"type":"response.output_item.done","output_index":0,"item":item}),
            ),
            (
                "response.completed",
                json!({"type":"response.completed","response":{"id":id,"model":model,"status":"completed","output":[item],"usage":usage}}),
            ),
        ])
    })
}

/// The run through its budget pause: paused (not killed) once the cap is passed, `resume`
/// refused while it is still spent, then carried on to the end once it is raised.
fn through_the_budget(env: &Env, id: &str, port: u16) -> Value {
    let r = env.wait_for(id, "paused by its budget", |r| {
        r["status"] == "paused"
            || r["status"]
                .as_str()
                .is_some_and(|s| s != "running" && s != "queued")
    });
    assert_eq!(r["status"], "paused", "{r:#}\n{}", env.ok(&["logs", id]));
    assert_eq!(r["pause_reason"], "budget");
    let err = env.fails(&["resume", id]);
    assert!(
        err.contains("stays paused") && err.contains("budget.run_tokens"),
        "{err}"
    );
    std::fs::write(&env.config, config(port, 1_000_000)).unwrap();
    env.ok(&["resume", id]);
    let r = env.wait_for(id, "finished", |r| {
        r["status"]
            .as_str()
            .is_some_and(|s| s != "running" && s != "queued" && s != "paused")
    });
    assert_eq!(r["status"], "succeeded", "{r:#}\n{}", env.ok(&["logs", id]));
    r
}

/// What every real-agent run must show once it has finished.
fn check_run(
    env: &Env,
    repo: &Path,
    id: &str,
    file: &str,
    answered: &Answered,
    seen_env: &Arc<Mutex<Option<String>>>,
) {
    let r = env.record(id);
    // The file is on the run's branch.
    let branch = r["branch"].as_str().unwrap();
    let shown = git(repo, &["show", &format!("{branch}:hello.txt")]);
    assert_eq!(shown.trim(), file);

    // Metered by the gateway: exactly the scripted calls, priced from the table.
    let table = PriceTable::built_in();
    let calls = env.model_calls(id);
    let answered = answered.lock().unwrap().clone();
    let metered: Vec<(String, Usage)> = calls
        .iter()
        .map(|c| {
            (
                c["model"].as_str().unwrap().to_string(),
                Usage {
                    input: c["input_tokens"].as_u64().unwrap(),
                    output: c["output_tokens"].as_u64().unwrap(),
                    cache_read: c["cache_read_tokens"].as_u64().unwrap(),
                    cache_write: c["cache_write_tokens"].as_u64().unwrap(),
                },
            )
        })
        .collect();
    assert_eq!(
        metered, answered,
        "metered calls differ from what the provider answered"
    );
    assert!(answered.len() >= 3, "{answered:?}");
    let mut total = 0.0;
    for (c, (model, usage)) in calls.iter().zip(&answered) {
        assert_eq!(c["source"], "gateway");
        let cost = table
            .cost(model, usage)
            .unwrap_or_else(|| panic!("{model} is not in the price table"));
        assert_eq!(c["cost_usd"].as_f64(), Some(cost), "{c}");
        total += cost;
    }
    let run_cost = r["cost_usd"].as_f64().unwrap();
    assert!((run_cost - total).abs() < 1e-9, "{run_cost} vs {total}");

    // The key: not in the agent's environment, not in anything its tools printed, not in any file.
    let environ = seen_env
        .lock()
        .unwrap()
        .clone()
        .expect("the agent's environment was read");
    assert!(
        environ.contains("127.0.0.1"),
        "the agent was not pointed at the gateway"
    );
    for key in [
        ANTHROPIC_KEY,
        OPENAI_KEY,
        "FD_TEST_ANTHROPIC_KEY",
        "FD_TEST_OPENAI_KEY",
    ] {
        assert!(
            !environ.contains(key),
            "the agent's environment holds {key}"
        );
    }
    for f in files_under(&env.home) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("SECRET"),
            "{} holds a provider key",
            f.display()
        );
    }
}

#[test]
fn claude_code_through_the_gateway() {
    let answered: Answered = Arc::default();
    let seen_env = Arc::new(Mutex::new(None));
    let scratch = tempfile::tempdir().unwrap();
    // The provider needs the home before the Env exists: start it on a fixed path.
    let home = scratch.path().join("home");
    let provider = claude_provider(home.clone(), answered.clone(), seen_env.clone());
    // A cap the first two calls pass: the run pauses with its agent alive.
    let mut env = world(&config(provider.port, 2500));
    env.home = home;
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "claude", "create hello.txt saying hello");
    through_the_budget(&env, &id, provider.port);
    check_run(&env, &repo, &id, "hello from claude", &answered, &seen_env);

    // The Bash tool ran (its output went back to the model) and saw no key.
    let requests = provider.requests();
    let bash_result = requests
        .iter()
        .rev()
        .find(|r| r.body.contains("toolu_b") && r.body.contains("tool_result"))
        .expect("the Bash result reached the provider");
    assert!(bash_result.body.contains("hello from claude"));
    assert!(!bash_result.body.contains("SECRET"));
    // The session's events are in the timeline, the agent's own figures beside the gateway's.
    assert!(!env.events_of(&id, "tool.call").is_empty());
    assert_eq!(
        env.events_of(&id, "agent.session")[0]["model"],
        "claude-sonnet-4-5"
    );
    assert!(env.record(&id)["agent_reported_cost_usd"].is_f64());
}

#[test]
fn codex_through_the_gateway() {
    let answered: Answered = Arc::default();
    let seen_env = Arc::new(Mutex::new(None));
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let provider = codex_provider(home.clone(), answered.clone(), seen_env.clone());
    let mut env = world(&config(provider.port, 2500));
    env.home = home;
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "codex", "create hello.txt saying hello");
    through_the_budget(&env, &id, provider.port);
    check_run(&env, &repo, &id, "hello from codex", &answered, &seen_env);

    let requests = provider.requests();
    let read_back = requests
        .iter()
        .rev()
        .find(|r| r.body.contains("call_r") && r.body.contains("function_call_output"))
        .expect("the command's output reached the provider");
    assert!(read_back.body.contains("hello from codex"));
    // Codex's own events: the commands it ran, the model it reported.
    let commands = env.events_of(&id, "tool.call");
    assert!(commands
        .iter()
        .any(|c| c["input"].as_str().unwrap_or("").contains("hello.txt")));
    assert!(env
        .model_calls(&id)
        .iter()
        .all(|c| c["model"] == "gpt-5-codex"));
}
