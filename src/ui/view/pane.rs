//! The split pane: one run's timeline, newest at the bottom, following unless scrolled. Long
//! lines wrap under their text; scrolled to the top, the first line is at the top.

use std::collections::VecDeque;

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use serde_json::Value;

use crate::proof::kind::TimelineKind;
use crate::proof::timeline::{split_multi_line, summary};

use super::super::app::{Focus, Pane};
use super::Ctx;

/// The most rows one timeline line wraps to; the rest is cut with `…`.
const MAX_ROWS_PER_LINE: usize = 12;
/// The type's column: most types fit; a longer one is shown whole, its text starting later.
const KIND_COLUMN: usize = 16;
/// Time, phase and type before the text.
const PREFIX: usize = 8 + 1 + 7 + 1 + KIND_COLUMN + 1;
/// Only the time, when the pane shows the agent's output only.
const PREFIX_OUTPUT: usize = 8 + 1;

/// What a search in the pane highlights: its query and the line of the current match.
#[derive(Clone, Copy)]
pub struct Found<'a> {
    pub query: &'a str,
    pub at: Option<usize>,
}

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    pane: &Pane,
    focus: Focus,
    found: Option<Found>,
    ctx: &Ctx,
) {
    let t = ctx.theme;
    let hit = |i: usize| {
        found.map(|f| {
            let style = if f.at == Some(i) {
                t.current_match()
            } else {
                t.matched()
            };
            (f.query, style)
        })
    };
    let height = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let shown = pane.shown();
    let end = shown.len().saturating_sub(pane.scroll);
    // From the bottom line up until the pane is full...
    let mut rows: VecDeque<Line> = VecDeque::new();
    let mut i = end;
    while i > 0 && rows.len() < height {
        i -= 1;
        for l in line(shown[i], width, pane.output_only, hit(i), ctx)
            .into_iter()
            .rev()
        {
            rows.push_front(l);
        }
    }
    while rows.len() > height {
        rows.pop_front();
    }
    // ...and when the first line is reached with room to spare, the lines below it follow.
    let mut j = end;
    while rows.len() < height && j < shown.len() {
        rows.extend(line(shown[j], width, pane.output_only, hit(j), ctx));
        j += 1;
    }
    rows.truncate(height);
    let state = if pane.follow {
        if pane.ended {
            "ended"
        } else {
            "following"
        }
    } else {
        "scrolled · G follows"
    };
    let only = if pane.output_only {
        " · agent output only"
    } else {
        ""
    };
    let attempt = if pane.attempt > 1 {
        format!(" #{}", pane.attempt)
    } else {
        String::new()
    };
    let title = format!("timeline {}{attempt} · {state}{only} ", pane.run);
    let block = if focus == Focus::Timeline {
        Block::bordered()
            .title(Span::styled(
                format!(" {}{title}", super::theme::FOCUS_MARK),
                t.focused(),
            ))
            .border_style(t.focused())
    } else {
        Block::bordered().title(format!(" {title}"))
    };
    let body: Vec<Line> = if rows.is_empty() {
        vec![Line::from(Span::styled("(no lines yet)", t.dim()))]
    } else {
        rows.into()
    };
    frame.render_widget(Paragraph::new(body).block(block), area);
}

/// One timeline line as rows: the first with time, phase and type; the rest of a long text
/// below, under the text.
fn line<'a>(
    l: &Value,
    width: usize,
    output_only: bool,
    found: Option<(&str, ratatui::style::Style)>,
    ctx: &Ctx,
) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let ts = l.get("ts").and_then(Value::as_str).unwrap_or("");
    let time = super::text::printable(ts.get(11..19).unwrap_or(ts)).into_owned();
    let field = |k: &str| {
        super::text::printable(l.get(k).and_then(Value::as_str).unwrap_or("?")).into_owned()
    };
    let phase = field("phase");
    let kind = field("type");
    let style = match crate::proof::kind::of(l) {
        Some(TimelineKind::AgentOutput | TimelineKind::AgentMessage) => Default::default(),
        _ if kind.contains("fail") || kind.contains("timeout") => t.fg(Color::Red),
        Some(TimelineKind::RunFinished) => t.bold(),
        Some(TimelineKind::CheckFinished) if l.get("passed") == Some(&Value::Bool(false)) => {
            t.fg(Color::Red)
        }
        _ => t.fg(Color::Cyan),
    };
    // Agents' escape sequences and control characters never reach the terminal. A field of
    // many lines (a check's output) is shown as lines, under the text.
    let (head, below) = split_multi_line(l);
    let text = super::text::printable(&summary(&head)).into_owned();
    let prefix = if output_only { PREFIX_OUTPUT } else { PREFIX };
    let room = width.saturating_sub(prefix).max(10);
    // A type longer than its column is shown whole: the text after it starts later.
    let kind_over = if output_only {
        0
    } else {
        super::text::width(&kind).saturating_sub(KIND_COLUMN)
    };
    let mut wrapped = super::text::wrap(&text, room.saturating_sub(kind_over).max(10));
    if kind_over > 0 && wrapped.len() > 1 {
        let rest = wrapped.split_off(1).join(" ");
        wrapped.extend(super::text::wrap(&rest, room));
    }
    let mut under: Vec<String> = Vec::new();
    for b in below {
        let indent = b.len() - b.trim_start().len();
        let pad = " ".repeat(indent);
        under.extend(
            super::text::wrap(b.trim_start(), room.saturating_sub(indent).max(10))
                .into_iter()
                .map(|r| format!("{pad}{r}")),
        );
    }
    // The text gets half the rows when a many-line field follows it.
    let head_rows = if under.is_empty() {
        MAX_ROWS_PER_LINE
    } else {
        MAX_ROWS_PER_LINE / 2
    };
    if wrapped.len() > head_rows {
        wrapped.truncate(head_rows);
        if let Some(last) = wrapped.last_mut() {
            *last = super::text::cut(&format!("{last} …"), room);
        }
    }
    // Of a long output, its end (where a failure says what failed).
    let left = MAX_ROWS_PER_LINE - wrapped.len();
    if under.len() > left && left >= 3 {
        // The first row (the field's name, or the text going on) stays, then a marker.
        let skip = under.len() - left + 2;
        under.drain(1..1 + skip);
        under.insert(1, format!("  … {skip} earlier row(s): v or logs show all"));
    } else {
        under.truncate(left);
    }
    wrapped.extend(under);
    let mut first = vec![Span::styled(time, t.dim()), Span::raw(" ")];
    if !output_only {
        first.extend([Span::styled(format!("{phase:<7}"), t.dim()), Span::raw(" ")]);
        first.extend(highlight(format!("{kind:<KIND_COLUMN$}"), style, found));
        first.push(Span::raw(" "));
    }
    let mut rows = Vec::with_capacity(wrapped.len());
    for (n, part) in wrapped.into_iter().enumerate() {
        if n == 0 {
            first.extend(highlight(part, style, found));
            rows.push(Line::from(std::mem::take(&mut first)));
        } else {
            let mut spans = vec![Span::raw(" ".repeat(prefix))];
            spans.extend(highlight(part, style, found));
            rows.push(Line::from(spans));
        }
    }
    rows
}

fn highlight(
    text: String,
    style: ratatui::style::Style,
    found: Option<(&str, ratatui::style::Style)>,
) -> Vec<Span<'static>> {
    match found {
        Some((query, hit)) => super::found::spans(text, style, Some(query), hit),
        None => vec![Span::styled(text, style)],
    }
}
