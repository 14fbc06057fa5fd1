//! The split pane: one run's timeline, newest at the bottom, following unless scrolled.

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use serde_json::Value;

use crate::proof::timeline::summary;

use super::super::app::{Focus, Pane};
use super::Ctx;

pub fn draw(frame: &mut Frame, area: Rect, pane: &Pane, focus: Focus, ctx: &Ctx) {
    let t = ctx.theme;
    let height = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let end = pane.lines.len().saturating_sub(pane.scroll);
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = pane
        .lines
        .range(start..end)
        .map(|l| line(l, width, ctx))
        .collect();
    let state = if pane.follow {
        if pane.ended {
            "ended"
        } else {
            "following"
        }
    } else {
        "scrolled · G follows"
    };
    let mut block = Block::bordered().title(format!(" timeline {} · {state} ", pane.run));
    if focus == Focus::Timeline {
        block = block.border_style(t.bold());
    }
    let body = if lines.is_empty() {
        vec![Line::from(Span::styled("(no lines yet)", t.dim()))]
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(body).block(block), area);
}

fn line<'a>(l: &Value, width: usize, ctx: &Ctx) -> Line<'a> {
    let t = ctx.theme;
    let ts = l.get("ts").and_then(Value::as_str).unwrap_or("");
    let time = super::text::printable(ts.get(11..19).unwrap_or(ts)).into_owned();
    let field = |k: &str| {
        super::text::printable(l.get(k).and_then(Value::as_str).unwrap_or("?")).into_owned()
    };
    let phase = field("phase");
    let kind = field("type");
    let style = match kind.as_str() {
        "agent.output" => Default::default(),
        k if k.contains("fail") || k.contains("timeout") => t.fg(Color::Red),
        "run.finished" => t.bold(),
        "check.finished" if l.get("passed") == Some(&Value::Bool(false)) => t.fg(Color::Red),
        _ => t.fg(Color::Cyan),
    };
    // Agents' escape sequences and control characters never reach the terminal.
    let text = super::text::printable(&summary(l)).into_owned();
    let prefix_len = 8 + 1 + 7 + 1 + 16 + 1;
    let room = width.saturating_sub(prefix_len);
    Line::from(vec![
        Span::styled(time, t.dim()),
        Span::raw(" "),
        Span::styled(format!("{phase:<7}"), t.dim()),
        Span::raw(" "),
        Span::styled(format!("{:<16}", super::text::cut(&kind, 16)), style),
        Span::raw(" "),
        Span::raw(super::text::cut(&text, room.max(10))),
    ])
}
