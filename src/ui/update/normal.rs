//! Keys on the table and the timeline pane: moving, opening, and the run actions.

use crossterm::event::KeyEvent;

use crate::protocol::{Command, RunSnapshot};
use crate::run::Status;

use super::super::app::{default_retry_phase, App, Confirmable, DocKind, Focus, Mode, RepoChoice};
use super::super::keymap::Action;
use super::super::search::SearchIn;
use super::{after_runs_changed, follow_selection, open_pane, Effect, Program};

pub(super) fn on_normal(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(action) = app.keymap.action(&key) else {
        return;
    };
    let in_pane = app.focus == Focus::Timeline && app.pane.is_some();
    let before = app.selected.clone();
    match action {
        Action::Quit => app.quit = true,
        Action::Help => app.mode = Mode::Help { scroll: 0 },
        Action::AllRuns => {
            app.show_all = !app.show_all;
            app.say(if app.show_all {
                "showing every run, old cleaned ones too (a hides them)"
            } else {
                "hiding cleaned runs older than a day (a shows them)"
            });
        }
        Action::Messages => {
            if app.history.is_empty() {
                app.say("no status messages yet");
            } else {
                app.mode = Mode::Messages { scroll: 0 };
            }
        }
        Action::Close => {
            if app.pane.is_some() {
                app.pane = None;
                app.zoom = false;
                app.focus = Focus::Table;
                fx.push(Effect::CloseTimeline);
            } else if !app.filter.is_empty() {
                app.filter.clear();
                after_runs_changed(app, fx);
            }
            app.status = None;
        }
        Action::Up
        | Action::Down
        | Action::Top
        | Action::Bottom
        | Action::PageUp
        | Action::PageDown
            if in_pane =>
        {
            scroll_pane(app, action)
        }
        Action::Up => move_by(app, -1),
        Action::Down => move_by(app, 1),
        Action::PageUp => move_by(app, -(app.page.max(1) as isize)),
        Action::PageDown => move_by(app, app.page.max(1) as isize),
        Action::Top => app.select_index(0),
        Action::Bottom => app.select_index(usize::MAX),
        Action::Open | Action::Focus => match (&app.pane, &app.selected) {
            (None, Some(id)) => {
                open_pane(app, id.clone(), fx);
                app.focus = Focus::Timeline;
            }
            (Some(_), _) => {
                app.focus = match (action, app.focus) {
                    (Action::Open, _) => Focus::Timeline,
                    (_, Focus::Table) => Focus::Timeline,
                    (_, Focus::Timeline) => Focus::Table,
                };
                // The table is hidden while the pane is zoomed: going to it unzooms.
                if app.focus == Focus::Table {
                    app.zoom = false;
                }
            }
            (None, None) => app.say("no run selected"),
        },
        Action::Zoom => match (&app.pane, &app.selected) {
            (Some(_), _) => {
                app.zoom = !app.zoom;
                app.focus = Focus::Timeline;
            }
            (None, Some(id)) => {
                open_pane(app, id.clone(), fx);
                app.focus = Focus::Timeline;
                app.zoom = true;
            }
            (None, None) => app.say("no run selected"),
        },
        Action::OutputOnly => match app.pane.as_mut() {
            Some(p) => {
                p.output_only = !p.output_only;
                // A different set of lines: start again at the bottom.
                p.scroll = 0;
                p.follow = true;
                let only = p.output_only;
                app.search = None;
                app.say(if only {
                    "timeline: the agent's output only (o shows every step)"
                } else {
                    "timeline: every step"
                });
            }
            None => app.say("open a timeline first (Enter)"),
        },
        // With the timeline pane focused, `/` searches its lines; else it filters the table.
        Action::Filter if in_pane => super::search::start(app, SearchIn::Pane),
        Action::Filter => {
            app.mode = Mode::Filter {
                input: super::super::input::Input::new(&app.filter),
            }
        }
        Action::New => new_run(app),
        Action::Pause
        | Action::Retry
        | Action::Kill
        | Action::Clean
        | Action::Diff
        | Action::Proof
        | Action::Browser
        | Action::Pictures
        | Action::Edit
        | Action::Shell
        | Action::CopyPath
        | Action::CopyUrl
        | Action::Pr
        | Action::Reply
        | Action::Merge => {
            let Some(run) = app.selected_run().cloned() else {
                app.say("no run selected");
                return;
            };
            on_run_action(app, action, &run, fx);
        }
    }
    follow_selection(app, before, fx);
}

