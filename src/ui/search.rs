//! `/` in a diff, a proof or the timeline pane: the query, which line holds the current match,
//! and finding matches. Case is ignored. Pure: the update moves, the view highlights.

use std::ops::Range;

use serde_json::Value;

use super::app::{App, Mode};
use super::input::Input;

/// What a search looks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchIn {
    /// The open proof-pack text (`d`, `v`, `b`).
    Doc,
    /// The timeline pane's lines on view.
    Pane,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub input: Input,
    pub target: SearchIn,
    /// Still typing the query (the footer is its prompt); after Enter, n and N move.
    pub typing: bool,
    /// The line of the current match, once Enter, n or N found one.
    pub at: Option<usize>,
}

impl Search {
    pub fn new(target: SearchIn) -> Self {
        Self {
            input: Input::default(),
            target,
            typing: true,
            at: None,
        }
    }

    pub fn query(&self) -> &str {
        &self.input.text
    }
}

/// Where `needle` is in `hay`, ignoring case: byte ranges of `hay`, left to right, not
/// overlapping. Compared a character at a time, so a character whose lower case is longer
/// never puts a range off a character boundary.
pub fn find(hay: &str, needle: &str) -> Vec<Range<usize>> {
    let want: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    if want.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut from = 0;
    for (start, _) in hay.char_indices() {
        if start < from {
            continue;
        }
        let mut got = hay[start..].char_indices().flat_map(|(i, c)| {
            let end = start + i + c.len_utf8();
            c.to_lowercase().map(move |l| (l, end))
        });
        let mut end = start;
        let whole = want.iter().all(|w| match got.next() {
            Some((l, e)) if l == *w => {
                end = e;
                true
            }
            _ => false,
        });
        if whole {
            out.push(start..end);
            from = end;
        }
    }
    out
}

pub fn matches(hay: &str, needle: &str) -> bool {
    !find(hay, needle).is_empty()
}

/// The next matching line after `from` (forward) or before it (backward), going round the
/// end; `from` itself last. With `from` None, forward starts at the first line.
pub fn step(lines: &[String], needle: &str, from: Option<usize>, forward: bool) -> Option<usize> {
    let n = lines.len();
    if n == 0 || needle.is_empty() {
        return None;
    }
    let start = from.map_or(if forward { n - 1 } else { 0 }, |f| f.min(n - 1));
    (1..=n)
        .map(|k| {
            if forward {
                (start + k) % n
            } else {
                (start + n - k % n) % n
            }
        })
        .find(|i| matches(&lines[*i], needle))
}

/// The first matching line at or after `from`, going round the end: where Enter goes.
pub fn first_from(lines: &[String], needle: &str, from: usize) -> Option<usize> {
    step(
        lines,
        needle,
        from.checked_sub(1).or(lines.len().checked_sub(1)),
        true,
    )
}

/// How many lines match, and which of them is `at` (1-based): `(2, 7)` for the second of seven.
pub fn position(lines: &[String], needle: &str, at: Option<usize>) -> (usize, usize) {
    let mut which = 0;
    let mut total = 0;
    for (i, l) in lines.iter().enumerate() {
        if matches(l, needle) {
            total += 1;
            if Some(i) == at {
                which = total;
            }
        }
    }
    (which, total)
}

/// The lines a search looks through, as text: the open proof-pack text, or the pane's lines
/// on view.
pub fn lines(app: &App, target: SearchIn) -> Vec<String> {
    match (target, &app.mode, &app.pane) {
        (SearchIn::Doc, Mode::Doc { lines, .. }, _) => lines.clone(),
        (SearchIn::Pane, _, Some(p)) => p.shown().into_iter().map(timeline_text).collect(),
        _ => Vec::new(),
    }
}

/// A timeline line as a search sees it: its phase, type and text, as the pane shows them.
pub fn timeline_text(line: &Value) -> String {
    let field = |k: &str| line.get(k).and_then(Value::as_str).unwrap_or("");
    format!(
        "{} {} {}",
        field("phase"),
        field("type"),
        crate::proof::timeline::summary(line)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matches_ignore_case_and_keep_to_character_boundaries() {
        assert_eq!(find("Foo foo FOO", "foo"), vec![0..3, 4..7, 8..11]);
        assert_eq!(find("aaaa", "aa"), vec![0..2, 2..4]);
        assert!(find("abc", "").is_empty());
        // İ lower-cases to two characters: the range still ends on a boundary.
        let hay = "xİy é ÉTÉ";
        for r in find(hay, "é") {
            assert!(hay.is_char_boundary(r.start) && hay.is_char_boundary(r.end));
        }
        assert_eq!(find(hay, "été").len(), 1);
        let found = find("日本語のテキスト", "テキ");
        assert_eq!((found[0].start, found[0].end, found.len()), (12, 18, 1));
    }

    #[test]
    fn n_and_capital_n_go_round_the_matching_lines() {
        let l = lines(&["alpha", "beta", "Alpha two", "gamma", "alphabet"]);
        assert_eq!(first_from(&l, "alpha", 0), Some(0));
        assert_eq!(first_from(&l, "alpha", 1), Some(2));
        assert_eq!(first_from(&l, "alpha", 4), Some(4));
        assert_eq!(step(&l, "alpha", Some(2), true), Some(4));
        assert_eq!(step(&l, "alpha", Some(4), true), Some(0), "round the end");
        assert_eq!(
            step(&l, "alpha", Some(0), false),
            Some(4),
            "round the start"
        );
        assert_eq!(step(&l, "alpha", Some(4), false), Some(2));
        assert_eq!(step(&l, "nothing", Some(1), true), None);
        assert_eq!(step(&l, "gamma", Some(3), true), Some(3), "the only one");
        assert_eq!(position(&l, "alpha", Some(2)), (2, 3));
        assert_eq!(position(&l, "alpha", None), (0, 3));
    }

    #[test]
    fn a_timeline_line_is_searched_by_type_phase_and_text() {
        let v = serde_json::json!({"phase": "smoke", "type": "check.finished", "name": "unit", "passed": false});
        let text = timeline_text(&v);
        assert!(
            matches(&text, "CHECK.FIN") && matches(&text, "smoke"),
            "{text}"
        );
    }
}
