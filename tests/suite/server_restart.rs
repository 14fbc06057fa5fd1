//! Runs survive the server: `kill -9` of the server (twice, once with runs paused), an agent
//! that ends while no server runs, and `serve --replace` lose no run, no line, no pause.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

fn log_len(env: &Env, id: &str) -> u64 {
    std::fs::metadata(env.run_dir(id).join("agent.log"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// The agent's pids from the shim's record.
fn shim_pids(env: &Env, id: &str) -> Vec<i32> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(env.run_dir(id).join("shim.json")).unwrap()).unwrap();
    vec![
        v["agent_pid"].as_i64().unwrap() as i32,
        v["shim_pid"].as_i64().unwrap() as i32,
    ]
}

/// Every `line N` the timeline holds for this run, with how often.
fn numbered_lines(env: &Env, id: &str) -> BTreeMap<u32, usize> {
    let mut seen = BTreeMap::new();
    for o in env.events_of(id, "agent.output") {
        for l in o["text"].as_str().unwrap().lines() {
            if let Some(n) = l.strip_prefix("line ").and_then(|n| n.parse().ok()) {
                *seen.entry(n).or_insert(0) += 1;
            }
        }
    }
    seen
}

fn assert_seq_continuous(env: &Env, id: &str) {
    let seqs: Vec<u64> = env
        .timeline(id)
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "run {id}: seq is not continuous");
}

