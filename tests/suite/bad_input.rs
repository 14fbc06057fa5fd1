//! Bad input gets one clear sentence on stderr and a non-zero exit, and the server stays up.
//! Task text reaches the agent byte for byte.

use crate::common::*;

const CONFIG: &str = r#"
[agents.echo]
command = ["sh", "-c", "printf %s \"$1\" > argv.txt; printf %s \"$FLIGHTDECK_TASK\" > env.txt", "sh", "{task}"]

[agents.missing]
command = ["flightdeck-no-such-agent-program", "{task}"]

[agents.nothing]
command = ["true"]
"#;

fn one_sentence(err: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {err}");
    assert!(lines[0].starts_with("flightdeck: "), "{err}");
}

#[test]
fn each_bad_input_gets_its_error_and_the_server_stays_up() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let repo_s = repo.to_str().unwrap();
    env.ok(&["ls"]);
    let pid = env.server_pid();

    let err = env.fails(&[
        "run",
        "--repo",
        "/nonexistent/flightdeck/path",
        "--agent",
        "echo",
        "task",
    ]);
    one_sentence(&err);
    assert!(
        err.contains("/nonexistent/flightdeck/path does not exist"),
        "{err}"
    );

    let err = env.fails(&["run", "--repo", repo_s, "--agent", "nope", "task"]);
    one_sentence(&err);
    assert!(
        err.contains("unknown agent `nope`") && err.contains("echo"),
        "{err}"
    );

    let err = env.fails(&[
        "run",
        "--repo",
        repo_s,
        "--agent",
        "echo",
        "--base",
        "no-such-branch",
        "task",
    ]);
    one_sentence(&err);
    assert!(
        err.contains("base `no-such-branch` does not name a commit"),
        "{err}"
    );

    let err = env.fails(&["run", "--repo", repo_s, "--agent", "echo", "   "]);
    one_sentence(&err);
    assert!(err.contains("task is empty"), "{err}");

    // A malformed config given with --config: file, line, what is wrong.
    let bad = env.path().join("bad.toml");
    std::fs::write(
        &bad,
        "max_parallel = 2\n[agents.x]\ncommand = [\"a\" \"b\"]\n",
    )
    .unwrap();
    let err = env.fails(&[
        "run",
        "--config",
        bad.to_str().unwrap(),
        "--repo",
        repo_s,
        "--agent",
        "echo",
        "task",
    ]);
    one_sentence(&err);
    assert!(err.contains("bad.toml") && err.contains("line 3"), "{err}");

    // A mistake in the repository's own .flightdeck.toml.
    std::fs::write(
        repo.join(".flightdeck.toml"),
        "max_parallel = 2\nkill_grace = \"soon\"\n",
    )
    .unwrap();
    let err = env.fails(&["run", "--repo", repo_s, "--agent", "echo", "task"]);
    one_sentence(&err);
    assert!(
        err.contains(".flightdeck.toml") && err.contains("line 2") && err.contains("soon"),
        "{err}"
    );
    std::fs::remove_file(repo.join(".flightdeck.toml")).unwrap();

    let err = env.fails(&["show", "zzzzzzzz"]);
    one_sentence(&err);
    assert!(err.contains("no run matches `zzzzzzzz`"), "{err}");
    let err = env.fails(&["retry", "x", "--phase", "build"]);
    assert!(err.contains("unknown phase `build`"), "{err}");

    // An agent program that is not installed: the run fails in its agent phase, with the OS
    // error in the timeline.
    let out = env.output(&[
        "run", "--repo", repo_s, "--agent", "missing", "--wait", "task",
    ]);
    assert!(!out.status.success());
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = env.record(&id);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["phase"], "agent");
    let spawn = &env.events_of(&id, "agent.spawn_failed")[0];
    assert!(
        spawn["error"]
            .as_str()
            .unwrap()
            .contains("No such file or directory"),
        "{spawn}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot start agent `missing`"));
    // Said once in the timeline: the lines after it name the failure, not repeat it.
    let logs = env.ok(&["logs", &id]);
    assert_eq!(
        logs.matches("cannot start agent `missing`").count(),
        1,
        "{logs}"
    );
    assert!(
        logs.lines()
            .last()
            .unwrap_or("")
            .contains("run failed in phase agent"),
        "{logs}"
    );

    assert_eq!(
        env.server_pid(),
        pid,
        "the server stayed up through all of it"
    );
}

