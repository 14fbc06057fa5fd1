//! Pull requests on screen: the PR column (only when some run has a PR), the proof view's PR
//! line, and its URL as an OSC 8 link that keeps the screen's layout.

use crate::fixtures;

use flightdeck::ui::app::{App, DocKind, Mode};
use flightdeck::ui::update::{update, Msg};
use flightdeck::ui::view::{self, link, theme::Theme, Ctx};
use ratatui::backend::{Backend, TestBackend};
use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::Terminal;

fn app(runs: Vec<flightdeck::protocol::RunSnapshot>) -> App {
    let mut app = App::new("/home/dev/src/app".into(), None);
    update(&mut app, Msg::Connected);
    update(&mut app, Msg::Runs(runs));
    app.status = None;
    app
}

fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let now = time::OffsetDateTime::parse(
        fixtures::NOW,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ctx = Ctx {
        theme: Theme { color: true },
        now,
        home: Some(std::path::Path::new("/home/dev")),
    };
    terminal.draw(|f| view::draw(f, app, &ctx)).unwrap();
    terminal
}

fn row_of(rows: &[String], id: &str) -> String {
    rows.iter().find(|l| l.contains(id)).unwrap().clone()
}

fn screen(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

/// The table's runs: the PR fixtures' (every PR state) and the usual ones.
fn runs() -> Vec<flightdeck::protocol::RunSnapshot> {
    let mut runs = fixtures::ui::runs_with_prs();
    runs.truncate(5);
    runs
}

#[test]
fn the_pr_column_shows_each_runs_pr_or_a_dash() {
    let mut a = app(runs());
    for (w, h) in [(80, 24), (160, 48)] {
        let t = render(&mut a, w, h);
        insta::assert_snapshot!(format!("table_with_prs_{w}x{h}"), t.backend());
    }
    // 160 columns: PR right after MERGE, a dash for the failed run without one.
    let rows = screen(&render(&mut a, 160, 48));
    let header = rows.iter().find(|l| l.contains("MERGE")).unwrap();
    let (merge, pr) = (header.find("MERGE").unwrap(), header.find(" PR ").unwrap());
    assert!(pr > merge, "{header}");
    let row = |id: &str| rows.iter().find(|l| l.contains(id)).unwrap().clone();
    assert!(row("run00000").contains("#12 ✓ approved"));
    assert!(row("run00001").contains("#13 ✗ checks"));
    assert!(row("run00002").contains("#14 ✗ changes"));
    let failed = row("run00004");
    let cell: String = failed
        .chars()
        .skip(header[..pr].chars().count() + 1)
        .take(3)
        .collect();
    assert_eq!(cell.trim(), "-", "{failed}");
    // 120 columns (the tmux tests' width) keep it too.
    let rows = screen(&render(&mut a, 120, 40));
    assert!(rows.iter().any(|l| l.contains(" PR ")), "{rows:#?}");
    assert!(rows.iter().any(|l| l.contains("#12 ✓ approved")));
    // 80 columns: REASON says what the forge waits for (cut, as reasons are there; `v` has
    // the PR); the column gives way to it and MERGE.
    let rows = screen(&render(&mut a, 80, 24));
    assert!(row_of(&rows, "run00001").contains("checks failing …"));
    assert!(row_of(&rows, "run00002").contains("changes request…"));
    assert!(!rows.iter().any(|l| l.contains(" PR ")), "{rows:#?}");
}

#[test]
fn without_any_pull_request_there_is_no_pr_column() {
    let mut a = app(fixtures::runs());
    for (w, h) in [(80, 24), (160, 48)] {
        let rows = screen(&render(&mut a, w, h));
        assert!(!rows.iter().any(|l| l.contains(" PR ")), "{rows:#?}");
    }
    // One run with a PR brings it.
    let mut runs = fixtures::runs();
    runs[4].state.pr = Some(fixtures::ui::pull_request(
        7,
        flightdeck::run::PrChecks::Passing,
        flightdeck::run::PrReview::None,
    ));
    let mut a = app(runs);
    let rows = screen(&render(&mut a, 160, 48));
    assert!(rows.iter().any(|l| l.contains(" PR ")), "{rows:#?}");
    assert!(rows.iter().any(|l| l.contains("#7 ✓ checks")));
}

fn proof_of(run: &str) -> Mode {
    Mode::Doc {
        kind: DocKind::Proof,
        run: run.into(),
        lines: "# Extract the greeting\n\n## Checks\n\n| check | result |\n| unit | ✅ passed |"
            .lines()
            .map(String::from)
            .collect(),
        scroll: 0,
    }
}

#[test]
fn the_proof_view_starts_with_the_pr_line_and_notes_where_its_url_is() {
    let url = "https://github.com/acme/app/pull/12";
    let mut a = app(runs());
    a.mode = proof_of("run00000");
    for (w, h) in [(80, 24), (160, 48)] {
        let t = render(&mut a, w, h);
        insta::assert_snapshot!(format!("proof_with_pr_{w}x{h}"), t.backend());
        let rows = screen(&t);
        // The link covers exactly the cells that show the URL.
        assert_eq!(a.links.len(), 1, "{:?}", a.links);
        let l = &a.links[0];
        assert_eq!(l.url, url);
        let shown: String = rows[l.y as usize]
            .chars()
            .skip(l.x as usize)
            .take(l.width as usize)
            .collect();
        assert_eq!(shown, url, "{w}x{h}");
    }
    // 160 columns: one line; 80: the URL on its own line below.
    let rows = screen(&render(&mut a, 160, 48));
    assert!(rows.iter().any(|r| r.contains(&format!(
        "PR  #12 open · checks passing · review approved · {url}"
    ))));
    let rows = screen(&render(&mut a, 80, 24));
    let at = rows
        .iter()
        .position(|r| r.contains("PR  #12 open · checks passing · review approved"))
        .unwrap();
    assert!(rows[at + 1].contains(&format!("    {url}")), "{rows:#?}");
    // Paging counts the text's rows, not the PR's: 22 rows of body, 2 borders, 3 pinned.
    assert_eq!(a.doc_rows, 22 - 2 - 3);
    // The patch view and a run without a PR have no PR line, and no link.
    a.mode = proof_of("run00004");
    let rows = screen(&render(&mut a, 160, 48));
    assert!(!rows.iter().any(|r| r.contains("PR  #")));
    assert!(a.links.is_empty());
    a.mode = Mode::Doc {
        kind: DocKind::Patch,
        run: "run00000".into(),
        lines: fixtures::patch().lines().map(String::from).collect(),
        scroll: 0,
    };
    render(&mut a, 160, 48);
    assert!(a.links.is_empty());
    // Closing the view takes the link away.
    a.mode = proof_of("run00000");
    render(&mut a, 160, 48);
    assert_eq!(a.links.len(), 1);
    a.mode = Mode::Normal;
    render(&mut a, 160, 48);
    assert!(a.links.is_empty());
}

#[test]
fn a_url_that_could_end_the_escape_is_shown_but_not_linked() {
    let mut runs = runs();
    runs[0].state.pr.as_mut().unwrap().url = "https://x.test/\u{1b}]52;c;ZXZpbA==\u{7}".into();
    let mut a = app(runs);
    a.mode = proof_of("run00000");
    let t = render(&mut a, 160, 48);
    assert!(a.links.is_empty(), "{:?}", a.links);
    assert!(screen(&t).iter().any(|r| r.contains("https://x.test/")));
    // And `apply` refuses one given to it all the same.
    let mut buf = t.backend().buffer().clone();
    let before = buf.clone();
    link::apply(
        &mut buf,
        &[link::Link {
            x: 1,
            y: 1,
            width: 5,
            url: "https://x.test/\u{7}".into(),
        }],
    );
    assert_eq!(buf, before);
}

/// What ratatui's crossterm backend writes to go from `prev` to `next`.
fn written(prev: &Buffer, next: &Buffer) -> String {
    let mut out = Vec::<u8>::new();
    ratatui::backend::CrosstermBackend::new(&mut out)
        .draw(prev.diff(next).into_iter())
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_url_is_one_osc_8_link_written_once_with_the_screen_unchanged() {
    let url = "https://github.com/acme/app/pull/12";
    let mut a = app(runs());
    a.mode = proof_of("run00000");
    let t = render(&mut a, 160, 48);
    let plain = t.backend().buffer().clone();
    let mut linked = plain.clone();
    link::apply(&mut linked, &a.links);
    let l = &a.links[0].clone();

    // The first cell holds the whole link, as wide as the URL; the cells it covers are
    // skipped; nothing else changed.
    let first = &linked[(l.x, l.y)];
    let osc8 = format!("\u{1b}]8;;{url}\u{1b}\\{url}\u{1b}]8;;\u{1b}\\");
    assert_eq!(first.symbol(), osc8);
    assert_eq!(
        first.diff_option,
        CellDiffOption::ForcedWidth(std::num::NonZeroU16::new(url.len() as u16).unwrap())
    );
    assert_eq!(first.fg, plain[(l.x, l.y)].fg, "the URL keeps its style");
    for x in l.x + 1..l.x + l.width {
        assert_eq!(linked[(x, l.y)].diff_option, CellDiffOption::Skip);
    }
    let changed: Vec<(u16, u16)> = plain
        .diff(&linked)
        .into_iter()
        .map(|(x, y, _)| (x, y))
        .collect();
    assert_eq!(changed, vec![(l.x, l.y)]);

    // From a blank screen: the link once, the URL's text only inside it, and the border
    // after it written where it belongs (the cursor is moved there, not left to drift).
    let blank = Buffer::empty(plain.area);
    let out = written(&blank, &linked);
    assert_eq!(
        out.matches("\u{1b}]8;;").count(),
        2,
        "one link, opened and closed"
    );
    assert_eq!(
        out.matches(url).count(),
        2,
        "the URL as href and as text, once"
    );
    let after = out.split(&osc8).nth(1).unwrap();
    let right = plain.area.width - 1;
    assert!(
        after.contains(&format!("\u{1b}[{};{}H", l.y + 1, right + 1)),
        "the border's cell is addressed: {after:?}"
    );
    // The view closed: the URL's cells are written again as plain text, so no link is left
    // on screen.
    a.mode = Mode::Normal;
    let t = render(&mut a, 160, 48);
    let closed = t.backend().buffer().clone();
    let out = written(&linked, &closed);
    assert!(!out.contains("\u{1b}]8;;"));
    let redrawn: Vec<(u16, u16)> = linked
        .diff(&closed)
        .into_iter()
        .map(|(x, y, _)| (x, y))
        .filter(|(_, y)| *y == l.y)
        .collect();
    for x in l.x..l.x + l.width {
        assert!(redrawn.contains(&(x, l.y)), "cell {x} not redrawn");
    }
}

#[test]
fn the_footer_offers_the_pull_request_keys_where_they_do_something() {
    let footer = |a: &mut App, id: &str, w: u16| {
        let i = a.visible().iter().position(|r| r.id == id).unwrap();
        a.select_index(i);
        screen(&render(a, w, 24))
            .last()
            .unwrap()
            .trim_end()
            .to_string()
    };
    let mut a = app(fixtures::ui::runs_with_prs());
    // A run with a PR: update it, copy its URL.
    let f = footer(&mut a, "run00000", 160);
    assert_eq!(
        f,
        "? help · Enter timeline · P update PR · y copy PR URL · p pause · x kill · r retry · n new · d diff · R reply · M messages · q quit"
    );
    // 80 columns: the PR's keys stay before pause, kill, ...
    let f = footer(&mut a, "run00000", 80);
    assert!(f.contains("P update PR · y copy PR URL"), "{f}");
    // A failed run has no PR and cannot have one: neither key is offered.
    let f = footer(&mut a, "run00004", 160);
    assert!(!f.contains("PR"), "{f}");
    // A succeeded run without one: `P` opens it, when [forge] is configured.
    let f = footer(&mut a, "run00005", 160);
    assert!(!f.contains("PR"), "{f}");
    a.forge = true;
    let f = footer(&mut a, "run00005", 160);
    assert!(f.contains("P open PR") && !f.contains("copy PR URL"), "{f}");
}
