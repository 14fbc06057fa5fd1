//! The cockpit's IO: terminal, server feed, timeline stream, commands. One inbox of messages,
//! drained in batches; the screen is redrawn only when something changed, at most every
//! `MIN_FRAME`, so an idle cockpit costs next to nothing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use crossterm::event::{Event as TermEvent, KeyEventKind};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::protocol::{Command, Event, Reply};

use super::app::{App, DocKind, TIMELINE_TAIL};
use super::update::{update, Effect, Msg, Program};
use super::view::{self, theme::Theme, Ctx};

const MIN_FRAME: Duration = Duration::from_millis(33);
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// `remotes`: the hosts of `[hosts]`, each followed beside this machine's server.
pub async fn run(client: Client, remotes: Vec<Client>, mut app: App, color: bool) -> Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let input_paused = Arc::new(AtomicBool::new(false));
    spawn_input(tx.clone(), input_paused.clone());
    tokio::spawn(feed(client.clone(), tx.clone()));
    for remote in &remotes {
        tokio::spawn(super::host_feed::feed(remote.clone(), tx.clone()));
    }
    tokio::spawn(ticks(tx.clone()));

    let mut terminal = ratatui::try_init()?;
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let mut io = Io {
        client,
        remotes,
        tx,
        timeline: None,
        suspend: None,
    };
    let result: Result<()> = async {
        let mut dirty = true;
        let mut last_draw = Instant::now() - MIN_FRAME;
        loop {
            if dirty && last_draw.elapsed() >= MIN_FRAME {
                let ctx = Ctx {
                    theme: Theme { color },
                    now: time::OffsetDateTime::now_utc(),
                    home: home.as_deref(),
                };
                // Pictures drawn as graphics stay on screen under cells that did not change:
                // once they are closed, the whole screen is written afresh.
                if app.encoder.showing_graphics()
                    && !matches!(app.mode, super::app::Mode::Pictures { .. })
                {
                    terminal.clear()?;
                }
                terminal.draw(|f| {
                    view::draw(f, &mut app, &ctx);
                    view::link::apply(f.buffer_mut(), &app.links);
                })?;
                // Kitty images no longer on screen: the terminal may free them.
                let forgotten = app.encoder.take_forgotten();
                if !forgotten.is_empty() {
                    write_terminal(&forgotten);
                }
                dirty = false;
                last_draw = Instant::now();
            }
            let msg = if dirty {
                let wait = MIN_FRAME.saturating_sub(last_draw.elapsed());
                tokio::select! {
                    m = rx.recv() => m,
                    _ = tokio::time::sleep(wait) => continue,
                }
            } else {
                rx.recv().await
            };
            let Some(msg) = msg else { break };
            dirty |= io.handle(&mut app, msg);
            // Drain whatever else is waiting, then draw once for the lot.
            for _ in 0..10_000 {
                match rx.try_recv() {
                    Ok(m) => dirty |= io.handle(&mut app, m),
                    Err(_) => break,
                }
            }
            if app.quit {
                break;
            }
            if let Some((program, dir)) = io.suspend.take() {
                let outcome = suspend(&input_paused, program, &dir);
                terminal = ratatui::try_init()?;
                terminal.clear()?;
                input_paused.store(false, Ordering::SeqCst);
                dirty = true;
                if let Err(e) = outcome {
                    app.error(e);
                }
            }
        }
        Ok(())
    }
    .await;
    // Kitty images still on screen when the cockpit quits: the terminal may free them.
    app.encoder.end_frame();
    write_terminal(&app.encoder.take_forgotten());
    ratatui::restore();
    result
}

struct Io {
    client: Client,
    remotes: Vec<Client>,
    tx: UnboundedSender<Msg>,
    timeline: Option<JoinHandle<()>>,
    /// A program to hand the terminal to, once this batch of messages is done.
    suspend: Option<(Program, PathBuf)>,
}

impl Io {
    fn handle(&mut self, app: &mut App, msg: Msg) -> bool {
        let (effects, dirty) = update(app, msg);
        for fx in effects {
            // A remote run's commands, timeline and documents come from its host.
            let client = self.client_for(super::update::host_for(app, &fx));
            self.perform(client, fx);
        }
        dirty
    }

    /// Host `name`'s client (this machine's for `local`, or a host no longer configured).
    fn client_for(&self, name: &str) -> Client {
        self.remotes
            .iter()
            .find(|c| c.host_name() == name)
            .unwrap_or(&self.client)
            .clone()
    }

