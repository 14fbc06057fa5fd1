//! Snapshots of Mission Control's main views at 80x24 and 160x48 (ratatui's TestBackend).
//! Review changes with `cargo insta review`; CI fails on any difference.

use crate::fixtures;

use flightdeck::ui::app::{AgentChoice, App, Confirmable, DocKind, Mode, Pane};
use flightdeck::ui::update::{update, Msg};
use flightdeck::ui::view::{self, theme::Theme, Ctx};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn app() -> App {
    let mut app = App::new("/home/dev/src/app".into(), None);
    update(&mut app, Msg::Connected);
    update(&mut app, Msg::Runs(fixtures::runs()));
    app.status = None;
    app
}

/// The cockpit drawn at `w`x`h` at the fixtures' clock (shared with the other view tests).
pub(crate) fn render(app: &mut App, w: u16, h: u16, color: bool) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let now = time::OffsetDateTime::parse(
        fixtures::NOW,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ctx = Ctx {
        theme: Theme { color },
        now,
        home: Some(std::path::Path::new("/home/dev")),
    };
    terminal.draw(|f| view::draw(f, app, &ctx)).unwrap();
    terminal
}

fn snap(name: &str, mut app: App) {
    for (w, h) in SIZES {
        let t = render(&mut app, w, h, true);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

#[test]
fn table() {
    snap("table", app());
}

#[test]
fn split_pane() {
    let mut a = app();
    let mut pane = Pane::new("run00002".into());
    pane.push(fixtures::timeline(60));
    a.pane = Some(pane);
    snap("split_pane", a);
}

#[test]
fn help() {
    let mut a = app();
    a.mode = Mode::Help { scroll: 0 };
    snap("help", a);
}

#[test]
fn diff() {
    let mut a = app();
    a.mode = Mode::Doc {
        kind: DocKind::Patch,
        run: "run00002".into(),
        lines: fixtures::patch().lines().map(String::from).collect(),
        scroll: 0,
    };
    snap("diff", a);
}

#[test]
fn radar_and_proof() {
    let mut a = app();
    let mut runs = fixtures::runs();
    runs[2].state.merge = flightdeck::run::MergeState::Conflict;
    runs[2].state.conflicts = vec![flightdeck::run::ConflictFinding {
        with: "run:run00001".into(),
        files: vec!["src/lib.rs".into()],
        both_waiting: false,
    }];
    runs[1].state.merge = flightdeck::run::MergeState::Conflict;
    runs[1].state.conflicts = vec![flightdeck::run::ConflictFinding {
        with: "run:run00002".into(),
        files: vec!["src/lib.rs".into()],
        both_waiting: false,
    }];
    update(&mut a, Msg::Runs(runs));
    snap("radar", a);
    let mut b = app();
    b.mode = Mode::Doc {
        kind: DocKind::Proof,
        run: "run00004".into(),
        lines: "# Extract the greeting\n\n## Checks\n\n| check | result |\n| unit | ✅ passed |\n\n## Acceptance score\n\n**0.92**".lines().map(String::from).collect(),
        scroll: 0,
    };
    snap("proof", b);
}

#[test]
fn confirm_kill() {
    let mut a = app();
    a.mode = Mode::Confirm {
        action: Confirmable::Kill,
        run: "run00002".into(),
    };
    snap("confirm", a);
}

#[test]
fn no_color_means_no_colour_but_the_same_words() {
    let mut a = app();
    let plain = render(&mut a, 160, 48, false);
    for cell in plain.backend().buffer().content() {
        assert_eq!(
            cell.fg,
            Color::Reset,
            "a coloured cell under NO_COLOR: {cell:?}"
        );
    }
    let coloured = render(&mut a, 160, 48, true);
    assert_eq!(plain.backend().to_string(), coloured.backend().to_string());
    let text = plain.backend().to_string();
    for word in [
        "▶ running",
        "‖ paused",
        "✗ failed",
        "✓ succeeded",
        "■ killed",
        "· queued",
    ] {
        assert!(text.contains(word), "{word} missing");
    }
}

#[test]
fn runs_with_a_browser_check_show_the_web_column() {
    let mut runs = fixtures::runs();
    // Runs whose status shows no ✓ of its own.
    let plain: Vec<usize> = (0..runs.len())
        .filter(|i| runs[*i].status != flightdeck::run::Status::Succeeded)
        .take(2)
        .collect();
    runs[plain[0]].browser_problems = Some(2);
    runs[plain[1]].browser_problems = Some(0);
    let mut app = App::new("/home/dev/src/app".into(), None);
    update(&mut app, Msg::Connected);
    update(&mut app, Msg::Runs(runs.clone()));
    app.status = None;
    let screen = format!("{}", render(&mut app, 160, 48, false).backend());
    assert!(screen.contains("WEB"), "{screen}");
    let row = |id: &str| {
        screen
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row(&runs[plain[0]].id).contains("✗2"), "{screen}");
    assert!(row(&runs[plain[1]].id).contains('✓'), "{screen}");
    // Without any browser check, no WEB column (the snapshots above).
    let screen = format!("{}", render(&mut app_plain(), 160, 48, false).backend());
    assert!(!screen.contains("WEB"));
}

fn app_plain() -> App {
    app()
}

fn key(c: char) -> Msg {
    Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char(c),
        crossterm::event::KeyModifiers::NONE,
    ))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char(c),
        crossterm::event::KeyModifiers::CONTROL,
    ))
}