#[test]
fn ten_runs_survive_two_server_kills_one_with_runs_paused() {
    let env = Env::new(
        r#"
max_parallel = 10

[agents.counter]
command = ["sh", "-c", "i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo \"line $i\"; sleep 0.2; done; echo counted > counted.txt"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let ids: Vec<String> = (0..10)
        .map(|i| env.start(&repo, "counter", &format!("count {i}")))
        .collect();
    for id in &ids {
        env.wait_status(id, "running");
    }
    wait_until("output from every run", || {
        ids.iter().all(|id| !numbered_lines(&env, id).is_empty())
    });

    // First kill, with three runs paused.
    for id in &ids[..3] {
        env.ok(&["pause", id]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let paused_at: Vec<u64> = ids[..3].iter().map(|id| log_len(&env, id)).collect();
    env.kill_server();
    std::thread::sleep(Duration::from_secs(2));
    // The next command starts a new server, which adopts the runs.
    let runs = env.json(&["ls", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 10);
    for id in &ids[..3] {
        env.wait_status(id, "paused");
    }
    for id in &ids[3..] {
        env.wait_for(id, "re-adopted", |r| r["status"] == "running");
        assert_eq!(env.events_of(id, "run.adopted").len(), 1, "run {id}");
    }
    std::thread::sleep(Duration::from_secs(1));
    for (id, before) in ids[..3].iter().zip(&paused_at) {
        assert_eq!(log_len(&env, id), *before, "paused run {id} advanced");
    }
    for id in &ids[..3] {
        env.ok(&["resume", id]);
    }

    // Second kill, all running.
    std::thread::sleep(Duration::from_secs(2));
    env.kill_server();
    std::thread::sleep(Duration::from_secs(1));
    env.ok(&["ls"]);

    let deadline = Instant::now() + Duration::from_secs(120);
    for id in &ids {
        let r = env.wait_for(id, "finished", |r| {
            r["status"] != "running" && r["status"] != "paused" || Instant::now() > deadline
        });
        assert_eq!(r["status"], "succeeded", "{r:#}");
        let lines = numbered_lines(&env, id);
        let expected: BTreeMap<u32, usize> = (1..=100).map(|n| (n, 1)).collect();
        assert_eq!(lines, expected, "run {id}: every line exactly once");
        assert_seq_continuous(&env, id);
        assert_eq!(env.events_of(id, "agent.exited").len(), 1);
        // The agent's work was committed and checked like any run's.
        let diff = std::fs::read_to_string(env.run_dir(id).join("patch.diff")).unwrap();
        assert!(diff.contains("counted.txt"), "run {id}");
    }
    for id in &ids {
        for pid in shim_pids(&env, id) {
            wait_until("no process left", || !alive(pid));
        }
    }
}

#[test]
fn an_agent_that_ends_while_no_server_runs_finishes_after_the_next_start() {
    let env = Env::new(
        r#"
[agents.short]
command = ["sh", "-c", "echo started; sleep 2; echo made > made.txt; echo finished"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "short", "make a file");
    env.wait_status(&id, "running");
    wait_until("the agent under way", || {
        env.run_dir(&id).join("shim.json").exists()
    });
    env.kill_server();
    wait_until("the agent's end recorded", || {
        env.run_dir(&id).join("exit.json").exists()
    });
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(r["exit_code"], 0);
    let diff = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(diff.contains("made.txt"), "{diff}");
    let texts: Vec<String> = env
        .events_of(&id, "agent.output")
        .iter()
        .flat_map(|o| {
            o["text"]
                .as_str()
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(texts, ["started", "finished"]);
    assert_seq_continuous(&env, &id);
    let adopted = env.events_of(&id, "run.adopted");
    assert!(adopted[0]["message"]
        .as_str()
        .unwrap()
        .contains("while no server was watching"));
}

#[test]
fn serve_replace_under_five_running_runs_interrupts_none() {
    let env = Env::new(
        r#"
[agents.ticker]
command = ["sh", "-c", "i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo \"line $i\"; sleep 0.2; done; echo t > t.txt"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let ids: Vec<String> = (0..5)
        .map(|i| env.start(&repo, "ticker", &format!("tick {i}")))
        .collect();
    for id in &ids[..4] {
        env.wait_status(id, "running");
    }
    let old = env.server_pid();
    let out = env.ok(&["serve", "--replace", "--detach"]);
    assert!(out.contains("running"), "{out}");
    assert_ne!(env.server_pid(), old);
    wait_until("the old server gone", || !alive(old));
    for id in &ids {
        let r = env.wait_for(id, "finished", |r| {
            r["status"] != "running" && r["status"] != "paused" && r["status"] != "queued"
        });
        assert_eq!(r["status"], "succeeded", "{r:#}");
        let lines = numbered_lines(&env, id);
        assert_eq!(lines.len(), 20, "run {id}: {lines:?}");
        assert!(lines.values().all(|n| *n == 1), "run {id}: {lines:?}");
    }
    // `stop` refuses while runs are live and says what to choose; `--keep-runs` stops only
    // the server; `stop --all` is the way to stop runs too.
    let id = env.start(&repo, "ticker", "one more");
    env.wait_status(&id, "running");
    let err = env.fails(&["stop"]);
    assert!(
        err.contains("1 run(s) are live") && err.contains(&id) && err.contains("--keep-runs"),
        "{err}"
    );
    env.wait_status(&id, "running");
    let out = env.ok(&["stop", "--keep-runs"]);
    assert!(out.contains("keep going"), "{out}");
    env.wait_status(&id, "running");
    let out = env.ok(&["stop", "--all"]);
    assert!(out.contains("killed 1"), "{out}");
    let r = env.record(&id);
    assert_eq!(r["status"], "killed");
}

#[test]
fn the_cockpit_shows_stale_data_then_the_restart() {
    let env = Env::new(
        r#"
[agents.ticker]
command = ["sh", "-c", "while :; do echo tick; sleep 0.2; done"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "ticker", "tick");
    env.wait_status(&id, "running");
    let tmux = crate::common::tmux::Tmux::new();
    tmux.cockpit(&env, &repo);
    tmux.wait_for("the run", |s| s.contains(&id) && s.contains("running"));
    env.kill_server();
    tmux.wait_for("stale data", |s| s.contains("stale: server lost"));
    env.ok(&["ls"]); // a new server
    tmux.wait_for("the restart", |s| {
        s.contains("server restarted, 1 run re-adopted") && !s.contains("stale")
    });
    tmux.keys(&["q"]);
    env.ok(&["kill", &id]);
}

#[test]
fn queued_runs_stay_queued_across_a_restart() {
    let env = Env::new(
        r#"
max_parallel = 1

[agents.wait]
command = ["sh", "-c", "while [ ! -e ../go ]; do sleep 0.1; done; echo w > w.txt"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let first = env.start(&repo, "wait", "first");
    env.wait_status(&first, "running");
    let second = env.start(&repo, "wait", "second");
    assert_eq!(env.record(&second)["status"], "queued");
    env.kill_server();
    assert_eq!(env.record(&second)["status"], "queued", "a new server");
    assert_eq!(env.record(&first)["status"], "running");
    // The worktrees sit side by side: one file lets both agents finish.
    let wt = env.record(&first)["worktree"].as_str().unwrap().to_string();
    std::fs::write(std::path::Path::new(&wt).join("../go"), "").unwrap();
    env.wait_status(&first, "succeeded");
    env.wait_status(&second, "succeeded");
}

#[test]
fn a_retry_waiting_in_the_queue_is_still_a_retry_after_a_restart() {
    let env = Env::new(
        r#"
max_parallel = 1

[agents.quick]
command = ["sh", "-c", "echo q > q.txt"]

[agents.wait]
command = ["sh", "-c", "while [ ! -e ../go ]; do sleep 0.1; done; echo w > w.txt"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let quick = env.start(&repo, "quick", "quick");
    env.wait_status(&quick, "succeeded");
    let waiting = env.start(&repo, "wait", "hold the slot");
    env.wait_status(&waiting, "running");
    env.ok(&["retry", &quick, "--phase", "agent"]);
    assert_eq!(env.record(&quick)["status"], "queued");
    let wt = std::path::PathBuf::from(env.record(&quick)["worktree"].as_str().unwrap());
    std::fs::write(wt.join("hand.txt"), "made by hand\n").unwrap();
    env.kill_server();
    assert_eq!(env.record(&quick)["status"], "queued", "a new server");
    std::fs::write(wt.join("../go"), "").unwrap();
    env.wait_status(&quick, "succeeded");
    // It ran as a retry: the hand-made file was kept on a ref before the reset.
    let saved = env.events_of(&quick, "workspace.saved");
    assert_eq!(saved.len(), 1, "{saved:#?}");
    assert!(!wt.join("hand.txt").exists());
}

#[test]
fn a_check_running_when_the_server_dies_dies_with_it_and_runs_once_more() {
    let marks = tempfile::tempdir().unwrap();
    let log = marks.path().join("checks.log");
    let env = Env::new(&format!(
        r#"
[agents.quick]
command = ["sh", "-c", "echo x > x.txt"]
[setup]
commands = [["sh", "-c", "echo setup-start >> {log}; sleep 3; echo setup-end >> {log}"]]
[[smoke]]
name = "slow"
command = ["sh", "-c", "echo smoke-start >> {log}; sleep 3; echo smoke-end >> {log}"]
"#,
        log = log.display()
    ));
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "quick", "make a file");
    // Once during setup, once during the smoke check: the server dies mid-command.
    for phase in ["setup", "smoke"] {
        wait_until(&format!("the {phase} command under way"), || {
            read().contains(&format!("{phase}-start"))
        });
        env.kill_server();
        env.ok(&["ls"]);
        wait_until(&format!("the {phase} command again"), || {
            read().matches(&format!("{phase}-start")).count() == 2
        });
    }
    env.wait_status(&id, "succeeded");
    // The first copies were killed with their server: neither ran to its end beside the second.
    assert_eq!(
        read(),
        "setup-start\nsetup-start\nsetup-end\nsmoke-start\nsmoke-start\nsmoke-end\n"
    );
}

#[test]
fn an_adopted_run_keeps_its_start_and_its_agents_duration() {
    let env = Env::new(
        "[agents.slowish]\ncommand = [\"sh\", \"-c\", \"sleep 2; echo done > done.txt\"]\n",
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "slowish", "take a while");
    env.wait_status(&id, "running");
    wait_until("the agent under way", || {
        env.run_dir(&id).join("shim.json").exists()
    });
    let started_at = env.record(&id)["started_at"].clone();
    assert!(started_at.is_string(), "{started_at}");
    std::thread::sleep(Duration::from_millis(500));
    env.kill_server();
    env.ok(&["ls"]);
    let r = env.wait_status(&id, "succeeded");
    assert_eq!(r["started_at"], started_at, "the start moved on adoption");
    let exited = env.events_of(&id, "agent.exited");
    let ms = exited[0]["duration_ms"].as_u64().unwrap();
    assert!(
        ms >= 1900,
        "the agent's duration lost the time before the restart: {ms} ms"
    );
    let starts = env.events_of(&id, "phase.started");
    let agent_starts: Vec<&Value> = starts.iter().filter(|e| e["phase"] == "agent").collect();
    assert_eq!(agent_starts.len(), 2, "{starts:#?}");
    assert_eq!(agent_starts[1]["adopted"], true);
    assert_eq!(agent_starts[1]["retry"], false);
}

#[test]
fn a_workspace_cut_short_while_being_made_is_made_again_not_kept_as_work() {
    let marks = tempfile::tempdir().unwrap();
    let log = marks.path().join("setup.log");
    let env = Env::new(&format!(
        "[agents.quick]\ncommand = [\"sh\", \"-c\", \"echo x > x.txt\"]\n[setup]\ncommands = [[\"sh\", \"-c\", \"echo generated > generated.txt; echo started >> {log}; sleep 3\"]]\n",
        log = log.display()
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "quick", "make a file");
    wait_until("setup under way", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("started"))
    });
    env.kill_server();
    env.ok(&["ls"]);
    env.wait_status(&id, "succeeded");
    // What setup had written was flightdeck's own, not work to set aside.
    assert!(env.events_of(&id, "workspace.saved").is_empty());
    assert_eq!(env.events_of(&id, "workspace.incomplete").len(), 1);
    let refs = git(&repo, &["for-each-ref", &format!("refs/flightdeck/{id}/")]);
    assert!(refs.trim().is_empty(), "kept as work: {refs}");
}

#[test]
fn a_shim_that_has_not_yet_written_its_record_is_waited_for_not_started_twice() {
    // The server died between starting the agent's shim and the shim writing its record: the
    // next server finds a live shim for the run but no shim.json yet (a slow machine).
    let env = Env::new(
        "[agents.slow]\ncommand = [\"sh\", \"-c\", \"echo start >> ../starts-$FLIGHTDECK_RUN_ID; sleep 60\"]\n",
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "slow", "wait");
    let record = env.run_dir(&id).join("shim.json");
    wait_until("the agent under way", || record.exists());
    env.kill_server();
    let saved = std::fs::read(&record).unwrap();
    std::fs::remove_file(&record).unwrap();
    env.ok(&["ls"]);
    // The shim gets round to its record a moment later.
    std::thread::sleep(Duration::from_millis(1500));
    let tmp = record.with_extension("tmp");
    std::fs::write(&tmp, &saved).unwrap();
    std::fs::rename(&tmp, &record).unwrap();
    wait_until("the run adopted", || {
        !env.events_of(&id, "run.adopted").is_empty()
    });
    let adopted = &env.events_of(&id, "run.adopted")[0];
    assert!(
        adopted["message"]
            .as_str()
            .unwrap()
            .contains("still at work"),
        "{adopted:#}"
    );
    let r = env.record(&id);
    let starts = std::path::PathBuf::from(r["worktree"].as_str().unwrap())
        .parent()
        .unwrap()
        .join(format!("starts-{id}"));
    assert_eq!(
        std::fs::read_to_string(&starts).unwrap(),
        "start\n",
        "the agent ran once"
    );
    env.ok(&["kill", &id]);
    env.wait_status(&id, "killed");
}
