//! The cockpit's snags from issue 25, on screen (ratatui's TestBackend): help in one column
//! and whole below 140 columns, the REPO column, attempts labelled, the focus cue, footer hints
//! per view, and `/` in a diff and in the timeline pane.

use crossterm::event::KeyCode;
use flightdeck::protocol::RunSnapshot;
use flightdeck::run::{Phase, Status};
use flightdeck::ui::app::{App, Confirmable, DocKind, Mode};
use flightdeck::ui::update::{update, Msg};
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use crate::cockpit_views::render;
use crate::fixtures;
use fixtures::ui::{code, key, press};

fn app(runs: Vec<RunSnapshot>) -> App {
    let mut app = App::new("/home/dev/src/app".into(), None);
    update(&mut app, Msg::Connected);
    update(&mut app, Msg::Runs(runs));
    app.status = None;
    app
}

fn screen(app: &mut App, w: u16, h: u16) -> Vec<String> {
    let t = render(app, w, h, true);
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

fn footer(app: &mut App, w: u16, h: u16) -> String {
    screen(app, w, h).last().unwrap().trim_end().to_string()
}

fn row(rows: &[String], id: &str) -> String {
    rows.iter()
        .find(|l| l.contains(id) && !l.contains("timeline"))
        .unwrap_or_else(|| panic!("no row for {id}:\n{}", rows.join("\n")))
        .clone()
}

/// Runs from two repositories: the usual ones in `app`, two more in `site`.
fn runs_in_two_repos() -> Vec<RunSnapshot> {
    let mut runs = fixtures::runs();
    for r in runs
        .iter_mut()
        .filter(|r| r.id == "run00004" || r.id == "run00001")
    {
        r.repo = "/home/dev/src/site".into();
        r.worktree = format!("/home/dev/.local/share/flightdeck/worktrees/site/{}", r.id).into();
    }
    runs
}

/// The lines inside the box titled `title`, read cell by cell (the table around it left out).
fn boxed(t: &Terminal<TestBackend>, title: &str) -> Vec<String> {
    let buf = t.backend().buffer();
    let row = |y: u16| -> Vec<&str> { (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect() };
    for y in 0..buf.area.height {
        let cells = row(y);
        let line: String = cells.concat();
        if !line.contains(title) {
            continue;
        }
        let x0 = (0..cells.len())
            .find(|x| cells[*x] == "┌" && cells[*x..].concat().starts_with(title))
            .unwrap();
        let x1 = (x0 + 1..cells.len()).find(|x| cells[*x] == "┐").unwrap();
        return (y + 1..buf.area.height)
            .map(row)
            .take_while(|c| c[x0] != "└")
            .map(|c| c[x0 + 1..x1].concat().trim_end().to_string())
            .collect();
    }
    panic!("no box {title}");
}

#[test]
fn help_is_one_column_and_nothing_is_cut_at_80x24_and_120x32() {
    for (w, h) in [(80, 24), (120, 32)] {
        let mut a = app(fixtures::runs());
        press(&mut a, vec![key('?')]);
        // Read it all, scrolling a line at a time.
        let mut seen: Vec<String> = Vec::new();
        for _ in 0..60 {
            let t = render(&mut a, w, h, true);
            for l in boxed(&t, "┌ keys") {
                assert!(!l.contains('…'), "a help line cut at {w}x{h}: {l}");
                if !seen.contains(&l) {
                    seen.push(l);
                }
            }
            press(&mut a, vec![key('j')]);
        }
        let text = seen.join("\n");
        for (keys, what) in a.keymap.help() {
            let line = format!(" {keys} ");
            assert!(
                seen.iter()
                    .any(|l| l.starts_with(&line) && l.ends_with(what)),
                "`{keys}  {what}` not whole at {w}x{h}:\n{text}"
            );
        }
        assert!(text.contains("! interrupted"), "{text}");
        // One column: no line holds two keys' descriptions.
        assert!(
            !seen
                .iter()
                .any(|l| l.contains("move up") && l.contains("the run's proof")),
            "{text}"
        );
    }
    // Scrolled to the end at 80x24: the title says where, the footer how to leave.
    let mut a = app(fixtures::runs());
    press(&mut a, vec![key('?')]);
    render(&mut a, 80, 24, true);
    press(&mut a, vec![key('G')]);
    let t = render(&mut a, 80, 24, true);
    insta::assert_snapshot!("help_scrolled_80x24", t.backend());
    // Esc closes it.
    press(&mut a, vec![code(KeyCode::Esc)]);
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn the_repo_column_names_each_runs_repository_and_the_merge_question_too() {
    let mut a = app(runs_in_two_repos());
    for (w, h) in [(160, 48), (80, 24)] {
        let rows = screen(&mut a, w, h);
        let head = rows.iter().find(|l| l.contains("ID ")).unwrap();
        assert!(head.contains("REPO"), "{w}: {head}");
        assert!(
            row(&rows, "run00004").contains(" site "),
            "{}",
            rows.join("\n")
        );
        assert!(
            row(&rows, "run00002").contains(" app "),
            "{}",
            rows.join("\n")
        );
    }
    let t = render(&mut a, 160, 48, true);
    insta::assert_snapshot!("table_repos_160x48", t.backend());
    let t = render(&mut a, 80, 24, true);
    insta::assert_snapshot!("table_repos_80x24", t.backend());
    // WORKTREE ends with the run's own directory, whole.
    let rows = screen(&mut a, 160, 48);
    for id in ["run00004", "run00002"] {
        let r = row(&rows, id);
        assert!(r.contains(&format!("/{id}")), "{r}");
    }
    // One repository: no column to tell them apart.
    let rows = screen(&mut app(fixtures::runs()), 160, 48);
    assert!(!rows.iter().any(|l| l.contains("REPO")));

    // The merge question names the repository.
    a.mode = Mode::Confirm {
        action: Confirmable::Merge,
        run: "run00004".into(),
    };
    let text = screen(&mut a, 80, 24).join("\n");
    assert!(
        text.contains("Merge run run00004 into main of site?"),
        "{text}"
    );
}

/// run00004 (succeeded, score 0.92, a browser check with two problems) retried from the
/// agent phase: its second attempt is running.
fn retried() -> Vec<RunSnapshot> {
    let mut runs = fixtures::runs();
    let r = runs.iter_mut().find(|r| r.id == "run00004").unwrap();
    r.browser_problems = Some(2);
    r.state.attempt = 2;
    r.state.status = Status::Running;
    r.state.phase = Phase::Agent;
    r.state.finished_at = None;
    r.state.merge = flightdeck::run::MergeState::None;
    runs
}

#[test]
fn a_retry_is_labelled_and_the_earlier_attempts_score_and_web_mark_are_not_its_own() {
    let mut before = fixtures::runs();
    before[4].browser_problems = Some(2);
    let rows = screen(&mut app(before), 160, 48);
    let r = row(&rows, "run00004");
    assert!(
        r.contains("0.92") && r.contains("✗2") && !r.contains("#"),
        "{r}"
    );

    let mut a = app(retried());
    let rows = screen(&mut a, 160, 48);
    let r = row(&rows, "run00004");
    assert!(r.contains("▶ running #2"), "{r}");
    assert!(!r.contains("0.92") && !r.contains("✗2"), "{r}");
    let t = render(&mut a, 160, 48, true);
    insta::assert_snapshot!("table_retry_160x48", t.backend());

    // Its diff and proof say they are an earlier attempt's.
    a.mode = Mode::Doc {
        kind: DocKind::Patch,
        run: "run00004".into(),
        lines: fixtures::patch().lines().map(String::from).collect(),
        scroll: 0,
    };
    let text = screen(&mut a, 80, 24).join("\n");
    assert!(
        text.contains("attempt #2 is under way: this is what an earlier attempt left"),
        "{text}"
    );
    assert!(text.contains("run00004 #2"), "{text}");

    // The pane's title too.
    let mut a = app(retried());
    let i = a.visible().iter().position(|r| r.id == "run00004").unwrap();
    a.select_index(i);
    press(&mut a, vec![code(KeyCode::Enter)]);
    let text = screen(&mut a, 160, 48).join("\n");
    assert!(text.contains("timeline run00004 #2"), "{text}");
}

/// The symbols and colours of the row that holds `needle`.
fn cells(t: &Terminal<TestBackend>, needle: &str) -> Vec<(String, Color)> {
    let buf = t.backend().buffer();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if line.contains(needle) {
            return (0..buf.area.width)
                .map(|x| (buf[(x, y)].symbol().to_string(), buf[(x, y)].fg))
                .collect();
        }
    }
    panic!("no {needle}");
}

fn fg_of(cells: &[(String, Color)], mark: &str) -> Color {
    cells
        .iter()
        .find(|(s, _)| s == mark)
        .map(|(_, c)| *c)
        .unwrap_or(Color::Reset)
}

#[test]
fn the_focused_pane_has_a_marked_and_coloured_title() {
    let mut a = app(fixtures::runs());
    press(&mut a, vec![key('j'), key('j'), code(KeyCode::Enter)]);
    // The pane has the keys: its title is marked and cyan, the table's is not.
    let t = render(&mut a, 160, 48, true);
    let top = cells(&t, "timeline run");
    let text: String = top.iter().map(|(s, _)| s.as_str()).collect();
    assert!(text.contains("▸ timeline run00002"), "{text}");
    assert!(!text.contains("▸ runs"), "{text}");
    assert_eq!(fg_of(&top, "▸"), Color::Cyan);
    // Tab: the table has them.
    press(&mut a, vec![code(KeyCode::Tab)]);
    let t = render(&mut a, 160, 48, true);
    let text: String = cells(&t, "timeline run")
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    assert!(
        text.contains("▸ runs (6)") && !text.contains("▸ timeline"),
        "{text}"
    );
    // Without colour, the mark says it alone.
    let plain = render(&mut a, 160, 48, false);
    let text: String = cells(&plain, "timeline run")
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    assert!(text.contains("▸ runs (6)"), "{text}");
    assert_eq!(fg_of(&cells(&plain, "timeline run"), "▸"), Color::Reset);
}

#[test]
fn footer_hints_change_with_the_view() {
    let mut a = app(fixtures::runs());
    let table = footer(&mut a, 120, 32);
    assert!(table.starts_with("? help · Enter timeline"), "{table}");
    assert!(table.contains("R reply"), "{table}");

    press(&mut a, vec![key('j'), key('j'), code(KeyCode::Enter)]);
    let pane = footer(&mut a, 120, 32);
    assert!(
        pane.starts_with("Tab table · j/k scroll · G follow · / search"),
        "{pane}"
    );

    a.mode = Mode::Doc {
        kind: DocKind::Patch,
        run: "run00002".into(),
        lines: fixtures::patch().lines().map(String::from).collect(),
        scroll: 0,
    };
    let diff = footer(&mut a, 120, 32);
    assert_eq!(diff, "j/k scroll · / search · Esc close");

    a.mode = Mode::Doc {
        kind: DocKind::Proof,
        run: "run00002".into(),
        lines: vec!["# PR".into()],
        scroll: 0,
    };
    let proof = footer(&mut a, 120, 32);
    assert!(
        proof.contains("r retry") && proof.contains("/ search"),
        "{proof}"
    );

    a.mode = Mode::Help { scroll: 0 };
    assert_eq!(footer(&mut a, 120, 32), "j/k scroll · Esc close");
    let all = [table, pane, diff, proof];
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert_ne!(x, y);
        }
    }
}