/// The app with run00002's timeline open and focused, holding `lines`.
fn with_pane(lines: Vec<serde_json::Value>) -> App {
    let mut a = app();
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

/// The inside of the pane (the rows between its borders), found by its title.
fn pane_rows(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.contains("timeline run"))
        .expect("the pane");
    lines[top + 1..]
        .iter()
        .take_while(|l| !l.contains('└'))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn g_and_ctrl_u_in_the_timeline_stop_with_the_first_line_at_the_top() {
    let mut a = with_pane(fixtures::timeline(60));
    render(&mut a, 80, 24, false); // the view tells the app how many rows the pane has
    for keys in [vec![key('g')], vec![ctrl('u'); 10]] {
        for k in keys {
            update(&mut a, k);
        }
        let screen = format!("{}", render(&mut a, 80, 24, false).backend());
        let rows = pane_rows(&screen);
        assert!(rows[0].contains("step 0:"), "{screen}");
        assert!(
            rows.iter().all(|r| r.contains("step ")),
            "no blank rows under the first line:\n{screen}"
        );
        update(&mut a, key('G'));
    }
}

#[test]
fn long_agent_output_wraps_in_the_pane() {
    let long = format!("{} THE-END", "word ".repeat(60));
    let mut lines = fixtures::timeline(3);
    lines.push(serde_json::json!({"v":1,"seq":4,"ts":"2026-11-24T10:12:09Z","run":"run00002","phase":"agent","type":"agent.output","text":long}));
    let mut a = with_pane(lines);
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(screen.contains("THE-END"), "{screen}");
    snap("pane_wrapped", a);
}

#[test]
fn z_zooms_the_pane_to_the_full_screen_and_back() {
    let mut a = with_pane(fixtures::timeline(60));
    update(&mut a, key('z'));
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(!screen.contains("runs ("), "the table is hidden:\n{screen}");
    let title = screen.lines().find(|l| l.contains("timeline run")).unwrap();
    let title = title.trim_matches('"');
    assert!(title.starts_with('┌') && title.ends_with('┐'), "{title}");
    snap("pane_zoomed", a);
    let mut a = with_pane(fixtures::timeline(60));
    update(&mut a, key('z'));
    update(&mut a, key('z'));
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(screen.contains("runs ("), "{screen}");
}

#[test]
fn o_shows_the_agent_output_only() {
    let mut lines = fixtures::timeline(4);
    lines.insert(2, serde_json::json!({"v":1,"seq":9,"ts":"2026-11-24T10:12:30Z","run":"run00002","phase":"agent","type":"tool.call","name":"edit_file"}));
    lines.push(serde_json::json!({"v":1,"seq":10,"ts":"2026-11-24T10:12:31Z","run":"run00002","phase":"agent","type":"agent.message","text":"All done: the tests pass."}));
    let mut a = with_pane(lines);
    let screen = format!("{}", render(&mut a, 160, 48, false).backend());
    assert!(screen.contains("edit_file"), "{screen}");
    update(&mut a, key('o'));
    let screen = format!("{}", render(&mut a, 160, 48, false).backend());
    assert!(!screen.contains("edit_file"), "{screen}");
    assert!(screen.contains("All done: the tests pass."), "{screen}");
    assert!(screen.contains("step 3:"), "{screen}");
    assert!(screen.contains("agent output only"), "{screen}");
    update(&mut a, key('o'));
    let screen = format!("{}", render(&mut a, 160, 48, false).backend());
    assert!(screen.contains("edit_file"), "{screen}");
}

fn radar_runs() -> Vec<flightdeck::protocol::RunSnapshot> {
    let mut runs = fixtures::runs();
    runs[2].state.merge = flightdeck::run::MergeState::Conflict;
    runs[2].state.conflicts = vec![flightdeck::run::ConflictFinding {
        with: "run:run00001".into(),
        files: vec!["src/lib.rs".into()],
        both_waiting: false,
    }];
    runs
}

#[test]
fn overlays_have_one_border_and_leave_the_radar_in_view() {
    let mut a = app();
    update(&mut a, Msg::Runs(radar_runs()));
    a.mode = Mode::Doc {
        kind: DocKind::Patch,
        run: "run00002".into(),
        lines: fixtures::patch().lines().map(String::from).collect(),
        scroll: 0,
    };
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    let rows: Vec<&str> = screen.lines().map(|l| l.trim_matches('"')).collect();
    assert!(
        rows[1].starts_with("┌ patch.diff"),
        "the overlay's border is the only one, at the edge:\n{screen}"
    );
    assert!(
        !rows[2].starts_with("││"),
        "no border inside a border:\n{screen}"
    );
    assert!(
        rows.iter().any(|r| r.starts_with("⚔ radar:")),
        "the radar stays in view:\n{screen}"
    );
    for mode in [
        Mode::Help { scroll: 0 },
        Mode::Confirm {
            action: Confirmable::Kill,
            run: "run00002".into(),
        },
    ] {
        a.mode = mode;
        let screen = format!("{}", render(&mut a, 80, 24, false).backend());
        assert!(screen.contains("⚔ radar:"), "{screen}");
    }
}

#[test]
fn status_messages_wrap_at_80_columns_and_speak_of_keys() {
    let mut a = app();
    update(
        &mut a,
        Msg::Done {
            what: "retry run00002".into(),
            result: Err("cannot retry run run00002: the run never reached phase proof (it stopped in agent); retry --phase agent or an earlier phase, or look at its timeline to see why it stopped where it did".into()),
        },
    );
    let screen = format!("{}", render(&mut a, 160, 48, false).backend());
    let footer: Vec<&str> = screen
        .lines()
        .map(|l| l.trim_matches('"'))
        .skip_while(|l| !l.starts_with("retry run00002"))
        .collect();
    assert!(footer.len() >= 3, "{screen}");
    for row in &footer {
        assert!(row.trim_end().chars().count() <= 80, "{row:?}");
    }
    let text = footer.join(" ");
    assert!(text.contains("press r and pick agent"), "{text}");
    assert!(!text.contains("--phase"), "{text}");
}

#[test]
fn a_failed_runs_proof_starts_with_why_it_failed() {
    use flightdeck::proof::smoke::CheckResult;
    use flightdeck::protocol::FailureSummary;
    let mut a = app();
    let check = CheckResult {
        name: "unit".into(),
        command: vec!["cargo".into(), "test".into()],
        exit_code: Some(101),
        duration_ms: 5300,
        passed: false,
        required: true,
        output_tail: "running 3 tests\ntest answer ... FAILED\n\nassertion `left == right` failed\n  left: 41\n right: 42".into(),
        error: None,
        tests: None,
    };
    let failure = FailureSummary::of(&a.runs[0].clone(), Some(vec![check])).map(Box::new);
    assert!(failure.is_some());
    update(
        &mut a,
        Msg::Doc {
            kind: DocKind::Proof,
            run: "run00000".into(),
            text: "# Add a dark mode toggle\n\n## Checks".into(),
            failure,
        },
    );
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    for want in [
        "Run run00000 failed in phase smoke",
        "Reason: required smoke check `unit` failed (exit 101)",
        "Check `unit` failed (exit 101): cargo test",
        "right: 42",
    ] {
        assert!(screen.contains(want), "{want} missing:\n{screen}");
    }
    snap("failure", a);
}

/// With more runs than rows, only the rows on screen are built: the selection stays in view
/// wherever it is, and the rows around it are the right ones.
#[test]
fn a_long_table_keeps_the_selection_in_view() {
    use flightdeck::run::{Phase, Status};
    let mut a = App::new("/home/dev/src/app".into(), None);
    update(&mut a, Msg::Connected);
    let runs: Vec<_> = (0..300)
        .map(|i| {
            fixtures::run(
                i,
                Status::Succeeded,
                Phase::Done,
                &format!("task {i}"),
                "claude",
            )
        })
        .collect();
    update(&mut a, Msg::Runs(runs));
    let order: Vec<String> = a.visible().iter().map(|r| r.id.clone()).collect();
    for target in [0usize, 17, 150, 299] {
        a.select_index(target);
        let t = render(&mut a, 80, 24, false);
        let text: String = t
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(
            text.contains(&order[target]),
            "row {target} is not on screen"
        );
        if target > 0 {
            assert!(
                text.contains(&order[target - 1]),
                "the row above {target} is missing"
            );
        }
    }
}

#[test]
fn the_footer_hints_come_from_the_keymap() {
    use flightdeck::config::KeyBinding;
    let mut keys = std::collections::BTreeMap::new();
    keys.insert("kill".to_string(), KeyBinding::One("D".into()));
    keys.insert("quit".to_string(), KeyBinding::One("Q".into()));
    let mut a = app();
    a.keymap = flightdeck::ui::keymap::Keymap::new(&keys).unwrap();
    for (w, h) in SIZES {
        let screen = format!("{}", render(&mut a, w, h, false).backend());
        let footer = screen.lines().last().unwrap().trim_matches('"').to_string();
        assert!(footer.contains("D kill"), "{footer}");
        assert!(footer.contains("Q quit"), "{footer}");
        assert!(!footer.contains("x kill"), "{footer}");
        assert!(footer.trim_end().chars().count() <= w as usize, "{footer}");
    }
}

#[test]
fn m_shows_the_status_messages_said() {
    let mut a = app();
    update(
        &mut a,
        Msg::Done {
            what: "kill run00002".into(),
            result: Ok("killing run run00002".into()),
        },
    );
    for _ in 0..7 {
        update(&mut a, Msg::Tick);
    }
    update(
        &mut a,
        Msg::Done {
            what: "merge run00004".into(),
            result: Err("not merging run run00004: the merge gate is not green".into()),
        },
    );
    update(&mut a, key('M'));
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(screen.contains("messages (2)"), "{screen}");
    let newest = screen.find("the merge gate").unwrap();
    let older = screen.find("killing run").unwrap();
    assert!(newest < older, "newest first:\n{screen}");
    assert!(screen.contains("7s ago"), "{screen}");
}

#[test]
fn the_merge_question_shows_the_gate_and_what_merging_does_to_the_others() {
    let mut runs = fixtures::runs();
    // run00004 is green and waits beside run00005, both editing src/lib.rs.
    runs[4].target = Some("main".into());
    runs[4].state.conflicts = vec![flightdeck::run::ConflictFinding {
        with: "run:run00005".into(),
        files: vec!["src/lib.rs".into()],
        both_waiting: true,
    }];
    let mut a = app();
    update(&mut a, Msg::Runs(runs));
    a.mode = Mode::Confirm {
        action: Confirmable::Merge,
        run: "run00004".into(),
    };
    for (w, h) in SIZES {
        let screen = format!("{}", render(&mut a, w, h, false).backend());
        let flat: String = screen
            .lines()
            .map(|l| l.trim_matches('"').trim_matches(|c| c == '│' || c == ' '))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            flat.contains("Merge run run00004 into main of app?"),
            "{screen}"
        );
        assert!(flat.contains("Gate: green, score 0.92."), "{screen}");
        assert!(
            flat.contains("run run00005 edits the same lines in src/lib.rs"),
            "{screen}"
        );
        assert!(flat.contains("replays it onto the new main"), "{screen}");
    }
    snap("confirm_merge", a);
}

