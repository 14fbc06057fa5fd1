//! The cockpit's update function, pure: a message changes the app and yields effects (commands
//! for the server, streams to open). The runtime carries the effects out. No IO here, so every
//! key is tested without a terminal or a server.

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use serde_json::Value;

use crate::protocol::{Command, RunSnapshot};

use super::app::{App, Connection, DocKind, Mode, Pane};
use super::hosts::Link;

mod alerts;
mod modes;
mod normal;
mod search;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// Every run (on connect, or after falling behind).
    Runs(Vec<RunSnapshot>),
    Run(Box<RunSnapshot>),
    /// Lines from the timeline stream number `stream` (see `Effect::OpenTimeline`).
    TimelineLines {
        run: String,
        stream: u64,
        lines: Vec<Value>,
    },
    TimelineEnded {
        run: String,
        stream: u64,
    },
    Doc {
        kind: DocKind,
        run: String,
        text: String,
        /// For a failed run's proof: why it failed, shown first.
        failure: Option<Box<crate::protocol::FailureSummary>>,
    },
    /// The pictures of a run's browser check, decoded (none: it had no check yet).
    Pictures {
        run: String,
        pages: Vec<super::pictures::Page>,
    },
    /// The server started the run asked for (with `n`).
    Started(Box<RunSnapshot>),
    /// The answer to a command sent for `what` (e.g. "pause abc").
    Done {
        what: String,
        result: Result<String, String>,
    },
    Connected,
    Disconnected(String),
    /// Every run of remote host `host` (on connect, or after falling behind): its feed is up.
    HostRuns {
        host: String,
        runs: Vec<RunSnapshot>,
    },
    /// A run of remote host `host` changed.
    HostRun {
        host: String,
        run: Box<RunSnapshot>,
    },
    /// Remote host `host`'s feed ended or could not start; the runtime tries again.
    HostDown {
        host: String,
        why: String,
    },
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
    /// Stream this run's timeline into the pane (replacing any other stream); its messages
    /// carry `stream`, so the pane knows them from an older stream's.
    OpenTimeline {
        run: String,
        stream: u64,
    },
    CloseTimeline,
    LoadDoc {
        kind: DocKind,
        run: String,
    },
    /// Ask for the run's browser pictures (`Msg::Pictures` brings them).
    LoadPictures {
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
            for key in split_alt(key) {
                modes::on_key(app, key, &mut fx);
                if app.quit {
                    break;
                }
            }
            true
        }
        Msg::Runs(runs) => {
            let before = app.replace_runs(None, runs);
            alerts::detect(app, &before, None, &mut fx);
            after_runs_changed(app, &mut fx);
            true
        }
        Msg::Run(run) => {
            let id = run.id.clone();
            let before = app.runs.iter().find(|r| r.id == id).cloned();
            app.upsert(*run);
            alerts::detect(app, before.as_slice(), Some(&id), &mut fx);
            reopen_ended_pane(app, before.as_ref(), &id, &mut fx);
            after_runs_changed(app, &mut fx);
            true
        }
        Msg::TimelineLines { run, stream, lines } => match app.pane.as_mut() {
            Some(p) if p.run == run && p.stream == stream => {
                p.push(lines);
                true
            }
            _ => false,
        },
        Msg::TimelineEnded { run, stream } => match app.pane.as_mut() {
            Some(p) if p.run == run && p.stream == stream => {
                p.ended = true;
                // The run was retried while its old stream was ending: read the new attempt
                // (once: the new stream is opened at the run's current attempt).
                let attempt = p.attempt;
                if app.runs.iter().any(|r| r.id == run && r.attempt > attempt) {
                    open_pane(app, run, &mut fx);
                }
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
            // A failed run's PR.md quotes the failing output itself: shown once, in it.
            let output_below =
                kind == DocKind::Proof && text.contains(crate::proof::pr_change::FAILED_HEADING);
            let mut lines: Vec<String> = match &failure {
                Some(f) => super::failure::lines(&run, f, !output_below, app.doc_width),
                None => Vec::new(),
            };
            if !lines.is_empty() && !text.is_empty() {
                lines.extend([String::new(), "─".repeat(40), String::new()]);
            }
            let text_lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines.extend(match kind {
                DocKind::Patch => text_lines,
                // PR.md and the browser report: tables as aligned columns.
                DocKind::Proof | DocKind::Browser => super::markdown::align_tables(text_lines),
            });
            if lines.is_empty() {
                let said = match kind {
                    DocKind::Patch => format!("run {run} has no patch yet"),
                    DocKind::Proof => format!("run {run} has no PR.md yet"),
                    DocKind::Browser => no_browser_report(app, &run),
                };
                app.say(said);
            } else {
                app.mode = Mode::Doc {
                    kind,
                    run,
                    lines,
                    scroll: 0,
                };
                app.doc_shift = 0;
                app.search = None;
            }
            true
        }
        Msg::Pictures { run, pages } => {
            if pages.is_empty() {
                let said =
                    no_browser_report(app, &run).replace("browser report", "browser pictures");
                app.say(said);
            } else {
                app.mode = Mode::Pictures {
                    run: run.clone(),
                    page: 0,
                };
                app.gallery = Some(super::pictures::Gallery { run, pages });
                app.search = None;
            }
            true
        }
        Msg::Started(run) => {
            started(app, *run, &mut fx);
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
                if let Some(run) = app.pane.as_ref().map(|p| p.run.clone()) {
                    // Read the timeline afresh: the old stream ended with the server.
                    open_pane(app, run, &mut fx);
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
                let runs = if adopted == 1 { "run" } else { "runs" };
                app.say(format!("server restarted, {adopted} {runs} re-adopted"));
            }
            app.server = Some((pid, adopted));
            restarted
        }
        Msg::Disconnected(why) => {
            // "reconnected" is no longer true.
            if app
                .status
                .as_ref()
                .is_some_and(|s| s.text.starts_with("reconnected"))
            {
                app.status = None;
            }
            let changed = !matches!(&app.connection, Connection::Lost(w) if *w == why);
            app.connection = Connection::Lost(why);
            changed
        }
        Msg::HostRuns { host, runs } => {
            host_runs(app, &host, runs, &mut fx);
            true
        }
        Msg::HostRun { host, run } => {
            let id = run.id.clone();
            let before = app.runs.iter().find(|r| r.id == id).cloned();
            app.upsert_on(&host, *run);
            alerts::detect(app, before.as_slice(), Some(&id), &mut fx);
            reopen_ended_pane(app, before.as_ref(), &id, &mut fx);
            after_runs_changed(app, &mut fx);
            true
        }
        Msg::HostDown { host, why } => {
            let said = format!("lost host {host}: {why}");
            let lost = app.host_down(&host, why);
            // Why, for `M`; the table's title says it is stale.
            if lost {
                app.remember(said, true);
            }
            lost
        }
        Msg::Resize => true,
        Msg::Tick => {
            let expired = app.tick();
            // A stale host's time since it dropped counts up.
            expired
                || app.runs.iter().any(|r| r.status.is_active())
                || !app.stale_hosts().is_empty()
        }
    };
    (fx, dirty)
}

