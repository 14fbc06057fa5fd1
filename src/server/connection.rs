//! One client connection: read a command, answer it, or stream (timeline lines, events).

use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, Notify};

use crate::conn_cap::Conn;
use crate::paths::{pack, Home};
use crate::proof::{store, summary, timeline};
use crate::protocol::{Command, Event, FailureSummary, ProtocolError, Reply};
use crate::supervisor::Handle;

use super::caller::{self, Caller};

use crate::protocol::MAX_REQUEST_BYTES as MAX_REQUEST;

/// How long a client may take to send its request; after that its connection is closed.
const REQUEST_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn handle(stream: UnixStream, conn: Conn, handle: Handle, home: Home, stop: Arc<Notify>) {
    // Who connected, as the kernel says (read now; looked into only for a command that acts).
    let peer = stream.peer_cred().ok().and_then(|c| c.pid());
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64));
    let mut line = String::new();
    // An idle client goes after a while, or sooner when a newer connection needs its place.
    let got = tokio::select! {
        r = tokio::time::timeout(REQUEST_WAIT, reader.read_line(&mut line)) => r.is_ok_and(|r| r.is_ok()),
        _ = conn.closed() => false,
    };
    if !got || line.trim().is_empty() {
        return;
    }
    let _busy = conn.busy();
    if line.len() >= MAX_REQUEST && !line.ends_with('\n') {
        let err = ProtocolError::invalid(format!(
            "the request is larger than the {} KiB the server reads; {}",
            MAX_REQUEST / 1024,
            "if it carries a task, put the details in a file in the repository and name that file in the task"
        ));
        let _ = send(&mut write, &Reply::Error { error: err }).await;
        return;
    }
    let cmd: Command = match serde_json::from_str(line.trim()) {
        Ok(c) => c,
        Err(e) => {
            let err = ProtocolError::invalid(format!(
                "malformed request ({e}); is this client the same flightdeck version as the server?"
            ));
            let _ = send(&mut write, &Reply::Error { error: err }).await;
            return;
        }
    };
    if !caller::reads_only(&cmd) {
        let runs = home.root().join("runs");
        let caller = tokio::task::spawn_blocking(move || caller::identify(peer, &runs))
            .await
            .unwrap_or(Caller::Run {
                pid: 0,
                ancestor: 0,
            });
        if caller != Caller::User {
            tracing::warn!("{}", caller::refusal(caller));
            let err = ProtocolError::refused(caller::refusal(caller));
            let _ = send(&mut write, &Reply::Error { error: err }).await;
            return;
        }
    }
    let result = match cmd {
        Command::Timeline { run, follow, tail } => {
            stream_timeline(&mut write, &handle, &home, &run, follow, tail).await
        }
        Command::Subscribe => stream_events(&mut write, &handle).await,
        Command::Show { run } => show(&mut write, &handle, &home, run).await,
        Command::Patch { run } => pack_text(&mut write, &handle, &home, run, pack::PATCH).await,
        Command::Proof { run } => pack_text(&mut write, &handle, &home, run, pack::PR).await,
        Command::BrowserReport { run } => {
            pack_text(&mut write, &handle, &home, run, "browser/report.md").await
        }
        Command::BrowserPictures { run } => pictures(&mut write, &handle, &home, run).await,
        _ if super::gone::client_gone(write.as_ref()) => {
            tracing::info!("a client went away before its request was carried out; dropped it");
            Ok(())
        }
        cmd @ Command::Shutdown { .. } => {
            let answer = handle.call(cmd).await;
            let r = send(&mut write, &to_reply(answer)).await;
            stop.notify_one();
            r
        }
        other => {
            let answer = handle.call(other).await;
            send(&mut write, &to_reply(answer)).await
        }
    };
    if let Err(e) = result {
        // The client went away; nothing to answer.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::debug!("connection ended: {e}");
        }
    }
}

/// Every connection is busy with a request: say so instead of leaving the client hanging.
pub async fn refuse_full(stream: UnixStream, cap: usize) {
    let (_read, mut write) = stream.into_split();
    let err = ProtocolError::invalid(format!(
        "the server is busy: all {cap} connections it keeps are in use; try again shortly"
    ));
    let _ = send(&mut write, &Reply::Error { error: err }).await;
}

fn to_reply(answer: Result<Reply, ProtocolError>) -> Reply {
    answer.unwrap_or_else(|error| Reply::Error { error })
}

async fn send<T: Serialize>(w: &mut OwnedWriteHalf, msg: &T) -> std::io::Result<()> {
    // Room for a list of runs without regrowing from nothing.
    let mut bytes = Vec::with_capacity(16 * 1024);
    serde_json::to_writer(&mut bytes, msg).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}

async fn show(
    w: &mut OwnedWriteHalf,
    handle: &Handle,
    home: &Home,
    run: String,
) -> std::io::Result<()> {
    match handle.call(Command::Show { run }).await {
        Ok(Reply::Run { run }) => {
            let dir = home.run_dir(&run.id);
            let proof = tokio::task::spawn_blocking(move || summary::summarize(&dir))
                .await
                .map_err(std::io::Error::other)?;
            send(
                w,
                &Reply::Shown {
                    run,
                    proof: Box::new(proof),
                },
            )
            .await
        }
        other => send(w, &to_reply(other)).await,
    }
}

/// The pictures of the run's last browser check, read off the runtime.
async fn pictures(
    w: &mut OwnedWriteHalf,
    handle: &Handle,
    home: &Home,
    run: String,
) -> std::io::Result<()> {
    match handle.call(Command::Show { run }).await {
        Ok(Reply::Run { run }) => {
            let dir = home.run_dir(&run.id);
            let pages = tokio::task::spawn_blocking(move || crate::browser::pictures::read(&dir))
                .await
                .map_err(std::io::Error::other)?;
            send(w, &Reply::Pictures { run: run.id, pages }).await
        }
        other => send(w, &to_reply(other)).await,
    }
}