#[test]
fn the_new_run_prompt_says_where_and_with_which_agent() {
    let mut a = app();
    a.agents = vec![AgentChoice::new("claude", Some("Claude Code"))];
    a.default_agent = "claude".into();
    a.repo = "/home/dev/src/unrelated".into();
    update(&mut a, key('n'));
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(
        screen.contains("Where should the new run work?"),
        "{screen}"
    );
    assert!(screen.contains("~/src/app"), "{screen}");
    assert!(screen.contains("~/src/unrelated"), "{screen}");
    snap("pick_repo", a);
    let mut a = app();
    a.agents = vec![AgentChoice::new("claude", Some("Claude Code"))];
    a.default_agent = "claude".into();
    a.repo = "/home/dev/src/unrelated".into();
    update(&mut a, key('n'));
    update(
        &mut a,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Enter,
        )),
    );
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    let footer = screen.lines().last().unwrap();
    assert!(
        footer.contains("new run [claude · Claude Code] in ~/src/app ›"),
        "{footer}"
    );
}

#[test]
fn a_budget_pause_says_budget_in_the_status_column() {
    let mut runs = fixtures::runs();
    runs[1].state.pause_reason = Some("budget".into());
    runs[1].state.warning = Some("run spent $5.00 of its $5.00 budget".into());
    let mut a = app();
    update(&mut a, Msg::Runs(runs));
    for (w, h) in SIZES {
        let screen = format!("{}", render(&mut a, w, h, false).backend());
        let row = screen.lines().find(|l| l.contains("run00001")).unwrap();
        assert!(row.contains("‖ paused (budget) ⚠"), "{w}x{h}:\n{screen}");
        // The other rows' columns line up with the header.
        let header = screen.lines().find(|l| l.contains("STATUS")).unwrap();
        let col = |l: &str, pat: &str| l[..l.find(pat).unwrap()].chars().count();
        let running = screen.lines().find(|l| l.contains("run00002")).unwrap();
        assert_eq!(col(running, "agent"), col(header, "PHASE"), "{screen}");
    }
}

