//! The split pane: one run's timeline, newest at the bottom, following unless scrolled. Long
//! lines wrap under their text; scrolled to the top, the first line is at the top.

use std::collections::VecDeque;

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use serde_json::Value;

use crate::proof::kind::Kind;
use crate::proof::timeline::summary;

use super::super::app::{Focus, Pane};
use super::Ctx;

/// The most rows one timeline line wraps to; the rest is cut with `…`.
const MAX_ROWS_PER_LINE: usize = 12;
/// Time, phase and type before the text.
const PREFIX: usize = 8 + 1 + 7 + 1 + 16 + 1;
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
        Some(Kind::AgentOutput | Kind::AgentMessage) => Default::default(),
        _ if kind.contains("fail") || kind.contains("timeout") => t.fg(Color::Red),
        Some(Kind::RunFinished) => t.bold(),
        Some(Kind::CheckFinished) if l.get("passed") == Some(&Value::Bool(false)) => {
            t.fg(Color::Red)
        }
        _ => t.fg(Color::Cyan),
    };
    // Agents' escape sequences and control characters never reach the terminal.
    let text = super::text::printable(&summary(l)).into_owned();
    let prefix = if output_only { PREFIX_OUTPUT } else { PREFIX };
    let room = width.saturating_sub(prefix).max(10);
    let mut wrapped = super::text::wrap(&text, room);
    if wrapped.len() > MAX_ROWS_PER_LINE {
        wrapped.truncate(MAX_ROWS_PER_LINE);
        if let Some(last) = wrapped.last_mut() {
            *last = super::text::cut(&format!("{last} …"), room);
        }
    }
    let mut first = vec![Span::styled(time, t.dim()), Span::raw(" ")];
    if !output_only {
        first.extend([Span::styled(format!("{phase:<7}"), t.dim()), Span::raw(" ")]);
        first.extend(highlight(
            format!("{:<16}", super::text::cut(&kind, 16)),
            style,
            found,
        ));
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
