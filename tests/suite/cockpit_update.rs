//! Mission Control's update function without IO: keys → actions → commands.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flightdeck::protocol::{Command, RunSnapshot};
use flightdeck::run::{Phase, Status};
use flightdeck::ui::app::{App, Confirmable, DocKind, Focus, Mode};
use flightdeck::ui::update::{update, Effect, Msg};

use crate::fixtures;

use fixtures::ui::*;

#[test]
fn runs_that_need_a_person_come_first_then_active_ones() {
    let app = app_with(fixtures::runs());
    let order: Vec<&str> = app.visible().iter().map(|r| r.id.as_str()).collect();
    // Failed, then ready to merge; running, paused; queued; the rest.
    assert_eq!(
        order,
        vec!["run00000", "run00004", "run00002", "run00001", "run00003", "run00005"]
    );
    assert_eq!(
        app.selected.as_deref(),
        Some("run00000"),
        "the first row is selected"
    );
}

#[test]
fn moving_keeps_the_selection_on_the_same_run_across_updates() {
    let mut app = app_with(fixtures::runs());
    press(&mut app, vec![key('j'), key('j'), key('j'), key('j')]);
    assert_eq!(app.selected.as_deref(), Some("run00003"));
    // run00001 finishes: the table re-sorts, the selection stays on run00003.
    let mut r = fixtures::runs()[1].clone();
    r.state.status = Status::Succeeded;
    update(&mut app, Msg::Run(Box::new(r)));
    assert_eq!(app.selected.as_deref(), Some("run00003"));
    press(&mut app, vec![key('G')]);
    assert_eq!(app.selected.as_deref(), Some("run00001"));
    press(&mut app, vec![key('g'), key('k')]);
    assert_eq!(app.selected.as_deref(), Some("run00000"));
}

#[test]
fn p_pauses_a_running_run_and_resumes_a_paused_one() {
    let mut app = app_with(fixtures::runs());
    let fx = press(&mut app, vec![key('j'), key('j'), key('p')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Pause {
            run: "run00002".into()
        }]
    );
    press(&mut app, vec![key('j')]); // run00001 is paused
    let fx = press(&mut app, vec![key('p')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Resume {
            run: "run00001".into()
        }]
    );
}

