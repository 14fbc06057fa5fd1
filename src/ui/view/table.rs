//! The runs table: columns chosen by what fits, selected row reversed.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::RunSnapshot;
use crate::run::MergeState;
use crate::time::human_duration;

use super::super::app::{App, Focus};
use super::super::attempt;
use super::super::attention::{self, Need};
use super::super::pr;
use super::columns::{columns, flex, status_text, Col, Flex, Shown, Sizes, MAX_HOST};
use super::text::{self, cost, count, cut, cut_path_left, first_line, tilde};
use super::{theme, Ctx};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, ctx: &Ctx) {
    let t = ctx.theme;
    let inner_width = area.width.saturating_sub(2);
    let visible = app.visible();
    let mut sizes = Sizes::of(&visible, &app.runs);
    sizes.host = app
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .chain([crate::config::hosts::LOCAL])
        .map(|n| text::width(n) as u16)
        .max()
        .unwrap_or(0)
        .clamp(Col::Host.title().len() as u16, MAX_HOST);
    let shown = Shown {
        host: !app.hosts.is_empty(),
        repo: sizes.repos.len() > 1,
        browser: app.runs.iter().any(|r| r.browser_problems.is_some()),
        reason: visible.iter().any(|r| attention::reason(r).is_some()),
        pr: visible.iter().any(|r| r.pr.is_some()),
    };
    let cols = columns(inner_width, shown, &sizes);
    let fixed: u16 = cols.iter().map(|c| c.width(&sizes) + 1).sum();
    let flex = flex(&cols, inner_width.saturating_sub(fixed));
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| match c {
            Col::Task => Constraint::Length(flex.task),
            Col::Reason => Constraint::Length(flex.reason),
            Col::Worktree => Constraint::Length(flex.worktree),
            other => Constraint::Length(other.width(&sizes)),
        })
        .collect();

    // Only the rows that fit are built (with 500 runs, most are not on screen): the window
    // ratatui would scroll to from the top, keeping the selection in view.
    let height = area.height.saturating_sub(3) as usize;
    let selected = app.selected_index();
    let offset = match selected {
        Some(i) if height > 0 && i >= height => i + 1 - height,
        _ => 0,
    };
    let rows: Vec<Row> = visible
        .iter()
        .skip(offset)
        .take(height.max(1))
        .map(|r| {
            let host = app.host_of(&r.id);
            let row = Row::new(
                cols.iter()
                    .map(|c| match c {
                        Col::Host => Cell::from(cut(host, sizes.host as usize)),
                        _ => cell(*c, r, flex, &sizes, ctx),
                    })
                    .collect::<Vec<_>>(),
            );
            // A lost host's runs are as it last said: dimmed.
            if app.run_is_stale(&r.id) {
                row.style(t.dim())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(
        cols.iter()
            .map(|c| Cell::from(Span::styled(c.title(), t.bold())))
            .collect::<Vec<_>>(),
    );
    let stale = matches!(app.connection, super::super::app::Connection::Lost(_));
    let title = if stale {
        // What the table shows is what the server last said; it may have changed since.
        format!(" runs ({}) · stale: server lost ", visible.len())
    } else if app.filter.is_empty() {
        format!(" runs ({}) ", visible.len())
    } else {
        format!(
            " runs ({} of {}, filter: {}) ",
            visible.len(),
            app.runs.len(),
            app.filter
        )
    };
    // Each lost host, and how long since: its rows are what it last said.
    let title = app
        .stale_hosts()
        .iter()
        .fold(title, |title, lost| format!("{title}· {lost} "));
    // With the pane beside it, which of the two has the keys is plain to see.
    let block = if app.pane.is_none() {
        Block::bordered().title(title).border_style(t.bold())
    } else if app.focus == Focus::Table {
        Block::bordered()
            .title(Span::styled(
                format!(" {}{}", theme::FOCUS_MARK, title.trim_start()),
                t.focused(),
            ))
            .border_style(t.focused())
    } else {
        Block::bordered().title(title)
    };
    let mut table = Table::new(rows, widths);
    if stale {
        table = table.style(t.dim());
    }
    let table = table
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(t.selected());
    let mut state = TableState::default().with_selected(selected.map(|i| i - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

fn cell<'a>(col: Col, r: &RunSnapshot, flex: Flex, sizes: &Sizes, ctx: &Ctx) -> Cell<'a> {
    let t = ctx.theme;
    match col {
        Col::Id => Cell::from(r.id.clone()),
        Col::Status => Cell::from(Span::styled(
            cut(&status_text(r), sizes.status as usize),
            t.status(r.status),
        )),
        Col::Phase => Cell::from(r.phase.as_str()),
        // An earlier attempt's figures are not this one's: `-` until it has its own.
        Col::Browser if !attempt::web_current(r) => Cell::from(Span::styled("-", t.dim())),
        Col::Score if !attempt::score_current(r) => Cell::from(Span::styled("-", t.dim())),
        Col::Browser => match r.browser_problems {
            None => Cell::from("-"),
            Some(0) => Cell::from(Span::styled("✓", t.status(crate::run::Status::Succeeded))),
            Some(n) => Cell::from(Span::styled(format!("✗{n}"), t.error())),
        },
        Col::Task => Cell::from(cut(&first_line(&r.task), flex.task as usize)),
        Col::Reason => match attention::reason(r) {
            Some(text) => Cell::from(Span::styled(
                cut(&text, flex.reason as usize),
                match attention::need(r) {
                    Some(Need::Ready) => t.fg(Color::Green),
                    Some(_) => t.fg(Color::Red),
                    None => t.dim(),
                },
            )),
            None => Cell::from(""),
        },
        Col::Elapsed => {
            let now = crate::time::format_rfc3339(ctx.now);
            // Working time across attempts, paused time left out.
            let e = r
                .active_secs(&now)
                .map(|s| human_duration(s as i64))
                .unwrap_or_else(|| "-".into());
            Cell::from(e)
        }
        Col::Agent => Cell::from(cut(&r.agent, sizes.agent as usize)),
        Col::Tokens => Cell::from(count(r.tokens.total())),
        Col::Cost => Cell::from(cost(r.cost_usd)),
        Col::Score => Cell::from(
            r.score
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "-".into()),
        ),
        Col::Merge => Cell::from(Span::styled(
            match (&r.merge, &r.queue) {
                // In the queue: under test, or its place (1 lands next).
                (MergeState::Pending, Some(q)) if q.testing.is_some() => "testing".to_string(),
                (MergeState::Pending, Some(q)) => format!("queue {}", q.position),
                _ => r.merge.as_str().to_string(),
            },
            match r.merge {
                MergeState::Ready => t.fg(Color::Green),
                MergeState::Conflict | MergeState::Blocked => t.fg(Color::Red),
                MergeState::Merged => t.dim(),
                MergeState::Pending => t.fg(Color::Yellow),
                MergeState::None => Default::default(),
            },
        )),
        Col::Pr => Cell::from(Span::styled(
            cut(&pr::cell(r), sizes.pr as usize),
            pr_style(r, ctx),
        )),
        // Drawn by the table, which knows the hosts.
        Col::Host => Cell::from(""),
        Col::Repo => Cell::from(cut(
            sizes.repos.get(&r.repo).map_or("?", String::as_str),
            sizes.repo as usize,
        )),
        Col::Worktree => Cell::from(Span::styled(
            cut_path_left(&tilde(&r.worktree, ctx.home), flex.worktree as usize),
            if r.cleaned {
                t.dim()
            } else {
                Default::default()
            },
        )),
    }
}

/// The PR cell's colour: red for what waits for the person, green for good news, dim once the
/// forge is done with it.
fn pr_style(r: &RunSnapshot, ctx: &Ctx) -> ratatui::style::Style {
    use crate::run::{PrChecks, PrReview, PrState};
    let t = ctx.theme;
    let Some(p) = &r.pr else {
        return t.dim();
    };
    match (p.state, p.checks, p.review) {
        (PrState::Merged | PrState::Closed, _, _) => t.dim(),
        (_, PrChecks::Failing, _) | (_, _, PrReview::ChangesRequested) => t.fg(Color::Red),
        (PrState::Draft, _, _) => Default::default(),
        (_, PrChecks::Pending, _) => t.fg(Color::Yellow),
        (_, _, PrReview::Approved) | (_, PrChecks::Passing, _) => t.fg(Color::Green),
        _ => Default::default(),
    }
}
