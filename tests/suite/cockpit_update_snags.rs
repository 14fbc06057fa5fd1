//! The cockpit's snags from issue 25, in the update function: `n` selects the run it started,
//! `R` replies to a run, the wording of a few messages, and the README's key table has every
//! key of the keymap.

use crossterm::event::KeyCode;
use flightdeck::protocol::Command;
use flightdeck::run::{Phase, Status};
use flightdeck::ui::app::{DocKind, Mode};
use flightdeck::ui::keymap::Keymap;
use flightdeck::ui::update::{update, Effect, Msg};

use crate::fixtures;
use fixtures::ui::*;

fn typed(text: &str) -> Vec<Msg> {
    text.chars().map(key).collect()
}

/// A run record as the server answers `Command::Run`: queued, the given id.
fn new_run(i: usize) -> Box<flightdeck::protocol::RunSnapshot> {
    let r = fixtures::run(i, Status::Queued, Phase::Prepare, "a new task", "claude");
    Box::new(fixtures::served(r))
}

#[test]
fn the_run_n_started_is_selected() {
    let mut app = app_with(fixtures::runs());
    // The runs' repository is where the cockpit was opened: `n` asks nothing first.
    app.repo = "/home/dev/src/app".into();
    assert_eq!(app.selected.as_deref(), Some("run00000"));
    let mut msgs = vec![key('n')];
    msgs.extend(typed("a new task"));
    msgs.push(code(KeyCode::Enter));
    let fx = press(&mut app, msgs);
    assert!(matches!(sends(&fx)[..], [Command::Run(_)]));
    // The server's answer: the new run, selected, before the feed has brought it.
    update(&mut app, Msg::Started(new_run(9)));
    assert_eq!(app.selected.as_deref(), Some("run00009"));
    assert_eq!(app.status.as_ref().unwrap().text, "started run run00009");
    // The feed brings it (and more) afterwards: still selected.
    update(&mut app, Msg::Run(new_run(9)));
    assert_eq!(app.selected.as_deref(), Some("run00009"));

    // A filter that would hide it is cleared; a newer record from the feed is kept.
    let mut app = app_with(fixtures::runs());
    app.filter = "serde".into();
    let mut running = new_run(8);
    running.state.status = Status::Running;
    update(&mut app, Msg::Run(running));
    update(&mut app, Msg::Started(new_run(8)));
    assert_eq!(app.selected.as_deref(), Some("run00008"));
    assert!(app.filter.is_empty());
    let r = app.runs.iter().find(|r| r.id == "run00008").unwrap();
    assert_eq!(r.status, Status::Running);

    // With the pane open, it shows the new run's timeline.
    let mut app = app_with(fixtures::runs());
    press(&mut app, vec![code(KeyCode::Enter)]);
    let (fx, _) = update(&mut app, Msg::Started(new_run(7)));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::OpenTimeline { run, .. } if run == "run00007")));
}