#[test]
fn x_asks_before_killing() {
    let mut app = app_with(fixtures::runs());
    let fx = press(&mut app, vec![key('j'), key('j'), key('x')]);
    assert!(sends(&fx).is_empty());
    assert_eq!(
        app.mode,
        Mode::Confirm {
            action: Confirmable::Kill,
            run: "run00002".into()
        }
    );
    let fx = press(&mut app, vec![key('n')]);
    assert!(sends(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    let fx = press(&mut app, vec![key('x'), key('y')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Kill {
            run: "run00002".into()
        }]
    );
    // A finished run cannot be killed: said in the status line, nothing sent.
    let fx = press(&mut app, vec![key('G'), key('x')]);
    assert!(sends(&fx).is_empty());
    assert!(app.status.as_ref().unwrap().error);
}

#[test]
fn r_asks_which_phase_defaulting_to_the_failed_one() {
    let mut app = app_with(fixtures::runs());
    // run00000 (failed in smoke) is the top row.
    press(&mut app, vec![key('g')]);
    assert_eq!(app.selected.as_deref(), Some("run00000"));
    press(&mut app, vec![key('r')]);
    assert_eq!(
        app.mode,
        Mode::Retry {
            run: "run00000".into(),
            choice: 2,
            rebase: false
        }
    );
    let fx = press(&mut app, vec![code(KeyCode::Enter)]);
    assert_eq!(
        sends(&fx),
        vec![Command::Retry {
            run: "run00000".into(),
            phase: Some(Phase::Smoke)
        }]
    );
    let fx = press(
        &mut app,
        vec![key('r'), code(KeyCode::Left), code(KeyCode::Enter)],
    );
    assert_eq!(
        sends(&fx),
        vec![Command::Retry {
            run: "run00000".into(),
            phase: Some(Phase::Agent)
        }]
    );
    let fx = press(&mut app, vec![key('r'), code(KeyCode::Esc)]);
    assert!(sends(&fx).is_empty());
}

#[test]
fn n_types_a_task_and_tab_cycles_agents() {
    let mut app = app_with(fixtures::runs());
    // The cockpit was opened in the fixtures' repository.
    app.repo = "/home/dev/src/app".into();
    let mut msgs = vec![key('n')];
    msgs.extend("fix it".chars().map(key));
    msgs.push(code(KeyCode::Tab));
    msgs.push(code(KeyCode::Enter));
    let fx = press(&mut app, msgs);
    match &sends(&fx)[..] {
        [Command::Run(req)] => {
            assert_eq!(req.task, "fix it");
            assert_eq!(req.agent.as_deref(), Some("scripted-docs"));
            assert_eq!(req.repo, std::path::PathBuf::from("/home/dev/src/app"));
        }
        other => panic!("{other:?}"),
    }
    // An empty task is not sent.
    let fx = press(&mut app, vec![key('n'), code(KeyCode::Enter)]);
    assert!(sends(&fx).is_empty());
}

#[test]
fn c_asks_then_cleans_and_a_refusal_shows_in_the_status_line() {
    let mut app = app_with(fixtures::runs());
    let fx = press(&mut app, vec![key('G'), key('c'), key('y')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Clean {
            run: "run00005".into(),
            force: false
        }]
    );
    update(
        &mut app,
        Msg::Done {
            what: "clean run00005".into(),
            result: Err("branch has 1 commit(s) not merged".into()),
        },
    );
    let s = app.status.clone().unwrap();
    assert!(s.error && s.text.contains("not merged"), "{s:?}");
}

#[test]
fn filter_narrows_the_table_and_esc_clears_it() {
    let mut app = app_with(fixtures::runs());
    let mut msgs = vec![key('/')];
    msgs.extend("flaky".chars().map(key));
    press(&mut app, msgs);
    assert_eq!(app.visible().len(), 1);
    assert_eq!(app.selected.as_deref(), Some("run00001"));
    press(&mut app, vec![code(KeyCode::Enter)]);
    assert_eq!(app.filter, "flaky");
    assert_eq!(app.mode, Mode::Normal);
    press(&mut app, vec![key('/'), code(KeyCode::Esc)]);
    assert_eq!(app.visible().len(), 6);
}

#[test]
fn enter_opens_the_pane_which_follows_the_selection_and_scrolling_leaves_follow_mode() {
    let mut app = app_with(fixtures::runs());
    let fx = press(&mut app, vec![key('j'), key('j'), code(KeyCode::Enter)]);
    assert_eq!(
        fx,
        vec![Effect::OpenTimeline {
            run: "run00002".into(),
            stream: 1
        }]
    );
    assert_eq!(app.focus, Focus::Timeline);
    update(
        &mut app,
        Msg::TimelineLines {
            run: "run00002".into(),
            stream: 1,
            lines: fixtures::timeline(50),
        },
    );
    // In the pane, k scrolls up: follow mode ends; new lines keep the view still.
    press(&mut app, vec![key('k'), key('k')]);
    let pane = app.pane.clone().unwrap();
    assert!(!pane.follow);
    assert_eq!(pane.scroll, 2);
    update(
        &mut app,
        Msg::TimelineLines {
            run: "run00002".into(),
            stream: 1,
            lines: fixtures::timeline(3),
        },
    );
    assert_eq!(app.pane.as_ref().unwrap().scroll, 5);
    press(&mut app, vec![key('G')]);
    assert!(app.pane.as_ref().unwrap().follow);
    // Lines of another run are not this pane's.
    let (_, dirty) = update(
        &mut app,
        Msg::TimelineLines {
            run: "other".into(),
            stream: 1,
            lines: fixtures::timeline(3),
        },
    );
    assert!(!dirty);
    // Tab back to the table; j selects the next run and the pane follows it.
    let fx = press(&mut app, vec![code(KeyCode::Tab), key('j')]);
    assert_eq!(
        fx,
        vec![Effect::OpenTimeline {
            run: "run00001".into(),
            stream: 2
        }]
    );
    assert_eq!(app.pane.as_ref().unwrap().run, "run00001");
    assert!(app.pane.as_ref().unwrap().lines.is_empty());
    let fx = press(&mut app, vec![code(KeyCode::Esc)]);
    assert_eq!(fx, vec![Effect::CloseTimeline]);
    assert!(app.pane.is_none());
}

#[test]
fn d_loads_the_patch_and_shows_it_scrollable() {
    let mut app = app_with(fixtures::runs());
    let fx = press(&mut app, vec![key('j'), key('j'), key('d')]);
    assert_eq!(
        fx,
        vec![Effect::LoadDoc {
            kind: DocKind::Patch,
            run: "run00002".into()
        }]
    );
    update(
        &mut app,
        Msg::Doc {
            kind: DocKind::Patch,
            run: "run00002".into(),
            text: fixtures::patch(),
            failure: None,
        },
    );
    assert!(matches!(app.mode, Mode::Doc { scroll: 0, .. }));
    press(&mut app, vec![key('j'), key('j')]);
    assert!(matches!(app.mode, Mode::Doc { scroll: 2, .. }));
    press(&mut app, vec![code(KeyCode::Esc)]);
    assert_eq!(app.mode, Mode::Normal);
    // v: the proof (PR.md), the same way.
    let fx = press(&mut app, vec![key('v')]);
    assert_eq!(
        fx,
        vec![Effect::LoadDoc {
            kind: DocKind::Proof,
            run: "run00002".into()
        }]
    );
    update(
        &mut app,
        Msg::Doc {
            kind: DocKind::Proof,
            run: "run00002".into(),
            text: String::new(),
            failure: None,
        },
    );
    assert_eq!(app.mode, Mode::Normal, "an empty PR.md is said, not shown");
    assert!(app.status.as_ref().unwrap().text.contains("no PR.md"));
}

#[test]
fn m_asks_before_merging_and_only_succeeded_runs() {
    let mut app = app_with(fixtures::runs());
    // run00004 succeeded and is ready: second, below the failed run.
    press(&mut app, vec![key('g'), key('j')]);
    assert_eq!(app.selected.as_deref(), Some("run00004"));
    let fx = press(&mut app, vec![key('m')]);
    assert!(sends(&fx).is_empty());
    assert_eq!(
        app.mode,
        Mode::Confirm {
            action: Confirmable::Merge,
            run: "run00004".into()
        }
    );
    let fx = press(&mut app, vec![key('y')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Merge {
            run: "run00004".into(),
            no_wait: true
        }]
    );
    let fx = press(&mut app, vec![key('g'), key('m')]);
    assert!(sends(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("only a run that succeeded"));
}

#[test]
fn help_quit_and_connection_states() {
    let mut app = app_with(fixtures::runs());
    press(&mut app, vec![key('?')]);
    assert_eq!(app.mode, Mode::Help { scroll: 0 });
    press(&mut app, vec![code(KeyCode::Esc)]);
    assert_eq!(app.mode, Mode::Normal);
    let (_, dirty) = update(&mut app, Msg::Disconnected("gone".into()));
    assert!(dirty);
    let (_, dirty) = update(&mut app, Msg::Disconnected("gone".into()));
    assert!(!dirty, "the same news twice needs no redraw");
    update(&mut app, Msg::Connected);
    assert!(app.status.as_ref().unwrap().text.contains("reconnected"));
    // Idle: a tick with no active run needs no redraw.
    let idle = app_with(vec![fixtures::runs()[4].clone()]);
    let mut idle = idle;
    assert!(!update(&mut idle, Msg::Tick).1);
    press(&mut app, vec![key('q')]);
    assert!(app.quit);
    let mut app2 = app_with(fixtures::runs());
    press(
        &mut app2,
        vec![
            key('c'),
            Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        ],
    );
    assert!(app2.quit, "ctrl-c quits even from a dialog");
}

#[test]
fn a_restarted_server_is_announced_with_its_adopted_runs() {
    let mut app = app_with(fixtures::runs());
    let (_, dirty) = update(
        &mut app,
        Msg::Server {
            pid: 10,
            adopted: 0,
        },
    );
    assert!(!dirty, "the first server met is no news");
    assert!(app.status.is_none());
    update(&mut app, Msg::Disconnected("gone".into()));
    update(&mut app, Msg::Connected);
    // The new server answers before it has finished adopting, then again after.
    let (_, dirty) = update(
        &mut app,
        Msg::Server {
            pid: 11,
            adopted: 0,
        },
    );
    assert!(dirty);
    assert_eq!(
        app.status.as_ref().unwrap().text,
        "server restarted, 0 runs re-adopted"
    );
    update(
        &mut app,
        Msg::Server {
            pid: 11,
            adopted: 7,
        },
    );
    assert_eq!(
        app.status.as_ref().unwrap().text,
        "server restarted, 7 runs re-adopted"
    );
}

#[test]
fn b_opens_the_browser_report_of_the_selected_run() {
    let mut app = app_with(fixtures::runs());
    let id = app.selected.clone().unwrap();
    let fx = press(&mut app, vec![key('b')]);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::LoadDoc { kind: DocKind::Browser, run } if *run == id)),
        "{fx:?}"
    );
}

