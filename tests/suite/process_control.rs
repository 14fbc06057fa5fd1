//! Pause, resume and kill reach every process of a run, grandchildren included.

use std::time::Duration;

use crate::common::*;

fn config(dir: &std::path::Path) -> String {
    let pids = dir.join("pids-");
    format!(
        r#"
kill_grace = "1s"
[agents.looper]
# The shell records its own pid and that of a forked grandchild, then prints forever.
command = ["sh", "-c", "sleep 1000 & echo $! >> \"$1\"; echo $$ >> \"$1\"; while :; do echo tick; sleep 0.1; done", "sh", "{pids}{{run_id}}"]

[agents.stubborn]
command = ["sh", "-c", "trap '' TERM; sleep 1000 & echo $! >> \"$1\"; echo $$ >> \"$1\"; while :; do sleep 0.1; done", "sh", "{pids}{{run_id}}"]

[agents.slow]
command = ["sh", "-c", "sleep 1000 & echo $! >> \"$1\"; echo $$ >> \"$1\"; wait", "sh", "{pids}{{run_id}}"]
timeout = "1s"
"#,
        pids = pids.display()
    )
}

fn outputs(env: &Env, id: &str) -> usize {
    env.events_of(id, "agent.output").len()
}

#[test]
fn pause_resume_kill_reach_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new(&config(dir.path()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "looper", "loop forever");
    let pids = read_pids(&dir.path().join(format!("pids-{id}")), 2);
    wait_until("output", || outputs(&env, &id) > 2);

    let out = env.ok(&["pause", &id[..5]]);
    assert!(out.contains("paused"), "{out}");
    for pid in &pids {
        wait_until(&format!("pid {pid} stopped"), || {
            proc_state(*pid) == Some('T')
        });
    }
    assert_eq!(env.record(&id)["status"], "paused");
    std::thread::sleep(Duration::from_millis(400));
    let frozen = outputs(&env, &id);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(outputs(&env, &id), frozen, "a paused agent kept printing");
    let again = env.fails(&["pause", &id]);
    assert!(again.contains("not running"), "{again}");

    env.ok(&["resume", &id]);
    for pid in &pids {
        wait_until(&format!("pid {pid} continued"), || {
            matches!(proc_state(*pid), Some('S') | Some('R'))
        });
    }
    assert_eq!(env.record(&id)["status"], "running");
    wait_until("output after resume", || outputs(&env, &id) > frozen + 2);

    env.ok(&["kill", &id]);
    let r = env.wait_status(&id, "killed");
    for pid in &pids {
        wait_until(&format!("pid {pid} gone"), || !alive(*pid));
    }
    assert_eq!(r["phase"], "agent");
    assert!(r["finished_at"].is_string());
    assert_eq!(env.events_of(&id, "run.finished")[0]["status"], "killed");
    let err = env.fails(&["kill", &id]);
    assert!(err.contains("already finished"), "{err}");
}

#[test]
fn kill_escalates_to_sigkill_and_pausing_does_not_block_it() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new(&config(dir.path()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "stubborn", "ignore SIGTERM");
    let pids = read_pids(&dir.path().join(format!("pids-{id}")), 2);
    env.ok(&["pause", &id]);
    wait_until("stopped", || proc_state(pids[1]) == Some('T'));
    env.ok(&["kill", &id]);
    env.wait_status(&id, "killed");
    for pid in &pids {
        wait_until(&format!("pid {pid} gone"), || !alive(*pid));
    }
}

#[test]
fn agent_timeout_fails_the_run_and_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::new(&config(dir.path()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "slow", "take too long");
    let pids = read_pids(&dir.path().join(format!("pids-{id}")), 2);
    let r = env.wait_status(&id, "failed");
    assert_eq!(r["phase"], "agent");
    assert!(
        r["reason"].as_str().unwrap().contains("timed out after 1s"),
        "{r:#}"
    );
    for pid in &pids {
        wait_until(&format!("pid {pid} gone"), || !alive(*pid));
    }
    assert_eq!(env.events_of(&id, "agent.timeout").len(), 1);
}
