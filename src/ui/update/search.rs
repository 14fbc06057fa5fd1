//! Keys of a search (`/`) in a proof-pack text or the timeline pane: typing the query, Enter
//! to the next match from the top of the view, n and N round the matches, Esc clears.

use crossterm::event::{KeyCode, KeyEvent};

use super::super::app::{App, Focus, Mode};
use super::super::search::{self, Search, SearchIn};

/// Start typing a new query.
pub(super) fn start(app: &mut App, target: SearchIn) {
    app.search = Some(Search::new(target));
}

/// Where the search is still about what is on screen.
fn in_view(app: &App, target: SearchIn) -> bool {
    match target {
        SearchIn::Doc => matches!(app.mode, Mode::Doc { .. }),
        SearchIn::Pane => {
            matches!(app.mode, Mode::Normal) && app.pane.is_some() && app.focus == Focus::Timeline
        }
    }
}

/// A search whose view closed (the text, the pane, the pane's focus) is gone with it.
pub(super) fn drop_stale(app: &mut App) {
    if let Some(s) = &app.search {
        let overlay = matches!(
            app.mode,
            Mode::Help { .. } | Mode::Messages { .. } | Mode::Confirm { .. } | Mode::Retry { .. }
        );
        // A pane search waits under an overlay (help, messages) for the pane to come back.
        let waits = s.target == SearchIn::Pane && overlay;
        if !in_view(app, s.target) && !waits {
            app.search = None;
        }
    }
}

/// The key, if the search takes it: all of them while typing; n, N and Esc after.
pub(super) fn on_key(app: &mut App, key: KeyEvent) -> bool {
    let Some(mut s) = app.search.clone() else {
        return false;
    };
    if !in_view(app, s.target) {
        return false;
    }
    if s.typing {
        match key.code {
            KeyCode::Esc => app.search = None,
            KeyCode::Enter => {
                s.typing = false;
                if s.query().is_empty() {
                    app.search = None;
                    return true;
                }
                let lines = search::lines(app, s.target);
                s.at = search::first_from(&lines, s.query(), top_line(app, s.target));
                app.search = Some(s.clone());
                go(app, &s, lines.len());
            }
            _ => {
                // Every other key is the query's: `q` types a q.
                s.input.edit(&key);
                s.at = None;
                app.search = Some(s);
            }
        }
        return true;
    }
    let forward = match key.code {
        KeyCode::Char('n') => true,
        KeyCode::Char('N') => false,
        KeyCode::Esc => {
            app.search = None;
            return true;
        }
        _ => return false,
    };
    let lines = search::lines(app, s.target);
    let from =
        s.at.or_else(|| top_line(app, s.target).checked_sub(1))
            .or(lines.len().checked_sub(1).filter(|_| forward));
    s.at = search::step(&lines, s.query(), from, forward);
    app.search = Some(s.clone());
    go(app, &s, lines.len());
    true
}

/// The first line on view: where Enter starts looking.
fn top_line(app: &App, target: SearchIn) -> usize {
    match (target, &app.mode, &app.pane) {
        (SearchIn::Doc, Mode::Doc { scroll, .. }, _) => *scroll,
        (SearchIn::Pane, _, Some(p)) => {
            let bottom = p.shown().len().saturating_sub(1 + p.scroll);
            bottom.saturating_sub(app.pane_rows.saturating_sub(1))
        }
        _ => 0,
    }
}

/// Bring the current match into view (a text: near the top; the pane: its bottom line), or
/// say there is none.
fn go(app: &mut App, s: &Search, total: usize) {
    let Some(at) = s.at else {
        app.error(format!(
            "no match for “{}”",
            crate::text::printable(s.query())
        ));
        return;
    };
    match s.target {
        SearchIn::Doc => {
            let page = app.doc_rows.max(1);
            if let Mode::Doc { lines, scroll, .. } = &mut app.mode {
                let max = lines.len().saturating_sub(page);
                // A little of what comes before the match stays in view.
                *scroll = at.saturating_sub(2).min(max);
            }
        }
        SearchIn::Pane => {
            if let Some(p) = app.pane.as_mut() {
                p.scroll = total.saturating_sub(1 + at);
                p.follow = p.scroll == 0;
            }
        }
    }
}
