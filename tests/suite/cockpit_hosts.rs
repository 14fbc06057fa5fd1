//! The cockpit over several hosts (issue 26), in process: each host's feed tags its runs, the
//! HOST column comes with a configured host, a host that drops is marked stale with the time
//! since and keeps its runs as last seen, and keys on a remote run go to its host.

use flightdeck::protocol::{Command, RunSnapshot};
use flightdeck::run::{Phase, Status};
use flightdeck::ui::app::App;
use flightdeck::ui::update::{host_for, update, Effect, Msg};

use crate::cockpit_views::render;
use crate::fixtures;
use fixtures::ui::{key, press, sends};

/// Two runs on host `b1`, with ids of their own.
fn remote_runs() -> Vec<RunSnapshot> {
    let mut a = fixtures::run(
        7,
        Status::Running,
        Phase::Agent,
        "Port the CI to b1",
        "codex",
    );
    a.id = "b1run007".into();
    let mut b = fixtures::run(
        8,
        Status::Failed,
        Phase::Smoke,
        "Bench on the GPU",
        "claude",
    );
    b.id = "b1run008".into();
    b.state.reason = Some("required smoke check `bench` failed (exit 1)".into());
    vec![fixtures::served(a), fixtures::served(b)]
}

fn app() -> App {
    let mut app = App::new("/home/dev/src/app".into(), None);
    app.add_host("b1");
    update(&mut app, Msg::Connected);
    update(&mut app, Msg::Runs(fixtures::runs()));
    update(
        &mut app,
        Msg::HostRuns {
            host: "b1".into(),
            runs: remote_runs(),
        },
    );
    app.status = None;
    app
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let t = render(app, w, h, false);
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn cockpit_hosts_every_hosts_runs_are_in_one_list_each_with_its_host() {
    let mut a = app();
    assert_eq!(a.runs.len(), fixtures::runs().len() + 2);
    assert_eq!(a.host_of("b1run007"), "b1");
    assert_eq!(a.host_of("run00002"), "local");
    // The local server's list again leaves b1's runs alone, and b1's its own only.
    update(&mut a, Msg::Runs(fixtures::runs()));
    assert!(a.runs.iter().any(|r| r.id == "b1run008"));
    let mut one = remote_runs();
    one.truncate(1);
    update(
        &mut a,
        Msg::HostRuns {
            host: "b1".into(),
            runs: one,
        },
    );
    assert!(!a.runs.iter().any(|r| r.id == "b1run008"));
    assert!(a.runs.iter().any(|r| r.id == "run00004"));
    // A change on b1 is b1's.
    let mut r = remote_runs().remove(1);
    r.id = "b1run009".into();
    update(
        &mut a,
        Msg::HostRun {
            host: "b1".into(),
            run: Box::new(r),
        },
    );
    assert_eq!(a.host_of("b1run009"), "b1");
}

#[test]
fn cockpit_hosts_keys_on_a_remote_run_go_to_its_host() {
    let mut a = app();
    a.selected = Some("b1run007".into());
    let fx = press(&mut a, vec![key('p')]);
    assert_eq!(
        sends(&fx),
        vec![Command::Pause {
            run: "b1run007".into()
        }]
    );
    assert_eq!(host_for(&a, &fx[0]), "b1");
    // Its proof, its diff: from b1 too; a local run's from here.
    let fx = press(&mut a, vec![key('v')]);
    assert_eq!(host_for(&a, &fx[0]), "b1");
    a.selected = Some("run00002".into());
    let fx = press(&mut a, vec![key('p')]);
    assert_eq!(host_for(&a, &fx[0]), "local");
    // Its worktree is on b1: no editor here.
    a.selected = Some("b1run007".into());
    let fx = press(&mut a, vec![key('e')]);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Suspend { .. })),
        "{fx:?}"
    );
    let said = a
        .status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(said.contains("b1"), "{said}");
}

