//! Prints Mission Control's figures (a measurement, not a test):
//! - frame render time with 500 runs in the table (160x48, pane open);
//! - time to open a 1,000,000-line timeline (read the last lines from the end of the file).
//!
//! cargo run --release --example cockpit_figures

use std::time::Instant;

use flightdeck::proof::timeline::{read_tail, TimelineWriter};
use flightdeck::run::{Phase, RunRecord, RunState, Status, Tokens, WorkspaceKind};
use flightdeck::ui::app::{App, Pane, TIMELINE_TAIL};
use flightdeck::ui::update::{update, Msg};
use flightdeck::ui::view::{self, theme::Theme, Ctx};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn record(i: usize) -> RunRecord {
    let status = [
        Status::Running,
        Status::Paused,
        Status::Queued,
        Status::Succeeded,
        Status::Failed,
    ][i % 5];
    let id = format!("r{i:07}");
    RunRecord {
        base: "0".repeat(40),
        created_at: format!("2026-11-24T{:02}:{:02}:00Z", (i / 60) % 24, i % 60),
        state: RunState {
            phase: Phase::Agent,
            status,
            started_at: Some("2026-11-24T00:00:00Z".into()),
            ..RunState::queued()
        },
        tokens: Tokens {
            input: i as u64 * 100,
            output: i as u64 * 10,
            cache_read: 0,
            cache_write: 0,
        },
        cost_usd: Some(i as f64 * 0.001),
        base_ref: "HEAD".into(),
        ..RunRecord::queued(
            &id,
            &format!("task number {i}: fix the thing in module {}", i % 17),
            "claude",
            "/home/dev/src/app".into(),
            format!("/home/dev/.local/share/flightdeck/worktrees/app/{id}").into(),
            WorkspaceKind::Worktree,
        )
    }
}

fn main() {
    // Frames with 500 runs.
    let mut app = App::new("/repo".into(), None);
    update(&mut app, Msg::Runs((0..500).map(record).collect()));
    let mut pane = Pane::new("r0000000".into());
    pane.push(
        (0..1000)
            .map(|i| serde_json::json!({"v":1,"seq":i,"ts":"2026-11-24T10:00:00Z","phase":"agent","type":"agent.output","text":format!("line {i}")}))
            .collect(),
    );
    app.pane = Some(pane);
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    let ctx = Ctx {
        theme: Theme { color: true },
        now: time::OffsetDateTime::now_utc(),
        home: None,
    };
    for _ in 0..20 {
        terminal
            .draw(|f| view::draw(f, &mut app, &ctx))
            .expect("draw");
    }
    let frames = 300;
    let start = Instant::now();
    for _ in 0..frames {
        terminal
            .draw(|f| view::draw(f, &mut app, &ctx))
            .expect("draw");
    }
    let per = start.elapsed() / frames;
    println!(
        "frame render, 500 runs, 160x48, pane open: {:.2} ms",
        per.as_secs_f64() * 1000.0
    );

    // A million-line timeline.
    let dir = tempfile_dir();
    let path = dir.join("timeline.jsonl");
    let mut w = TimelineWriter::open(&path, "big").expect("open");
    let t = Instant::now();
    for i in 0..1_000_000u64 {
        let mut f = serde_json::Map::new();
        f.insert("text".into(), format!("agent output line {i}").into());
        w.append(Phase::Agent, "agent.output", f).expect("append");
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote 1,000,000 timeline lines ({:.0} MB) in {:.1} s",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let lines = read_tail(&path, TIMELINE_TAIL).expect("tail");
    println!(
        "open a 1,000,000-line timeline (last {} lines, from the end): {:.2} ms",
        lines.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("flightdeck-figures-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
