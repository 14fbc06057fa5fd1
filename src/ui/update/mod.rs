//! The cockpit's update function, pure: a message changes the app and yields effects (commands
//! for the server, streams to open). The runtime carries the effects out. No IO here, so every
//! key is tested without a terminal or a server.

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use serde_json::Value;

use crate::protocol::{Command, RunSnapshot};

use super::app::{App, Connection, DocKind, Mode, Pane};

mod alerts;
mod modes;
mod normal;

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
        /// For a failed run's proof: why it failed, shown first.
        failure: Option<Box<crate::protocol::FailureSummary>>,
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

/// What `e` and `s` run (the runtime reads `$VISUAL`, `$EDITOR`, `$SHELL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Editor,
    Shell,
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
    /// Leave the screen to the program the person asked for, in the run's worktree; come
    /// back when it exits.
    Suspend {
        program: Program,
        dir: PathBuf,
    },
    /// Put this text on the clipboard (OSC 52).
    Copy {
        text: String,
    },
    /// A run started to need a person: ring the bell, and/or send this desktop notification.
    Alert {
        bell: bool,
        notify: Option<String>,
    },
}

/// Apply one message. Returns the effects and whether the screen needs redrawing.
pub fn update(app: &mut App, msg: Msg) -> (Vec<Effect>, bool) {
    let mut fx = Vec::new();
    let dirty = match msg {
        Msg::Key(key) => {
            modes::on_key(app, key, &mut fx);
            true
        }
        Msg::Runs(runs) => {
            let before = std::mem::replace(&mut app.runs, runs);
            alerts::detect(app, &before, None, &mut fx);
            after_runs_changed(app, &mut fx);
            true
        }
        Msg::Run(run) => {
            let id = run.id.clone();
            let before = app.runs.iter().find(|r| r.id == id).cloned();
            app.upsert(*run);
            alerts::detect(app, before.as_slice(), Some(&id), &mut fx);
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
        Msg::Doc {
            kind,
            run,
            text,
            failure,
        } => {
            let mut lines: Vec<String> = match &failure {
                Some(f) => super::failure::lines(&run, f),
                None => Vec::new(),
            };
            if !lines.is_empty() && !text.is_empty() {
                lines.extend([String::new(), "─".repeat(40), String::new()]);
            }
            lines.extend(text.lines().map(str::to_string));
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

pub(super) fn after_runs_changed(app: &mut App, fx: &mut Vec<Effect>) {
    let before = app.selected.clone();
    app.fix_selection();
    follow_selection(app, before, fx);
}

/// With the pane open, it shows the selected run.
pub(super) fn follow_selection(app: &mut App, before: Option<String>, fx: &mut Vec<Effect>) {
    if app.selected == before {
        return;
    }
    if let (Some(_), Some(id)) = (&app.pane, &app.selected) {
        app.pane = Some(Pane::new(id.clone()));
        fx.push(Effect::OpenTimeline { run: id.clone() });
    }
}
