//! Pull requests in Mission Control, without IO: the PR cell, what the forge waits for in the
//! attention list, `P` asking the server for the PR, `y` copying its URL with OSC 52.

use std::collections::BTreeMap;

use flightdeck::config::KeyBinding;
use flightdeck::protocol::Command;
use flightdeck::run::{PrChecks, PrReview, PrState};
use flightdeck::ui::app::{DocKind, Mode};
use flightdeck::ui::attention::{need, reason, Need};
use flightdeck::ui::keymap::Keymap;
use flightdeck::ui::update::{update, Effect, Msg};
use flightdeck::ui::{osc, pr};

use crate::fixtures;

use fixtures::ui::*;

fn select(app: &mut flightdeck::ui::app::App, id: &str) {
    let i = app
        .visible()
        .iter()
        .position(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} is not shown"));
    app.select_index(i);
    assert_eq!(app.selected.as_deref(), Some(id));
}

fn status(app: &flightdeck::ui::app::App) -> (String, bool) {
    let s = app.status.as_ref().expect("a status line");
    (s.text.clone(), s.error)
}

#[test]
fn the_pr_cell_shows_number_and_what_it_waits_for_or_a_dash() {
    let runs = runs_with_prs();
    let cell = |i: usize| pr::cell(&runs[i]);
    assert_eq!(cell(0), "#12 ✓ approved");
    assert_eq!(cell(1), "#13 ✗ checks");
    assert_eq!(cell(2), "#14 ✗ changes");
    assert_eq!(cell(6), "#16 merged");
    assert_eq!(cell(7), "#17 draft");
    assert_eq!(cell(8), "#18 ✗ checks");
    // No pull request: a dash, not an empty cell.
    assert_eq!(cell(4), "-");
    assert_eq!(cell(5), "-");
}

#[test]
fn failing_checks_and_change_requests_need_you_after_failed_before_the_gate() {
    let app = app_with(runs_with_prs());
    let order: Vec<&str> = app.visible().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        order,
        vec![
            "run00004", // failed
            "run00008", // checks failing (and changes requested), newest first
            "run00001", // checks failing
            "run00002", // changes requested
            "run00005", // merge blocked by the gate
            "run00007", "run00000", // ready to merge
            "run00003", // running: the agent answers the forge
            "run00006", // merged
        ]
    );
    let runs = runs_with_prs();
    assert_eq!(need(&runs[1]), Some(Need::ChecksFailing));
    assert_eq!(need(&runs[8]), Some(Need::ChecksFailing));
    assert_eq!(need(&runs[2]), Some(Need::ChangesRequested));
    // Running again on the feedback, or merged on the forge: nothing for a person.
    assert_eq!(need(&runs[3]), None);
    assert_eq!(need(&runs[6]), None);
    // An approved, passing PR leaves the run as it was: ready for `m`.
    assert_eq!(need(&runs[0]), Some(Need::Ready));
}

#[test]
fn the_reason_column_says_what_the_forge_waits_for() {
    let runs = runs_with_prs();
    let why = |i: usize| reason(&runs[i]);
    assert_eq!(why(1).as_deref(), Some("checks failing on #13"));
    assert_eq!(why(2).as_deref(), Some("changes requested on #14"));
    assert_eq!(why(8).as_deref(), Some("checks failing on #18"));
    // The forge's words come before the gate's: a run blocked by the gate and with changes
    // requested says the change request.
    let mut blocked = runs[5].clone();
    blocked.state.pr = Some(pull_request(
        19,
        PrChecks::Passing,
        PrReview::ChangesRequested,
    ));
    assert_eq!(
        reason(&blocked).as_deref(),
        Some("changes requested on #19")
    );
    assert_eq!(need(&blocked), Some(Need::ChangesRequested));
    // A closed PR asks nothing more: the gate's reason again.
    blocked.state.pr.as_mut().unwrap().state = PrState::Closed;
    assert_eq!(
        reason(&blocked).as_deref(),
        Some("score 0.41 is below gate.min_score 0.80")
    );
    assert_eq!(why(3), None);
    // The filter finds runs by their PR cell.
    let mut app = app_with(runs_with_prs());
    let mut msgs = vec![key('/')];
    msgs.extend("#14".chars().map(key));
    press(&mut app, msgs);
    let shown: Vec<&str> = app.visible().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(shown, vec!["run00002"]);
}

