//! Boxes drawn over the screen: help, y/n confirmation, the retry phase choice.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use ratatui::style::Color;

use super::super::app::{retry_choices, App, Confirmable};
use super::super::gate;
use super::text::{cut, first_line, width, wrap};
use super::{centered, Ctx};

/// The help's lines beside the keymap's: what keys do in views, the status legend.
const HELP_NOTES: [&str; 4] = [
    "In a diff, a proof or the timeline pane: / searches (Enter jumps to the next match, n and N to the next and previous, Esc clears).",
    "▶ running  ‖ paused  · queued  ✓ succeeded  ✗ failed  ■ killed  ! interrupted",
    "#2 after the status: the run's second attempt (SCORE and WEB wait for its own).",
    "Keys come from [keys] in config. j/k scroll this help; Esc or ? closes it.",
];

/// `?`: every key from the keymap, one column below `SIDE_BY_SIDE` columns (two side by side
/// only where both fit whole); descriptions wrap, never cut. Taller than the screen, it
/// scrolls: `scroll` is its first line shown. Returns how many lines it has at this width.
pub fn help(frame: &mut Frame, area: Rect, app: &App, scroll: usize, ctx: &Ctx) -> usize {
    let t = ctx.theme;
    let entries = app.keymap.help();
    let key_w = entries
        .iter()
        .map(|(k, _)| width(k))
        .max()
        .unwrap_or(4)
        .max(4);
    let desc_w = entries.iter().map(|(_, d)| width(d)).max().unwrap_or(0);
    // ` keys  description` and a space after it.
    let entry_w = 1 + key_w + 2 + desc_w + 1;
    let inner = area.width.saturating_sub(2) as usize;
    let room = area.height.saturating_sub(2) as usize;
    let notes_one = HELP_NOTES.len() * 2;
    let two_columns = area.width >= super::SIDE_BY_SIDE
        && entries.len() + notes_one > room
        && 2 * entry_w <= inner;
    let w = if two_columns {
        area.width
    } else {
        (entry_w as u16 + 2).max(80).min(area.width)
    };
    let col_w = if two_columns {
        (w.saturating_sub(2) as usize) / 2
    } else {
        w.saturating_sub(2) as usize
    };
    // One entry as rows: the keys, then the description wrapped under itself.
    let entry = |(keys, what): &(String, &'static str)| -> Vec<Vec<Span<'static>>> {
        let desc_room = col_w.saturating_sub(key_w + 3).max(10);
        wrap(what, desc_room)
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let pad = col_w.saturating_sub(key_w + 3 + width(&part));
                let lead = if i == 0 { keys.as_str() } else { "" };
                vec![
                    Span::styled(format!(" {lead:<key_w$}  "), t.bold()),
                    Span::raw(part),
                    Span::raw(" ".repeat(pad)),
                ]
            })
            .collect()
    };
    let mut lines: Vec<Line> = if two_columns {
        let half = entries.len().div_ceil(2);
        (0..half)
            .map(|i| {
                let mut spans = entry(&entries[i]).swap_remove(0);
                if let Some(e) = entries.get(i + half) {
                    spans.extend(entry(e).swap_remove(0));
                }
                Line::from(spans)
            })
            .collect()
    } else {
        entries.iter().flat_map(entry).map(Line::from).collect()
    };
    for note in HELP_NOTES {
        for row in wrap(
            note,
            inner.min(w.saturating_sub(2) as usize).saturating_sub(1),
        ) {
            lines.push(Line::from(Span::styled(format!(" {row}"), t.dim())));
        }
    }
    let total = lines.len();
    let scroll = scroll.min(total.saturating_sub(room));
    let title = if total > room {
        format!(
            " keys · lines {}-{} of {total} · j/k scroll ",
            scroll + 1,
            (scroll + room).min(total)
        )
    } else {
        " keys ".to_string()
    };
    let shown: Vec<Line> = lines.into_iter().skip(scroll).take(room).collect();
    let rect = centered(area, w, shown.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(shown).block(Block::bordered().title(title)),
        rect,
    );
    total
}

