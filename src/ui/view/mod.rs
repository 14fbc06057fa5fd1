//! Drawing Mission Control: header, runs table, the timeline pane, the footer, overlays.
//! Pure rendering from `App` (and the clock, passed in so snapshots are stable).

mod columns;
mod diff;
mod footer;
mod found;
pub mod link;
mod overlays;
mod pane;
mod pictures;
mod table;
pub use crate::text;
pub use footer::MESSAGE_WIDTH;
pub mod theme;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use time::OffsetDateTime;

use crate::run::{MergeState, Status};

use super::app::{App, Connection, Mode};
use super::search::SearchIn;
use theme::Theme;

/// At this width and wider the pane goes beside the table; narrower, below it.
pub const SIDE_BY_SIDE: u16 = 140;

pub struct Ctx<'a> {
    pub theme: Theme,
    pub now: OffsetDateTime,
    pub home: Option<&'a std::path::Path>,
}

pub fn draw(frame: &mut Frame, app: &mut App, ctx: &Ctx) {
    let area = frame.area();
    let radar = radar_rows(&radar_line(app), area.width as usize);
    let [header, body, radar_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(radar.len() as u16),
        Constraint::Length(footer::height(app, area.width)),
    ])
    .areas(area);
    draw_header(frame, header, app, ctx);
    if !radar.is_empty() {
        let rows: Vec<Line> = radar
            .into_iter()
            .map(|r| Line::from(Span::styled(r, ctx.theme.error())))
            .collect();
        frame.render_widget(Paragraph::new(rows), radar_area);
    }

    let (table_area, pane_area) = match app.pane {
        None => (body, None),
        Some(_) if app.zoom => (Rect { height: 0, ..body }, Some(body)),
        Some(_) if body.width >= SIDE_BY_SIDE => {
            let [t, p] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(body);
            (t, Some(p))
        }
        Some(_) => {
            let [t, p] = Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(body);
            (t, Some(p))
        }
    };
    // Rows that fit, for paging: minus the border and header lines.
    app.page = table_area.height.saturating_sub(3) as usize;
    if table_area.height > 0 {
        table::draw(frame, table_area, app, ctx);
    }
    if let Some(area) = pane_area {
        app.pane_rows = area.height.saturating_sub(2) as usize;
    }
    if let (Some(area), Some(pane)) = (pane_area, &app.pane) {
        let found = app
            .search
            .as_ref()
            .filter(|s| s.target == SearchIn::Pane)
            .map(|s| pane::Found {
                query: s.query(),
                at: s.at,
            });
        pane::draw(frame, area, pane, app.focus, found, ctx);
    }
    footer::draw(frame, footer, app, ctx);

    app.doc_rows = body.height.saturating_sub(2) as usize;
    app.doc_width = body.width.saturating_sub(2) as usize;
    app.links.clear();
    let mut drawn = None;
    let mut help_lines = None;
    // Overlays cover the body (table and pane) exactly, with one border of their own: the
    // header, the radar and the footer stay in view.
    match &app.mode {
        Mode::Help { scroll } => help_lines = Some(overlays::help(frame, body, app, *scroll, ctx)),
        Mode::Confirm { action, run } => overlays::confirm(frame, body, *action, run, app, ctx),
        Mode::Retry {
            run,
            choice,
            rebase,
        } => overlays::retry(frame, body, run, *choice, *rebase, ctx),
        Mode::Messages { scroll } => overlays::messages(frame, body, app, *scroll, ctx),
        Mode::Doc {
            kind,
            run,
            lines,
            scroll,
        } => {
            let doc = diff::Doc {
                kind: *kind,
                run,
                lines,
                scroll: *scroll,
                record: app.runs.iter().find(|r| r.id == *run),
                found: app
                    .search
                    .as_ref()
                    .filter(|s| s.target == SearchIn::Doc)
                    .map(|s| pane::Found {
                        query: s.query(),
                        at: s.at,
                    }),
                shift: app.doc_shift,
            };
            drawn = Some(diff::draw(frame, body, &doc, ctx));
        }
        Mode::PickRepo { choices, choice } => {
            overlays::pick_repo(frame, body, choices, *choice, ctx)
        }
        Mode::Pictures { page, .. } => {
            if let Some(g) = &app.gallery {
                pictures::draw(frame, body, g, *page, &mut app.encoder, ctx);
            }
        }
        Mode::Normal | Mode::Filter { .. } | Mode::NewRun { .. } | Mode::Reply { .. } => {}
    }
    // Pictures not drawn in this frame are encoded afresh when next drawn.
    app.encoder.end_frame();
    if let Some(n) = help_lines {
        app.help_lines = n;
    }
    if let Some(d) = drawn {
        app.doc_rows = d.rows;
        app.links.extend(d.link);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, ctx: &Ctx) {
    let t = ctx.theme;
    let mut spans = vec![Span::styled("flightdeck", t.bold()), Span::raw("  ")];
    let order = [
        Status::Running,
        Status::Paused,
        Status::Queued,
        Status::Succeeded,
        Status::Failed,
        Status::Killed,
        Status::Interrupted,
    ];
    // Narrow terminals get symbols only (the help overlay has the legend).
    let wide = area.width >= 120;
    for s in order {
        let n = app.runs.iter().filter(|r| r.status == s).count();
        if n > 0 {
            let text = if wide {
                format!("{} {n} {s}", theme::symbol(s))
            } else {
                format!("{}{n}", theme::symbol(s))
            };
            spans.push(Span::styled(text, t.status(s)));
            spans.push(Span::raw(if wide { "  " } else { " " }));
        }
    }
    // Merges waiting for a person: ready ones and conflicting ones.
    let merges = [
        (
            MergeState::Ready,
            "↑",
            "ready",
            ratatui::style::Color::Green,
        ),
        (
            MergeState::Conflict,
            "⚔",
            "conflict",
            ratatui::style::Color::Red,
        ),
    ];
    for (state, symbol, word, colour) in merges {
        let n = app
            .runs
            .iter()
            .filter(|r| r.merge == state && !r.cleaned)
            .count();
        if n > 0 {
            let text = if wide {
                format!("{symbol} {n} {word}")
            } else {
                format!("{symbol}{n}")
            };
            spans.push(Span::styled(text, t.fg(colour)));
            spans.push(Span::raw(if wide { "  " } else { " " }));
        }
    }
    if app.runs.is_empty() {
        spans.push(Span::styled("no runs", t.dim()));
        spans.push(Span::raw("  "));
    }
    let tokens: u64 = app.runs.iter().map(|r| r.tokens.total()).sum();
    let costs: Vec<f64> = app.runs.iter().filter_map(|r| r.cost_usd).collect();
    spans.push(Span::raw(format!("tokens {}", text::count(tokens))));
    spans.push(Span::raw("  "));
    spans.push(Span::raw(format!(
        "cost {}",
        if costs.is_empty() {
            "-".to_string()
        } else {
            text::cost(Some(costs.iter().sum()))
        }
    )));
    match &app.connection {
        Connection::Connected => {}
        Connection::Connecting => {
            spans.push(Span::raw("  "));
            spans.push(Span::styled("connecting…", t.dim()));
        }
        Connection::Lost(why) => {
            spans.push(Span::raw("  "));
            spans.push(Span::styled(
                format!("server lost ({why}); reconnecting…"),
                t.error(),
            ));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The conflict radar's findings, each pair once: `a × b in file` or `a × target:main in file`.
fn radar_line(app: &App) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for r in &app.runs {
        if r.merge == crate::run::MergeState::Merged {
            continue;
        }
        for c in &r.conflicts {
            let other = c.with.strip_prefix("run:").unwrap_or(&c.with).to_string();
            let key = if r.id < other {
                (r.id.clone(), other.clone())
            } else {
                (other.clone(), r.id.clone())
            };
            if seen.insert(key) {
                out.push(format!(
                    "{} × {} in {}",
                    r.id,
                    c.with.trim_start_matches("run:"),
                    c.files.join(", ")
                ));
            }
        }
    }
    out
}

/// The most rows the radar takes above the footer.
const RADAR_ROWS: usize = 3;

/// The radar's findings wrapped to the screen's width, on up to `RADAR_ROWS` rows; past
/// that, the last row says where the rest is (each finding is in `M` and in the run's PR.md).
fn radar_rows(findings: &[String], width: usize) -> Vec<String> {
    if findings.is_empty() {
        return Vec::new();
    }
    let mut rows = text::wrap(&format!("⚔ radar: {}", findings.join(" · ")), width);
    if rows.len() > RADAR_ROWS {
        let more = " … (M lists every finding)";
        rows.truncate(RADAR_ROWS);
        let last = &rows[RADAR_ROWS - 1];
        rows[RADAR_ROWS - 1] = format!(
            "{}{more}",
            text::cut(last, width.saturating_sub(text::width(more))).trim_end_matches('…')
        );
    }
    rows
}

/// A rectangle of `w` x `h` centred in `area` (clamped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
