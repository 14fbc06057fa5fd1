//! Mission Control's update function, continued: what a new user hit in the first hour
//! (issue 13): timeline streams, Esc read as Alt, the filter, the merge gate, status messages,
//! where `n` starts a run.

use crossterm::event::KeyCode;
use flightdeck::protocol::Command;
use flightdeck::run::Status;
use flightdeck::ui::app::{App, Confirmable, Mode};
use flightdeck::ui::update::{update, Effect, Msg};

use crate::fixtures;

use fixtures::ui::*;

fn opened_stream(fx: &[Effect]) -> Option<(String, u64)> {
    fx.iter().find_map(|e| match e {
        Effect::OpenTimeline { run, stream } => Some((run.clone(), *stream)),
        _ => None,
    })
}

#[test]
fn lines_of_an_aborted_timeline_stream_are_dropped_when_the_pane_reopens() {
    let mut app = app_with(fixtures::runs());
    press(&mut app, vec![key('j'), key('j')]);
    let (run, old) = opened_stream(&press(&mut app, vec![code(KeyCode::Enter)])).unwrap();
    // Esc closes the pane, Enter opens it again: a new stream reads the tail afresh.
    let (_, new) = opened_stream(&press(
        &mut app,
        vec![code(KeyCode::Esc), code(KeyCode::Enter)],
    ))
    .unwrap();
    assert_ne!(old, new);
    // Lines the old stream had queued before it was aborted are not shown a second time.
    let (_, dirty) = update(
        &mut app,
        Msg::TimelineLines {
            run: run.clone(),
            stream: old,
            lines: fixtures::timeline(5),
        },
    );
    assert!(!dirty);
    update(
        &mut app,
        Msg::TimelineEnded {
            run: run.clone(),
            stream: old,
        },
    );
    update(
        &mut app,
        Msg::TimelineLines {
            run,
            stream: new,
            lines: fixtures::timeline(5),
        },
    );
    let pane = app.pane.as_ref().unwrap();
    assert_eq!(pane.lines.len(), 5);
    assert!(!pane.ended, "the old stream's end is not the new one's");
}

#[test]
fn an_ended_pane_follows_a_retry_and_a_merge() {
    use flightdeck::run::MergeState;
    let mut app = app_with(fixtures::runs());
    // run00000 failed: its stream ended after run.finished.
    assert_eq!(app.selected.as_deref(), Some("run00000"));
    let (run, first) = opened_stream(&press(&mut app, vec![code(KeyCode::Enter)])).unwrap();
    update(
        &mut app,
        Msg::TimelineLines {
            run: run.clone(),
            stream: first,
            lines: fixtures::timeline(3),
        },
    );
    update(
        &mut app,
        Msg::TimelineEnded {
            run: run.clone(),
            stream: first,
        },
    );
    assert!(app.pane.as_ref().unwrap().ended);
    // r: the run is queued again as attempt 2; the pane streams the new attempt.
    let mut r = app.selected_run().unwrap().clone();
    r.state.status = Status::Queued;
    r.state.attempt += 1;
    r.state.reason = None;
    let (fx, _) = update(&mut app, Msg::Run(Box::new(r.clone())));
    let (again, second) = opened_stream(&fx).expect("a new stream for the new attempt");
    assert_eq!(again, run);
    assert!(second > first);
    assert!(!app.pane.as_ref().unwrap().ended);
    // The retry succeeds; its stream ends; then m merges it: merge.landed is read.
    r.state.status = Status::Succeeded;
    r.state.merge = MergeState::Ready;
    update(&mut app, Msg::Run(Box::new(r.clone())));
    update(
        &mut app,
        Msg::TimelineEnded {
            run: run.clone(),
            stream: second,
        },
    );
    r.state.merge = MergeState::Merged;
    let (fx, _) = update(&mut app, Msg::Run(Box::new(r.clone())));
    let (_, third) = opened_stream(&fx).expect("a new stream after the merge");
    assert!(third > second);
    // The same snapshot again changes nothing.
    update(
        &mut app,
        Msg::TimelineEnded {
            run: run.clone(),
            stream: third,
        },
    );
    let (fx, _) = update(&mut app, Msg::Run(Box::new(r)));
    assert_eq!(opened_stream(&fx), None);
}

