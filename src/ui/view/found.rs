//! A search's matches drawn: the text split into spans, the matches styled.

use ratatui::style::Style;
use ratatui::text::Span;

use super::super::search;

/// `text` in `base` style, with what matches `needle` (if any) in `hit`.
pub fn spans(text: String, base: Style, needle: Option<&str>, hit: Style) -> Vec<Span<'static>> {
    let ranges = match needle {
        Some(n) if !n.is_empty() => search::find(&text, n),
        _ => Vec::new(),
    };
    if ranges.is_empty() {
        return vec![Span::styled(text, base)];
    }
    let mut out = Vec::new();
    let mut at = 0;
    for r in ranges {
        if r.start > at {
            out.push(Span::styled(text[at..r.start].to_string(), base));
        }
        out.push(Span::styled(text[r.clone()].to_string(), hit));
        at = r.end;
    }
    if at < text.len() {
        out.push(Span::styled(text[at..].to_string(), base));
    }
    out
}