/// A patch of 120 lines with `needle` on lines 40 and 45 (0-based).
fn long_patch() -> Vec<String> {
    (0..120)
        .map(|i| match i {
            40 => "+    let needle = 1;".to_string(),
            45 => "-    // the NEEDLE was here".to_string(),
            _ => format!(" line {i}"),
        })
        .collect()
}

/// How the first cell of `word` is drawn, on the row holding `row_has`: its background, and
/// whether it is reversed (the current match).
fn look(t: &Terminal<TestBackend>, row_has: &str, word: &str) -> (Color, bool) {
    let buf = t.backend().buffer();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if let (true, Some(at)) = (line.contains(row_has), line.find(word)) {
            let x = line[..at].chars().count() as u16;
            let c = &buf[(x, y)];
            return (c.bg, c.modifier.contains(Modifier::REVERSED));
        }
    }
    panic!("no {row_has}");
}

#[test]
fn slash_searches_the_diff_enter_jumps_n_and_capital_n_go_round_esc_clears() {
    let mut a = app(fixtures::runs());
    a.mode = Mode::Doc {
        kind: DocKind::Patch,
        run: "run00002".into(),
        lines: long_patch(),
        scroll: 0,
    };
    render(&mut a, 80, 24, true);
    press(&mut a, vec![key('/')]);
    for c in "needle".chars() {
        press(&mut a, vec![key(c)]);
    }
    let typing = footer(&mut a, 80, 24);
    assert!(typing.starts_with("search /needle▏"), "{typing}");
    // `n` while typing is part of the query, and `q` does not quit.
    assert!(!a.quit);
    press(&mut a, vec![code(KeyCode::Enter)]);
    let Mode::Doc { scroll, .. } = a.mode else {
        panic!("the diff closed")
    };
    assert!(scroll <= 40 && 45 < scroll + a.doc_rows, "scroll {scroll}");
    let t = render(&mut a, 80, 24, true);
    // The current match reversed, the other one (case does not matter) yellow.
    assert_eq!(look(&t, "let needle", "needle"), (Color::Reset, true));
    assert_eq!(look(&t, "NEEDLE was", "NEEDLE"), (Color::Yellow, false));
    assert!(footer(&mut a, 80, 24).starts_with("/needle: match 1 of 2"));
    insta::assert_snapshot!("diff_search_80x24", t.backend());

    // n: the next; n past the last goes round; N: back.
    press(&mut a, vec![key('n')]);
    let t = render(&mut a, 80, 24, true);
    assert_eq!(look(&t, "NEEDLE was", "NEEDLE"), (Color::Reset, true));
    assert!(footer(&mut a, 80, 24).starts_with("/needle: match 2 of 2"));
    press(&mut a, vec![key('n')]);
    assert!(footer(&mut a, 80, 24).starts_with("/needle: match 1 of 2"));
    press(&mut a, vec![key('N')]);
    assert!(footer(&mut a, 80, 24).starts_with("/needle: match 2 of 2"));
    // Far down, n brings the match back into view.
    press(&mut a, vec![key('G'), key('n')]);
    let Mode::Doc { scroll, .. } = a.mode else {
        panic!()
    };
    assert!(scroll <= 40 && 40 < scroll + a.doc_rows, "scroll {scroll}");

    // Esc clears the search, and the diff stays; Esc again closes it.
    press(&mut a, vec![code(KeyCode::Esc)]);
    assert!(a.search.is_none());
    assert!(matches!(a.mode, Mode::Doc { .. }));
    press(&mut a, vec![code(KeyCode::Esc)]);
    assert_eq!(a.mode, Mode::Normal);

    // Nothing found: said, and the view stays where it was.
    a.mode = Mode::Doc {
        kind: DocKind::Patch,
        run: "run00002".into(),
        lines: long_patch(),
        scroll: 5,
    };
    press(
        &mut a,
        vec![key('/'), key('z'), key('z'), key('z'), code(KeyCode::Enter)],
    );
    assert!(matches!(a.mode, Mode::Doc { scroll: 5, .. }));
    assert!(a
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("no match for “zzz”"));
}