#[test]
fn a_retry_seen_before_the_old_stream_ends_still_gets_a_new_stream() {
    let mut app = app_with(fixtures::runs());
    let (run, first) = opened_stream(&press(&mut app, vec![code(KeyCode::Enter)])).unwrap();
    let mut r = app.selected_run().unwrap().clone();
    r.state.status = Status::Running;
    r.state.attempt += 1;
    update(&mut app, Msg::Run(Box::new(r)));
    let (fx, _) = update(&mut app, Msg::TimelineEnded { run, stream: first });
    assert!(opened_stream(&fx).is_some(), "{fx:?}");
}

#[test]
fn status_messages_expire_after_a_few_seconds_and_the_history_keeps_them() {
    let mut app = app_with(fixtures::runs());
    update(
        &mut app,
        Msg::Done {
            what: "kill run00002".into(),
            result: Ok("killing run run00002".into()),
        },
    );
    assert!(app.status.is_some());
    let mut redraws = 0;
    for _ in 0..5 {
        if update(&mut app, Msg::Tick).1 {
            redraws += 1;
        }
    }
    assert!(app.status.is_none(), "{:?}", app.status);
    assert!(redraws >= 1, "the footer is redrawn when the message goes");
    // Errors stay a little longer, then go too.
    update(
        &mut app,
        Msg::Done {
            what: "merge run00004".into(),
            result: Err("the merge gate is not green".into()),
        },
    );
    for _ in 0..5 {
        update(&mut app, Msg::Tick);
    }
    assert!(app.status.is_some());
    for _ in 0..5 {
        update(&mut app, Msg::Tick);
    }
    assert!(app.status.is_none());
    // "reconnected" goes when the server is lost again.
    update(&mut app, Msg::Disconnected("gone".into()));
    update(&mut app, Msg::Connected);
    assert!(app.status.as_ref().unwrap().text.contains("reconnected"));
    update(&mut app, Msg::Disconnected("gone again".into()));
    assert!(app.status.is_none());
    // M shows what was said, newest first; Esc closes.
    press(&mut app, vec![key('M')]);
    assert_eq!(app.mode, Mode::Messages { scroll: 0 });
    let said: Vec<&str> = app.history.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[0].contains("killing run"));
    press(&mut app, vec![code(KeyCode::Esc)]);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn esc_then_a_key_read_as_alt_key_is_both_keys() {
    // In the new-run prompt, Esc q quickly: the prompt closes, then q quits. Nothing is typed.
    let mut app = app_with(fixtures::runs());
    app.repo = "/home/dev/src/app".into();
    let mut msgs = vec![key('n')];
    msgs.extend("fix".chars().map(key));
    msgs.push(alt('q'));
    let fx = press(&mut app, msgs);
    assert!(sends(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.quit);
    // With the filter open, Esc j clears the filter and moves down.
    let mut app = app_with(fixtures::runs());
    press(&mut app, vec![key('/'), key('z'), alt('j')]);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter, "");
    assert_eq!(app.selected.as_deref(), Some("run00004"));
}

fn filter(app: &mut App, text: &str) {
    let mut msgs = vec![key('/')];
    msgs.extend(text.chars().map(key));
    msgs.push(code(KeyCode::Enter));
    press(app, msgs);
}

fn shown(app: &App) -> Vec<String> {
    app.visible().iter().map(|r| r.id.clone()).collect()
}

#[test]
fn the_filter_finds_what_the_rows_show_merge_reason_and_repo() {
    let mut runs = runs_of_every_kind();
    runs[3].repo = "/home/dev/src/other-repo".into();
    let mut app = app_with(runs);
    // MERGE ready: run00004 (ready) only; "succeeded" rows that are not ready do not match.
    filter(&mut app, "ready");
    let ready = shown(&app);
    assert!(ready.contains(&"run00004".to_string()), "{ready:?}");
    assert!(!ready.contains(&"run00001".to_string()), "{ready:?}");
    press(&mut app, vec![code(KeyCode::Esc)]);
    // The REASON text: the gate's words.
    filter(&mut app, "min_score");
    assert_eq!(shown(&app), vec!["run00008"]);
    press(&mut app, vec![code(KeyCode::Esc)]);
    // The pause reason.
    filter(&mut app, "budget");
    assert_eq!(shown(&app), vec!["run00005"]);
    press(&mut app, vec![code(KeyCode::Esc)]);
    // The repository.
    filter(&mut app, "other-repo");
    assert_eq!(shown(&app), vec!["run00003"]);
}