pub(super) fn on_run_action(
    app: &mut App,
    action: Action,
    run: &RunSnapshot,
    fx: &mut Vec<Effect>,
) {
    let id = run.id.clone();
    let host = app.host_of(&id).to_string();
    match action {
        // A remote run's worktree is on its host, not here.
        Action::Edit | Action::Shell if host != crate::config::hosts::LOCAL => {
            app.error(format!(
                "run {id} is on host {host}: its worktree {} is there, not on this machine",
                run.worktree.display()
            ));
        }
        // What may be done is the server's to say (`allowed`); the cockpit only asks it.
        Action::Pause => {
            let (what, cmd, no) = match run.status {
                Status::Paused => (
                    format!("resume {id}"),
                    Command::Resume { run: id.clone() },
                    &run.allowed.resume,
                ),
                _ => (
                    format!("pause {id}"),
                    Command::Pause { run: id.clone() },
                    &run.allowed.pause,
                ),
            };
            if let Some(why) = no {
                app.error(format!("cannot {what}: {}", why.keys()));
                return;
            }
            fx.push(Effect::Send { what, cmd });
        }
        Action::Retry => {
            if let Some(why) = &run.allowed.retry {
                app.error(format!("cannot retry run {id}: {}", why.keys()));
                return;
            }
            app.mode = Mode::Retry {
                run: id,
                choice: default_retry_phase(run),
                rebase: super::super::app::rebase_first(run),
            };
        }
        Action::Kill => {
            if let Some(why) = &run.allowed.kill {
                app.error(format!("cannot kill run {id}: {}", why.keys()));
                return;
            }
            app.mode = Mode::Confirm {
                action: Confirmable::Kill,
                run: id,
            };
        }
        Action::Clean => {
            app.mode = Mode::Confirm {
                action: Confirmable::Clean,
                run: id,
            }
        }
        Action::Diff => fx.push(Effect::LoadDoc {
            kind: DocKind::Patch,
            run: id,
        }),
        Action::Proof => fx.push(Effect::LoadDoc {
            kind: DocKind::Proof,
            run: id,
        }),
        Action::Browser => fx.push(Effect::LoadDoc {
            kind: DocKind::Browser,
            run: id,
        }),
        Action::Pictures => fx.push(Effect::LoadPictures { run: id }),
        Action::Edit | Action::Shell | Action::CopyPath if run.cleaned => {
            app.error(format!(
                "run {id} has no worktree any more (cleaned); its proof pack stays: v, d"
            ));
        }
        Action::Edit => fx.push(Effect::Suspend {
            program: Program::Editor,
            dir: run.worktree.clone(),
        }),
        Action::Shell => fx.push(Effect::Suspend {
            program: Program::Shell,
            dir: run.worktree.clone(),
        }),
        Action::CopyPath => {
            let path = run.worktree.display().to_string();
            app.say(format!(
                "copied {path} to the clipboard (OSC 52: the terminal must allow it)"
            ));
            fx.push(Effect::Copy { text: path });
        }
        // Whether the run may have a pull request (succeeded, a target, `[forge]` configured)
        // is the server's to say: its refusal comes back in the status line.
        Action::Pr => {
            let verb = if run.pr.is_some() {
                "updating"
            } else {
                "opening"
            };
            app.say(format!(
                "run {id}: pushing its branch and {verb} its pull request…"
            ));
            fx.push(Effect::Send {
                what: format!("pull request for {id}"),
                cmd: Command::Pr { run: id },
            });
        }
        Action::CopyUrl => match &run.pr {
            Some(pr) => {
                let url = pr.url.clone();
                app.say(format!(
                    "copied {} to the clipboard (OSC 52: the terminal must allow it)",
                    crate::text::printable(&url)
                ));
                fx.push(Effect::Copy { text: url });
            }
            None => {
                let open = app
                    .keymap
                    .first_key(Action::Pr)
                    .map(|k| format!(" ({k} opens one)"))
                    .unwrap_or_default();
                app.error(format!("run {id} has no pull request{open}"));
            }
        },
        Action::Reply => {
            // The server sends the agent round again as a retry from the agent phase would.
            if let Some(why) = &run.allowed.retry {
                app.error(format!("cannot reply to run {id}: {}", why.keys()));
                return;
            }
            app.mode = Mode::Reply {
                run: id,
                input: Default::default(),
            };
        }
        Action::Merge => {
            if let Some(why) = super::super::gate::refusal(run) {
                app.error(format!("run {id} cannot merge: {why}"));
                return;
            }
            app.mode = Mode::Confirm {
                action: Confirmable::Merge,
                run: id,
            }
        }
        _ => {}
    }
}

