//! The footer: a prompt being typed (filter, new run, reply, search), else the last status
//! message, else the keys that do something in the view on screen (table, timeline pane,
//! diff, proof, help...), from the keymap.

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::run::Status;

use super::super::app::{App, DocKind, Focus, Mode};
use super::super::input::Input;
use super::super::keymap::Action;
use super::super::search;
use super::{text, Ctx};

/// Status messages wrap at this width (or the terminal's, if narrower).
pub const MESSAGE_WIDTH: usize = 80;
/// The most rows a status message gets.
const MESSAGE_ROWS: usize = 4;

/// Something being typed takes the footer.
fn typing(app: &App) -> bool {
    matches!(
        app.mode,
        Mode::Filter { .. } | Mode::NewRun { .. } | Mode::Reply { .. }
    ) || app.search.as_ref().is_some_and(|s| s.typing)
}

/// The status message in rows: wrapped at 80 columns, up to four rows, so its last words
/// (often the key that fixes it) are not cut off.
fn status_rows(app: &App, width: u16) -> Option<Vec<String>> {
    if typing(app) {
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

pub fn height(app: &App, width: u16) -> u16 {
    let note = prompt_note(app, width).len() as u16;
    status_rows(app, width).map_or(1, |r| r.len().max(1) as u16) + note
}

/// Above the new-run prompt, while the agent picked cannot start here: why, in rows.
fn prompt_note(app: &App, width: u16) -> Vec<String> {
    let Mode::NewRun { agent, .. } = &app.mode else {
        return Vec::new();
    };
    let Some((name, why)) = app
        .agents
        .get(*agent)
        .and_then(|a| a.unavailable.as_ref().map(|w| (&a.name, w)))
    else {
        return Vec::new();
    };
    let said = format!("agent `{name}` cannot start here: {why} (Tab picks another)");
    let mut rows = text::wrap(&text::printable(&said), width.max(1) as usize);
    rows.truncate(MESSAGE_ROWS);
    rows
}

/// A text input: its label, the text with the cursor, what Enter and Esc do.
fn input_line(label: Vec<Span<'static>>, input: &Input, keys: &str, ctx: &Ctx) -> Line<'static> {
    let (before, after) = input.split();
    let mut spans = label;
    spans.extend([
        Span::raw(text::printable(before).into_owned()),
        Span::raw("▏"),
        Span::raw(text::printable(after).into_owned()),
        Span::styled(format!("  {keys}"), ctx.theme.dim()),
    ]);
    Line::from(spans)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, ctx: &Ctx) {
    let t = ctx.theme;
    let line = match (&app.mode, &app.search) {
        (_, Some(s)) if s.typing => input_line(
            vec![Span::styled("search /", t.bold())],
            &s.input,
            "Enter next match · Esc clear",
            ctx,
        ),
        (Mode::Filter { input }, _) => input_line(
            vec![Span::styled("filter /", t.bold())],
            input,
            "Enter keep · Esc clear",
            ctx,
        ),
        (Mode::Reply { run, input }, _) => input_line(
            vec![
                Span::styled("reply to ", t.bold()),
                Span::styled(run.clone(), t.fg(Color::Cyan)),
                Span::raw(" › "),
            ],
            input,
            "Enter send to the agent · Esc cancel",
            ctx,
        ),
        (Mode::NewRun { input, agent, repo }, _) => {
            let choice = app.agents.get(*agent);
            let name = choice.map_or("(default)", |a| a.name.as_str());
            let agent_text = match choice.and_then(|a| a.label.as_deref()) {
                Some(l) => format!("[{name} · {l}]"),
                None => format!("[{name}]"),
            };
            // An agent that cannot start here is offered marked, in red (the status line
            // says why).
            let (agent_text, agent_style) = match choice.and_then(|a| a.unavailable.as_ref()) {
                Some(_) => (
                    format!("{} not installed]", agent_text.trim_end_matches(']')),
                    t.fg(Color::Red),
                ),
                None => (agent_text, t.fg(Color::Cyan)),
            };
            let place = text::cut_middle(&text::tilde(repo, ctx.home), 40);
            input_line(
                vec![
                    Span::styled("new run ", t.bold()),
                    Span::styled(agent_text, agent_style),
                    Span::raw(" in "),
                    Span::styled(place, t.fg(Color::Cyan)),
                    Span::raw(" › "),
                ],
                input,
                "Tab agent · Enter start · Esc cancel",
                ctx,
            )
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
                let prefix = prefix(app);
                let room = (area.width as usize).saturating_sub(text::width(&prefix));
                let hint = format!("{prefix}{}", key_hints(app, room));
                Line::from(Span::styled(hint, t.dim()))
            }
        },
    };
    let mut lines: Vec<Line> = prompt_note(app, area.width)
        .into_iter()
        .map(|r| Line::from(Span::styled(r, t.error())))
        .collect();
    lines.push(line);
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}

/// What the hints follow: the table's filter, or a search and where its current match is.
fn prefix(app: &App) -> String {
    let searched = matches!(view(app), View::Pane | View::Doc(_));
    if let Some(s) = app.search.as_ref().filter(|_| searched) {
        let lines = search::lines(app, s.target);
        let (which, total) = search::position(&lines, s.query(), s.at);
        let count = match (which, total) {
            (_, 0) => "no match".to_string(),
            (0, n) => format!("{n} matching lines"),
            (w, n) => format!("match {w} of {n}"),
        };
        return format!("/{}: {count}  ·  ", text::printable(s.query()));
    }
    if matches!(app.mode, Mode::Normal) && !app.filter.is_empty() {
        return format!("filter: {}  ·  ", app.filter);
    }
    String::new()
}

/// Which set of keys the screen answers to now.
#[derive(Clone, Copy, PartialEq)]
enum View {
    Table,
    Pane,
    Doc(DocKind),
    Pictures,
    Help,
    Messages,
    Confirm,
    Retry,
    PickRepo,
}

fn view(app: &App) -> View {
    match &app.mode {
        Mode::Help { .. } => View::Help,
        Mode::Messages { .. } => View::Messages,
        Mode::Doc { kind, .. } => View::Doc(*kind),
        Mode::Pictures { .. } => View::Pictures,
        Mode::Confirm { .. } => View::Confirm,
        Mode::Retry { .. } => View::Retry,
        Mode::PickRepo { .. } => View::PickRepo,
        _ if app.pane.is_some() && app.focus == Focus::Timeline => View::Pane,
        _ => View::Table,
    }
}

/// The footer's key hints for the view on screen, from the keymap: `[keys]` changes them as it
/// changes the keys. As many as fit in `width`, the least needed left out first.
fn key_hints(app: &App, width: usize) -> String {
    let key = |a: Action| app.keymap.first_key(a);
    // (keys, what, rank): rank 0 is kept longest.
    let mut hints: Vec<(Option<String>, &str, u8)> = Vec::new();
    let scroll = match (key(Action::Down), key(Action::Up)) {
        (Some(d), Some(u)) => Some(format!("{d}/{u}")),
        (d, u) => d.or(u),
    };
    let searching = app.search.as_ref().is_some_and(|s| !s.typing);
    let fixed = |k: &str| Some(k.to_string());
    match view(app) {
        View::Table => return table_hints(app, width),
        View::Pane => {
            hints.push((key(Action::Focus), "table", 0));
            hints.push((scroll, "scroll", 2));
            hints.push((key(Action::Bottom), "follow", 3));
            if searching {
                hints.push((fixed("n/N"), "next/previous", 1));
            }
            hints.push((key(Action::Filter), "search", 1));
            hints.push((key(Action::Zoom), "zoom", 4));
            hints.push((key(Action::OutputOnly), "output only", 5));
            hints.push((
                key(Action::Close),
                if searching { "clear" } else { "close" },
                0,
            ));
        }
        View::Doc(kind) => {
            hints.push((scroll, "scroll", 2));
            if searching {
                hints.push((fixed("n/N"), "next/previous", 1));
            }
            hints.push((key(Action::Filter), "search", 1));
            if kind == DocKind::Browser {
                hints.push((key(Action::Pictures), "pictures", 1));
            }
            if kind == DocKind::Proof {
                let run = match &app.mode {
                    Mode::Doc { run, .. } => app.runs.iter().find(|r| r.id == *run),
                    _ => None,
                };
                let has_pr = run.is_some_and(|r| r.pr.is_some());
                hints.push((key(Action::Retry), "retry", 3));
                if has_pr || app.forge {
                    hints.push((key(Action::Pr), "PR", 4));
                }
                if has_pr {
                    hints.push((key(Action::CopyUrl), "copy PR URL", 5));
                }
                hints.push((key(Action::Edit), "edit", 6));
            }
            hints.push((
                key(Action::Close),
                if searching { "clear" } else { "close" },
                0,
            ));
        }
        View::Pictures => {
            hints.push((fixed("←/→"), "page", 1));
            hints.push((key(Action::Browser), "report", 2));
            hints.push((key(Action::Close), "close", 0));
        }
        View::Help | View::Messages => {
            hints.push((scroll, "scroll", 1));
            hints.push((key(Action::Close), "close", 0));
        }
        View::Confirm => {
            hints.push((fixed("y"), "yes", 0));
            hints.push((fixed("n/Esc"), "no", 0));
        }
        View::Retry => {
            hints.push((fixed("←/→"), "choose", 0));
            hints.push((fixed("Enter"), "retry", 0));
            hints.push((fixed("Esc"), "cancel", 0));
        }
        View::PickRepo => {
            hints.push((fixed("↑/↓"), "choose", 0));
            hints.push((fixed("Enter"), "type the task", 0));
            hints.push((fixed("Esc"), "cancel", 0));
        }
    }
    fit(
        hints
            .into_iter()
            .filter_map(|(k, what, rank)| Some((format!("{} {what}", k?), rank)))
            .collect(),
        width,
    )
}

/// The table's hints. The pull request's keys are offered for the selected run when they do
/// something: `P` on a run that has a PR, or that succeeded with `[forge]` configured; `y` on
/// a run with a PR.
fn table_hints(app: &App, width: usize) -> String {
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
        (Action::Reply, "reply", 11, true),
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
    fit(hints, width)
}

/// The best ranked hints that fit in `width`, in their order.
fn fit(hints: Vec<(String, u8)>, width: usize) -> String {
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
