//! A call is on disk before its answer ends: the gateway holds the answer's last bytes until
//! the call's line is in `model_calls.jsonl`, so a server killed the moment the agent has its
//! answer cannot lose the call (before, the line was written a few ms after the answer).

use std::path::PathBuf;

use crate::common::provider::{json, post, sse, Provider};
use crate::common::*;
use crate::gateway::{config, with_keys};
use serde_json::json as j;

#[test]
fn every_call_is_recorded_before_the_agent_has_its_whole_answer() {
    const CALLS: usize = 30;
    let streamed = sse(&[
        (
            "message_start",
            j!({"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}),
        ),
        (
            "message_delta",
            j!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}),
        ),
        ("message_stop", j!({"type":"message_stop"})),
    ]);
    let whole = json(
        j!({"id":"msg_j","model":"claude-haiku-4-5","usage":{"input_tokens":5,"output_tokens":3}}),
    );
    let script: Vec<_> = (0..CALLS)
        .map(|i| {
            if i % 2 == 0 {
                streamed.clone()
            } else {
                whole.clone()
            }
        })
        .collect();
    let provider = Provider::start(script);
    let mut env = Env::new(&config(provider.port, 100.0));
    with_keys(&mut env);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "waiter", "talk to the model");
    let wt = PathBuf::from(env.record(&id)["worktree"].as_str().unwrap());
    let env_file = wt.parent().unwrap().join(format!("env-{id}"));
    wait_until("the agent's environment", || {
        std::fs::read_to_string(&env_file).is_ok_and(|t| t.contains("ANTHROPIC_BASE_URL"))
    });
    let vars = std::fs::read_to_string(&env_file).unwrap();
    let var = |name: &str| {
        vars.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    let (url, token) = (var("ANTHROPIC_BASE_URL"), var("ANTHROPIC_API_KEY"));
    let calls = env.run_dir(&id).join("model_calls.jsonl");
    for i in 0..CALLS {
        let (status, _) = post(
            &format!("{url}/v1/messages"),
            &[("x-api-key", &token)],
            r#"{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}"#,
        );
        assert_eq!(status, 200);
        // The answer is whole: its call is already on disk, not a moment later.
        let lines = std::fs::read_to_string(&calls)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        assert_eq!(
            lines,
            i + 1,
            "call {} answered before it was recorded",
            i + 1
        );
    }
    std::fs::write(wt.parent().unwrap().join(format!("done-{id}")), "").unwrap();
    env.wait_status(&id, "succeeded");
}