#[test]
fn capital_p_asks_the_server_for_the_selected_runs_pull_request() {
    let mut app = app_with(runs_with_prs());
    select(&mut app, "run00007");
    let fx = press(&mut app, vec![key('P')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Pr {
            run: "run00007".into()
        }]
    );
    let (text, error) = status(&app);
    assert_eq!(
        text,
        "run run00007: pushing its branch and updating its pull request…"
    );
    assert!(!error);
    // On a run without one it opens one; what the server answers is the status line.
    select(&mut app, "run00005");
    let fx = press(&mut app, vec![key('P')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Pr {
            run: "run00005".into()
        }]
    );
    assert!(status(&app).0.contains("opening its pull request"));
    update(
        &mut app,
        Msg::Done {
            what: "pull request for run00005".into(),
            result: Err("no [forge] in your config: add one".into()),
        },
    );
    assert_eq!(
        status(&app),
        (
            "pull request for run00005: no [forge] in your config: add one".into(),
            true
        )
    );
    // Lower-case p is still pause/resume, not the pull request.
    let fx = press(&mut app, vec![key('p')]);
    assert!(!sends(&fx).iter().any(|c| matches!(c, Command::Pr { .. })));
}

#[test]
fn what_p_says_once_the_server_answered() {
    let runs = runs_with_prs();
    assert_eq!(
        pr::opened(&runs[0]),
        "run run00000: pull request #12 open (checks passing, review approved) https://github.com/acme/app/pull/12"
    );
    assert_eq!(
        pr::opened(&runs[4]),
        "run run00004 has no pull request after all; its timeline says why (Enter)"
    );
}

#[test]
fn y_copies_the_pull_requests_url_with_osc_52() {
    let mut app = app_with(runs_with_prs());
    select(&mut app, "run00002");
    let fx = press(&mut app, vec![key('y')]);
    let url = "https://github.com/acme/app/pull/14";
    assert_eq!(fx, vec![Effect::Copy { text: url.into() }]);
    // What the runtime writes for it: OSC 52 with the URL in base64 (worked out by hand:
    // `printf %s URL | base64`).
    assert_eq!(
        osc::clipboard(url),
        "\u{1b}]52;c;aHR0cHM6Ly9naXRodWIuY29tL2FjbWUvYXBwL3B1bGwvMTQ=\u{7}"
    );
    let (text, error) = status(&app);
    assert!(text.starts_with(&format!("copied {url}")), "{text}");
    assert!(!error);
}

#[test]
fn y_on_a_run_without_a_pull_request_says_so_and_copies_nothing() {
    let mut app = app_with(runs_with_prs());
    select(&mut app, "run00004");
    let fx = press(&mut app, vec![key('y')]);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(
        status(&app),
        (
            "run run00004 has no pull request (P opens one)".into(),
            true
        )
    );
    // The worktree's path moved to Y.
    let fx = press(&mut app, vec![key('Y')]);
    assert!(
        matches!(&fx[..], [Effect::Copy { text }] if text.ends_with("/run00004")),
        "{fx:?}"
    );
}

#[test]
fn p_and_y_follow_keys_in_config() {
    let mut keys = BTreeMap::new();
    keys.insert("pr".to_string(), KeyBinding::One("ctrl-p".into()));
    keys.insert("copy_url".to_string(), KeyBinding::One("u".into()));
    let mut app = app_with(runs_with_prs());
    app.keymap = Keymap::new(&keys).unwrap();
    select(&mut app, "run00001");
    assert!(sends(&press(&mut app, vec![key('P')])).is_empty());
    assert_eq!(
        sends(&press(&mut app, vec![ctrl('p')])),
        vec![Command::Pr {
            run: "run00001".into()
        }]
    );
    assert!(press(&mut app, vec![key('y')]).is_empty());
    assert_eq!(
        press(&mut app, vec![key('u')]),
        vec![Effect::Copy {
            text: "https://github.com/acme/app/pull/13".into()
        }]
    );
    // The advice names the key as bound.
    select(&mut app, "run00004");
    press(&mut app, vec![key('u')]);
    assert_eq!(
        status(&app).0,
        "run run00004 has no pull request (ctrl-p opens one)"
    );
    let help = app.keymap.help();
    assert!(help
        .iter()
        .any(|(k, d)| k == "ctrl-p" && d.contains("pull request")));
    assert!(help.iter().any(|(k, d)| k == "u" && d.contains("URL")));
}

#[test]
fn p_and_y_in_the_proof_view_act_on_its_run_and_keep_it_open() {
    let mut app = app_with(runs_with_prs());
    let doc = Mode::Doc {
        kind: DocKind::Proof,
        run: "run00001".into(),
        lines: vec!["# task 1".into()],
        scroll: 0,
    };
    app.mode = doc.clone();
    let fx = press(&mut app, vec![key('y')]);
    assert_eq!(
        fx,
        vec![Effect::Copy {
            text: "https://github.com/acme/app/pull/13".into()
        }]
    );
    assert_eq!(app.mode, doc);
    let fx = press(&mut app, vec![key('P')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Pr {
            run: "run00001".into()
        }]
    );
    assert_eq!(app.mode, doc);
}
