//! The real cockpit in tmux at 80x24 and 120x32 (issue 25): the help overlay whole in one
//! column, the REPO column, `/` in the diff, `R` replying to a run and its second attempt
//! labelled `#2`.

use crate::common::tmux::Tmux;
use crate::common::*;
use flightdeck::ui::keymap::Keymap;

/// The lines inside the box whose top border starts with `title` (the table around it left
/// out), by character column.
fn boxed(screen: &str, title: &str) -> Vec<String> {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let title: Vec<char> = title.chars().collect();
    for (y, l) in lines.iter().enumerate() {
        let Some(x0) = (0..l.len()).find(|x| l[*x..].starts_with(&title)) else {
            continue;
        };
        let Some(x1) = (x0 + 1..l.len()).find(|x| l[*x] == '┐') else {
            continue;
        };
        return lines[y + 1..]
            .iter()
            .take_while(|r| r.get(x0) != Some(&'└'))
            .map(|r| {
                r.get(x0 + 1..x1.min(r.len()))
                    .unwrap_or_default()
                    .iter()
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect();
    }
    panic!("no box {title:?} on the screen:\n{screen}");
}

/// Open the help, read its first page and (after G) its last, and check every key is there
/// whole, in one column, nothing cut.
fn help_is_whole(tmux: &Tmux, size: &str) {
    tmux.keys(&["?"]);
    let first = tmux.wait_settled("the help", |s| s.contains("┌ keys"));
    let mut seen = boxed(&first, "┌ keys");
    tmux.keys(&["G"]);
    let last = tmux.wait_settled("the end of the help", |s| s.contains("Keys come from"));
    seen.extend(boxed(&last, "┌ keys"));
    let text = seen.join("\n");
    assert!(!text.contains('…'), "a help line cut at {size}:\n{text}");
    for (keys, what) in Keymap::default().help() {
        let start = format!(" {keys} ");
        assert!(
            seen.iter()
                .any(|l| l.starts_with(&start) && l.ends_with(what)),
            "`{keys}  {what}` not whole at {size}:\n{text}"
        );
    }
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("move up") && l.contains("the run's proof")),
        "two columns at {size}:\n{text}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help closed", |s| !s.contains("┌ keys"));
}

#[test]
fn help_repo_column_search_and_reply_at_80x24_and_120x32() {
    let env = Env::new(
        r#"
[agents.noop]
command = ["sh", "-c", "echo a-needle-here >> found.txt; echo done"]
"#,
    );
    let app = git_repo(env.path(), "app");
    let site = git_repo(env.path(), "site");
    let a = env.start(&app, "noop", "first task");
    let b = env.start(&site, "noop", "second task");
    env.wait_status(&a, "succeeded");
    env.wait_status(&b, "succeeded");

    let tmux = Tmux::new();
    tmux.cockpit_sized(&env, &app, 80, 24);
    let row = |s: &str, id: &str| {
        s.lines()
            .find(|l| l.contains(id) && !l.contains("timeline"))
            .unwrap_or("")
            .to_string()
    };
    let screen = tmux.wait_for("both runs", |s| s.contains(&a) && s.contains(&b));
    // REPO: which repository each run is in, at 80 columns.
    assert!(screen.contains("REPO"), "{screen}");
    assert!(row(&screen, &a).contains(" app "), "{screen}");
    assert!(row(&screen, &b).contains(" site "), "{screen}");

    help_is_whole(&tmux, "80x24");

    // d, then / in the diff: typed, Enter, the match counted in the footer.
    tmux.keys(&["d"]);
    tmux.wait_for("the diff", |s| s.contains("patch.diff"));
    tmux.keys(&["/"]);
    tmux.wait_for("the search prompt", |s| s.contains("search /"));
    tmux.keys(&["-l", "NEEDLE"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the match", |s| s.contains("/NEEDLE: match 1 of 1"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the search cleared", |s| {
        !s.contains("/NEEDLE:") && s.contains("patch.diff")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the diff closed", |s| !s.contains("patch.diff"));

    // 120x32: the help again.
    tmux.resize(120, 32);
    tmux.wait_settled("the wider table", |s| {
        s.lines().any(|l| l.chars().count() > 80)
    });
    help_is_whole(&tmux, "120x32");

    // R: words for the selected run's agent; it goes again, its second attempt labelled.
    tmux.keys(&["R"]);
    let screen = tmux.wait_for("the reply prompt", |s| s.contains("reply to "));
    let replied = if screen.contains(&format!("reply to {a}")) {
        a.clone()
    } else {
        b.clone()
    };
    tmux.keys(&["-l", "add another needle"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the server's answer", |s| {
        s.contains("the agent goes again with your words")
    });
    env.wait_for(&replied, "its second attempt", |r| {
        r["attempt"] == 2 && r["status"] == "succeeded"
    });
    tmux.wait_for("#2 in the row", |s| row(s, &replied).contains("#2"));
    tmux.keys(&["q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
}

/// `n` with an agent that is not installed (the default here), at 80x24 and 120x32: the one
/// that can start is offered, Tab shows the missing one marked with why, Enter starts nothing;
/// a run failing joins `M`.
#[test]
fn n_marks_an_agent_that_is_not_installed_and_m_keeps_a_run_failing() {
    let env = Env::new(
        r#"
default_agent = "ghost"
[agents.ghost]
command = ["no-such-agent-7f3a", "{task}"]
[agents.a-noop]
command = ["sh", "-c", "echo done"]
[agents.z-broken]
command = ["sh", "-c", "exit 3"]
"#,
    );
    let app = git_repo(env.path(), "app");
    let tmux = Tmux::new();
    tmux.cockpit_sized(&env, &app, 80, 24);
    tmux.wait_for("the cockpit", |s| s.contains("runs ("));
    for (w, h) in [(80, 24), (120, 32)] {
        tmux.resize(w, h);
        tmux.keys(&["n"]);
        tmux.wait_for("the prompt, with the agent that can start", |s| {
            s.contains("new run [a-noop]")
        });
        tmux.keys(&["-l", "a task"]);
        tmux.keys(&["Tab"]);
        // Tab round to the missing one: marked, why above the prompt.
        let mut screen = tmux.capture();
        for _ in 0..8 {
            if screen.contains("[ghost not installed]") {
                break;
            }
            tmux.keys(&["Tab"]);
            screen = tmux.wait_settled("the next agent", |_| true);
        }
        let flat = screen.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("[ghost not installed]")
                && flat.contains(
                    "agent `ghost` cannot start here: `no-such-agent-7f3a` is not on PATH"
                ),
            "{w}x{h}:\n{screen}"
        );
        tmux.keys(&["Enter"]);
        tmux.wait_settled("Enter refused", |s| s.contains("[ghost not installed]"));
        tmux.keys(&["Escape"]);
        tmux.wait_for("the prompt closed", |s| !s.contains("new run ["));
    }
    assert_eq!(
        env.json(&["ls", "--json"]),
        serde_json::json!([]),
        "no run was made"
    );

    // A run failing while the cockpit is open: M has it.
    let id = env.start(&app, "z-broken", "fail on purpose");
    env.wait_status(&id, "failed");
    tmux.wait_for("the failed run", |s| {
        s.contains(&id) && s.contains("failed")
    });
    tmux.keys(&["M"]);
    tmux.wait_for("M with the failure", |s| {
        s.contains("messages (") && s.contains(&format!("run {id} failed"))
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
}
