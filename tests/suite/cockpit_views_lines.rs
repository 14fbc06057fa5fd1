//! Lines read whole in the cockpit (issue 25): a timeline line's many-line field (a failing
//! check's output) shown as lines, its end kept; a type longer than its column shown whole.

use flightdeck::ui::app::App;
use flightdeck::ui::update::{update, Msg};

use crate::cockpit_views::render;
use crate::fixtures;

fn with_pane(lines: Vec<serde_json::Value>) -> App {
    let mut a = App::new("/home/dev/src/app".into(), None);
    update(&mut a, Msg::Connected);
    update(&mut a, Msg::Runs(fixtures::runs()));
    a.status = None;
    a.select_index(2);
    update(
        &mut a,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Enter,
        )),
    );
    let run = a.selected.clone().unwrap();
    let stream = a.pane.as_ref().unwrap().stream;
    update(&mut a, Msg::TimelineLines { run, stream, lines });
    a
}

fn pane_rows(a: &mut App, w: u16, h: u16) -> Vec<String> {
    let screen = format!("{}", render(a, w, h, false).backend());
    let lines: Vec<String> = screen
        .lines()
        .map(|l| l.trim_matches('"').to_string())
        .collect();
    let top = lines
        .iter()
        .position(|l| l.contains("timeline run"))
        .expect("the pane");
    lines[top + 1..]
        .iter()
        .take_while(|l| !l.contains('└'))
        .cloned()
        .collect()
}

#[test]
fn a_checks_output_is_lines_in_the_pane_with_its_end_kept() {
    let output: String = (1..=30)
        .map(|i| format!("line {i} of the output\n"))
        .chain(["AssertionError: 7 != 12\n".to_string()])
        .collect();
    let mut lines = fixtures::timeline(2);
    lines.push(serde_json::json!({"v":1,"seq":3,"ts":"2026-11-24T10:12:09Z","run":"run00002","phase":"smoke","type":"check.finished","message":"check unit failed","passed":false,"output_tail":output}));
    lines.push(serde_json::json!({"v":1,"seq":4,"ts":"2026-11-24T10:12:10Z","run":"run00002","phase":"agent","type":"workspace.uncommitted_not_carried","message":"two files stay behind"}));
    for (w, h) in [(80, 24), (120, 32)] {
        let mut a = with_pane(lines.clone());
        update(
            &mut a,
            Msg::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char('z'),
            )),
        );
        let rows = pane_rows(&mut a, w, h);
        let text = rows.join("\n");
        // One row per output line, the field named, the failure (the end) kept.
        let at = rows
            .iter()
            .position(|r| r.contains("check.finished") && r.contains("check unit failed"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(!rows[at].contains("output_tail"), "{text}");
        assert!(rows[at + 1].contains("output_tail:"), "{text}");
        assert!(
            text.contains("earlier row(s): v or logs show all"),
            "{text}"
        );
        assert!(
            rows.iter().any(|r| r.contains("  AssertionError: 7 != 12")),
            "{text}"
        );
        assert!(
            rows.iter().any(|r| r.contains("line 30 of the output")),
            "{text}"
        );
        assert!(
            !rows.iter().any(|r| r.contains("line 1 of the output")),
            "{text}"
        );
        // A long type whole, its text after it.
        assert!(
            rows.iter()
                .any(|r| r.contains("workspace.uncommitted_not_carried two files stay behind")),
            "{w}x{h}:\n{text}"
        );
        assert!(!text.contains("workspace.uncomm…"), "{text}");
    }
}

#[test]
fn the_radar_wraps_to_three_rows_and_m_has_every_finding() {
    let mut a = App::new("/home/dev/src/app".into(), None);
    update(&mut a, Msg::Connected);
    update(&mut a, Msg::Runs(fixtures::runs()));
    a.status = None;
    // Findings arrive: each run conflicts with the next in a long-named file.
    let mut runs = fixtures::runs();
    let n = runs.len();
    for i in 0..n {
        let other = runs[(i + 1) % n].id.clone();
        runs[i].state.conflicts = vec![flightdeck::run::ConflictFinding {
            with: format!("run:{other}"),
            files: vec![format!("src/components/very_long_module_name_{i}.rs")],
            both_waiting: i % 2 == 0,
        }];
    }
    for r in runs {
        update(&mut a, Msg::Run(Box::new(r)));
    }
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("radar") || l.contains("very_long"))
        .filter(|l| !l.contains('│'))
        .collect();
    assert_eq!(rows.len(), 3, "{screen}");
    assert!(rows[0].contains("⚔ radar: run0000"), "{screen}");
    assert!(rows[2].contains("M lists every finding"), "{screen}");
    // M has each finding whole.
    let said: Vec<&str> = a.history.iter().map(|s| s.text.as_str()).collect();
    for i in 0..n {
        let file = format!("very_long_module_name_{i}.rs");
        assert!(
            said.iter()
                .any(|s| s.starts_with("radar: run") && s.contains(&file)),
            "{file} in {said:#?}"
        );
    }
}

#[test]
fn a_line_wider_than_the_overlay_is_read_by_moving_sideways() {
    use crossterm::event::{KeyCode, KeyEvent};
    use flightdeck::ui::app::{DocKind, Mode};
    let mut a = App::new("/home/dev/src/app".into(), None);
    update(&mut a, Msg::Connected);
    update(&mut a, Msg::Runs(fixtures::runs()));
    a.status = None;
    let long = format!("+{} THE-END-OF-IT", "x".repeat(150));
    let lines = ["diff --git a/x b/x".to_string(), long];
    update(
        &mut a,
        Msg::Doc {
            kind: DocKind::Patch,
            run: "run00002".into(),
            text: lines.join("\n"),
            failure: None,
        },
    );
    assert!(matches!(a.mode, Mode::Doc { .. }));
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(screen.contains("← → sideways"), "{screen}");
    assert!(!screen.contains("THE-END-OF-IT"), "{screen}");
    let mut seen = false;
    for _ in 0..6 {
        update(&mut a, Msg::Key(KeyEvent::from(KeyCode::Right)));
        let screen = format!("{}", render(&mut a, 80, 24, false).backend());
        seen |= screen.contains("THE-END-OF-IT");
    }
    assert!(seen, "→ brings the end of the line into view");
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(screen.contains("from column"), "{screen}");
    for _ in 0..6 {
        update(&mut a, Msg::Key(KeyEvent::from(KeyCode::Left)));
    }
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(screen.contains("+xxxx"), "back at the start:\n{screen}");
}