#[test]
fn overlays_page_by_their_own_height_and_mark_cut_lines() {
    use flightdeck::ui::app::DocKind;
    // The pane is open, so the table is short; the overlay covers the whole body.
    let mut a = with_pane(fixtures::timeline(5));
    let long = format!("+{} THE-END", "x".repeat(200));
    let mut text: Vec<String> = (0..100).map(|i| format!("+line {i}")).collect();
    text.insert(0, long);
    update(
        &mut a,
        Msg::Doc {
            kind: DocKind::Patch,
            run: "run00002".into(),
            text: text.join("\n"),
            failure: None,
        },
    );
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    let rows: Vec<&str> = screen.lines().map(|l| l.trim_matches('"')).collect();
    // Body: 24 rows less header and footer; the overlay's text: less its two borders.
    let page = 24 - 2 - 2;
    assert!(rows[2].ends_with("…│"), "a cut line is marked:\n{screen}");
    assert!(!screen.contains("THE-END"));
    update(
        &mut a,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::PageDown,
        )),
    );
    let Mode::Doc { scroll, .. } = &a.mode else {
        panic!("{:?}", a.mode)
    };
    assert_eq!(*scroll, page, "PageDown moves by the overlay's rows");
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    assert!(screen.contains(&format!("+line {}", page - 1)), "{screen}");
    // G: the last line at the bottom, not alone at the top.
    update(&mut a, key('G'));
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    let rows: Vec<&str> = screen.lines().map(|l| l.trim_matches('"')).collect();
    assert!(rows[2].starts_with("│+line 80"), "{screen}");
    assert!(rows[21].starts_with("│+line 99"), "{screen}");
}

