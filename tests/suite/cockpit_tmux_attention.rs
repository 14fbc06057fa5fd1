//! The real cockpit in tmux: a run whose agent fails goes to the top of the table with its
//! reason, and the cockpit rings the bell and sends an OSC 9 notification as it happens.

use crate::common::tmux::Tmux;
use crate::common::*;

#[test]
fn a_failed_run_comes_first_with_its_reason_and_a_bell() {
    let env = Env::new(
        r#"
[agents.ticker]
command = ["sh", "-c", "while :; do echo tick; sleep 0.2; done"]

[agents.broken]
command = ["false"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let running = env.start(&repo, "ticker", "keep ticking");

    let tmux = Tmux::new();
    tmux.cockpit(&env, &repo);
    // Everything the cockpit writes, raw: the bell and OSC 9 are not on the screen.
    let raw = env.path().join("pane.raw");
    let piped = tmux.cmd(&[
        "pipe-pane",
        "-o",
        "-t",
        "fd",
        &format!("cat >> {}", raw.display()),
    ]);
    assert!(piped.status.success());
    tmux.wait_for("the running run", |s| {
        s.lines()
            .any(|l| l.contains(&running) && l.contains("▶ running"))
    });

    // Now a run fails while the cockpit watches.
    let failed = env.start(&repo, "broken", "this agent fails");
    let record = env.wait_status(&failed, "failed");
    let reason = record["reason"]
        .as_str()
        .expect("a failed run has a reason");
    let screen = tmux.wait_for("the failed run on top with its reason", |s| {
        let rows: Vec<&str> = s
            .lines()
            .filter(|l| l.contains(&running) || l.contains(&failed))
            .collect();
        rows.len() == 2 && rows[0].contains(&failed) && rows[0].contains("✗ failed")
    });
    assert!(screen.contains("REASON"), "{screen}");
    let row = screen.lines().find(|l| l.contains(&failed)).unwrap();
    // The reason, as far as the cell shows it.
    let shown: String = reason.chars().take(12).collect();
    assert!(row.contains(&shown), "reason `{reason}` not in {row:?}");

    let notification = format!("\u{1b}]9;flightdeck: run {failed} failed");
    wait_until("the OSC 9 notification and the bell", || {
        let bytes = std::fs::read(&raw).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        text.contains(&notification) && text.contains("\u{7}\u{7}")
    });
    let text = String::from_utf8_lossy(&std::fs::read(&raw).unwrap()).into_owned();
    assert_eq!(
        text.matches("\u{1b}]9;").count(),
        1,
        "one notification, none at start"
    );
    tmux.keys(&["q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
}

#[test]
fn v_shows_the_failing_check_and_s_opens_a_shell_in_the_worktree() {
    let env = Env::new(
        r#"
[agents.editor]
command = ["sh", "-c", "echo more >> README.md"]

[[smoke]]
name = "unit"
command = ["sh", "-c", "echo BOOM-OUTPUT; echo the answer was 41; exit 3"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "editor", "change the readme");
    let record = env.wait_status(&id, "failed");
    let worktree = record["worktree"].as_str().unwrap().to_string();

    // The "shell": notes where it ran, then exits at once.
    let shell = env.path().join("fake-shell");
    let seen = env.path().join("shell-ran-in");
    std::fs::write(&shell, format!("#!/bin/sh\npwd > {}\n", seen.display())).unwrap();
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let tmux = Tmux::new();
    tmux.cockpit_with(&env, &repo, &format!("SHELL={}", shell.display()));
    tmux.wait_for("the failed run", |s| {
        s.lines().any(|l| l.contains(&id) && l.contains("✗ failed"))
    });
    tmux.keys(&["v"]);
    let screen = tmux.wait_for("the failure summary", |s| {
        s.contains("BOOM-OUTPUT") && s.contains(&format!("Run {id} failed in phase smoke"))
    });
    assert!(screen.contains("the answer was 41"), "{screen}");
    assert!(screen.contains("Check `unit` failed (exit 3)"), "{screen}");

    // s from the summary: the shell runs in the worktree, and the cockpit comes back.
    tmux.keys(&["s"]);
    wait_until("the shell to run", || seen.exists());
    let pwd = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(
        std::fs::canonicalize(pwd.trim()).unwrap(),
        std::fs::canonicalize(&worktree).unwrap()
    );
    tmux.wait_for("the cockpit back", |s| {
        s.contains("REASON") && s.lines().any(|l| l.contains(&id))
    });
    tmux.keys(&["j"]);
    tmux.keys(&["q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
}
