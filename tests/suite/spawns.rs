//! Every process the supervisor starts for a run, as its injected spawner sees it: which ones,
//! in which order, with what argv and what whole environment. The provider keys reach none of
//! them, and the gateway's run token reaches only an agent, only as the design passes it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use flightdeck::run::Status;
use flightdeck::supervisor::spawner::{Spawn, Spawner};
use serde_json::json as j;

use crate::common::inproc::{self, InProc, Injected};
use crate::common::provider::Provider;
use crate::common::{git_repo, BIN};

const RUN: &str = r#"
[agents.touch]
command = ["sh", "-c", "echo x > x.txt"]
[setup]
commands = [["sh", "-c", "echo set up"]]
[[smoke]]
name = "present"
command = ["test", "-f", "x.txt"]
"#;

/// A spawner that keeps every start it sees.
fn recording() -> (Spawner, Arc<Mutex<Vec<Spawn>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let spawner = Spawner::observed(move |s: &Spawn| keep.lock().unwrap().push(s.clone()));
    (spawner, seen)
}

/// A start as (helper, run directory, the command it runs): every run's process is
/// `flightdeck shim --dir D -- argv` or `flightdeck tether --run D -- argv`.
fn described(s: &Spawn) -> (String, String, Vec<String>) {
    let args: Vec<String> = s
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let helper = args.first().cloned().unwrap_or_default();
    let dir = args.get(2).cloned().unwrap_or_default();
    let argv = args
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .cloned()
        .collect();
    (helper, dir, argv)
}

fn env_of<'a>(s: &'a Spawn, name: &str) -> Option<&'a str> {
    s.env
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.to_str())
}

/// Setup, agent and smoke check: three starts, each through the injected spawner, in the order
/// of the phases, each the run's helper (tether or shim) in its worktree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_setup_agent_and_smoke_are_each_started_through_the_spawner_in_order() {
    let (spawner, seen) = recording();
    let mut s = InProc::with(
        RUN,
        Injected {
            spawner,
            ..Default::default()
        },
    )
    .await;
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "touch", "make x").await;
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
    let spawns = seen.lock().unwrap().clone();
    let run_dir = s.home.run_dir(&id).to_string_lossy().into_owned();
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        spawns.iter().map(described).collect::<Vec<_>>(),
        [
            (
                "tether".into(),
                run_dir.clone(),
                argv(&["sh", "-c", "echo set up"])
            ),
            (
                "shim".into(),
                run_dir.clone(),
                argv(&["sh", "-c", "echo x > x.txt"])
            ),
            (
                "tether".into(),
                run_dir.clone(),
                argv(&["test", "-f", "x.txt"])
            ),
        ],
        "{spawns:#?}"
    );
    for sp in &spawns {
        assert_eq!(sp.program, BIN, "{sp:#?}");
        assert_eq!(sp.cwd.as_deref(), Some(r.worktree.as_path()), "{sp:#?}");
        assert_eq!(
            env_of(sp, "FLIGHTDECK_RUN_ID"),
            Some(id.as_str()),
            "{sp:#?}"
        );
    }
    s.stop().await;
}

/// The provider key's variable, and its value in the environment the supervisor runs in.
const KEY_VAR: &str = "FD_SPAWNS_PROVIDER_KEY";
const KEY: &str = "sk-ant-SPAWNS-SECRET-7731";
const THIS_TEST: &str =
    "spawns::the_provider_key_reaches_no_process_and_the_run_token_only_the_agent_as_designed";

