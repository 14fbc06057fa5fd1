//! The real cockpit in tmux, the way a new user meets it (issue 13): the timeline pane follows
//! a retry and a merge, the footer names the configured keys, `n` asks where when the directory is not the
//! runs' repository, and Esc followed at once by q is two keys.

use crate::common::tmux::Tmux;
use crate::common::*;

fn count(screen: &str, word: &str) -> usize {
    screen.matches(word).count()
}

#[test]
fn the_timeline_pane_follows_a_retry_and_shows_each_line_once() {
    let marks = tempfile::tempdir().unwrap();
    let env = Env::new(&format!(
        r#"
[agents.flaky]
command = ["sh", "-c", "if [ -e \"$1\" ]; then echo SECOND$((6*7)); echo hi > hello.txt; else touch \"$1\"; echo FIRST$((6*7)); exit 1; fi", "sh", "{}/tried-{{run_id}}"]
"#,
        marks.path().display()
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "flaky", "fail once then work");
    env.wait_status(&id, "failed");

    let tmux = Tmux::new();
    tmux.cockpit(&env, &repo);
    tmux.wait_for("the failed run", |s| s.contains("✗ failed"));
    // o: the agent's output only, one row a line.
    tmux.keys(&["Enter", "o"]);
    tmux.wait_for("the ended timeline", |s| {
        s.contains("FIRST42") && s.contains("· ended")
    });
    // Close and reopen: the lines are there once, not twice.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the pane closed", |s| !s.contains("timeline run"));
    tmux.keys(&["Enter", "o"]);
    tmux.wait_for("the timeline again", |s| {
        s.contains("FIRST42") && s.contains("· ended")
    });
    // Give lines queued by the first stream time to arrive (they must not).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let screen = tmux.capture();
    assert_eq!(count(&screen, "FIRST42"), 1, "{screen}");

    // r, Enter: retry from the agent phase, with the pane open on the run.
    tmux.keys(&["r"]);
    tmux.wait_for("the retry question", |s| s.contains("Retry run"));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the new attempt's lines in the pane", |s| {
        s.contains("SECOND42")
    });
    assert_eq!(count(&screen, "FIRST42"), 1, "{screen}");
    env.wait_status(&id, "succeeded");
    let screen = tmux.wait_for("the pane to end again", |s| {
        s.contains("SECOND42") && s.contains("· ended")
    });
    assert_eq!(count(&screen, "SECOND42"), 1, "{screen}");

    // m, y: merged; the ended pane reads the timeline again and shows merge.landed.
    env.wait_for(&id, "ready to merge", |r| r["merge"] == "ready");
    tmux.keys(&["m"]);
    tmux.wait_for("the merge question", |s| s.contains("Gate: green"));
    tmux.keys(&["y"]);
    env.wait_for(&id, "merged", |r| r["merge"] == "merged");
    // o: every step again, not only the agent's words.
    tmux.keys(&["o"]);
    tmux.wait_for("merge.landed in the pane", |s| s.contains("merge.landed"));
    tmux.keys(&["q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
}

#[test]
fn footer_keys_new_run_question_and_esc_then_q() {
    let env = Env::new(
        r#"
[agents.noop]
command = ["true"]

[keys]
kill = "D"
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "noop", "nothing much");
    env.wait_status(&id, "succeeded");
    // Opened in a directory that is no repository at all.
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    let tmux = Tmux::new();
    tmux.cockpit(&env, &elsewhere);
    let screen = tmux.wait_for("the run", |s| s.contains(&id));
    let footer = screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(footer.contains("D kill"), "{screen}");
    assert!(!footer.contains("x kill"), "{screen}");

    // n asks where: the selected run's repository first.
    tmux.keys(&["n"]);
    let screen = tmux.wait_for("the question", |s| {
        s.contains("Where should the new run work?")
    });
    assert!(screen.contains("not a git repository"), "{screen}");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the prompt", |s| s.contains("new run ["));
    let prompt = screen.lines().find(|l| l.contains("new run [")).unwrap();
    assert!(
        prompt.contains(" in ") && prompt.contains("repo"),
        "{prompt}"
    );
    tmux.keys(&["-l", "abc"]);
    tmux.wait_for("the typed task", |s| s.contains("› abc"));
    // Esc and q in one write, as a quick typist's terminal sends them: the prompt closes,
    // then q quits.
    tmux.keys(&["-l", "\u{1b}q"]);
    wait_until("the cockpit to exit", || !tmux.alive());
    assert_eq!(
        env.json(&["ls", "--json"]).as_array().unwrap().len(),
        1,
        "nothing was started"
    );
}

#[test]
fn a_config_that_binds_one_key_twice_is_refused_naming_both() {
    let env = Env::new("[keys]\nkill = \"d\"\ndiff = \"d\"\n");
    let err = env.fails(&["ls"]);
    assert!(err.contains("`d` to both kill and diff"), "{err}");
    assert!(err.contains("kill = \"K\""), "{err}");
}
