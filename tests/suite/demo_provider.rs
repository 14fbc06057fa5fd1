//! A `kind = "demo"` provider (the demo's model) through the gateway: it needs no key (the
//! gateway sends a fixed one), no SDK variable points at it, so a real model's base URL stays
//! the real provider's, and an agent's own cap (`[agents.NAME] budget_usd`) pauses its run,
//! naming that cap.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::common::provider::{json, post, Provider};
use crate::common::*;
use serde_json::json as j;

#[test]
fn a_demo_provider_gets_no_key_and_no_sdk_variable_and_an_agent_cap_pauses_the_run() {
    let answer = json(
        j!({"id":"msg_d1","type":"message","role":"assistant","model":"flightdeck-demo","content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":1000,"output_tokens":100}}),
    );
    let provider = Provider::start(vec![answer.clone(), answer.clone()]);
    let env = Env::new(&format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{port}/real"
api_key_env = "FD_TEST_REAL_KEY"

[providers.zdemo]
kind = "demo"
base_url = "http://127.0.0.1:{port}"

[pricing.models.flightdeck-demo]
input = 3.0
output = 15.0

[agents.waiter]
budget_usd = 0.004
command = ["sh", "-c", "env > \"$1\"; while [ ! -f \"$2\" ]; do sleep 0.1; done", "sh", "{{worktree}}/../env-{{run_id}}", "{{worktree}}/../done-{{run_id}}"]
"#,
        port = provider.port
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "waiter", "ask the demo model");
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
    // The SDK variables point at the real provider, though `zdemo` sorts after it.
    assert!(
        agent_env["ANTHROPIC_BASE_URL"].ends_with("/anthropic"),
        "{agent_env:?}"
    );
    assert!(!agent_env.values().any(|v| v.ends_with("/zdemo")));
    let base = &agent_env["FLIGHTDECK_GATEWAY_URL"];
    let token = &agent_env["FLIGHTDECK_GATEWAY_TOKEN"];

    // $0.0045 a call: the first takes the run past its agent's cap of $0.004.
    let body = r#"{"model":"flightdeck-demo","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;
    let (status, got) = post(
        &format!("{base}/zdemo/v1/messages"),
        &[("x-api-key", token)],
        body,
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, answer.body);
    let seen = provider.requests();
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].header("x-api-key"), Some("flightdeck-demo-key"));

    let r = env.wait_for(&id, "paused on its agent's cap", |r| {
        r["status"] == "paused"
    });
    assert_eq!(r["pause_reason"], "budget");
    assert_eq!(r["cost_usd"], 0.0045);
    let paused = &env.events_of(&id, "run.paused")[0];
    assert!(
        paused["message"]
            .as_str()
            .unwrap()
            .contains("agents.waiter.budget_usd"),
        "{paused}"
    );
    let calls = env.model_calls(&id);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["provider"], "zdemo");
    std::fs::write(wt.parent().unwrap().join(format!("done-{id}")), "").unwrap();
    env.ok(&["kill", &id]);
}