pub fn confirm(
    frame: &mut Frame,
    area: Rect,
    action: Confirmable,
    run: &str,
    app: &App,
    ctx: &Ctx,
) {
    let t = ctx.theme;
    let record = app.runs.iter().find(|r| r.id == run);
    let task = record.map(|r| first_line(&r.task)).unwrap_or_default();
    let question = match action {
        Confirmable::Kill => format!("Kill run {run}? Its processes get SIGTERM, then SIGKILL."),
        Confirmable::Clean => {
            format!("Remove the worktree and branch of run {run}? The proof pack stays.")
        }
        Confirmable::Merge => format!(
            "Merge run {run} into {} of {}?",
            record
                .and_then(|r| r.target.clone())
                .unwrap_or_else(|| "its target".into()),
            record.map_or_else(
                || "its repository".into(),
                |r| super::text::repo_name(&r.repo)
            )
        ),
    };
    let w = if action == Confirmable::Merge { 76 } else { 64 }.min(area.width);
    let room = (w as usize).saturating_sub(2).max(1);
    let mut lines: Vec<Line> = wrap(&question, room).into_iter().map(Line::raw).collect();
    lines.push(Line::from(Span::styled(cut(&task, room), t.dim())));
    if let (Confirmable::Merge, Some(r)) = (action, record) {
        // The gate as the server last saw it, and what merging does to the runs waiting beside.
        lines.push(Line::raw(""));
        for row in wrap(&gate::state_line(r), room) {
            lines.push(Line::from(Span::styled(row, t.fg(Color::Green))));
        }
        for (_, effect) in r.merge_effects() {
            for (i, row) in wrap(&effect, room.saturating_sub(2))
                .into_iter()
                .enumerate()
            {
                let lead = if i == 0 { "⚠ " } else { "  " };
                lines.push(Line::from(Span::styled(
                    format!("{lead}{row}"),
                    t.fg(Color::Yellow),
                )));
            }
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", t.bold()),
        Span::raw(" yes   "),
        Span::styled("n", t.bold()),
        Span::raw(" / Esc no"),
    ]));
    let rect = centered(area, w, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    let title = match action {
        Confirmable::Kill => " kill ",
        Confirmable::Clean => " clean ",
        Confirmable::Merge => " merge ",
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title).border_style(t.error())),
        rect,
    );
}

pub fn retry(frame: &mut Frame, area: Rect, run: &str, choice: usize, rebase: bool, ctx: &Ctx) {
    let t = ctx.theme;
    let mut phases = vec![];
    for (i, p) in retry_choices(rebase).iter().enumerate() {
        let label = match p {
            Some(p) => format!(" {p} "),
            None => " rebase ".to_string(),
        };
        if i == choice {
            phases.push(Span::styled(format!("[{label}]"), t.selected()));
        } else {
            phases.push(Span::raw(format!(" {label} ")));
        }
    }
    let lines = vec![
        Line::raw(if rebase {
            format!("Run {run} again: rebase onto its target, or retry from a phase:")
        } else {
            format!("Retry run {run} from phase:")
        }),
        Line::raw(""),
        Line::from(phases),
        Line::raw(""),
        Line::from(Span::styled(
            "←/→ choose · Enter retry · Esc cancel",
            t.dim(),
        )),
    ];
    let rect = centered(area, 72.min(area.width), 7);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" retry ")),
        rect,
    );
}

/// `M`: the status messages said so far, newest first, with how long ago.
pub fn messages(frame: &mut Frame, area: Rect, app: &App, scroll: usize, ctx: &Ctx) {
    let t = ctx.theme;
    let w = 100.min(area.width);
    let room = (w as usize).saturating_sub(2 + 9);
    let mut lines: Vec<Line> = Vec::new();
    for s in app.history.iter().rev().skip(scroll) {
        let ago = app.clock.saturating_sub(s.at);
        let when = if ago < 60 {
            format!("{ago:>4}s ago")
        } else {
            format!("{:>4}m ago", ago / 60)
        };
        let style = if s.error {
            t.error()
        } else {
            Default::default()
        };
        for (i, row) in crate::text::wrap(&crate::text::printable(&s.text), room)
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { when.clone() } else { " ".repeat(9) };
            lines.push(Line::from(vec![
                Span::styled(lead, t.dim()),
                Span::raw(" "),
                Span::styled(row, style),
            ]));
        }
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let rect = centered(area, w, h.max(3));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(
            " messages ({}) · newest first · j/k · Esc closes ",
            app.history.len()
        ))),
        rect,
    );
}

/// `n` asks where first: the selected run's repository or the current directory.
pub fn pick_repo(
    frame: &mut Frame,
    area: Rect,
    choices: &[super::super::app::RepoChoice],
    choice: usize,
    ctx: &Ctx,
) {
    let t = ctx.theme;
    let w = 90.min(area.width);
    let room = (w as usize).saturating_sub(6);
    let mut lines = vec![Line::raw("Where should the new run work?"), Line::raw("")];
    for (i, c) in choices.iter().enumerate() {
        let mark = if i == choice { "▶ " } else { "  " };
        let style = if i == choice {
            t.selected()
        } else {
            Default::default()
        };
        lines.push(Line::from(Span::styled(
            format!(
                "{mark}{}",
                super::text::cut_middle(&super::text::tilde(&c.dir, ctx.home), room)
            ),
            style,
        )));
        lines.push(Line::from(Span::styled(
            format!("    {}", cut(&c.why, room)),
            t.dim(),
        )));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        "↑/↓ choose · Enter type the task · Esc cancel",
        t.dim(),
    )));
    let rect = centered(area, w, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" new run ")),
        rect,
    );
}