    fn perform(&mut self, client: Client, fx: Effect) {
        match fx {
            Effect::Send { what, cmd } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let msg = match (&cmd, client.request(&cmd).await) {
                        // The cockpit selects the run it started.
                        (Command::Run(_), Ok(Reply::Run { run })) => Msg::Started(run),
                        (_, result) => Msg::Done {
                            what,
                            result: result
                                .map(|reply| describe(&cmd, &reply))
                                .map_err(|e| e.to_string()),
                        },
                    };
                    let _ = tx.send(msg);
                });
            }
            Effect::OpenTimeline { run, stream } => {
                if let Some(t) = self.timeline.take() {
                    t.abort();
                }
                let tx = self.tx.clone();
                self.timeline = Some(tokio::spawn(stream_timeline(client, tx, run, stream)));
            }
            Effect::CloseTimeline => {
                if let Some(t) = self.timeline.take() {
                    t.abort();
                }
            }
            Effect::Suspend { program, dir } => self.suspend = Some((program, dir)),
            Effect::Copy { text } => write_terminal(&super::osc::clipboard(&text)),
            Effect::Alert { bell, notify } => {
                write_terminal(&super::osc::alert(bell, notify.as_deref()));
            }
            Effect::LoadPictures { run } => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let cmd = Command::BrowserPictures { run: run.clone() };
                    let msg = match client.request(&cmd).await {
                        // Decoding PNGs is CPU work: off the runtime's threads.
                        Ok(Reply::Pictures { run, pages }) => {
                            match tokio::task::spawn_blocking(move || {
                                super::pictures::decode(pages)
                            })
                            .await
                            {
                                Ok(pages) => Msg::Pictures { run, pages },
                                Err(e) => Msg::Done {
                                    what: format!("pictures {run}"),
                                    result: Err(e.to_string()),
                                },
                            }
                        }
                        Ok(other) => Msg::Done {
                            what: format!("pictures {run}"),
                            result: Err(format!("unexpected answer {other:?}")),
                        },
                        Err(e) => Msg::Done {
                            what: format!("pictures {run}"),
                            result: Err(e.to_string()),
                        },
                    };
                    let _ = tx.send(msg);
                });
            }
            Effect::LoadDoc { kind, run } => {
                let tx = self.tx.clone();
                let cmd = match kind {
                    DocKind::Patch => Command::Patch { run: run.clone() },
                    DocKind::Proof => Command::Proof { run: run.clone() },
                    DocKind::Browser => Command::BrowserReport { run: run.clone() },
                };
                tokio::spawn(async move {
                    let msg = match client.request(&cmd).await {
                        Ok(Reply::Patch { run, text }) => Msg::Doc {
                            kind,
                            run,
                            text,
                            failure: None,
                        },
                        Ok(Reply::Proof { run, text, failure }) => Msg::Doc {
                            kind,
                            run,
                            text,
                            failure,
                        },
                        Ok(other) => Msg::Done {
                            what: format!("diff {run}"),
                            result: Err(format!("unexpected answer {other:?}")),
                        },
                        Err(e) => Msg::Done {
                            what: format!("diff {run}"),
                            result: Err(e.to_string()),
                        },
                    };
                    let _ = tx.send(msg);
                });
            }
        }
    }
}

/// Bytes for the terminal outside the screen (bell, OSC sequences). A failed write costs
/// only the alert.
fn write_terminal(bytes: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes.as_bytes()).and_then(|()| out.flush());
}

/// What the status line says when a command went through.
fn describe(cmd: &Command, reply: &Reply) -> String {
    let id = match reply {
        Reply::Run { run } => run.id.clone(),
        _ => String::new(),
    };
    match cmd {
        Command::Run(_) => format!("started run {id}"),
        Command::Pause { .. } => format!("paused run {id}"),
        Command::Resume { .. } => format!("resumed run {id}"),
        Command::Kill { .. } => format!("killing run {id}"),
        Command::Retry { phase, .. } => format!(
            "retrying run {id} from {}",
            phase.map(|p| p.as_str()).unwrap_or("its failed phase")
        ),
        Command::Clean { .. } => format!("cleaned run {id}: worktree and branch removed"),
        Command::Merge { .. } => match reply {
            Reply::Run { run } => format!(
                "merged run {id} into {}",
                run.target.as_deref().unwrap_or("its target")
            ),
            _ => format!("merged run {id}"),
        },
        Command::Pr { .. } => match reply {
            Reply::Run { run } => super::pr::opened(run),
            _ => "pull request: done".into(),
        },
        Command::Reply { .. } => match reply {
            Reply::Done { message } => message.clone(),
            _ => "reply sent".into(),
        },
        _ => "done".into(),
    }
}

