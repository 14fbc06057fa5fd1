//! Headless Chromium for one run: started by us (so it joins the run's process group, and
//! pause and kill reach it), with a profile directory of its own, then driven over the
//! DevTools protocol with chromiumoxide, through a pipe (see `pipe`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chromiumoxide::Browser;
use futures_util::StreamExt;

use super::pipe::Pipes;

pub struct Chrome {
    pub browser: Browser,
    /// The browser's process (its tether) and the task that waits for it.
    pid: Option<u32>,
    waiter: Waiter,
    /// Turns true when the browser's process has ended.
    gone: tokio::sync::watch::Receiver<bool>,
    handler: tokio::task::JoinHandle<()>,
    bridge: tokio::task::JoinHandle<()>,
    _lifeline: crate::tether::Lifeline,
}

/// The Chromium binary: the configured one, or the first of the usual names on PATH.
pub fn find(configured: &str) -> Result<PathBuf, String> {
    if !configured.is_empty() {
        return Ok(PathBuf::from(configured));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err("no Chromium found for the browser check: install it (`apt-get install chromium`) or set [browser] chromium = \"/path/to/chrome\"".into())
}

/// Start Chromium headless in process group `pgid` (0: a group of its own), under a tether
/// (a parent holding no key, that kills it if the server dies), with `env` as its whole
/// environment and its profile in `profile`, and connect to it over a private pipe.
pub async fn launch(
    exe: &Path,
    profile: &Path,
    pgid: i32,
    (w, h): (u32, u32),
    log: std::fs::File,
    env: Vec<(OsString, OsString)>,
    owner: crate::tether::Owner<'_>,
) -> Result<Chrome, String> {
    crate::owner_only::create_dir_all(profile)
        .map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
    let mut args: Vec<String> = [
        "--headless=new",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--hide-scrollbars",
        "--mute-audio",
        "--force-device-scale-factor=1",
        "--font-render-hinting=none",
        // DevTools on fds 3 and 4 only: no port for anyone else to find.
        "--remote-debugging-pipe",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--window-size={w},{h}"));
    // Chromium's sandbox cannot run as root; elsewhere it stays on.
    if nix::unistd::geteuid().is_root() {
        args.push("--no-sandbox".into());
    }
    args.push("about:blank".into());
    let exe_text = exe.to_string_lossy();
    let (mut cmd, lifeline) = crate::tether::command(owner, &exe_text, &args, owner.run_dir)
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pipes = Pipes::new().map_err(|e| format!("cannot make a pipe: {e}"))?;
    pipes.install(&mut cmd);
    let err = log
        .try_clone()
        .map_err(|e| format!("cannot open the browser log: {e}"))?;
    cmd.env_clear()
        .envs(env)
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(pgid)
        .kill_on_drop(true);
    let mut child = owner
        .spawner
        .spawn(&mut cmd)
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = child.id();
    // One task waits for the browser's process; its end also ends the bridge, so no request
    // waits on a browser that is gone (killed with the run, say).
    let (gone_tx, gone) = tokio::sync::watch::channel(false);
    let mut waiter = tokio::spawn(async move {
        let status = child.wait().await;
        let _ = gone_tx.send(true);
        status
    });
    let (ws, bridge) = match pipes.bridge(gone.clone()).await {
        Ok(b) => b,
        Err(e) => {
            stop(pid, &mut waiter).await;
            return Err(format!("cannot talk to Chromium: {e}"));
        }
    };
    let mut ended = gone.clone();
    let connected = tokio::select! {
        c = Browser::connect(ws) => Some(c.map_err(|e| format!("cannot talk to Chromium: {e}"))),
        _ = ended.wait_for(|g| *g) => None,
    };
    let connected = match connected {
        Some(c) => c,
        None => Err(match (&mut waiter).await {
            Ok(Ok(s)) => format!(
                "Chromium ended before it was ready ({}); see browser/chromium.log",
                crate::supervisor::process::describe(&s)
            ),
            Ok(Err(e)) => format!("lost Chromium: {e}"),
            Err(e) => format!("lost Chromium: {e}"),
        }),
    };
    let (browser, mut handler) = match connected {
        Ok(c) => c,
        Err(e) => {
            bridge.abort();
            stop(pid, &mut waiter).await;
            return Err(e);
        }
    };
    let handler = tokio::spawn(async move {
        while let Some(event) = handler.next().await {
            if event.is_err() {
                break;
            }
        }
    });
    Ok(Chrome {
        browser,
        pid,
        waiter,
        gone,
        handler,
        bridge,
        _lifeline: lifeline,
    })
}

impl Chrome {
    /// Watch for the browser's process ending.
    pub fn gone(&self) -> tokio::sync::watch::Receiver<bool> {
        self.gone.clone()
    }

    /// Close the browser and make sure its process is gone.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(3), self.browser.close()).await;
        stop(self.pid, &mut self.waiter).await;
        self.handler.abort();
        self.bridge.abort();
    }
}

type Waiter = tokio::task::JoinHandle<std::io::Result<std::process::ExitStatus>>;

/// Kill the browser's process (unless it has ended: its pid may be another's by now) and wait.
async fn stop(pid: Option<u32>, waiter: &mut Waiter) {
    if let Some(pid) = pid.filter(|_| !waiter.is_finished()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = waiter.await;
}