/// A remote host's run list: its runs replace what it said before. The first list from a
/// host is only remembered (what was already so is no news); one after the host was lost
/// catches up, and a pane on one of its runs reads the timeline afresh.
fn host_runs(app: &mut App, host: &str, runs: Vec<RunSnapshot>, fx: &mut Vec<Effect>) {
    let was = app.host_up(host);
    let before = app.replace_runs(Some(host), runs);
    if !matches!(was, Some(Link::Connecting) | None) {
        alerts::detect(app, &before, None, fx);
    }
    if let Some(Link::Lost { answered, .. }) = was {
        app.say(if answered {
            format!("reconnected to host {host}")
        } else {
            format!("connected to host {host}")
        });
        let pane_run = app.pane.as_ref().map(|p| p.run.clone());
        if let Some(run) = pane_run.filter(|r| app.host_of(r) == host) {
            open_pane(app, run, fx);
        }
    }
    after_runs_changed(app, fx);
}

/// The host an effect is for: the one its run is on (`local` for this machine, and for what
/// names no run). The runtime sends it through that host's client.
pub fn host_for<'a>(app: &'a App, fx: &Effect) -> &'a str {
    let run = match fx {
        Effect::Send { cmd, .. } => cmd.run_id(),
        Effect::OpenTimeline { run, .. }
        | Effect::LoadDoc { run, .. }
        | Effect::LoadPictures { run } => Some(run.as_str()),
        Effect::CloseTimeline
        | Effect::Suspend { .. }
        | Effect::Copy { .. }
        | Effect::Alert { .. } => None,
    };
    run.map_or(crate::config::hosts::LOCAL, |id| app.host_of(id))
}