/// Leave the screen to `$VISUAL`/`$EDITOR` (else vi) or `$SHELL` (else sh) in `dir`, and
/// wait for it. The key reader stops first, so the program gets every key.
fn suspend(paused: &AtomicBool, program: Program, dir: &Path) -> Result<(), String> {
    paused.store(true, Ordering::SeqCst);
    // The key reader polls in short slices: let a slice end before the program starts.
    std::thread::sleep(INPUT_SLICE * 2);
    ratatui::restore();
    let (mut cmd, name) = command_for(program, dir);
    if program == Program::Shell {
        println!(
            "flightdeck: a shell in {}; exit it to return to the cockpit",
            dir.display()
        );
    }
    let status = cmd.current_dir(dir).status();
    match status {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "cannot start {name} in {}: {e}; set $VISUAL, $EDITOR or $SHELL",
            dir.display()
        )),
    }
}

/// The program and a name for messages: the first word of the variable is the program,
/// the rest its arguments (`code -w`).
fn command_for(program: Program, dir: &Path) -> (std::process::Command, String) {
    let var = |names: &[&str]| {
        names
            .iter()
            .filter_map(|n| std::env::var(n).ok())
            .find(|v| !v.trim().is_empty())
    };
    let line = match program {
        Program::Editor => var(&["VISUAL", "EDITOR"]).unwrap_or_else(|| "vi".into()),
        Program::Shell => var(&["SHELL"]).unwrap_or_else(|| "sh".into()),
    };
    let mut words = line.split_whitespace();
    let exe = words.next().unwrap_or("sh").to_string();
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(words);
    if program == Program::Editor {
        cmd.arg(dir);
    }
    (cmd, exe)
}

/// How long the key reader waits for a key before looking whether it should pause.
const INPUT_SLICE: Duration = Duration::from_millis(50);

/// Keys and resizes from a plain thread: crossterm's read blocks. While `paused` (a program
/// has the terminal) it reads nothing.
fn spawn_input(tx: UnboundedSender<Msg>, paused: Arc<AtomicBool>) {
    std::thread::spawn(move || loop {
        if paused.load(Ordering::SeqCst) {
            std::thread::sleep(INPUT_SLICE);
            continue;
        }
        match crossterm::event::poll(INPUT_SLICE) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => break,
        }
        if paused.load(Ordering::SeqCst) {
            continue;
        }
        let msg = match crossterm::event::read() {
            Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
            Ok(TermEvent::Resize(..)) => Msg::Resize,
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(msg).is_err() {
            break;
        }
    });
}

async fn ticks(tx: UnboundedSender<Msg>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        if tx.send(Msg::Tick).is_err() {
            break;
        }
    }
}

/// The run records feed; on loss, say so and keep trying to get back.
async fn feed(client: Client, tx: UnboundedSender<Msg>) {
    let mut first = true;
    loop {
        let stream = if first {
            // The first time, start a server if none runs.
            client.stream(&Command::Subscribe).await
        } else {
            match client.connect_existing().await {
                Some(s) => Client::send_on(s, &Command::Subscribe).await,
                None => Err(crate::client::ClientError::Connect(
                    "the server is not running".into(),
                )),
            }
        };
        first = false;
        match stream {
            Ok(mut s) => {
                let mut told = false;
                loop {
                    match s.next().await {
                        Ok(Some(Reply::Runs { runs })) => {
                            if !told {
                                let _ = tx.send(Msg::Connected);
                                told = true;
                            }
                            let _ = tx.send(Msg::Runs(runs));
                        }
                        Ok(Some(Reply::Event {
                            event: Event::Run { run },
                        })) => {
                            let _ = tx.send(Msg::Run(run));
                        }
                        Ok(Some(Reply::Event {
                            event: Event::Server { pid, adopted },
                        })) => {
                            let _ = tx.send(Msg::Server { pid, adopted });
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            let _ = tx
                                .send(Msg::Disconnected("the server closed the connection".into()));
                            break;
                        }
                        Err(e) => {
                            let _ = tx.send(Msg::Disconnected(e.to_string()));
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                if tx.send(Msg::Disconnected(e.to_string())).is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(RECONNECT_EVERY).await;
    }
}

async fn stream_timeline(client: Client, tx: UnboundedSender<Msg>, run: String, stream: u64) {
    let cmd = Command::Timeline {
        run: run.clone(),
        follow: true,
        tail: Some(TIMELINE_TAIL),
    };
    let Ok(mut s) = client.stream(&cmd).await else {
        let _ = tx.send(Msg::TimelineEnded { run, stream });
        return;
    };
    while let Ok(Some(reply)) = s.next().await {
        if let Reply::Line { line } = reply {
            let _ = tx.send(Msg::TimelineLines {
                run: run.clone(),
                stream,
                lines: vec![line],
            });
        }
    }
    let _ = tx.send(Msg::TimelineEnded { run, stream });
}
