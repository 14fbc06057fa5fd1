//! The real aider (aider-chat as tests/real_agents/aider-requirements.txt pins it, in the venv
//! tests/real_agents/.venv) run by flightdeck with its default argv against a scripted OpenAI
//! chat-completions provider on loopback. Through the gateway: the run's patch holds only the
//! task's file (no `.gitignore`, none of aider's own files, no commit of aider's), the one call
//! aider makes is metered exactly, and the key is in no file and not in aider's environment.
//! Without the gateway: the same call reaches model_calls.jsonl from aider's analytics log.
//!
//! The venv is large (see README): without it these tests say so and pass, unless
//! FLIGHTDECK_REAL_AIDER=required (as .ci/run sets), when they fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::provider::{Provider, Received};
use crate::common::*;
use crate::real_agents::{agent_environ, OPENAI_KEY};
use flightdeck::models::pricing::{PriceTable, Usage};
use serde_json::{json, Value};

/// An edit aider applies: hello.txt, new, in its diff edit format.
const EDIT: &str =
    "hello.txt\n```\n<<<<<<< SEARCH\n=======\nhello from aider\n>>>>>>> REPLACE\n```\n";
const USAGE: Usage = Usage {
    input: 900,
    output: 30,
    cache_read: 0,
    cache_write: 0,
};

/// The venv's bin directory, or None (said) when it is not installed and not required.
fn aider_bin() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real_agents");
    let (venv, requirements) = (dir.join(".venv"), dir.join("aider-requirements.txt"));
    let bin = venv.join("bin");
    if bin.join("aider").exists() {
        return Some(bin);
    }
    let how = format!(
        "python3 -m venv {0} && {0}/bin/pip install -r {1}",
        venv.display(),
        requirements.display()
    );
    if std::env::var("FLIGHTDECK_REAL_AIDER").as_deref() == Ok("required") {
        panic!("the real aider is required here and is not installed; install it with: {how}");
    }
    println!("skipped: the real aider is not installed; to run this test: {how}");
    None
}

/// A world whose server finds aider on its PATH and gives agents a private HOME (aider keeps
/// its analytics id and caches there).
fn world(bin: &Path, config: &str) -> Env {
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
        .push(("FD_TEST_OPENAI_KEY".into(), OPENAI_KEY.into()));
    env
}

/// Chat completions, not streamed (aider runs with --no-stream): the edit, with USAGE.
fn provider(home: PathBuf, seen_env: Arc<Mutex<Option<String>>>) -> Provider {
    Provider::answering(move |req: &Received| {
        let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
        if seen_env.lock().unwrap().is_none() {
            *seen_env.lock().unwrap() = agent_environ(&home);
        }
        crate::common::provider::json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": EDIT}}],
            "usage": {"prompt_tokens": USAGE.input, "completion_tokens": USAGE.output,
                "total_tokens": USAGE.input + USAGE.output}
        }))
    })
}