/// Esc and a key right after it come from the terminal as one sequence, which reads as
/// Alt+key. The cockpit binds nothing to Alt: it is the two keys the person pressed.
pub fn split_alt(key: KeyEvent) -> Vec<KeyEvent> {
    use crossterm::event::{KeyCode, KeyModifiers};
    if !key.modifiers.contains(KeyModifiers::ALT) {
        return vec![key];
    }
    let mut rest = key;
    rest.modifiers.remove(KeyModifiers::ALT);
    vec![KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), rest]
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
    if let (Some(_), Some(id)) = (&app.pane, app.selected.clone()) {
        open_pane(app, id, fx);
    }
}

/// Open (or reopen) the pane on `run` with a new stream: whatever an older stream still has
/// on its way is dropped. Output-only stays as it was.
pub(super) fn open_pane(app: &mut App, run: String, fx: &mut Vec<Effect>) {
    // Another stream's lines: a search through the old ones means nothing in them.
    if app
        .search
        .as_ref()
        .is_some_and(|s| s.target == super::search::SearchIn::Pane)
    {
        app.search = None;
    }
    app.streams += 1;
    let mut pane = Pane::new(run.clone());
    pane.stream = app.streams;
    pane.output_only = app.pane.as_ref().is_some_and(|p| p.output_only);
    pane.attempt = app
        .runs
        .iter()
        .find(|r| r.id == run)
        .map_or(0, |r| r.attempt);
    app.pane = Some(pane);
    fx.push(Effect::OpenTimeline {
        run,
        stream: app.streams,
    });
}

/// A pane whose stream ended (the run had finished) reads the timeline again when the run
/// moves on: a retry (new attempt, running again) or a merge (`merge.landed` is written).
fn reopen_ended_pane(app: &mut App, before: Option<&RunSnapshot>, id: &str, fx: &mut Vec<Effect>) {
    let ended = app.pane.as_ref().is_some_and(|p| p.run == id && p.ended);
    let (Some(before), Some(now)) = (before, app.runs.iter().find(|r| r.id == id)) else {
        return;
    };
    let moved = before.status != now.status
        || before.attempt != now.attempt
        || before.merge != now.merge
        || before.phase != now.phase;
    if ended && moved {
        open_pane(app, id.to_string(), fx);
    }
}

/// Why a run has no browser report. A run that went past its browser phase without a browser
/// check recorded had none to run: its repository configures none (the record says no more).
fn no_browser_report(app: &App, id: &str) -> String {
    use crate::run::{Phase, Status};
    let Some(r) = app.runs.iter().find(|r| r.id == id) else {
        return format!("run {id} has no browser report");
    };
    let past = r.status == Status::Succeeded || r.phase > Phase::Browser;
    if past && r.browser_problems.is_none() {
        format!(
            "run {id} has no browser report: {} has no browser check configured ([browser] in its config sets one up)",
            crate::text::repo_name(&r.repo)
        )
    } else {
        format!("run {id} has no browser report yet: it has not had its browser check")
    }
}

/// The run `n` asked for is selected (and shown, if the filter hid it). The record from the
/// feed may be newer than this answer: it is kept when it came first.
fn started(app: &mut App, run: RunSnapshot, fx: &mut Vec<Effect>) {
    let id = run.id.clone();
    let before = app.selected.clone();
    if !app.runs.iter().any(|r| r.id == id) {
        app.runs.push(run);
    }
    app.say(format!("started run {id}"));
    if !app.visible().iter().any(|r| r.id == id) {
        app.filter.clear();
    }
    app.selected = Some(id);
    app.fix_selection();
    follow_selection(app, before, fx);
}
