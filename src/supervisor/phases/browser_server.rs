//! The browser phase's dev server: when it is ready (its answer, or its output matching
//! `ready = "log:…"`), and stopping its whole process group with its port free before the next
//! server starts.

use std::time::{Duration, Instant};

use crate::config::browser::BrowserConfig;
use crate::fields;
use crate::proof::kind::TimelineKind as LineKind;
use crate::run::Phase;
use crate::supervisor::context::RunCtx;

/// Which server a render's `label` names, as messages say it.
pub(super) fn whose(label: &str) -> &'static str {
    if label.is_empty() {
        "the run's dev server"
    } else {
        "the base commit's dev server"
    }
}

/// How long a stopped dev server's port may take to be free.
const PORT_WAIT: Duration = Duration::from_secs(5);

/// Stop the dev server's process group: SIGTERM (a server cleans up its lock files and
/// children), SIGKILL after `grace` for one that ignores it; then wait for its port to be free.
/// A port still bound after that is said in a `browser.warning`: no lease hands it out again
/// while it is, so the next server gets another.
pub(super) async fn stop_server(ctx: &RunCtx, pgid: i32, port: u16, grace: Duration, label: &str) {
    use crate::supervisor::process::{group_alive, send};
    use nix::sys::signal::Signal;
    if pgid <= 0 {
        return;
    }
    let whose = whose(label);
    send(pgid, Signal::SIGTERM);
    let started = Instant::now();
    let gone = |wait: Duration| async move {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if !group_alive(pgid).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        !group_alive(pgid).await
    };
    if !gone(grace).await {
        send(pgid, Signal::SIGKILL);
        ctx.emit(
            Phase::Browser,
            LineKind::BrowserWarning,
            fields! {"message" => format!(
                "{whose} ignored SIGTERM; killed after kill_grace ({} ms)",
                grace.as_millis()
            )},
        );
        gone(Duration::from_secs(5)).await;
    }
    // A socket the server's group held may linger a moment after it is gone.
    let until = Instant::now() + PORT_WAIT;
    let mut free = crate::browser::ports::free_now(port).await;
    while !free && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(25)).await;
        free = crate::browser::ports::free_now(port).await;
    }
    if !free {
        ctx.emit(
            Phase::Browser,
            LineKind::BrowserWarning,
            fields! {"message" => format!(
                "{whose}'s port {port} is still in use {} s after its process group ended (a process it started outside its group?); the next dev server gets another port",
                PORT_WAIT.as_secs()
            )},
        );
    }
    tracing::debug!(
        "dev server group {pgid} on port {port} stopped in {} ms",
        started.elapsed().as_millis()
    );
}

/// Poll the ready URL until the server answers (any status below 500), or its output until it
/// matches `ready = "log:…"`. Why it never was names the server (`label`) and ends with its log.
pub(super) async fn wait_ready(
    ctx: &RunCtx,
    server: &mut tokio::process::Child,
    url: &str,
    cfg: &BrowserConfig,
    log: &std::path::Path,
    label: &str,
) -> Result<(), String> {
    let whose = whose(label);
    let log_name = format!("browser/{label}server.log");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + cfg.ready_timeout.0;
    let pattern = match cfg.ready.strip_prefix("log:") {
        Some(p) => Some(regex::Regex::new(p).map_err(|e| format!("[browser] ready: {e}"))?),
        None => None,
    };
    let target = match &pattern {
        Some(_) => format!("output matching `{}`", &cfg.ready[4..]),
        None => format!("answer at {url}"),
    };
    loop {
        if ctx.procs.is_killing() {
            return Err("killed while the dev server started".into());
        }
        match &pattern {
            // Ready when the server's output says so, read as a person sees it: without the
            // colours Vite and Next.js add when FORCE_COLOR or CI is set.
            Some(re) => {
                let text = tokio::fs::read(log).await.unwrap_or_default();
                let text = String::from_utf8_lossy(&text);
                if re.is_match(&crate::text::without_escapes(&text)) {
                    return Ok(());
                }
            }
            None => {
                if let Ok(r) = client.get(url).send().await {
                    if r.status().as_u16() < 500 {
                        return Ok(());
                    }
                }
            }
        }
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!(
                "{whose} {} before its first {target}; {log_name} ends:\n{}",
                crate::supervisor::process::describe(&status),
                tail(log).await
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{whose} showed no {target} within {} s; {log_name} ends:\n{}",
                cfg.ready_timeout.0.as_secs(),
                tail(log).await
            ));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The last lines of the dev server's log (read from the end: a chatty server's log is big).
async fn tail(log: &std::path::Path) -> String {
    let log = log.to_path_buf();
    super::blocking(move || Ok(tail_blocking(&log)))
        .await
        .unwrap_or_default()
}

/// `tail`'s reading. Blocking.
fn tail_blocking(log: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
        let _ = f.take(2000).read_to_end(&mut text);
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