#[test]
fn pr_md_tables_are_drawn_as_aligned_columns() {
    use flightdeck::ui::app::DocKind;
    let mut a = app();
    update(
        &mut a,
        Msg::Doc {
            kind: DocKind::Proof,
            run: "run00004".into(),
            text: "# Extract the greeting\n\n## Checks\n\n| check | required | result | time |\n| --- | --- | --- | ---: |\n| unit | yes | ✅ passed | 5.3 s |\n| lint-and-format | no | ❌ failed | 0.8 s |\n\n**0.92**".into(),
            failure: None,
        },
    );
    let screen = format!("{}", render(&mut a, 80, 24, false).backend());
    let col = |l: &str, pat: &str| {
        let at = l.find(pat).unwrap_or_else(|| panic!("{pat} in {l}"));
        unicode_width::UnicodeWidthStr::width(&l[..at])
    };
    let header = screen.lines().find(|l| l.contains("required")).unwrap();
    let unit = screen.lines().find(|l| l.contains("unit")).unwrap();
    let lint = screen
        .lines()
        .find(|l| l.contains("lint-and-format"))
        .unwrap();
    assert!(!header.contains("| "), "no raw pipes:\n{screen}");
    assert_eq!(col(unit, "yes"), col(header, "required"), "{screen}");
    assert_eq!(col(lint, "no"), col(header, "required"), "{screen}");
    assert_eq!(col(unit, "5.3 s"), col(lint, "0.8 s"), "{screen}");
    assert!(screen.contains("────────────────┼──"), "{screen}");
    // One border, at the body's edge: nothing of the table shows through.
    let rows: Vec<&str> = screen.lines().map(|l| l.trim_matches('"')).collect();
    assert!(rows[1].starts_with("┌ PR.md"), "{screen}");
    assert!(!rows[2].starts_with("││"), "{screen}");
    assert!(!screen.contains("runs ("), "{screen}");
    snap("proof_table", a);
}