/// `n`: the prompt, in the current directory's repository when that is plainly where the
/// person works (a git repository, and the selected run's if one is selected); else first the
/// question where.
fn new_run(app: &mut App) {
    let here = app.repo.clone();
    let theirs = app.selected_run().map(|r| r.repo.clone());
    if app.repo_is_git && theirs.as_ref().is_none_or(|r| *r == here) {
        start_prompt(app, here);
        return;
    }
    let mut choices = Vec::new();
    if let Some(dir) = theirs.filter(|r| *r != here) {
        choices.push(RepoChoice {
            dir,
            why: "the selected run's repository".into(),
        });
    }
    choices.push(RepoChoice {
        dir: here,
        why: if app.repo_is_git {
            "the current directory's repository".into()
        } else {
            "the current directory: not a git repository, the run works on a copy".into()
        },
    });
    app.mode = Mode::PickRepo { choices, choice: 0 };
}

/// The task prompt for a run in `repo`, the default agent picked.
pub(super) fn start_prompt(app: &mut App, repo: std::path::PathBuf) {
    // The default agent, or the first that can start here when it cannot.
    let agents = &app.agents;
    let agent = agents
        .iter()
        .position(|a| a.name == app.default_agent && a.unavailable.is_none())
        .or_else(|| agents.iter().position(|a| a.unavailable.is_none()))
        .or_else(|| agents.iter().position(|a| a.name == app.default_agent))
        .unwrap_or(0);
    app.mode = Mode::NewRun {
        input: Default::default(),
        agent,
        repo,
    };
}

fn move_by(app: &mut App, delta: isize) {
    let len = app.visible().len();
    if len == 0 {
        return;
    }
    let cur = app.selected_index().unwrap_or(0) as isize;
    let next = (cur + delta).clamp(0, len as isize - 1) as usize;
    app.select_index(next);
}

fn scroll_pane(app: &mut App, action: Action) {
    let rows = app.pane_rows.max(1);
    let page = rows;
    let Some(p) = app.pane.as_mut() else { return };
    // Scrolled all the way up, the first line is at the top of the pane, not alone on it.
    let max = p.shown().len().saturating_sub(rows);
    match action {
        Action::Up => p.scroll = (p.scroll + 1).min(max),
        Action::PageUp => p.scroll = (p.scroll + page).min(max),
        Action::Down => p.scroll = p.scroll.saturating_sub(1),
        Action::PageDown => p.scroll = p.scroll.saturating_sub(page),
        Action::Top => p.scroll = max,
        Action::Bottom => p.scroll = 0,
        _ => {}
    }
    // Scrolling up leaves follow mode; reaching the bottom (End / G) returns to it.
    p.follow = p.scroll == 0;
}
