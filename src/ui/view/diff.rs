//! `d` and `v`: the run's patch, coloured like `git diff`, or its PR.md; scrollable.

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::super::app::DocKind;
use super::Ctx;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    kind: DocKind,
    run: &str,
    lines: &[String],
    scroll: usize,
    ctx: &Ctx,
) {
    let t = ctx.theme;
    let rect = area;
    let height = rect.height.saturating_sub(2) as usize;
    let width = rect.width.saturating_sub(2) as usize;
    let shown: Vec<Line> = lines
        .iter()
        .skip(scroll)
        .take(height)
        .map(|l| {
            let style = match kind {
                DocKind::Proof | DocKind::Browser if l.starts_with('#') => t.bold(),
                DocKind::Proof | DocKind::Browser => Default::default(),
                _ if l.starts_with("diff --git")
                    || l.starts_with("+++")
                    || l.starts_with("---") =>
                {
                    t.bold()
                }
                _ if l.starts_with('+') => t.fg(Color::Green),
                _ if l.starts_with('-') => t.fg(Color::Red),
                _ if l.starts_with("@@") => t.fg(Color::Cyan),
                _ => Default::default(),
            };
            // A line wider than the overlay ends in `…`, so a cut is never silent.
            Line::from(Span::styled(
                super::text::cut(&l.replace('\t', "    "), width),
                style,
            ))
        })
        .collect();
    let title = format!(
        " {} · {run} · lines {}-{} of {} · j/k PgUp/PgDn g/G · Esc closes ",
        match kind {
            DocKind::Patch => "patch.diff",
            DocKind::Proof => "PR.md",
            DocKind::Browser => "browser/report.md",
        },
        (scroll + 1).min(lines.len()),
        (scroll + height).min(lines.len()),
        lines.len()
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(shown).block(Block::bordered().title(title)),
        rect,
    );
}
