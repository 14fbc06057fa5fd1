//! PR.md for the terminal: its tables drawn as aligned columns instead of raw pipes. Pure text.

use crate::text::width;

/// `lines` with each run of table rows (`| a | b |`) aligned: cells padded to their column's
/// display width and parted by `│`, the `|---|` row drawn as a rule. Other lines as they are.
pub fn align_tables(lines: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    let mut table: Vec<String> = Vec::new();
    for line in lines {
        if is_row(&line) {
            table.push(line);
            continue;
        }
        out.extend(render(&std::mem::take(&mut table)));
        out.push(line);
    }
    out.extend(render(&table));
    out
}

fn is_row(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 2 && t.starts_with('|') && t.ends_with('|')
}

/// The cells of one row; `\|` stays a pipe inside a cell.
fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let inner = &t[1..t.len() - 1];
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(s) = cells.last_mut() {
                    s.push('|');
                }
            }
            '|' => cells.push(String::new()),
            c => {
                if let Some(s) = cells.last_mut() {
                    s.push(c)
                }
            }
        }
    }
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

/// `---`, `:---`, `---:`, `:---:`.
fn is_rule(cells: &[String]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|c| {
            let c = c.trim_matches(':');
            !c.is_empty() && c.chars().all(|ch| ch == '-')
        })
}

fn render(rows: &[String]) -> Vec<String> {
    if rows.is_empty() {
        return Vec::new();
    }
    let parsed: Vec<Vec<String>> = rows.iter().map(|r| cells(r)).collect();
    let columns = parsed.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in parsed.iter().filter(|r| !is_rule(r)) {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(c));
        }
    }
    parsed
        .iter()
        .map(|row| {
            if is_rule(row) {
                return widths
                    .iter()
                    .map(|w| "─".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("─┼─");
            }
            let padded: Vec<String> = (0..columns)
                .map(|i| {
                    let c = row.get(i).map(String::as_str).unwrap_or("");
                    format!("{c}{}", " ".repeat(widths[i].saturating_sub(width(c))))
                })
                .collect();
            padded.join(" │ ").trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn tables_line_up_and_the_rest_stays() {
        let md = "## Checks\n\n| check | result | time |\n| --- | :---: | ---: |\n| unit | ✅ passed | 5.3 s |\n| lint \\| fmt | 失敗 | 1 s |\n\nScore **0.92**";
        assert_eq!(
            align_tables(lines(md)),
            vec![
                "## Checks",
                "",
                "check      │ result    │ time",
                "───────────┼───────────┼──────",
                "unit       │ ✅ passed │ 5.3 s",
                "lint | fmt │ 失敗      │ 1 s",
                "",
                "Score **0.92**",
            ]
        );
    }
}
