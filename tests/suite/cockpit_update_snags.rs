//! The cockpit's snags from issue 25, in the update function: the wording of a few messages.

use flightdeck::ui::app::DocKind;
use flightdeck::ui::update::{update, Msg};

use crate::fixtures;
use fixtures::ui::*;

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
