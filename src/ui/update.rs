//! The cockpit's update function, pure: a message changes the app and yields effects (commands
//! for the server, streams to open). The runtime carries the effects out. No IO here, so every
//! key is tested without a terminal or a server.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;

use crate::protocol::{Command, RunRequest, RunSnapshot};
use crate::run::Status;

use super::app::{
    default_retry_phase, App, Confirmable, Connection, DocKind, Focus, Mode, Pane, RETRY_PHASES,
};
use super::keymap::Action;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// Every run (on connect, or after falling behind).
    Runs(Vec<RunSnapshot>),
    Run(Box<RunSnapshot>),
    TimelineLines {
        run: String,
        lines: Vec<Value>,
    },
    TimelineEnded {
        run: String,
    },
    Doc {
        kind: DocKind,
        run: String,
        text: String,
    },
    /// The answer to a command sent for `what` (e.g. "pause abc").
    Done {
        what: String,
        result: Result<String, String>,
    },
    Connected,
    Disconnected(String),
    /// Which server answers, and how many runs it re-adopted at start-up.
    Server {
        pid: u32,
        adopted: usize,
    },
    Resize,
    /// Once a second, for elapsed times.
    Tick,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send {
        what: String,
        cmd: Command,
    },
    /// Stream this run's timeline into the pane (replacing any other stream).
    OpenTimeline {
        run: String,
    },
    CloseTimeline,
    LoadDoc {
        kind: DocKind,
        run: String,
    },
}

/// Apply one message. Returns the effects and whether the screen needs redrawing.
pub fn update(app: &mut App, msg: Msg) -> (Vec<Effect>, bool) {
    let mut fx = Vec::new();
    let dirty = match msg {
        Msg::Key(key) => {
            on_key(app, key, &mut fx);
            true
        }
        Msg::Runs(runs) => {
            app.runs = runs;
            after_runs_changed(app, &mut fx);
            true
        }
        Msg::Run(run) => {
            app.upsert(*run);
            after_runs_changed(app, &mut fx);
            true
        }
        Msg::TimelineLines { run, lines } => match app.pane.as_mut() {
            Some(p) if p.run == run => {
                p.push(lines);
                true
            }
            _ => false,
        },
        Msg::TimelineEnded { run } => match app.pane.as_mut() {
            Some(p) if p.run == run => {
                p.ended = true;
                true
            }
            _ => false,
        },
        Msg::Doc { kind, run, text } => {
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.is_empty() {
                let what = match kind {
                    DocKind::Patch => "no patch",
                    DocKind::Proof => "no PR.md",
                    DocKind::Browser => "no browser report (the run has had no browser check)",
                };
                app.say(format!("run {run} has {what} yet"));
            } else {
                app.mode = Mode::Doc {
                    kind,
                    run,
                    lines,
                    scroll: 0,
                };
            }
            true
        }
        Msg::Done { what, result } => {
            match result {
                Ok(text) => app.say(text),
                Err(e) => app.error(format!("{what}: {e}")),
            }
            true
        }
        Msg::Connected => {
            let was_lost = matches!(app.connection, Connection::Lost(_));
            app.connection = Connection::Connected;
            if was_lost {
                app.say("reconnected to the server");
                if let Some(p) = app.pane.as_mut() {
                    // Read the timeline afresh: the old stream ended with the server.
                    *p = Pane::new(p.run.clone());
                    fx.push(Effect::OpenTimeline { run: p.run.clone() });
                }
            }
            true
        }
        Msg::Server { pid, adopted } => {
            let restarted = match app.server {
                Some((old, _)) if old != pid => true,
                // Start-up finished adopting after we connected to the new server.
                Some((old, before)) => old == pid && app.server_restarted && before != adopted,
                None => false,
            };
            if restarted {
                app.server_restarted = true;
                app.say(format!("server restarted, {adopted} runs re-adopted"));
            }
            app.server = Some((pid, adopted));
            restarted
        }
        Msg::Disconnected(why) => {
            let changed = !matches!(&app.connection, Connection::Lost(w) if *w == why);
            app.connection = Connection::Lost(why);
            changed
        }
        Msg::Resize => true,
        Msg::Tick => app.runs.iter().any(|r| r.status.is_active()),
    };
    (fx, dirty)
}

fn after_runs_changed(app: &mut App, fx: &mut Vec<Effect>) {
    let before = app.selected.clone();
    app.fix_selection();
    follow_selection(app, before, fx);
}

/// With the pane open, it shows the selected run.
fn follow_selection(app: &mut App, before: Option<String>, fx: &mut Vec<Effect>) {
    if app.selected == before {
        return;
    }
    if let (Some(_), Some(id)) = (&app.pane, &app.selected) {
        app.pane = Some(Pane::new(id.clone()));
        fx.push(Effect::OpenTimeline { run: id.clone() });
    }
}