#[test]
fn wide_characters_in_a_task_do_not_shift_the_row() {
    let mut runs = fixtures::runs();
    runs[2].task = "修复登录页面的中文输入法问题并添加回归测试，确保所有浏览器都能正常工作".into();
    runs[1].task = "Fix 🚀 launch 🎉 emoji in the 📦 package list ✅ and 👩‍💻 people".into();
    runs[3].task = "ｆｕｌｌ ｗｉｄｔｈ ａｎｄ ﾊﾝｶｸ and e\u{301}".into();
    let mut a = app();
    update(&mut a, Msg::Runs(runs));
    for (w, h) in SIZES {
        let screen = format!("{}", render(&mut a, w, h, false).backend());
        let col = |l: &str, pat: &str| {
            let at = l.find(pat).unwrap_or_else(|| panic!("{pat} in {l}"));
            unicode_width::UnicodeWidthStr::width(&l[..at])
        };
        let header = screen.lines().find(|l| l.contains("MERGE")).unwrap();
        for id in ["run00001", "run00002", "run00003"] {
            let row = screen.lines().find(|l| l.contains(id)).unwrap();
            assert_eq!(
                col(row, " none "),
                col(header, " MERGE"),
                "{w}x{h} {id}:\n{screen}"
            );
            // The row's text, without the backend's note on hidden cells after it.
            let row = row[1..].split('"').next().unwrap();
            assert_eq!(
                unicode_width::UnicodeWidthStr::width(row),
                w as usize,
                "{row}"
            );
            assert!(row.ends_with('│'), "{row}");
        }
    }
    snap("wide_tasks", a);
}
