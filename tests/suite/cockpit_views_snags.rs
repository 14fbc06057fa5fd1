//! The cockpit's snags from issue 25, on screen (ratatui's TestBackend): the REPO column and
//! attempts labelled.

use flightdeck::protocol::RunSnapshot;
use flightdeck::run::{Phase, Status};
use flightdeck::ui::app::{App, Confirmable, Mode};
use flightdeck::ui::update::{update, Msg};
use flightdeck::ui::view::{self, theme::Theme, Ctx};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::fixtures;

fn app(runs: Vec<RunSnapshot>) -> App {
    let mut app = App::new("/home/dev/src/app".into(), None);
    update(&mut app, Msg::Connected);
    update(&mut app, Msg::Runs(runs));
    app.status = None;
    app
}

fn render(app: &mut App, w: u16, h: u16, color: bool) -> Terminal<TestBackend> {
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
}
