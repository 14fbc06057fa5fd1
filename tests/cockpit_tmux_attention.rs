//! The real cockpit in tmux: a run whose agent fails goes to the top of the table with its
//! reason, and the cockpit rings the bell and sends an OSC 9 notification as it happens.

mod common;

use common::tmux::Tmux;
use common::*;

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
