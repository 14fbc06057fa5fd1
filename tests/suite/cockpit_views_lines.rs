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
