//! The real cockpit in tmux with a run that has a pull request (recorded as the forge would
//! have left it): the PR column, `v`'s PR line with the URL as an OSC 8 link that keeps the
//! screen's layout, `y` putting the URL on tmux's clipboard through OSC 52, and `P` sending
//! the request (refused here: no `[forge]`), each answered in the status line.

use crate::common::tmux::Tmux;
use crate::common::*;

const URL: &str = "https://github.com/acme/app/pull/12";

#[test]
fn a_pull_request_in_the_cockpit_column_link_copy_and_p() {
    let env = Env::new("[agents.noop]\ncommand = [\"true\"]\n");
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "noop", "nothing much");
    env.wait_status(&id, "succeeded");
    // The server gone, the record gets the PR the forge reported (no forge in this test).
    env.kill_server();
    let file = env.run_dir(&id).join("run.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    record["pr"] = serde_json::json!({
        "forge": "github", "repo": "acme/app", "number": 12, "url": URL,
        "state": "open", "checks": "passing", "review": "approved", "head": "abc"
    });
    std::fs::write(&file, serde_json::to_string_pretty(&record).unwrap()).unwrap();

    let tmux = Tmux::new();
    tmux.cockpit(&env, &repo);
    // OSC 52 from the program goes to tmux's own paste buffers.
    assert!(tmux
        .cmd(&["set-option", "-g", "set-clipboard", "on"])
        .status
        .success());
    let raw = env.path().join("pane.raw");
    let piped = tmux.cmd(&[
        "pipe-pane",
        "-t",
        "fd",
        &format!("cat >> {}", raw.display()),
    ]);
    assert!(piped.status.success());
    let screen = tmux.wait_for("the run with its PR", |s| {
        s.lines()
            .any(|l| l.contains(&id) && l.contains("#12 ✓ approved"))
    });
    assert!(
        screen
            .lines()
            .any(|l| l.contains("MERGE") && l.contains(" PR ")),
        "{screen}"
    );

    // v: the PR line first, the URL a link; the line is exactly as wide as the window, the
    // border where it belongs (the link's width was counted right).
    tmux.keys(&["v"]);
    let screen = tmux.wait_for("the PR line", |s| {
        s.contains("PR  #12 open · checks passing · review approved · ")
    });
    let rows: Vec<&str> = screen.lines().collect();
    let at = rows
        .iter()
        .position(|l| l.contains("PR  #12 open"))
        .unwrap();
    let text = format!("PR  #12 open · checks passing · review approved · {URL}");
    let blank = " ".repeat(118 - text.chars().count());
    assert_eq!(rows[at], format!("│{text}{blank}│"), "{screen}");
    // The row below is the overlay's, whole: nothing of the table behind shows through.
    assert_eq!(rows[at + 1], format!("│{}│", "─".repeat(118)), "{screen}");
    let osc8 = format!("\u{1b}]8;;{URL}\u{1b}\\{URL}\u{1b}]8;;\u{1b}\\");
    wait_until("the OSC 8 link written", || {
        String::from_utf8_lossy(&std::fs::read(&raw).unwrap_or_default()).contains(&osc8)
    });

    // y: the URL on the clipboard, said in the status line; the view stays open.
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("copied", |s| s.contains(&format!("copied {URL}")));
    assert!(screen.contains("PR  #12 open"), "{screen}");
    wait_until("the OSC 52 sequence", || {
        String::from_utf8_lossy(&std::fs::read(&raw).unwrap_or_default())
            .contains("\u{1b}]52;c;aHR0cHM6Ly9naXRodWIuY29tL2FjbWUvYXBwL3B1bGwvMTI=\u{7}")
    });
    wait_until("tmux's buffer to hold the URL", || {
        String::from_utf8_lossy(&tmux.cmd(&["show-buffer"]).stdout) == URL
    });

    // P: the request goes to the server, whose refusal is the status line.
    tmux.keys(&["P"]);
    tmux.wait_for("the server's answer to P", |s| {
        s.contains("no [forge] in your config")
    });
    tmux.keys(&["Escape", "q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
}