#[test]
fn cockpit_hosts_the_host_column_comes_with_a_configured_host() {
    let mut a = app();
    let text = screen(&mut a, 120, 16);
    let header = text.lines().find(|l| l.contains("STATUS")).unwrap();
    assert!(header.contains("HOST"), "{text}");
    let row = |id: &str| text.lines().find(|l| l.contains(id)).unwrap().to_string();
    assert!(row("b1run007").contains(" b1 "), "{text}");
    assert!(row("run00002").contains(" local "), "{text}");
    insta::assert_snapshot!(
        "cockpit_hosts_120x16",
        render(&mut a, 120, 16, false).backend()
    );
    // Without a host configured, no HOST column.
    let mut plain = App::new("/home/dev/src/app".into(), None);
    update(&mut plain, Msg::Connected);
    update(&mut plain, Msg::Runs(fixtures::runs()));
    let text = screen(&mut plain, 120, 16);
    assert!(!text.contains("HOST"), "{text}");
    // Narrow, it goes before the essentials do.
    let text = screen(&mut a, 50, 16);
    assert!(!text.contains("HOST"), "{text}");
    assert!(text.contains("STATUS"), "{text}");
}

#[test]
fn cockpit_hosts_a_host_that_never_answered_is_unreachable_not_stale() {
    let mut a = App::new("/home/dev/src/app".into(), None);
    a.add_host("b2");
    update(&mut a, Msg::Connected);
    update(&mut a, Msg::Runs(fixtures::runs()));
    update(
        &mut a,
        Msg::HostDown {
            host: "b2".into(),
            why: "ssh: Could not resolve hostname b2".into(),
        },
    );
    for _ in 0..3 {
        update(&mut a, Msg::Tick);
    }
    let text = screen(&mut a, 120, 16);
    // It had nothing to go stale: "stale 0s" counting up said it had answered once.
    assert!(text.contains("b2 unreachable"), "{text}");
    assert!(!text.contains("stale"), "{text}");
    // When it does answer, it is connected, not "reconnected".
    update(
        &mut a,
        Msg::HostRuns {
            host: "b2".into(),
            runs: Vec::new(),
        },
    );
    let text = screen(&mut a, 120, 16);
    assert!(!text.contains("unreachable"), "{text}");
    assert!(
        a.history.iter().any(|l| l.text == "connected to host b2"),
        "{:?}",
        a.history
    );
}

#[test]
fn cockpit_hosts_a_host_that_drops_is_stale_with_the_time_since_and_catches_up() {
    let mut a = app();
    update(
        &mut a,
        Msg::HostDown {
            host: "b1".into(),
            why: "ssh: connect to host b1: Connection refused".into(),
        },
    );
    for _ in 0..12 {
        update(&mut a, Msg::Tick);
    }
    // Why is in `M`'s messages.
    assert!(
        a.history
            .iter()
            .any(|l| l.text.contains("lost host b1") && l.text.contains("Connection refused")),
        "{:?}",
        a.history
    );
    // Its runs stay, as last seen; the title says which host and since when.
    assert!(a.runs.iter().any(|r| r.id == "b1run008"));
    let text = screen(&mut a, 120, 16);
    assert!(text.contains("b1 stale 12s"), "{text}");
    insta::assert_snapshot!(
        "cockpit_hosts_stale_120x16",
        render(&mut a, 120, 16, false).backend()
    );
    // Back: its list replaces what was last seen, and the marker goes.
    let mut back = remote_runs();
    back[0].state.status = Status::Succeeded;
    update(
        &mut a,
        Msg::HostRuns {
            host: "b1".into(),
            runs: back,
        },
    );
    let text = screen(&mut a, 120, 16);
    assert!(!text.contains("stale"), "{text}");
    assert_eq!(
        a.runs
            .iter()
            .find(|r| r.id == "b1run007")
            .map(|r| r.state.status),
        Some(Status::Succeeded)
    );
}
