//! Small text helpers for the terminal (cockpit cells, CLI tables): cutting to width, paths
//! with `~`, token and cost figures, and making agent-written text safe to print.

use std::borrow::Cow;
use std::path::Path;

/// Text an agent wrote, made safe for a terminal on one line: escape sequences (colours,
/// title changes, clear screen, OSC 52 clipboard writes) are dropped, line breaks and tabs
/// become spaces, and any other control character shows as `�`. Agents print whatever they
/// like; the user's terminal must only ever receive text.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
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
            c => out.push(c),
        }
    }
    Cow::Owned(out)
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

/// Cut to `max` characters, ending in `…` when cut; always printable.
pub fn cut(s: &str, max: usize) -> String {
    let s = &*printable(s);
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// Cut in the middle, keeping both ends: `~/src/…/app/3kq7x2ab`.
pub fn cut_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max < 3 {
        return cut(s, max);
    }
    let keep = max - 1;
    let head = keep / 2;
    let tail = keep - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
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
    let first = printable(lines.next().unwrap_or("")).into_owned();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