#[test]
fn slash_in_the_timeline_pane_searches_its_lines_and_in_the_table_filters() {
    let mut a = app(fixtures::runs());
    press(&mut a, vec![key('j'), key('j'), code(KeyCode::Enter)]);
    let run = a.selected.clone().unwrap();
    let stream = a.pane.as_ref().unwrap().stream;
    update(
        &mut a,
        Msg::TimelineLines {
            run,
            stream,
            lines: fixtures::timeline(60),
        },
    );
    render(&mut a, 80, 24, true);
    press(&mut a, vec![key('/')]);
    for c in "step 7:".chars() {
        press(&mut a, vec![key(c)]);
    }
    press(&mut a, vec![code(KeyCode::Enter)]);
    let p = a.pane.as_ref().unwrap();
    assert!(!p.follow, "the pane scrolled to the match");
    let rows = screen(&mut a, 80, 24);
    let text = rows.join("\n");
    assert!(text.contains("step 7: editing"), "{text}");
    assert!(!text.contains("step 59:"), "{text}");
    let t = render(&mut a, 80, 24, true);
    assert_eq!(look(&t, "step 7:", "step 7:"), (Color::Reset, true));
    assert!(footer(&mut a, 80, 24).starts_with("/step 7:: match 1 of 1"));
    // n stays on the one match rather than starting a new run.
    press(&mut a, vec![key('n')]);
    assert_eq!(a.mode, Mode::Normal);
    // A match that is not the current one is highlighted in yellow.
    press(
        &mut a,
        vec![code(KeyCode::Esc), key('/'), key('s'), key('t'), key('e')],
    );
    let t = render(&mut a, 80, 24, true);
    assert_eq!(look(&t, "step 7:", "ste"), (Color::Yellow, false));
    // Esc (typing) clears it; the pane stays. Tab to the table: `/` filters runs.
    press(&mut a, vec![code(KeyCode::Esc)]);
    assert!(a.search.is_none() && a.pane.is_some());
    press(&mut a, vec![code(KeyCode::Tab), key('/')]);
    assert!(matches!(a.mode, Mode::Filter { .. }));
}