#[test]
fn capital_r_sends_the_agent_round_again_with_the_words_typed() {
    let mut app = app_with(fixtures::runs());
    // run00000 failed: it may be retried, so it may be replied to.
    let fx = press(&mut app, vec![key('R')]);
    assert!(sends(&fx).is_empty());
    assert!(matches!(&app.mode, Mode::Reply { run, .. } if run == "run00000"));
    // Enter with nothing typed says what to do.
    press(&mut app, vec![code(KeyCode::Enter)]);
    assert!(app.status.as_ref().unwrap().error);
    assert!(matches!(app.mode, Mode::Reply { .. }));
    let mut msgs = typed("rename x to y; q is a letter here");
    msgs.push(code(KeyCode::Enter));
    let fx = press(&mut app, msgs);
    assert_eq!(
        sends(&fx),
        vec![Command::Reply {
            run: "run00000".into(),
            text: "rename x to y; q is a letter here".into()
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.quit);
    // Esc cancels; nothing is sent.
    let mut msgs = vec![key('R')];
    msgs.extend(typed("never mind"));
    msgs.push(code(KeyCode::Esc));
    assert!(sends(&press(&mut app, msgs)).is_empty());
    assert_eq!(app.mode, Mode::Normal);

    // A running run is refused up front, with the server's reason.
    press(&mut app, vec![key('j'), key('j')]);
    assert_eq!(app.selected.as_deref(), Some("run00002"));
    let fx = press(&mut app, vec![key('R')]);
    assert!(sends(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    let said = &app.status.as_ref().unwrap().text;
    assert!(said.starts_with("cannot reply to run run00002"), "{said}");

    // From the proof view too: read the run's PR.md, then answer it.
    let mut app = app_with(fixtures::runs());
    app.mode = Mode::Doc {
        kind: DocKind::Proof,
        run: "run00000".into(),
        lines: vec!["# PR".into()],
        scroll: 0,
    };
    press(&mut app, vec![key('R')]);
    assert!(matches!(&app.mode, Mode::Reply { run, .. } if run == "run00000"));
}

#[test]
fn one_run_re_adopted_is_singular() {
    let mut app = app_with(fixtures::runs());
    update(&mut app, Msg::Server { pid: 1, adopted: 0 });
    update(&mut app, Msg::Server { pid: 2, adopted: 1 });
    assert_eq!(
        app.status.as_ref().unwrap().text,
        "server restarted, 1 run re-adopted"
    );
    update(&mut app, Msg::Server { pid: 3, adopted: 2 });
    assert_eq!(
        app.status.as_ref().unwrap().text,
        "server restarted, 2 runs re-adopted"
    );
}

#[test]
fn b_on_a_run_of_a_repository_without_a_browser_check_says_none_is_configured() {
    let mut app = app_with(fixtures::runs());
    let empty = |run: &str| Msg::Doc {
        kind: DocKind::Browser,
        run: run.into(),
        text: String::new(),
        failure: None,
    };
    // run00004 succeeded, past its browser phase, with no browser check recorded.
    update(&mut app, empty("run00004"));
    let said = app.status.as_ref().unwrap().text.clone();
    assert_eq!(
        said,
        "run run00004 has no browser report: app has no browser check configured ([browser] in its config sets one up)"
    );
    // run00002 is still in its agent phase: it has not had one yet.
    update(&mut app, empty("run00002"));
    let said = app.status.as_ref().unwrap().text.clone();
    assert!(said.contains("not had its browser check"), "{said}");
    assert!(!said.contains("configured"), "{said}");
}

#[test]
fn the_readme_key_table_has_every_key_of_the_keymap() {
    let readme = include_str!("../../README.md");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| key | what |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(table.len() > 10, "no key table in the README");
    // The first column's keys: `x` in backticks, or a bare name (Enter, PgUp, ctrl-c).
    let keys: Vec<String> = table
        .iter()
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| cell.split([' ', ',', ';']))
        .map(|k| k.trim().trim_matches('`').to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let km = Keymap::default();
    for (keys_of, what) in km.help() {
        for k in keys_of.split(' ') {
            assert!(
                keys.iter().any(|have| have == k),
                "the README's key table lacks `{k}` ({what}); it has {keys:?}"
            );
        }
    }
}

#[test]
fn an_agent_that_is_not_installed_is_marked_in_n_and_never_started() {
    use flightdeck::ui::app::AgentChoice;
    let mut app = app_with(fixtures::runs());
    app.repo = "/home/dev/src/app".into();
    let mut claude = AgentChoice::new("claude", Some("Claude Code"));
    claude.unavailable = Some("`claude` is not on PATH: install it".into());
    app.agents = vec![claude, AgentChoice::new("noop", None)];
    app.default_agent = "claude".into();
    // The default cannot start here: `n` offers the first agent that can.
    press(&mut app, vec![key('n')]);
    assert!(matches!(app.mode, Mode::NewRun { agent: 1, .. }));
    // Tab to the missing one (the prompt says why: the tmux test reads it on screen).
    let mut msgs = typed("a task");
    msgs.push(code(KeyCode::Tab));
    press(&mut app, msgs);
    assert!(matches!(app.mode, Mode::NewRun { agent: 0, .. }));
    // Enter starts nothing and keeps the task; M keeps why.
    let fx = press(&mut app, vec![code(KeyCode::Enter)]);
    assert!(
        sends(&fx).is_empty(),
        "no run for an agent that cannot start"
    );
    assert!(matches!(&app.mode, Mode::NewRun { input, .. } if input.text == "a task"));
    let said = &app.history.back().unwrap().text;
    assert!(
        said.contains("agent `claude` cannot start here: `claude` is not on PATH")
            && said.contains("Tab picks another"),
        "{said}"
    );
    // Tab back to one that can: it starts.
    let fx = press(&mut app, vec![code(KeyCode::Tab), code(KeyCode::Enter)]);
    assert!(matches!(&sends(&fx)[..], [Command::Run(r)] if r.agent.as_deref() == Some("noop")));
}

#[test]
fn m_keeps_runs_failing_beside_what_the_person_did() {
    let mut app = app_with(fixtures::runs());
    app.alerts.bell = false;
    app.alerts.notify = false;
    let mut r = fixtures::run(3, Status::Failed, Phase::Smoke, "a task", "claude");
    r.state.reason = Some("required smoke check(s) failed: unit".into());
    let before = app.status.clone();
    update(&mut app, Msg::Run(Box::new(fixtures::served(r))));
    let said: Vec<&str> = app.history.iter().map(|s| s.text.as_str()).collect();
    assert!(
        said.iter()
            .any(|s| s.starts_with("run run00003 failed") && s.contains("unit")),
        "{said:?}"
    );
    assert!(app.history.back().unwrap().error);
    // News of a run does not take the status line from what the person is doing.
    assert_eq!(app.status, before);
    // M shows it.
    press(&mut app, vec![key('M')]);
    assert!(matches!(app.mode, Mode::Messages { .. }));
}
