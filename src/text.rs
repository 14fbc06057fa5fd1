//! Small text helpers for the terminal (cockpit cells, CLI tables): cutting to width, paths
//! with `~`, token and cost figures.

use std::path::Path;

/// Cut to `max` characters, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
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
    let first = lines.next().unwrap_or("").to_string();
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
}