#[test]
fn needs_you_order_failed_blocked_conflict_ready_budget_interrupted_then_active_then_queued_oldest_first(
) {
    let app = app_with(runs_of_every_kind());
    let order: Vec<&str> = app.visible().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        order,
        vec![
            "run00009", // failed
            "run00008", // merge blocked
            "run00011", // conflict (newest first)
            "run00006", "run00004", // ready
            "run00005", // paused for budget
            "run00002", // interrupted
            "run00003", // running
            "run00010", // paused by the user
            "run00000", // queued, oldest first: the next to start on top
            "run00007", "run00001", // the rest
        ]
    );
}

#[test]
fn the_reason_column_says_why_a_run_waits() {
    use flightdeck::ui::attention::reason;
    let runs = runs_of_every_kind();
    let why = |i: usize| reason(&runs[i]);
    assert_eq!(why(9).as_deref(), Some("agent exited with code 1"));
    assert_eq!(
        why(8).as_deref(),
        Some("score 0.41 is below gate.min_score 0.80")
    );
    assert_eq!(
        why(6).as_deref(),
        Some("conflicts with run00009 (both ready: merging one blocks the other)")
    );
    assert_eq!(
        why(11).as_deref(),
        Some("conflicts with target main in a.rs, b.rs")
    );
    assert_eq!(
        why(5).as_deref(),
        Some("paused for budget: run spent $5.00 of its $5.00")
    );
    // Advice for the command line is given as keys in the cockpit.
    assert_eq!(
        why(2).as_deref(),
        Some("the server stopped; retry it: press r")
    );
    assert_eq!(why(3), None);
    assert_eq!(why(0), None);
}

