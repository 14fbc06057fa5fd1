//! The runs table: columns chosen by what fits, selected row reversed.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};
use ratatui::Frame;

use crate::protocol::RunSnapshot;
use crate::run::MergeState;
use crate::time::{elapsed_secs, human_duration};

use super::super::app::{App, Focus};
use super::super::attention::{self, Need};
use super::super::pr;
use super::text::{cost, count, cut, cut_middle, first_line, tilde, width};
use super::{theme, Ctx};

#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// The run's pull request: number and what it waits for (`#12 ✓ approved`).
    Pr,
    /// Why the run stopped or waits for a person.
    Reason,
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
            Col::Pr => "PR",
            Col::Reason => "REASON",
            Col::Browser => "WEB",
            Col::Worktree => "WORKTREE",
        }
    }

    /// Fixed width (Task, Reason and Worktree share what is left; 0 for them).
    fn width(self, sizes: &Sizes) -> u16 {
        match self {
            Col::Id => 8,
            Col::Status => sizes.status,
            Col::Phase => 7,
            Col::Task => 0,
            Col::Elapsed => 7,
            Col::Agent => sizes.agent,
            Col::Tokens => 6,
            Col::Cost => 6,
            Col::Score => 5,
            Col::Merge => 8,
            Col::Pr => sizes.pr,
            Col::Browser => 4,
            Col::Reason | Col::Worktree => 0,
        }
    }

    /// The least a flexible column gets.
    fn min_width(self, sizes: &Sizes) -> u16 {
        match self {
            Col::Worktree => MIN_WORKTREE,
            Col::Reason => MIN_REASON,
            Col::Task => MIN_TASK,
            other => other.width(sizes),
        }
    }
}

/// Widths that depend on the runs shown.
struct Sizes {
    /// As wide as the longest agent name, within bounds.
    agent: u16,
    /// As wide as the widest status (`‖ paused (budget) ⚠`), at least 13.
    status: u16,
    /// As wide as the widest PR cell (`#1234 ✓ approved`), within bounds.
    pr: u16,
}

impl Sizes {
    fn of(runs: &[&RunSnapshot]) -> Self {
        let longest = runs.iter().map(|r| width(&r.agent)).max().unwrap_or(0);
        let status = runs
            .iter()
            .map(|r| width(&status_text(r)))
            .max()
            .unwrap_or(0);
        let pr = runs
            .iter()
            .filter(|r| r.pr.is_some())
            .map(|r| width(&pr::cell(r)))
            .max()
            .unwrap_or(0);
        Sizes {
            agent: (longest as u16).clamp(Col::Agent.title().len() as u16, MAX_AGENT),
            status: (status as u16).clamp(13, MAX_STATUS),
            pr: (pr as u16).clamp(Col::Pr.title().len() as u16, MAX_PR),
        }
    }
}

/// Columns in the order they are given up when space runs out (last first).
const PRIORITY: [Col; 13] = [
    Col::Id,
    Col::Status,
    Col::Phase,
    Col::Reason,
    Col::Merge,
    Col::Pr,
    Col::Elapsed,
    Col::Agent,
    Col::Tokens,
    Col::Cost,
    Col::Score,
    Col::Browser,
    Col::Worktree,
];
const MIN_TASK: u16 = 16;
const MIN_REASON: u16 = 16;
const MIN_WORKTREE: u16 = 18;
const MAX_AGENT: u16 = 20;
const MAX_STATUS: u16 = 22;
/// `#123456 ✓ approved`; a longer number is cut with `…`.
const MAX_PR: u16 = 18;

/// The STATUS cell: symbol, status, why flightdeck paused it, ⚠ for a warning.
fn status_text(r: &RunSnapshot) -> String {
    format!(
        "{} {}{}",
        theme::symbol(r.status),
        r.status_label(),
        if r.warning.is_some() { " ⚠" } else { "" }
    )
}

/// Which optional columns have anything to show.
#[derive(Clone, Copy, Default)]
struct Shown {
    /// Some run has had a browser check.
    browser: bool,
    /// Some run has a reason to show.
    reason: bool,
    /// Some run shown has a pull request.
    pr: bool,
}