#[test]
fn esc_after_a_filter_that_matches_nothing_keeps_the_selection() {
    let mut app = app_with(fixtures::runs());
    press(&mut app, vec![key('j'), key('j')]);
    assert_eq!(app.selected.as_deref(), Some("run00002"));
    // Typed in the prompt, then cleared with Esc.
    press(
        &mut app,
        vec![key('/'), key('z'), key('z'), code(KeyCode::Esc)],
    );
    assert_eq!(app.selected.as_deref(), Some("run00002"));
    // Kept with Enter, then Esc in the table clears it.
    filter(&mut app, "zzz");
    assert_eq!(app.selected, None);
    press(&mut app, vec![code(KeyCode::Esc)]);
    assert_eq!(app.filter, "");
    assert_eq!(app.selected.as_deref(), Some("run00002"));
}

#[test]
fn m_refuses_up_front_when_the_gate_is_not_green_saying_why() {
    let mut app = app_with(runs_of_every_kind());
    for (id, want) in [
        ("run00008", "score 0.41 is below gate.min_score 0.80"),
        (
            "run00011",
            "predicted conflict with target:main in a.rs, b.rs",
        ),
        ("run00001", "has not been evaluated yet"),
    ] {
        let i = app.visible().iter().position(|r| r.id == id).unwrap();
        app.select_index(i);
        let fx = press(&mut app, vec![key('m')]);
        assert!(sends(&fx).is_empty());
        assert_eq!(app.mode, Mode::Normal, "{id}: no y/n question");
        let s = app.status.clone().unwrap();
        assert!(s.error, "{s:?}");
        assert!(s.text.contains(want), "{id}: {}", s.text);
    }
    // A green gate asks.
    let i = app
        .visible()
        .iter()
        .position(|r| r.id == "run00004")
        .unwrap();
    app.select_index(i);
    press(&mut app, vec![key('m')]);
    assert!(matches!(
        app.mode,
        Mode::Confirm {
            action: Confirmable::Merge,
            ..
        }
    ));
}

fn run_request(fx: &[Effect]) -> flightdeck::protocol::RunRequest {
    match &sends(fx)[..] {
        [Command::Run(req)] => req.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn n_asks_where_when_the_current_directory_is_not_the_selected_runs_repository() {
    use flightdeck::ui::app::RepoChoice;
    // Opened in an unrelated checkout; the selected run works in /home/dev/src/app.
    let mut app = app_with(fixtures::runs());
    app.repo = "/home/dev/src/unrelated".into();
    press(&mut app, vec![key('n')]);
    let Mode::PickRepo { choices, choice } = app.mode.clone() else {
        panic!("n asks first: {:?}", app.mode)
    };
    assert_eq!(choice, 0);
    assert_eq!(
        choices.iter().map(|c| c.dir.clone()).collect::<Vec<_>>(),
        vec![
            std::path::PathBuf::from("/home/dev/src/app"),
            std::path::PathBuf::from("/home/dev/src/unrelated")
        ]
    );
    // Enter takes the selected run's repository; the prompt says where.
    press(&mut app, vec![code(KeyCode::Enter)]);
    assert!(
        matches!(&app.mode, Mode::NewRun { repo, .. } if repo.ends_with("src/app")),
        "{:?}",
        app.mode
    );
    let mut msgs: Vec<Msg> = "fix it".chars().map(key).collect();
    msgs.push(code(KeyCode::Enter));
    let req = run_request(&press(&mut app, msgs));
    assert_eq!(req.repo, std::path::PathBuf::from("/home/dev/src/app"));
    // ↓ Enter: the current directory instead.
    let mut msgs = vec![key('n'), code(KeyCode::Down), code(KeyCode::Enter)];
    msgs.extend("x".chars().map(key));
    msgs.push(code(KeyCode::Enter));
    let req = run_request(&press(&mut app, msgs));
    assert_eq!(
        req.repo,
        std::path::PathBuf::from("/home/dev/src/unrelated")
    );
    // Esc: nothing starts.
    let fx = press(&mut app, vec![key('n'), code(KeyCode::Esc)]);
    assert!(sends(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);

    // Not a git repository, no run to go by: asked all the same, saying so.
    let mut app = app_with(vec![]);
    app.repo_is_git = false;
    press(&mut app, vec![key('n')]);
    match &app.mode {
        Mode::PickRepo { choices, .. } => {
            let [RepoChoice { why, .. }] = &choices[..] else {
                panic!("{choices:?}")
            };
            assert!(why.contains("not a git repository"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}