fn alerts(fx: &[Effect]) -> Vec<(bool, Option<String>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Alert { bell, notify } => Some((*bell, notify.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_that_starts_to_need_you_rings_the_bell_and_notifies_but_not_at_start() {
    use flightdeck::run::{ConflictFinding, MergeState};
    let mut app = App::new("/repo".into(), None);
    // The first snapshot holds a failed run and a ready one: no news, no bell storm.
    let (fx, _) = update(&mut app, Msg::Runs(fixtures::runs()));
    assert!(alerts(&fx).is_empty(), "{fx:?}");

    // The running run fails.
    let mut r = fixtures::runs()[2].clone();
    r.state.status = Status::Failed;
    r.state.reason = Some("agent exited with code 1".into());
    let fx = update(&mut app, Msg::Run(Box::new(r.clone()))).0;
    assert_eq!(
        alerts(&fx),
        vec![(
            true,
            Some("flightdeck: run run00002 failed: agent exited with code 1".into())
        )]
    );
    // The same state again is no news.
    assert!(alerts(&update(&mut app, Msg::Run(Box::new(r.clone()))).0).is_empty());
    // Nor is an update to another run that changes nothing worth a bell.
    let mut quiet = fixtures::runs()[3].clone();
    quiet.state.status = Status::Running;
    assert!(alerts(&update(&mut app, Msg::Run(Box::new(quiet))).0).is_empty());

    // Paused for its budget.
    let mut b = fixtures::runs()[1].clone();
    b.state.pause_reason = Some("budget".into());
    let fx = update(&mut app, Msg::Run(Box::new(b))).0;
    assert_eq!(
        alerts(&fx)[0].1.as_deref(),
        Some("flightdeck: run run00001 paused: budget spent")
    );

    // A retried run that succeeds: pending is no news, ready is.
    r.state.status = Status::Succeeded;
    r.state.reason = None;
    r.state.merge = MergeState::Pending;
    assert!(alerts(&update(&mut app, Msg::Run(Box::new(r.clone()))).0).is_empty());
    r.state.merge = MergeState::Ready;
    let fx = update(&mut app, Msg::Run(Box::new(r.clone()))).0;
    assert_eq!(
        alerts(&fx)[0].1.as_deref(),
        Some("flightdeck: run run00002 is ready to merge")
    );
    // Ready turns into a conflict: news again, with whom.
    r.state.merge = MergeState::Conflict;
    r.state.conflicts = vec![ConflictFinding {
        with: "target:main".into(),
        files: vec!["src/lib.rs".into()],
        both_waiting: false,
    }];
    let fx = update(&mut app, Msg::Run(Box::new(r.clone()))).0;
    assert_eq!(
        alerts(&fx)[0].1.as_deref(),
        Some("flightdeck: run run00002 has a merge conflict: conflicts with target main in src/lib.rs")
    );

    // After a reconnect the whole list comes again: only what changed is news.
    let mut all: Vec<RunSnapshot> = app.runs.clone();
    let k = all.iter().position(|x| x.id == "run00003").unwrap();
    all[k].state.status = Status::Failed;
    let fx = update(&mut app, Msg::Runs(all)).0;
    let a = alerts(&fx);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].1.as_deref(), Some("flightdeck: run run00003 failed"));
}

#[test]
fn bell_and_notification_follow_the_config() {
    let runs = fixtures::runs();
    let mut failed = runs[2].clone();
    failed.state.status = Status::Failed;
    for (bell, notify) in [(true, false), (false, true), (false, false)] {
        let mut app = App::new("/repo".into(), None);
        app.alerts = flightdeck::config::CockpitConfig { bell, notify };
        update(&mut app, Msg::Runs(runs.clone()));
        let fx = update(&mut app, Msg::Run(Box::new(failed.clone()))).0;
        let a = alerts(&fx);
        if !bell && !notify {
            assert!(a.is_empty());
        } else {
            assert_eq!(a.len(), 1);
            assert_eq!(a[0].0, bell);
            assert_eq!(a[0].1.is_some(), notify);
        }
    }
}

#[test]
fn text_inputs_take_readline_keys() {
    let mut app = app_with(fixtures::runs());
    app.repo = "/home/dev/src/app".into();
    let mut msgs = vec![key('n')];
    msgs.extend("fix the flaky test".chars().map(key));
    // ctrl-w kills "test", ctrl-a goes to the start, ctrl-e to the end.
    msgs.extend([ctrl('w'), ctrl('a'), key('X'), ctrl('e'), key('Y')]);
    msgs.push(code(KeyCode::Enter));
    let fx = press(&mut app, msgs);
    match &sends(&fx)[..] {
        [Command::Run(req)] => assert_eq!(req.task, "Xfix the flaky Y"),
        other => panic!("{other:?}"),
    }
    // ctrl-u kills to the start of the filter.
    let mut msgs = vec![key('/')];
    msgs.extend("zzz".chars().map(key));
    msgs.push(ctrl('u'));
    msgs.extend("flaky".chars().map(key));
    press(&mut app, msgs);
    assert_eq!(app.filter, "flaky");
    assert_eq!(app.visible().len(), 1);
}

#[test]
fn e_s_and_capital_y_act_on_the_worktree() {
    use flightdeck::ui::update::Program;
    let mut app = app_with(fixtures::runs());
    let wt = app.selected_run().unwrap().worktree.clone();
    let fx = press(&mut app, vec![key('e')]);
    assert_eq!(
        fx,
        vec![Effect::Suspend {
            program: Program::Editor,
            dir: wt.clone()
        }]
    );
    let fx = press(&mut app, vec![key('s')]);
    assert_eq!(
        fx,
        vec![Effect::Suspend {
            program: Program::Shell,
            dir: wt.clone()
        }]
    );
    let fx = press(&mut app, vec![key('Y')]);
    assert_eq!(
        fx,
        vec![Effect::Copy {
            text: wt.display().to_string()
        }]
    );
    assert!(app.status.as_ref().unwrap().text.contains("copied"));
    // A cleaned run has no worktree to open.
    let mut runs = fixtures::runs();
    runs[0].state.cleaned = true;
    let mut app = app_with(runs);
    // Cleaned long ago (the fixtures' dates): shown only with `a`.
    assert!(app.visible().iter().all(|r| r.id != "run00000"));
    press(&mut app, vec![key('a')]);
    assert!(app.visible().iter().any(|r| r.id == "run00000"));
    app.select_index(5);
    assert_eq!(app.selected.as_deref(), Some("run00000"));
    let fx = press(&mut app, vec![key('e')]);
    assert!(fx.is_empty());
    assert!(app.status.as_ref().unwrap().error);
}

#[test]
fn v_on_a_failed_run_shows_why_first_and_r_retries_from_there() {
    use flightdeck::proof::smoke::CheckResult;
    use flightdeck::protocol::FailureSummary;
    let mut app = app_with(fixtures::runs());
    assert_eq!(app.selected.as_deref(), Some("run00000"));
    let check = CheckResult {
        name: "unit".into(),
        command: vec!["cargo".into(), "test".into()],
        exit_code: Some(101),
        duration_ms: 10,
        passed: false,
        required: true,
        output_tail: "BOOM\n right: 42".into(),
        error: None,
        tests: None,
    };
    let failure = FailureSummary::of(&fixtures::runs()[0], Some(vec![check])).map(Box::new);
    update(
        &mut app,
        Msg::Doc {
            kind: DocKind::Proof,
            run: "run00000".into(),
            text: String::new(),
            failure,
        },
    );
    let Mode::Doc { lines, .. } = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(lines[0], "# Run run00000 failed in phase smoke");
    assert!(lines.iter().any(|l| l == "BOOM"), "{lines:?}");
    // r from the summary asks which phase to retry, for that run.
    press(&mut app, vec![key('r')]);
    assert!(matches!(&app.mode, Mode::Retry { run, .. } if run == "run00000"));
}

#[test]
fn r_on_a_run_in_conflict_with_its_target_offers_rebase_first() {
    use flightdeck::run::MergeState;
    let mut conflicted = fixtures::run(
        7,
        flightdeck::run::Status::Succeeded,
        Phase::Done,
        "Rename mul",
        "claude",
    );
    conflicted.state.merge = MergeState::Conflict;
    let mut app = app_with(vec![conflicted]);
    press(&mut app, vec![key('g')]);
    press(&mut app, vec![key('r')]);
    assert_eq!(
        app.mode,
        Mode::Retry {
            run: "run00007".into(),
            choice: 0,
            rebase: true
        }
    );
    let fx = press(&mut app, vec![code(KeyCode::Enter)]);
    assert_eq!(
        sends(&fx),
        vec![Command::Rebase {
            run: "run00007".into(),
            by_hand: false
        }]
    );
    // Refused by the merge queue because a check fails once merged (the browser's too, whose
    // words the old prefix match missed): rebase first as well.
    let mut refused = fixtures::run(
        9,
        flightdeck::run::Status::Succeeded,
        Phase::Done,
        "Refused",
        "claude",
    );
    refused.state.merge = MergeState::Blocked;
    refused.state.gate_reasons = vec![flightdeck::run::GateReason::FailsOnceMerged {
        detail: "the browser check fails once merged with main: see browser/report.md".into(),
    }]
    .into();
    refused.state.fails_once_merged = true;
    let mut app = app_with(vec![refused]);
    press(&mut app, vec![key('g'), key('r')]);
    assert!(
        matches!(app.mode, Mode::Retry { rebase: true, .. }),
        "{:?}",
        app.mode
    );
    // A green run is retried as before: no rebase offered.
    let mut app = app_with(vec![fixtures::run(
        8,
        flightdeck::run::Status::Succeeded,
        Phase::Done,
        "Green",
        "claude",
    )]);
    press(&mut app, vec![key('g'), key('r')]);
    assert!(
        matches!(app.mode, Mode::Retry { rebase: false, .. }),
        "{:?}",
        app.mode
    );
}

/// What `m`, `x`, `r` and `p` may do is the server's to say (`allowed`): a ready run the
/// server will not merge (it has no target branch) is refused up front with the server's
/// reason, where the cockpit's own reading of `merge: ready` used to ask and then fail.
#[test]
fn the_cockpit_asks_the_servers_allowed_not_its_own_policy() {
    let mut runs = fixtures::runs();
    let ready = runs.iter_mut().find(|r| r.id == "run00004").unwrap();
    ready.target = None;
    let mut app = app_with(runs);
    press(&mut app, vec![key('g'), key('j')]);
    assert_eq!(app.selected.as_deref(), Some("run00004"));
    let fx = press(&mut app, vec![key('m')]);
    assert!(sends(&fx).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    let said = &app.status.as_ref().unwrap().text;
    assert!(said.contains("no target branch"), "{said}");
    // A running run: retry is refused with the cockpit's keys for advice.
    let running = app
        .visible()
        .iter()
        .position(|r| r.status == Status::Running)
        .unwrap();
    app.select_index(running);
    let fx = press(&mut app, vec![key('r')]);
    assert!(sends(&fx).is_empty());
    let said = &app.status.as_ref().unwrap().text;
    assert!(said.contains("kill it (x)"), "{said}");
}
