//! Drawing Mission Control: header, runs table, the timeline pane, the footer, overlays.
//! Pure rendering from `App` (and the clock, passed in so snapshots are stable).

mod columns;
mod diff;
pub mod link;
mod overlays;
mod pane;
mod table;
pub use crate::text;
pub mod theme;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use time::OffsetDateTime;

use crate::run::{MergeState, Status};

use super::app::{App, Connection, Mode};
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
    let radar = radar_line(app);
    let [header, body, radar_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(if radar.is_empty() { 0 } else { 1 }),
        Constraint::Length(footer_height(app, area.width)),
    ])
    .areas(area);
    draw_header(frame, header, app, ctx);
    if !radar.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                text::cut(
                    &format!("⚔ radar: {}", radar.join(" · ")),
                    area.width as usize,
                ),
                ctx.theme.error(),
            ))),
            radar_area,
        );
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
        pane::draw(frame, area, pane, app.focus, ctx);
    }
    draw_footer(frame, footer, app, ctx);

    app.doc_rows = body.height.saturating_sub(2) as usize;
    app.links.clear();
    let mut drawn = None;
    // Overlays cover the body (table and pane) exactly, with one border of their own: the
    // header, the radar and the footer stay in view.
    match &app.mode {
        Mode::Help => overlays::help(frame, body, app, ctx),
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
            // The PR as the record has it now, not as it was when the view opened.
            let pr = app
                .runs
                .iter()
                .find(|r| r.id == *run)
                .and_then(|r| r.pr.as_ref());
            drawn = Some(diff::draw(frame, body, *kind, run, lines, *scroll, pr, ctx));
        }
        Mode::PickRepo { choices, choice } => {
            overlays::pick_repo(frame, body, choices, *choice, ctx)
        }
        Mode::Normal | Mode::Filter { .. } | Mode::NewRun { .. } => {}
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

/// Status messages wrap at this width (or the terminal's, if narrower).
pub const MESSAGE_WIDTH: usize = 80;
/// The most rows a status message gets.
const MESSAGE_ROWS: usize = 4;

/// The status message in rows: wrapped at 80 columns, up to four rows, so its last words
/// (often the key that fixes it) are not cut off.
fn status_rows(app: &App, width: u16) -> Option<Vec<String>> {
    if matches!(app.mode, Mode::Filter { .. } | Mode::NewRun { .. }) {
        return None;
    }
    let s = app.status.as_ref()?;
    let room = (width as usize).clamp(1, MESSAGE_WIDTH);
    let mut rows = text::wrap(&text::printable(&s.text), room);
    if rows.len() > MESSAGE_ROWS {
        rows.truncate(MESSAGE_ROWS);
        if let Some(last) = rows.last_mut() {
            *last = text::cut(&format!("{last} …"), room);
        }
    }
    Some(rows)
}

fn footer_height(app: &App, width: u16) -> u16 {
    status_rows(app, width).map_or(1, |r| r.len().max(1) as u16)
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, ctx: &Ctx) {
    let t = ctx.theme;
    let line = match &app.mode {
        Mode::Filter { input } => {
            let (before, after) = input.split();
            Line::from(vec![
                Span::styled("filter /", t.bold()),
                Span::raw(before.to_string()),
                Span::raw("▏"),
                Span::raw(after.to_string()),
                Span::styled("  Enter keep · Esc clear", t.dim()),
            ])
        }
        Mode::NewRun { input, agent, repo } => {
            let (name, label) = app
                .agents
                .get(*agent)
                .map(|(n, l)| (n.as_str(), l.as_deref()))
                .unwrap_or(("(default)", None));
            let agent_text = match label {
                Some(l) => format!("[{name} · {l}]"),
                None => format!("[{name}]"),
            };
            let place = text::cut_middle(&text::tilde(repo, ctx.home), 40);
            Line::from(vec![
                Span::styled("new run ", t.bold()),
                Span::styled(agent_text, t.fg(ratatui::style::Color::Cyan)),
                Span::raw(" in "),
                Span::styled(place, t.fg(ratatui::style::Color::Cyan)),
                Span::raw(" › "),
                Span::raw(input.split().0.to_string()),
                Span::raw("▏"),
                Span::raw(input.split().1.to_string()),
                Span::styled("  Tab agent · Enter start · Esc cancel", t.dim()),
            ])
        }
        _ => match (&app.status, status_rows(app, area.width)) {
            (Some(s), Some(rows)) => {
                let style = if s.error {
                    t.error()
                } else {
                    Default::default()
                };
                let lines: Vec<Line> = rows
                    .into_iter()
                    .map(|r| Line::from(Span::styled(r, style)))
                    .collect();
                frame.render_widget(Paragraph::new(lines), area);
                return;
            }
            _ => {
                let prefix = if app.filter.is_empty() {
                    String::new()
                } else {
                    format!("filter: {}  ·  ", app.filter)
                };
                let room = (area.width as usize).saturating_sub(text::width(&prefix));
                let hint = format!("{prefix}{}", key_hints(app, room));
                Line::from(Span::styled(hint, t.dim()))
            }
        },
    };
    frame.render_widget(
        Paragraph::new(line).wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}

/// The footer's key hints, from the keymap: `[keys]` changes them as it changes the keys.
/// As many as fit in `width` (with `room` taken already), the least needed left out first.
/// The pull request's keys are offered for the selected run when they do something: `P` on a
/// run that has a PR, or that succeeded with `[forge]` configured; `y` on a run with a PR.
fn key_hints(app: &App, width: usize) -> String {
    use super::keymap::Action;
    let selected = app.selected_run();
    let has_pr = selected.is_some_and(|r| r.pr.is_some());
    let can_open = selected
        .is_some_and(|r| r.status == Status::Succeeded && !r.cleaned && r.pr.is_none())
        && app.forge;
    // In display order, each with its rank: 0 is kept longest.
    let all = [
        (Action::Help, "help", 0, true),
        (Action::Open, "timeline", 2, true),
        (Action::Pr, "update PR", 3, has_pr),
        (Action::Pr, "open PR", 3, can_open),
        (Action::CopyUrl, "copy PR URL", 4, has_pr),
        (Action::Pause, "pause", 5, true),
        (Action::Kill, "kill", 6, true),
        (Action::Retry, "retry", 7, true),
        (Action::New, "new", 8, true),
        (Action::Diff, "diff", 9, true),
        (Action::Messages, "messages", 10, true),
        (Action::Quit, "quit", 1, true),
    ];
    let hints: Vec<(String, u8)> = all
        .iter()
        .filter(|(.., offered)| *offered)
        .filter_map(|(a, what, rank, _)| {
            Some((format!("{} {what}", app.keymap.first_key(*a)?), *rank))
        })
        .collect();
    let mut ranks: Vec<u8> = hints.iter().map(|(_, rank)| *rank).collect();
    ranks.sort_unstable();
    let mut keep = hints.len();
    loop {
        // The `keep` best ranked.
        let worst = ranks.get(keep.saturating_sub(1)).copied().unwrap_or(0);
        let shown: Vec<&str> = hints
            .iter()
            .filter(|(_, rank)| *rank <= worst)
            .map(|(h, _)| h.as_str())
            .collect();
        let line = shown.join(" · ");
        if text::width(&line) <= width || keep <= 1 {
            return line;
        }
        keep -= 1;
    }
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