fn on_key(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    // ctrl-c always quits, whatever is open.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        return;
    }
    match app.mode.clone() {
        Mode::Normal => on_normal(app, key, fx),
        Mode::Help => {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
            ) {
                app.mode = Mode::Normal;
            }
        }
        Mode::Filter { mut input } => match key.code {
            KeyCode::Esc => {
                app.filter.clear();
                app.mode = Mode::Normal;
                after_runs_changed(app, fx);
            }
            KeyCode::Enter => app.mode = Mode::Normal,
            KeyCode::Backspace => {
                input.pop();
                app.filter = input.clone();
                app.mode = Mode::Filter { input };
                after_runs_changed(app, fx);
            }
            KeyCode::Char(c) => {
                input.push(c);
                app.filter = input.clone();
                app.mode = Mode::Filter { input };
                after_runs_changed(app, fx);
            }
            _ => {}
        },
        Mode::NewRun {
            mut input,
            mut agent,
        } => match key.code {
            KeyCode::Esc => app.mode = Mode::Normal,
            KeyCode::Tab | KeyCode::BackTab => {
                if !app.agents.is_empty() {
                    agent = (agent + 1) % app.agents.len();
                }
                app.mode = Mode::NewRun { input, agent };
            }
            KeyCode::Enter => {
                let task = input.trim().to_string();
                if task.is_empty() {
                    app.error("type the task first (Esc cancels)");
                    return;
                }
                let agent_name = app.agents.get(agent).map(|(n, _)| n.clone());
                fx.push(Effect::Send {
                    what: "new run".into(),
                    cmd: Command::Run(RunRequest {
                        task,
                        repo: app.repo.clone(),
                        agent: agent_name,
                        base: None,
                        config: app.config.clone(),
                    }),
                });
                app.say("starting a run…");
                app.mode = Mode::Normal;
            }
            KeyCode::Backspace => {
                input.pop();
                app.mode = Mode::NewRun { input, agent };
            }
            KeyCode::Char(c) => {
                input.push(c);
                app.mode = Mode::NewRun { input, agent };
            }
            _ => {}
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
                    Confirmable::Merge => {
                        (format!("merge {run}"), Command::Merge { run: run.clone() })
                    }
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
        Mode::Retry { run, mut choice } => match key.code {
            KeyCode::Esc | KeyCode::Char('q') => app.mode = Mode::Normal,
            KeyCode::Left | KeyCode::Char('h') | KeyCode::BackTab => {
                choice = (choice + RETRY_PHASES.len() - 1) % RETRY_PHASES.len();
                app.mode = Mode::Retry { run, choice };
            }
            KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab => {
                choice = (choice + 1) % RETRY_PHASES.len();
                app.mode = Mode::Retry { run, choice };
            }
            KeyCode::Char(c) if RETRY_PHASES.iter().any(|p| p.as_str().starts_with(c)) => {
                choice = RETRY_PHASES
                    .iter()
                    .position(|p| p.as_str().starts_with(c))
                    .unwrap_or(choice);
                app.mode = Mode::Retry { run, choice };
            }
            KeyCode::Enter => {
                let phase = RETRY_PHASES[choice];
                fx.push(Effect::Send {
                    what: format!("retry {run}"),
                    cmd: Command::Retry {
                        run,
                        phase: Some(phase),
                    },
                });
                app.mode = Mode::Normal;
            }
            _ => {}
        },
        Mode::Doc {
            kind,
            run,
            lines,
            scroll,
        } => {
            let max = lines.len().saturating_sub(1);
            let page = app.page.max(1);
            let scroll = match app.keymap.action(&key) {
                Some(Action::Up) => scroll.saturating_sub(1),
                Some(Action::Down) => (scroll + 1).min(max),
                Some(Action::PageUp) => scroll.saturating_sub(page),
                Some(Action::PageDown) => (scroll + page).min(max),
                Some(Action::Top) => 0,
                Some(Action::Bottom) => max.saturating_sub(page.saturating_sub(1)),
                Some(
                    Action::Close | Action::Quit | Action::Diff | Action::Proof | Action::Browser,
                ) => {
                    app.mode = Mode::Normal;
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

fn on_normal(app: &mut App, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(action) = app.keymap.action(&key) else {
        return;
    };
    let in_pane = app.focus == Focus::Timeline && app.pane.is_some();
    let before = app.selected.clone();
    match action {
        Action::Quit => app.quit = true,
        Action::Help => app.mode = Mode::Help,
        Action::Close => {
            if app.pane.is_some() {
                app.pane = None;
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
                app.pane = Some(Pane::new(id.clone()));
                app.focus = Focus::Timeline;
                fx.push(Effect::OpenTimeline { run: id.clone() });
            }
            (Some(_), _) => {
                app.focus = match (action, app.focus) {
                    (Action::Open, _) => Focus::Timeline,
                    (_, Focus::Table) => Focus::Timeline,
                    (_, Focus::Timeline) => Focus::Table,
                };
            }
            (None, None) => app.say("no run selected"),
        },
        Action::Filter => {
            app.mode = Mode::Filter {
                input: app.filter.clone(),
            }
        }
        Action::New => {
            let agent = app
                .agents
                .iter()
                .position(|(n, _)| *n == app.default_agent)
                .unwrap_or(0);
            app.mode = Mode::NewRun {
                input: String::new(),
                agent,
            };
        }
        Action::Pause
        | Action::Retry
        | Action::Kill
        | Action::Clean
        | Action::Diff
        | Action::Proof
        | Action::Browser
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

fn on_run_action(app: &mut App, action: Action, run: &RunSnapshot, fx: &mut Vec<Effect>) {
    let id = run.id.clone();
    match action {
        Action::Pause => {
            let (what, cmd) = match run.status {
                Status::Paused => (format!("resume {id}"), Command::Resume { run: id }),
                _ => (format!("pause {id}"), Command::Pause { run: id }),
            };
            fx.push(Effect::Send { what, cmd });
        }
        Action::Retry => {
            if !run.status.is_terminal() {
                app.error(format!(
                    "run {id} is {}; it can be retried once it has finished",
                    run.status
                ));
                return;
            }
            app.mode = Mode::Retry {
                run: id,
                choice: default_retry_phase(run),
            };
        }
        Action::Kill => {
            if run.status.is_terminal() {
                app.error(format!("run {id} has already finished ({})", run.status));
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
        Action::Merge => {
            if run.status != Status::Succeeded {
                app.error(format!(
                    "run {id} is {}; only a run that succeeded can merge",
                    run.status
                ));
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
    let page = app.page.max(1);
    let Some(p) = app.pane.as_mut() else { return };
    let max = p.lines.len().saturating_sub(1);
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
