//! The runs table: columns chosen by what fits, selected row reversed.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::RunSnapshot;
use crate::time::{elapsed_secs, human_duration};

use super::super::app::{App, Focus};
use super::text::{cost, count, cut, cut_middle, first_line, tilde};
use super::{theme, Ctx};

#[derive(Clone, Copy, PartialEq)]
enum Col {
    Id,
    Status,
    Phase,
    Task,
    Elapsed,
    Agent,
    Tokens,
    Cost,
    Score,
    Merge,
    /// The browser check: ✓, or ✗ and how many problems.
    Browser,
    Worktree,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Id => "ID",
            Col::Status => "STATUS",
            Col::Phase => "PHASE",
            Col::Task => "TASK",
            Col::Elapsed => "ELAPSED",
            Col::Agent => "AGENT",
            Col::Tokens => "TOKENS",
            Col::Cost => "COST",
            Col::Score => "SCORE",
            Col::Merge => "MERGE",
            Col::Browser => "WEB",
            Col::Worktree => "WORKTREE",
        }
    }

    /// Fixed width (Task and Worktree share what is left).
    fn width(self) -> u16 {
        match self {
            Col::Id => 8,
            Col::Status => 13,
            Col::Phase => 7,
            Col::Task => 0,
            Col::Elapsed => 7,
            Col::Agent => 10,
            Col::Tokens => 6,
            Col::Cost => 6,
            Col::Score => 5,
            Col::Merge => 8,
            Col::Browser => 4,
            Col::Worktree => 0,
        }
    }
}

/// Columns in the order they are given up when space runs out (last first).
const PRIORITY: [Col; 11] = [
    Col::Id,
    Col::Status,
    Col::Phase,
    Col::Elapsed,
    Col::Agent,
    Col::Tokens,
    Col::Cost,
    Col::Score,
    Col::Merge,
    Col::Browser,
    Col::Worktree,
];
const MIN_TASK: u16 = 16;
const MIN_WORKTREE: u16 = 18;

/// The columns that fit in `width`; WEB only when some run has had a browser check.
fn columns(width: u16, browser: bool) -> Vec<Col> {
    let mut chosen = vec![];
    let mut used = MIN_TASK + 1;
    for col in PRIORITY
        .into_iter()
        .filter(|c| browser || *c != Col::Browser)
    {
        let w = if col == Col::Worktree {
            MIN_WORKTREE
        } else {
            col.width()
        } + 1;
        if used + w <= width {
            used += w;
            chosen.push(col);
        } else {
            break;
        }
    }
    // Display order: the task after the phase.
    let pos = chosen
        .iter()
        .position(|c| *c == Col::Phase)
        .map_or(chosen.len(), |p| p + 1);
    chosen.insert(pos, Col::Task);
    chosen
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, ctx: &Ctx) {
    let t = ctx.theme;
    let inner_width = area.width.saturating_sub(2);
    let cols = columns(
        inner_width,
        app.runs.iter().any(|r| r.browser_problems.is_some()),
    );
    let fixed: u16 = cols.iter().map(|c| c.width() + 1).sum();
    let flexible = inner_width.saturating_sub(fixed);
    let (task_w, wt_w) = if cols.contains(&Col::Worktree) {
        let wt = (flexible / 3).max(MIN_WORKTREE);
        (flexible.saturating_sub(wt), wt)
    } else {
        (flexible, 0)
    };
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| match c {
            Col::Task => Constraint::Length(task_w),
            Col::Worktree => Constraint::Length(wt_w),
            other => Constraint::Length(other.width()),
        })
        .collect();

    let visible = app.visible();
    let rows: Vec<Row> = visible
        .iter()
        .map(|r| {
            Row::new(
                cols.iter()
                    .map(|c| cell(*c, r, task_w, wt_w, ctx))
                    .collect::<Vec<_>>(),
            )
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
    let mut block = Block::bordered().title(title);
    if app.focus == Focus::Table || app.pane.is_none() {
        block = block.border_style(t.bold());
    }
    let mut table = Table::new(rows, widths);
    if stale {
        table = table.style(t.dim());
    }
    let table = table
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(t.selected());
    let mut state = TableState::default().with_selected(app.selected_index());
    frame.render_stateful_widget(table, area, &mut state);
}

fn cell<'a>(col: Col, r: &RunSnapshot, task_w: u16, wt_w: u16, ctx: &Ctx) -> Cell<'a> {
    let t = ctx.theme;
    match col {
        Col::Id => Cell::from(r.id.clone()),
        Col::Status => Cell::from(Span::styled(
            format!(
                "{} {}{}",
                theme::symbol(r.status),
                r.status,
                if r.warning.is_some() { " ⚠" } else { "" }
            ),
            t.status(r.status),
        )),
        Col::Phase => Cell::from(r.phase.as_str()),
        Col::Browser => match r.browser_problems {
            None => Cell::from("-"),
            Some(0) => Cell::from(Span::styled("✓", t.status(crate::run::Status::Succeeded))),
            Some(n) => Cell::from(Span::styled(format!("✗{n}"), t.error())),
        },
        Col::Task => Cell::from(cut(&first_line(&r.task), task_w as usize)),
        Col::Elapsed => {
            let now = crate::time::format_rfc3339(ctx.now);
            let e = r
                .started_at
                .as_deref()
                .and_then(|s| elapsed_secs(s, Some(r.finished_at.as_deref().unwrap_or(&now))))
                .map(human_duration)
                .unwrap_or_else(|| "-".into());
            Cell::from(e)
        }
        Col::Agent => Cell::from(cut(&r.agent, 10)),
        Col::Tokens => Cell::from(count(r.tokens.total())),
        Col::Cost => Cell::from(cost(r.cost_usd)),
        Col::Score => Cell::from(
            r.score
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "-".into()),
        ),
        Col::Merge => Cell::from(r.merge.as_str()),
        Col::Worktree => Cell::from(Span::styled(
            cut_middle(&tilde(&r.worktree, ctx.home), wt_w as usize),
            if r.cleaned {
                t.dim()
            } else {
                Default::default()
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_keep_the_essentials() {
        let c = columns(78, false);
        assert!(c.contains(&Col::Id) && c.contains(&Col::Status) && c.contains(&Col::Task));
        assert!(!c.contains(&Col::Worktree));
        assert!(!columns(158, false).contains(&Col::Browser));
        assert!(columns(158, true).contains(&Col::Browser));
        assert!(
            !columns(78, true).contains(&Col::Browser),
            "WEB goes before the essentials"
        );
        let wide = columns(158, false);
        assert!(
            wide.contains(&Col::Worktree)
                && wide.contains(&Col::Cost)
                && wide.contains(&Col::Merge)
        );
    }
}
