//! The real cockpit, driven in tmux: runs appear, the split pane follows a timeline, p pauses,
//! x then y kills, q quits, and the runs left go on.

use crate::common::tmux::Tmux;
use crate::common::*;

fn row<'a>(screen: &'a str, id: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(id) && !l.contains("timeline"))
        .unwrap_or("")
}

#[test]
fn the_cockpit_in_tmux() {
    let pids_dir = tempfile::tempdir().unwrap();
    let env = Env::new(&format!(
        r#"
[agents.ticker]
command = ["sh", "-c", "sleep 1000 & echo $! >> \"$1\"; echo $$ >> \"$1\"; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done", "sh", "{}/pids-{{run_id}}"]
"#,
        pids_dir.path().display()
    ));
    let repo = git_repo(env.path(), "repo");
    let ids: Vec<String> = (0..3)
        .map(|i| env.start(&repo, "ticker", &format!("ticker {i}")))
        .collect();
    let pids = |id: &str| read_pids(&pids_dir.path().join(format!("pids-{id}")), 2);

    let tmux = Tmux::new();
    tmux.cockpit(&env, &repo);

    // All three runs appear, running. The newest is on top and selected.
    let screen = tmux.wait_for("three running runs", |s| {
        ids.iter().all(|id| row(s, id).contains("▶ running"))
    });
    let top = screen
        .lines()
        .position(|l| l.contains(ids[2].as_str()))
        .unwrap();
    assert!(ids[..2].iter().all(|id| screen
        .lines()
        .position(|l| l.contains(id.as_str()))
        .unwrap()
        > top));

    // Enter opens the newest run's timeline, which follows new lines.
    tmux.keys(&["Enter"]);
    let title = format!("timeline {}", ids[2]);
    let screen = tmux.wait_for("the split pane", |s| {
        s.contains(&title) && s.contains("tick")
    });
    let last_tick = |s: &str| {
        s.lines()
            .filter_map(|l| l.split("tick ").nth(1))
            .filter_map(|t| t.split_whitespace().next()?.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
    };
    let first = last_tick(&screen);
    tmux.wait_for("newer lines in the pane", |s| last_tick(s) >= first + 3);

    // p pauses the selected run: paused in the table, every process stopped.
    tmux.keys(&["p"]);
    tmux.wait_for("paused", |s| row(s, &ids[2]).contains("‖ paused"));
    for pid in pids(&ids[2]) {
        wait_until("state T", || proc_state(pid) == Some('T'));
    }

    // Paused runs sort below running ones and the selection stays with the run. Tab back to
    // the table, g to the top (the newest running run), x then y kills it.
    tmux.keys(&["Tab", "g", "x"]);
    tmux.wait_for("the kill question", |s| {
        s.contains(&format!("Kill run {}", ids[1]))
    });
    tmux.keys(&["y"]);
    tmux.wait_for("killed", |s| row(s, &ids[1]).contains("■ killed"));
    for pid in pids(&ids[1]) {
        wait_until("process gone", || !alive(pid));
    }

    // q quits; nothing else stops.
    tmux.keys(&["q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
    let runs = env.json(&["ls", "--json"]);
    let status = |id: &str| {
        runs.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status(&ids[0]), "running");
    assert_eq!(status(&ids[1]), "killed");
    assert_eq!(status(&ids[2]), "paused");
    for pid in pids(&ids[0]) {
        assert!(alive(pid), "quitting the cockpit stopped a run");
    }
}
