//! One server per home however many clients race to start it; runs outlive their clients;
//! `logs --follow` streams; a restarted server marks orphaned runs interrupted.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::*;

const CONFIG: &str = r#"
[agents.quick]
command = ["sh", "-c", "echo hello; sleep 1.5; echo bye > done.txt"]

[agents.gated]
# Prints, waits for the test to create a file, prints again.
command = ["sh", "-c", "echo 'step one'; while [ ! -f \"$1\" ]; do sleep 0.05; done; echo 'step two'", "sh", "{worktree}/../go-{run_id}"]
"#;

/// Pids of `flightdeck serve` processes whose FLIGHTDECK_HOME is `home`.
fn servers_for(home: &std::path::Path) -> Vec<i32> {
    let want = format!("FLIGHTDECK_HOME={}", home.display());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) != Some(&&b"serve"[..]) || !alive(pid) {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn racing_clients_get_one_server_and_runs_outlive_their_client() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    assert!(servers_for(&env.home).is_empty());

    let children: Vec<_> = (0..8)
        .map(|_| {
            env.cmd(&["ls", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v, serde_json::json!([]));
    }
    wait_until("losing servers to exit", || {
        servers_for(&env.home).len() == 1
    });
    let server = servers_for(&env.home)[0];
    let lock_pid = std::fs::read_to_string(env.home.join("server.lock")).unwrap();
    assert_eq!(lock_pid.trim(), server.to_string());

    // The client that starts a run exits at once; the run goes on without it.
    let id = env.start(&repo, "quick", "outlive the client");
    let listed = env.json(&["ls", "--json"]);
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert!(
        matches!(mine["status"].as_str(), Some("queued" | "running")),
        "{mine}"
    );
    let r = env.wait_status(&id, "succeeded");
    assert!(std::path::Path::new(r["worktree"].as_str().unwrap())
        .join("done.txt")
        .exists());
    assert_eq!(
        servers_for(&env.home),
        vec![server],
        "the same server throughout"
    );
}

#[test]
fn logs_follow_streams_new_lines_until_the_run_ends() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "gated", "wait for the go file");
    let mut follow = env
        .cmd(&["logs", &id, "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("agent.output") && line.contains("step one") {
            break;
        }
    }
    assert!(seen[0].contains("run.created"), "{seen:?}");
    assert!(!seen
        .iter()
        .any(|l| l.contains("agent.output") && l.contains("step two")));
    // Only now may the agent go on: whatever comes next was streamed, not read at the end.
    let wt = env.record(&id)["worktree"].as_str().unwrap().to_string();
    std::fs::write(std::path::Path::new(&wt).join(format!("../go-{id}")), "").unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(follow.wait().unwrap().success());
    assert!(
        rest.iter()
            .any(|l| l.contains("agent.output") && l.contains("step two")),
        "{rest:?}"
    );
    assert!(rest.last().unwrap().contains("run.finished"), "{rest:?}");

    // Without --follow, the whole timeline at once, in order.
    let all = env.ok(&["logs", &id]);
    let kinds: Vec<&str> = all
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(kinds.first(), Some(&"run.created"));
    assert_eq!(kinds.last(), Some(&"run.finished"));
}

#[test]
fn a_restarted_server_adopts_live_runs_and_interrupts_only_lost_ones() {
    let env = Env::new(
        r#"
[agents.sleeper]
command = ["sh", "-c", "echo $$ > \"$1\"; exec sleep 1000", "sh", "{worktree}/../pid-{run_id}"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "sleeper", "sleep");
    env.wait_for(&id, "in its agent phase", |r| r["phase"] == "agent");
    let wt = env.record(&id)["worktree"].as_str().unwrap().to_string();
    let pid = read_pids(&std::path::Path::new(&wt).join(format!("../pid-{id}")), 1)[0];

    let out = env.ok(&["stop", "--keep-runs"]);
    assert!(out.contains("1 unfinished run(s) keep going"), "{out}");
    assert!(alive(pid), "stopping the server stops no run");
    env.ok(&["ls"]); // starts a new server, which adopts the run
    env.wait_for(&id, "adopted", |_| {
        !env.events_of(&id, "run.adopted").is_empty()
    });
    assert_eq!(env.record(&id)["status"], "running");

    // Lose the shim too (and the server): nothing recorded how the agent ended.
    let shim: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.run_dir(&id).join("shim.json")).unwrap())
            .unwrap();
    let server = env.server_pid();
    nix_kill(server);
    nix_kill(shim["shim_pid"].as_i64().unwrap() as i32);
    wait_until("server and shim gone", || {
        !alive(server) && !alive(shim["shim_pid"].as_i64().unwrap() as i32)
    });
    assert!(alive(pid));
    let r = env.wait_status(&id, "interrupted");
    assert_eq!(r["phase"], "agent");
    let note = &env.events_of(&id, "run.interrupted")[0];
    assert!(note["message"].as_str().unwrap().contains("shim is gone"));

    // Retry knows the phase it was in; kill stops what is left of it.
    let err = env.fails(&["retry", &id, "--phase", "smoke"]);
    assert!(err.contains("it stopped in agent"), "{err}");
    let out = env.ok(&["kill", &id]);
    assert!(out.contains("killed what was left"), "{out}");
    wait_until("the orphaned agent gone", || !alive(pid));
}

fn nix_kill(pid: i32) {
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status();
}

/// The server log has levels: each line names its level, and FLIGHTDECK_LOG keeps only what is
/// asked for (a level that does not parse is said, and info is kept).
#[test]
fn the_server_log_has_levels_that_flightdeck_log_picks() {
    let log_of = |level: Option<&str>| {
        let mut env = Env::new("");
        if let Some(l) = level {
            env.vars.push(("FLIGHTDECK_LOG".into(), l.into()));
        }
        env.ok(&["ls"]);
        env.ok(&["stop"]);
        std::fs::read_to_string(env.home.join("server.log")).unwrap_or_default()
    };
    let default = log_of(None);
    let started = default
        .lines()
        .find(|l| l.contains("server started"))
        .unwrap_or_else(|| panic!("no start line:\n{default}"));
    assert!(started.contains(" INFO "), "{started}");
    assert!(
        flightdeck::time::parse_rfc3339(started.split(' ').next().unwrap_or("")).is_some(),
        "each line starts with its time: {started}"
    );
    let quiet = log_of(Some("warn"));
    assert!(!quiet.contains("server started"), "{quiet}");
    let bad = log_of(Some("loud!!"));
    assert!(bad.contains("is not a log level"), "{bad}");
    assert!(bad.contains("server started"), "{bad}");
}
