//! Keys while something is open: help, the filter and new-run prompts, y/n questions, the
//! retry phase choice, a proof-pack text.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::protocol::{Command, RunRequest};

use super::super::app::{App, Confirmable, DocKind, Mode};
use super::super::keymap::Action;
use super::super::search::SearchIn;
use super::{after_runs_changed, normal, search, Effect};

pub(super) fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    // ctrl-c always quits, whatever is open.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        return;
    }
    if !search::on_key(app, key) {
        on_mode_key(app, key, fx);
    }
    search::drop_stale(app);
}

fn on_mode_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    match app.mode.clone() {
        Mode::Normal => normal::on_normal(app, key, fx),
        Mode::Help { scroll } => {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
            ) {
                app.mode = Mode::Normal;
                return;
            }
            let page = app.doc_rows.max(1);
            let max = app.help_lines.saturating_sub(page);
            let action = app.keymap.action(&key);
            let scroll = action
                .and_then(|a| scrolled(a, scroll, page, max))
                .unwrap_or(scroll);
            app.mode = Mode::Help { scroll };
        }
        Mode::Filter { mut input } => match key.code {
            KeyCode::Esc => {
                app.filter.clear();
                app.mode = Mode::Normal;
                after_runs_changed(app, fx);
            }
            KeyCode::Enter => app.mode = Mode::Normal,
            _ => {
                if input.edit(&key) {
                    app.filter = input.text.clone();
                    app.mode = Mode::Filter { input };
                    after_runs_changed(app, fx);
                }
            }
        },
        Mode::PickRepo { choices, choice } => match key.code {
            KeyCode::Esc | KeyCode::Char('q') => {
                app.mode = Mode::Normal;
                app.say("cancelled");
            }
            KeyCode::Up
            | KeyCode::Down
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::Tab
            | KeyCode::BackTab
            | KeyCode::Char('j' | 'k') => {
                let choice = (choice + 1) % choices.len().max(1);
                app.mode = Mode::PickRepo { choices, choice };
            }
            KeyCode::Enter | KeyCode::Char('y') => {
                if let Some(c) = choices.get(choice) {
                    normal::start_prompt(app, c.dir.clone());
                }
            }
            _ => {}
        },
        Mode::NewRun {
            mut input,
            mut agent,
            repo,
        } => match key.code {
            KeyCode::Esc => app.mode = Mode::Normal,
            KeyCode::Tab | KeyCode::BackTab => {
                if !app.agents.is_empty() {
                    agent = (agent + 1) % app.agents.len();
                }
                app.mode = Mode::NewRun { input, agent, repo };
            }
            KeyCode::Enter => {
                let task = input.text.trim().to_string();
                if task.is_empty() {
                    app.error("type the task first (Esc cancels)");
                    return;
                }
                if let Some(why) = app.agents.get(agent).and_then(|a| a.unavailable.clone()) {
                    // Nothing is made for an agent that cannot start: say why, keep the task.
                    let name = app.agents[agent].name.clone();
                    app.error(format!(
                        "agent `{name}` cannot start here: {why} (Tab picks another)"
                    ));
                    app.mode = Mode::NewRun { input, agent, repo };
                    return;
                }
                let agent_name = app.agents.get(agent).map(|a| a.name.clone());
                fx.push(Effect::Send {
                    what: "new run".into(),
                    cmd: Command::Run(RunRequest {
                        task,
                        repo,
                        agent: agent_name,
                        base: None,
                        config: app.config.clone(),
                        gateway: None,
                        id: None,
                    }),
                });
                app.say("starting a run…");
                app.mode = Mode::Normal;
            }
            _ => {
                if input.edit(&key) {
                    app.mode = Mode::NewRun { input, agent, repo };
                }
            }
        },
        Mode::Reply { run, mut input } => match key.code {
            KeyCode::Esc => {
                app.mode = Mode::Normal;
                app.say("cancelled");
            }
            KeyCode::Enter => {
                let text = input.text.trim().to_string();
                if text.is_empty() {
                    app.error("type what the agent should do (Esc cancels)");
                    return;
                }
                fx.push(Effect::Send {
                    what: format!("reply to {run}"),
                    cmd: Command::Reply {
                        run: run.clone(),
                        text,
                    },
                });
                app.say(format!("run {run}: sending your words to its agent…"));
                app.mode = Mode::Normal;
            }
            _ => {
                if input.edit(&key) {
                    app.mode = Mode::Reply { run, input };
                }
            }
        },
        Mode::Confirm { action, run } => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                let (what, cmd) = match action {
                    Confirmable::Kill => {
                        (format!("kill {run}"), Command::Kill { run: run.clone() })
                    }
                    Confirmable::Clean => (
                        format!("clean {run}"),
                        Command::Clean {
                            run: run.clone(),
                            force: false,
                        },
                    ),
                    Confirmable::Merge => (
                        format!("merge {run}"),
                        Command::Merge {
                            run: run.clone(),
                            no_wait: true,
                        },
                    ),
                };
                fx.push(Effect::Send { what, cmd });
                app.mode = Mode::Normal;
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                app.mode = Mode::Normal;
                app.say("cancelled");
            }
            _ => {}
        },
        Mode::Retry {
            run,
            mut choice,
            rebase,
        } => {
            let choices = super::super::app::retry_choices(rebase);
            let label = |c: &Option<crate::run::Phase>| c.map_or("rebase", |p| p.as_str());
            match key.code {
                KeyCode::Esc | KeyCode::Char('q') => app.mode = Mode::Normal,
                KeyCode::Left | KeyCode::Char('h') | KeyCode::BackTab => {
                    choice = (choice + choices.len() - 1) % choices.len();
                    app.mode = Mode::Retry {
                        run,
                        choice,
                        rebase,
                    };
                }
                KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab => {
                    choice = (choice + 1) % choices.len();
                    app.mode = Mode::Retry {
                        run,
                        choice,
                        rebase,
                    };
                }
                KeyCode::Char(c) if choices.iter().any(|p| label(p).starts_with(c)) => {
                    choice = choices
                        .iter()
                        .position(|p| label(p).starts_with(c))
                        .unwrap_or(choice);
                    app.mode = Mode::Retry {
                        run,
                        choice,
                        rebase,
                    };
                }
                KeyCode::Enter => {
                    let cmd = match choices.get(choice).copied().flatten() {
                        Some(phase) => Command::Retry {
                            run: run.clone(),
                            phase: Some(phase),
                        },
                        None => Command::Rebase {
                            run: run.clone(),
                            by_hand: false,
                        },
                    };
                    let verb = if matches!(cmd, Command::Rebase { .. }) {
                        "rebase"
                    } else {
                        "retry"
                    };
                    fx.push(Effect::Send {
                        what: format!("{verb} {run}"),
                        cmd,
                    });
                    app.mode = Mode::Normal;
                }
                _ => {}
            }
        }
        Mode::Messages { scroll } => {
            let max = app.history.len().saturating_sub(1);
            let scroll = match app.keymap.action(&key) {
                Some(Action::Up) => scroll.saturating_sub(1),
                Some(Action::Down) => (scroll + 1).min(max),
                Some(Action::Top) => 0,
                Some(Action::Bottom) => max,
                Some(Action::Close | Action::Quit | Action::Messages) => {
                    app.mode = Mode::Normal;
                    return;
                }
                _ => scroll,
            };
            app.mode = Mode::Messages { scroll };
        }
        Mode::Pictures { run, page } => {
            let pages = app.gallery.as_ref().map_or(0, |g| g.pages.len());
            let last = pages.saturating_sub(1);
            let action = app.keymap.action(&key);
            let page = match (key.code, action) {
                (KeyCode::Left | KeyCode::Char('h'), _)
                | (_, Some(Action::Up | Action::PageUp)) => page.saturating_sub(1),
                (KeyCode::Right | KeyCode::Char('l'), _)
                | (_, Some(Action::Down | Action::PageDown)) => (page + 1).min(last),
                (_, Some(Action::Top)) => 0,
                (_, Some(Action::Bottom)) => last,
                (_, Some(Action::Close | Action::Quit | Action::Pictures)) => {
                    app.mode = Mode::Normal;
                    app.gallery = None;
                    return;
                }
                // The report the pictures belong to.
                (_, Some(Action::Browser)) => {
                    app.mode = Mode::Normal;
                    app.gallery = None;
                    fx.push(Effect::LoadDoc {
                        kind: DocKind::Browser,
                        run,
                    });
                    return;
                }
                _ => page,
            };
            app.mode = Mode::Pictures { run, page };
        }
        Mode::Doc {
            kind,
            run,
            lines,
            scroll,
        } => {
            // The overlay's own height, not the table's.
            let page = app.doc_rows.max(1);
            let max = lines.len().saturating_sub(page);
            // ← and → move the text sideways, so a line wider than the overlay can be read.
            let shift = app.doc_width.max(8) / 2;
            let widest = lines
                .iter()
                .map(|l| crate::text::width(l))
                .max()
                .unwrap_or(0);
            match key.code {
                KeyCode::Right => {
                    app.doc_shift = (app.doc_shift + shift).min(widest.saturating_sub(shift));
                }
                KeyCode::Left => app.doc_shift = app.doc_shift.saturating_sub(shift),
                _ => {}
            }
            let action = app.keymap.action(&key);
            let moved = action.and_then(|a| scrolled(a, scroll, page, max));
            let scroll = match action {
                _ if moved.is_some() => moved.unwrap_or(scroll),
                Some(
                    Action::Close | Action::Quit | Action::Diff | Action::Proof | Action::Browser,
                ) => {
                    app.mode = Mode::Normal;
                    return;
                }
                Some(Action::Filter) => {
                    search::start(app, SearchIn::Doc);
                    scroll
                }
                // From the browser report to its pictures.
                Some(Action::Pictures) if kind == DocKind::Browser => {
                    app.mode = Mode::Normal;
                    fx.push(Effect::LoadPictures { run });
                    return;
                }
                // What the failure summary and the PR line offer, on the run they are about.
                Some(
                    a @ (Action::Retry
                    | Action::Edit
                    | Action::Shell
                    | Action::CopyPath
                    | Action::CopyUrl
                    | Action::Reply
                    | Action::Pr),
                ) => {
                    let found = app.runs.iter().find(|r| r.id == run).cloned();
                    // Copying and `P` need no screen: the view stays, the answer is in the
                    // footer. The others leave it.
                    app.mode = if matches!(a, Action::CopyPath | Action::CopyUrl | Action::Pr) {
                        Mode::Doc {
                            kind,
                            run,
                            lines,
                            scroll,
                        }
                    } else {
                        Mode::Normal
                    };
                    if let Some(r) = found {
                        normal::on_run_action(app, a, &r, fx);
                    }
                    return;
                }
                _ => scroll,
            };
            app.mode = Mode::Doc {
                kind,
                run,
                lines,
                scroll,
            };
        }
    }
}

/// Where a scrolling key takes a view of `page` rows scrolled to `scroll` (at most `max`);
/// None for a key that does not scroll.
fn scrolled(action: Action, scroll: usize, page: usize, max: usize) -> Option<usize> {
    Some(match action {
        Action::Up => scroll.saturating_sub(1),
        Action::Down => (scroll + 1).min(max),
        Action::PageUp => scroll.saturating_sub(page),
        Action::PageDown => (scroll + page).min(max),
        Action::Top => 0,
        Action::Bottom => max,
        _ => return None,
    })
}