#[test]
fn ambiguous_prefixes_are_refused() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let mut ids: Vec<String> = Vec::new();
    // Ids are random: start runs until two share a first letter (at most 32 are needed).
    let shared = loop {
        let id = env.start(&repo, "nothing", "n");
        if let Some(other) = ids.iter().find(|o| o[..1] == id[..1]) {
            break (other.clone(), id);
        }
        ids.push(id);
    };
    let err = env.fails(&["show", &shared.0[..1]]);
    one_sentence(&err);
    assert!(
        err.contains("matches") && err.contains(&shared.0) && err.contains(&shared.1),
        "{err}"
    );
    // A longer prefix resolves.
    let r = env.record(&shared.1[..6]);
    assert_eq!(r["id"], shared.1.as_str());
}

#[test]
fn task_text_reaches_the_agent_byte_for_byte() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let task = "fix \"quoted\" and 'single'\nsecond line $(touch /tmp/pwned) `uname` $HOME ; rm -rf / # é漢字🚀 {worktree}";
    let out = env.ok(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "echo",
        "--wait",
        "--json",
        task,
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["task"], task);
    let wt = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(wt.join("argv.txt")).unwrap(), task);
    assert_eq!(std::fs::read_to_string(wt.join("env.txt")).unwrap(), task);
    assert_eq!(
        env.events_of(r["id"].as_str().unwrap(), "run.created")[0]["task"],
        task
    );
}

#[test]
fn a_malformed_global_config_stops_the_server_from_starting_with_a_clear_error() {
    let env = Env::new("max_parallel = [\n");
    let out = env.output(&["ls"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    one_sentence(&err);
    assert!(
        err.contains("could not start") && err.contains("flightdeck.toml") && err.contains("line"),
        "{err}"
    );
}

/// A task made of many words, `bytes` long once joined.
fn long_task(bytes: usize) -> Vec<String> {
    (0..bytes / 10).map(|i| format!("word{i:05}")).collect()
}

#[test]
fn a_task_too_long_for_an_argument_gets_a_true_sentence_and_a_file() {
    let env = Env::new(
        r#"
[agents.echo]
command = ["sh", "-c", "printf %s \"$1\" > argv.txt", "sh", "{task}"]

[agents.byfile]
command = ["sh", "-c", "cp \"$1\" got.txt; printf %s \"${FLIGHTDECK_TASK-unset}\" > env.txt", "sh", "{task_file}"]

[[smoke]]
name = "task file"
command = ["sh", "-c", "test -s \"$FLIGHTDECK_TASK_FILE\""]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let words = long_task(150 * 1024);
    let task = words.join(" ");
    let run = |agent: &str| {
        let mut args = vec!["run", "--repo", repo.to_str().unwrap(), "--agent", agent];
        args.extend(["--wait", "--json"]);
        args.extend(words.iter().map(String::as_str));
        let out = env.output(&args);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };

    let r = run("echo");
    assert_eq!(r["status"], "failed");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("longer than one command-line argument may be")
            && reason.contains("{task_file}")
            && !reason.contains("install it"),
        "{reason}"
    );

    let r = run("byfile");
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let wt = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
    let got = git(&wt, &["show", "HEAD:got.txt"]);
    assert_eq!(got, task, "the task file holds the task whole");
    assert_eq!(git(&wt, &["show", "HEAD:env.txt"]), "unset");
}

#[test]
fn oversized_requests_and_tasks_say_so() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let words = long_task(600 * 1024);
    let mut args = vec!["run", "--repo", repo.to_str().unwrap(), "--agent", "echo"];
    args.extend(words.iter().map(String::as_str));
    let err = env.fails(&args);
    one_sentence(&err);
    assert!(
        err.contains("flightdeck takes tasks of up to 512 KiB") && err.contains("file"),
        "{err}"
    );

    // A client that sends more than the server reads hears why, not "same version?".
    use std::io::{BufRead, Write};
    env.ok(&["ls"]);
    let mut s = std::os::unix::net::UnixStream::connect(env.home.join("flightdeck.sock")).unwrap();
    let mut big = br#"{"cmd":"run","task":""#.to_vec();
    big.resize(1_200_000, b'x');
    big.extend_from_slice(b"\"}\n");
    let _ = s.write_all(&big); // the server stops reading at its limit
    let mut reply = String::new();
    std::io::BufReader::new(s).read_line(&mut reply).unwrap();
    assert!(
        reply.contains("larger than") && !reply.contains("same flightdeck version"),
        "{reply}"
    );
}
