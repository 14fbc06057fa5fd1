//! `d` and `v`: the run's patch, coloured like `git diff`, or its PR.md; scrollable. Above
//! the proof, the run's pull request as the forge last reported it, its URL a link.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use crate::protocol::RunSnapshot;
use crate::run::PullRequest;

use super::super::app::DocKind;
use super::super::attempt;
use super::super::pr;
use super::link::Link;
use super::text::{cut, printable, width as text_width};
use super::Ctx;

/// What the overlay took: the rows the scrolled text has (what a page is), and where the PR's
/// URL is on screen.
pub struct Drawn {
    pub rows: usize,
    pub link: Option<Link>,
}

/// The PR lines pinned above the proof's text, then a rule: `PR  #12 open · checks passing ·
/// review approved · URL`, the URL on a line of its own when both do not fit. The URL's place
/// (row, column, width) in these lines, when it can be a link.
fn pr_lines(
    pr: &PullRequest,
    width: usize,
    ctx: &Ctx,
) -> (Vec<Line<'static>>, Option<(u16, u16, u16)>) {
    let t = ctx.theme;
    let summary = pr::summary(pr);
    let url = printable(&pr.url).into_owned();
    let url_style = t.fg(Color::Cyan).add_modifier(Modifier::UNDERLINED);
    let head = |text: &str| -> Vec<Span<'static>> {
        let text = cut(text, width);
        match text.strip_prefix("PR") {
            Some(rest) => vec![Span::styled("PR", t.bold()), Span::raw(rest.to_string())],
            None => vec![Span::raw(text)],
        }
    };
    let mut out = Vec::new();
    let mut at = None;
    let linkable = pr::linkable(&pr.url);
    if url.is_empty() {
        out.push(Line::from(head(&summary)));
    } else if text_width(&summary) + 3 + text_width(&url) <= width {
        let mut spans = head(&summary);
        spans.push(Span::raw(" · "));
        let col = text_width(&summary) + 3;
        at = Some((0, col as u16, text_width(&url) as u16));
        spans.push(Span::styled(url, url_style));
        out.push(Line::from(spans));
    } else {
        out.push(Line::from(head(&summary)));
        let shown = cut(&url, width.saturating_sub(4));
        at = Some((1, 4, text_width(&shown) as u16));
        out.push(Line::from(vec![
            Span::raw("    "),
            Span::styled(shown, url_style),
        ]));
    }
    out.push(Line::from(Span::styled("─".repeat(width), t.dim())));
    (out, at.filter(|_| linkable))
}

/// A proof-pack text on screen: which, whose, scrolled how far, and a search's matches.
pub struct Doc<'a> {
    pub kind: DocKind,
    pub run: &'a str,
    pub lines: &'a [String],
    pub scroll: usize,
    /// The run as the record has it now (its PR, its attempt), not as when the view opened.
    pub record: Option<&'a RunSnapshot>,
    pub found: Option<super::pane::Found<'a>>,
    /// Columns the text is moved left by (← →).
    pub shift: usize,
}

pub fn draw(frame: &mut Frame, area: Rect, doc: &Doc, ctx: &Ctx) -> Drawn {
    let t = ctx.theme;
    let (kind, lines, scroll) = (doc.kind, doc.lines, doc.scroll);
    let pr = doc.record.and_then(|r| r.pr.as_ref());
    let rect = area;
    let width = rect.width.saturating_sub(2) as usize;
    let (mut pinned, mut at) = match (kind, pr) {
        (DocKind::Proof, Some(pr)) => pr_lines(pr, width, ctx),
        _ => (Vec::new(), None),
    };
    // While a retry runs, the files are still an earlier attempt's: said above them.
    if let Some(note) = doc.record.and_then(attempt::earlier_note) {
        pinned.insert(
            0,
            Line::from(Span::styled(cut(&note, width), t.fg(Color::Yellow))),
        );
        at = at.map(|(row, col, w)| (row + 1, col, w));
    }
    // A screen too short for the pinned lines and some text shows the text.
    if pinned.len() + 1 > rect.height.saturating_sub(2) as usize {
        pinned.clear();
    }
    let link = at.filter(|_| !pinned.is_empty()).map(|(row, col, w)| Link {
        x: rect.x + 1 + col,
        y: rect.y + 1 + row,
        width: w,
        url: pr.map(|p| p.url.clone()).unwrap_or_default(),
    });
    let height = (rect.height.saturating_sub(2) as usize).saturating_sub(pinned.len());
    let shown: Vec<Line> = lines
        .iter()
        .enumerate()
        .skip(scroll)
        .take(height)
        .map(|(i, l)| {
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
            // A line wider than the overlay ends in `…`, so a cut is never silent; ← and →
            // move the text sideways to read the rest.
            let whole = l.replace('\t', "    ");
            let text = cut(crate::text::skip_width(&whole, doc.shift), width);
            let hit = match doc.found {
                Some(f) if f.at == Some(i) => t.current_match(),
                _ => t.matched(),
            };
            Line::from(super::found::spans(
                text,
                style,
                doc.found.map(|f| f.query),
                hit,
            ))
        })
        .collect();
    pinned.extend(shown);
    let attempt = doc
        .record
        .and_then(attempt::label)
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    let wide = lines
        .iter()
        .any(|l| crate::text::width(&l.replace('\t', "    ")) > width);
    let sideways = match (doc.shift, wide) {
        (0, false) => String::new(),
        (0, true) => " · ← → sideways".into(),
        (n, _) => format!(" · from column {} · ← →", n + 1),
    };
    let title = format!(
        " {} · {}{attempt} · lines {}-{} of {}{sideways} · j/k PgUp/PgDn g/G · Esc closes ",
        match kind {
            DocKind::Patch => "patch.diff",
            DocKind::Proof => "PR.md",
            DocKind::Browser => "browser/report.md",
        },
        doc.run,
        (scroll + 1).min(lines.len()),
        (scroll + height).min(lines.len()),
        lines.len()
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(pinned).block(Block::bordered().title(title)),
        rect,
    );
    Drawn { rows: height, link }
}