/// With a gateway and a provider key in the server's environment (named in `env_passthrough`
/// even), a command agent's run and a built-in agent's: no start carries the key; the command
/// agent's token is only in its own SDK variables; the built-in agent's (on stdin) in none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_key_reaches_no_process_and_the_run_token_only_the_agent_as_designed() {
    // The key must be in this process's environment, as it is in a server's. Setting it here
    // would race the other tests of this binary (setenv is not thread-safe), so the test runs
    // again in a process of its own that starts with it.
    if std::env::var(KEY_VAR).as_deref() != Ok(KEY) {
        let out = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([THIS_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(KEY_VAR, KEY)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let provider = Provider::start(vec![
        crate::gateway::anthropic_turn(
            1,
            "Writing it.",
            Some(("write_file", j!({"path": "x.txt", "content": "x\n"}))),
            [10, 10, 0, 0],
        ),
        crate::gateway::anthropic_turn(2, "Done.", None, [10, 10, 0, 0]),
    ]);
    // The user even names the key to pass on: a provider key is never passed.
    let config = format!(
        r#"
env_passthrough = ["{KEY_VAR}"]
[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{}"
api_key_env = "{KEY_VAR}"
[agents.builtin]
kind = "builtin"
provider = "anthropic"
model = "claude-haiku-4-5"
max_turns = 5
{RUN}"#,
        provider.port
    );
    let (spawner, seen) = recording();
    let mut s = InProc::with(
        &config,
        Injected {
            spawner,
            gateway: Some(inproc::gateway().await),
            ..Default::default()
        },
    )
    .await;
    let repo = git_repo(s.path(), "repo");
    let command = s.run(&repo, "touch", "make x").await;
    let r = s.finished(&command).await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
    let builtin = s.run(&repo, "builtin", "make x").await;
    let r = s.finished(&builtin).await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
    // The key was live: the gateway put it on the builtin agent's calls.
    let calls = provider.requests();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.header("x-api-key") == Some(KEY)));

    let spawns = seen.lock().unwrap().clone();
    assert_eq!(spawns.len(), 6, "{spawns:#?}");
    for sp in &spawns {
        assert!(
            sp.env
                .iter()
                .all(|(k, v)| k != KEY_VAR && !v.to_string_lossy().contains(KEY)),
            "a provider key in a process's environment: {sp:#?}"
        );
        assert!(
            sp.args.iter().all(|a| !a.to_string_lossy().contains(KEY)),
            "a provider key in a process's argv: {sp:#?}"
        );
    }
    // The command agent's token: in its shim's environment, only where SDKs look for a key
    // and a base URL; in no argv and no other process.
    let shim = spawns
        .iter()
        .find(|sp| described(sp).0 == "shim" && env_of(sp, "FLIGHTDECK_RUN_ID") == Some(&command))
        .expect("the command agent's shim");
    let token = env_of(shim, "FLIGHTDECK_GATEWAY_TOKEN").expect("the agent's run token");
    assert!(token.starts_with("fd-"), "{token}");
    let holding: BTreeSet<&str> = shim
        .env
        .iter()
        .filter(|(_, v)| v.to_string_lossy().contains(token))
        .filter_map(|(k, _)| k.to_str())
        .collect();
    assert_eq!(
        holding,
        BTreeSet::from([
            "ANTHROPIC_API_BASE",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "FLIGHTDECK_GATEWAY_TOKEN",
            "FLIGHTDECK_GATEWAY_URL",
        ])
    );
    // The built-in agent's token goes on its stdin: it is in no environment at all.
    let builtin_token = std::fs::read_to_string(s.home.run_dir(&builtin).join("agent.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|a| a["token"].as_str().map(String::from))
        .expect("the built-in agent's run token in agent.json");
    for sp in &spawns {
        let is_shim = std::ptr::eq(sp, shim);
        assert!(
            sp.args
                .iter()
                .map(|a| a.to_string_lossy())
                .all(|a| !a.contains(token) && !a.contains(&builtin_token)),
            "a run token in a process's argv: {sp:#?}"
        );
        assert!(
            sp.env
                .iter()
                .map(|(_, v)| v.to_string_lossy())
                .all(|v| !v.contains(&builtin_token) && (is_shim || !v.contains(token))),
            "a run token in a process's environment: {sp:#?}"
        );
    }
    s.stop().await;
}