/// The columns that fit in `width`; WEB, REASON and PR only when some run has something for
/// them (without a forge, no run has a PR, and the column would be all `-`).
fn columns(width: u16, shown: Shown, sizes: &Sizes) -> Vec<Col> {
    let mut chosen = vec![];
    let mut used = MIN_TASK + 1;
    for col in PRIORITY.into_iter().filter(|c| match c {
        Col::Browser => shown.browser,
        Col::Reason => shown.reason,
        Col::Pr => shown.pr,
        _ => true,
    }) {
        let w = col.min_width(sizes) + 1;
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

/// Widths of the flexible columns: Task, Reason, Worktree.
#[derive(Clone, Copy)]
struct Flex {
    task: u16,
    reason: u16,
    worktree: u16,
}

fn flex(cols: &[Col], flexible: u16) -> Flex {
    let worktree = if cols.contains(&Col::Worktree) {
        (flexible / 4).max(MIN_WORKTREE)
    } else {
        0
    };
    let rest = flexible.saturating_sub(worktree);
    let reason = if cols.contains(&Col::Reason) {
        (rest * 2 / 5).max(MIN_REASON)
    } else {
        0
    };
    Flex {
        task: rest.saturating_sub(reason),
        reason,
        worktree,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, ctx: &Ctx) {
    let t = ctx.theme;
    let inner_width = area.width.saturating_sub(2);
    let visible = app.visible();
    let sizes = Sizes::of(&visible);
    let shown = Shown {
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
            Row::new(
                cols.iter()
                    .map(|c| cell(*c, r, flex, &sizes, ctx))
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
            let e = r
                .started_at
                .as_deref()
                .and_then(|s| elapsed_secs(s, Some(r.finished_at.as_deref().unwrap_or(&now))))
                .map(human_duration)
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
        Col::Worktree => Cell::from(Span::styled(
            cut_middle(&tilde(&r.worktree, ctx.home), flex.worktree as usize),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_keep_the_essentials() {
        let sizes = Sizes {
            agent: 10,
            status: 13,
            pr: 15,
        };
        let none = Shown::default();
        let browser = Shown {
            browser: true,
            ..Shown::default()
        };
        let c = columns(78, none, &sizes);
        assert!(c.contains(&Col::Id) && c.contains(&Col::Status) && c.contains(&Col::Task));
        assert!(!c.contains(&Col::Worktree));
        assert!(!columns(158, none, &sizes).contains(&Col::Browser));
        assert!(columns(158, browser, &sizes).contains(&Col::Browser));
        assert!(
            !columns(78, browser, &sizes).contains(&Col::Browser),
            "WEB goes before the essentials"
        );
        let wide = columns(158, none, &sizes);
        assert!(
            wide.contains(&Col::Worktree)
                && wide.contains(&Col::Cost)
                && wide.contains(&Col::Merge)
        );
        let with_reason = Shown {
            reason: true,
            ..Shown::default()
        };
        let c = columns(78, with_reason, &sizes);
        assert!(
            c.contains(&Col::Reason) && c.contains(&Col::Merge),
            "80 columns show why runs wait"
        );
        assert_eq!(
            &c[..5],
            &[Col::Id, Col::Status, Col::Phase, Col::Task, Col::Reason]
        );
    }

    #[test]
    fn the_pr_column_comes_after_merge_and_only_with_a_pull_request() {
        let sizes = Sizes {
            agent: 10,
            status: 13,
            pr: 15,
        };
        let pr = Shown {
            pr: true,
            ..Shown::default()
        };
        assert!(!columns(158, Shown::default(), &sizes).contains(&Col::Pr));
        let wide = columns(158, pr, &sizes);
        let at = wide.iter().position(|c| *c == Col::Pr).unwrap();
        assert_eq!(wide[at - 1], Col::Merge);
        assert!(wide.contains(&Col::Worktree));
        // 120 columns (78 inside an 80-column terminal without reasons) keep it.
        assert!(columns(118, pr, &sizes).contains(&Col::Pr));
        assert!(columns(78, pr, &sizes).contains(&Col::Pr));
        // 80 columns with reasons: REASON and MERGE first; the reason names the PR.
        let both = Shown {
            reason: true,
            pr: true,
            ..Shown::default()
        };
        let c = columns(78, both, &sizes);
        assert!(c.contains(&Col::Reason) && c.contains(&Col::Merge) && !c.contains(&Col::Pr));
        assert!(columns(118, both, &sizes).contains(&Col::Pr));
    }
}