/// A text file of the proof pack: `patch.diff` or `PR.md`.
async fn pack_text(
    w: &mut OwnedWriteHalf,
    handle: &Handle,
    home: &Home,
    run: String,
    file: &str,
) -> std::io::Result<()> {
    match handle.call(Command::Show { run }).await {
        Ok(Reply::Run { run }) => {
            let dir = home.run_dir(&run.id);
            let text = tokio::fs::read_to_string(dir.join(file))
                .await
                .unwrap_or_default();
            let reply = match file {
                pack::PATCH => Reply::Patch { run: run.id, text },
                pack::PR => {
                    // A failed run's proof starts with why it failed.
                    let checks = tokio::task::spawn_blocking(move || store::read_checks(&dir))
                        .await
                        .map_err(std::io::Error::other)?;
                    let failure = FailureSummary::of(&run, checks).map(Box::new);
                    Reply::Proof {
                        run: run.id,
                        text,
                        failure,
                    }
                }
                _ => Reply::Proof {
                    run: run.id,
                    text,
                    failure: None,
                },
            };
            send(w, &reply).await
        }
        other => send(w, &to_reply(other)).await,
    }
}

/// Send what the timeline holds (all, or the last `tail` lines), then with `follow` the new
/// lines as they are written, until the run finishes.
async fn stream_timeline(
    w: &mut OwnedWriteHalf,
    handle: &Handle,
    home: &Home,
    run: &str,
    follow: bool,
    tail: Option<usize>,
) -> std::io::Result<()> {
    // Subscribe before reading, so no line falls between the file and the feed.
    let mut events = handle.subscribe();
    let record = match handle
        .call(Command::Show {
            run: run.to_string(),
        })
        .await
    {
        Ok(Reply::Run { run }) => run,
        other => return send(w, &to_reply(other)).await,
    };
    let path = home.run_dir(&record.id).join(pack::TIMELINE);
    let mut last_seq = send_file_lines(w, &path, tail, 0).await?;
    let finished_in_file = |seq: u64| seq > 0 && record.status.is_terminal();
    if !follow || finished_in_file(last_seq) {
        return send(w, &Reply::End).await;
    }
    loop {
        match events.recv().await {
            Ok(Event::Timeline { run, line }) if run == record.id => {
                let seq = line.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
                if seq <= last_seq {
                    continue;
                }
                last_seq = seq;
                let done = crate::proof::kind::of(&line)
                    == Some(crate::proof::kind::TimelineKind::RunFinished);
                send(w, &Reply::Line { line }).await?;
                if done {
                    return send(w, &Reply::End).await;
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Too slow for the feed: catch up from the file.
                last_seq = send_file_lines(w, &path, None, last_seq).await?;
            }
            Err(broadcast::error::RecvError::Closed) => return send(w, &Reply::End).await,
        }
    }
}

/// Send lines with `seq` above `after`; returns the last `seq` sent (or `after`). The file is
/// read on a blocking thread and handed over through a small channel, so a huge timeline costs
/// a few lines of memory, and a client that goes away stops the reading.
async fn send_file_lines(
    w: &mut OwnedWriteHalf,
    path: &std::path::Path,
    tail: Option<usize>,
    after: u64,
) -> std::io::Result<u64> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(256);
    let p = path.to_path_buf();
    let newer = move |line: &serde_json::Value| {
        line.get("seq").and_then(|s| s.as_u64()).unwrap_or(0) > after
    };
    let reader = tokio::task::spawn_blocking(move || match tail {
        Some(n) => {
            for line in timeline::read_tail(&p, n)? {
                if newer(&line) && tx.blocking_send(line).is_err() {
                    break;
                }
            }
            Ok(())
        }
        None => timeline::for_each(&p, |line| !newer(&line) || tx.blocking_send(line).is_ok()),
    });
    let mut last = after;
    while let Some(line) = rx.recv().await {
        let seq = line.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
        last = last.max(seq);
        send(w, &Reply::Line { line }).await?;
    }
    reader.await.map_err(std::io::Error::other)??;
    Ok(last)
}

/// How often a quiet feed says the server is still there (`Event::Server` again), so a client
/// over a link that stays up can tell a stuck server from one with nothing to say.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

/// The cockpit's feed: every run now, then every change as it happens, and a heartbeat.
async fn stream_events(w: &mut OwnedWriteHalf, handle: &Handle) -> std::io::Result<()> {
    let mut events = handle.subscribe();
    let runs = handle.call(Command::List).await;
    send(w, &to_reply(runs)).await?;
    let mut server = None;
    if let Ok(Reply::Pong { pid, adopted, .. }) = handle.call(Command::Ping).await {
        let event = Event::Server { pid, adopted };
        server = Some(event.clone());
        send(w, &Reply::Event { event }).await?;
    }
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.reset();
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = beat.tick() => {
                if let Some(event) = server.clone() {
                    send(w, &Reply::Event { event }).await?;
                }
                continue;
            }
        };
        match event {
            // Timeline lines have their own stream (`Timeline`); this feed carries records.
            Ok(event @ (Event::Run { .. } | Event::Server { .. })) => {
                if let Event::Server { .. } = &event {
                    server = Some(event.clone());
                }
                send(w, &Reply::Event { event }).await?
            }
            Ok(Event::Timeline { .. } | Event::RadarScanned { .. }) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let runs = handle.call(Command::List).await;
                send(w, &to_reply(runs)).await?;
            }
            Err(broadcast::error::RecvError::Closed) => return send(w, &Reply::End).await,
        }
    }
}