/// Start aider on the task and wait for its run to end (aider takes seconds to start).
fn run(env: &Env, repo: &Path) -> (String, Value) {
    let id = env.start(repo, "aider", "create hello.txt saying hello");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r = env.record(&id);
        if matches!(r["status"].as_str(), Some("succeeded" | "failed")) {
            return (id, r);
        }
        assert!(Instant::now() < deadline, "the run never ended: {r:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The calls recorded for the run: (source, provider, model, usage, cost).
fn calls(env: &Env, id: &str) -> Vec<(String, String, String, Usage, Option<f64>)> {
    let s = |c: &Value, k: &str| c[k].as_str().unwrap_or("").to_string();
    let n = |c: &Value, k: &str| c[k].as_u64().unwrap();
    env.model_calls(id)
        .iter()
        .map(|c| {
            let usage = Usage {
                input: n(c, "input_tokens"),
                output: n(c, "output_tokens"),
                cache_read: n(c, "cache_read_tokens"),
                cache_write: n(c, "cache_write_tokens"),
            };
            let model = (s(c, "source"), s(c, "provider"), s(c, "model"));
            (model.0, model.1, model.2, usage, c["cost_usd"].as_f64())
        })
        .collect()
}

#[test]
fn aider_through_the_gateway() {
    let Some(bin) = aider_bin() else { return };
    let seen_env = Arc::new(Mutex::new(None));
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let provider = provider(home.clone(), seen_env.clone());
    let mut env = world(
        &bin,
        &format!(
            r#"
[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:{}/v1"
api_key_env = "FD_TEST_OPENAI_KEY"

[agents.aider]
kind = "aider"
provider = "openai"
model = "gpt-4o"
timeout = "5m"
"#,
            provider.port
        ),
    );
    env.home = home;
    let repo = git_repo(env.path(), "repo");
    let (id, r) = run(&env, &repo);
    assert_eq!(
        r["status"],
        "succeeded",
        "{r:#}\n{}",
        env.ok(&["logs", &id])
    );

    // The patch is the task's file; on the branch, one commit over the base: flightdeck's.
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    let files: Vec<&str> = patch
        .lines()
        .filter_map(|l| l.strip_prefix("diff --git a/"))
        .collect();
    assert_eq!(files, ["hello.txt b/hello.txt"], "{patch}");
    let (base, branch) = (r["base"].as_str().unwrap(), r["branch"].as_str().unwrap());
    let range = format!("{base}..{branch}");
    assert_eq!(
        git(&repo, &["log", "--format=%an", &range]).trim(),
        "flightdeck"
    );
    let shown = git(&repo, &["show", &format!("{branch}:hello.txt")]);
    assert_eq!(shown.trim(), "hello from aider");
    // Aider's files stay out of the worktree or out of the commit: its histories are in the
    // run's agent home, its repo-map cache is left uncommitted, its analytics in the run.
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    assert!(!wt.join(".gitignore").exists());
    assert!(!wt.join(".aider.chat.history.md").exists());
    assert!(wt.join(".aider.tags.cache.v4").is_dir());
    assert_eq!(r["setup_excludes"], json!([".aider.tags.cache.v4/"]));
    assert!(env.run_dir(&id).join("aider-analytics.jsonl").exists());

    // One request: the edit (no weak-model call for a commit message), metered exactly.
    let requests = provider.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/v1/chat/completions"]);
    let cost = PriceTable::built_in().cost("gpt-4o", &USAGE).unwrap();
    assert_eq!(cost, 0.00255);
    assert_eq!(
        calls(&env, &id),
        [(
            "gateway".into(),
            "openai".into(),
            "gpt-4o".into(),
            USAGE,
            Some(cost)
        )]
    );
    assert_eq!(r["cost_usd"].as_f64(), Some(cost));
    // Aider's own figure, from its analytics log, beside ours.
    assert_eq!(r["agent_reported_cost_usd"].as_f64(), Some(cost));
    assert_eq!(env.events_of(&id, "agent.session")[0]["model"], "gpt-4o");

    // The key: not in aider's environment, not in any file.
    let environ = seen_env
        .lock()
        .unwrap()
        .clone()
        .expect("aider's environment");
    assert!(
        environ.contains("OPENAI_API_BASE=http://127.0.0.1"),
        "{environ}"
    );
    for key in [OPENAI_KEY, "FD_TEST_OPENAI_KEY"] {
        assert!(!environ.contains(key), "aider's environment holds {key}");
    }
    for f in files_under(&env.home) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        assert!(!text.contains("SECRET"), "{} holds the key", f.display());
    }
}

/// No gateway: aider talks to the provider itself, and its analytics log is the meter.
#[test]
fn aider_without_the_gateway() {
    let Some(bin) = aider_bin() else { return };
    let provider = provider(PathBuf::new(), Arc::default());
    let env = world(
        &bin,
        &format!(
            r#"
[agents.aider]
kind = "aider"
model = "openai/gpt-4o"
timeout = "5m"
env = {{ OPENAI_API_BASE = "http://127.0.0.1:{}/v1", OPENAI_API_KEY = "sk-direct-1" }}
"#,
            provider.port
        ),
    );
    let repo = git_repo(env.path(), "repo");
    let (id, r) = run(&env, &repo);
    assert_eq!(
        r["status"],
        "succeeded",
        "{r:#}\n{}",
        env.ok(&["logs", &id])
    );
    assert_eq!(provider.requests().len(), 1);
    // The log names the model only when aider's model list knows it (offline it says
    // `openai/REDACTED`): the name aider printed stands in.
    let cost = PriceTable::built_in().cost("gpt-4o", &USAGE);
    assert_eq!(
        calls(&env, &id),
        [(
            "agent".into(),
            "openai".into(),
            "gpt-4o".into(),
            USAGE,
            cost
        )]
    );
    assert_eq!(r["cost_usd"].as_f64(), cost);
    assert_eq!(r["agent_reported_cost_usd"].as_f64(), cost);
    assert_eq!(r["tokens"]["input"], 900, "{r:#}");
}
