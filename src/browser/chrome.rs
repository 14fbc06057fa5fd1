//! Headless Chromium for one run: started by us (so it joins the run's process group, and
//! pause and kill reach it), with a profile directory of its own, then driven over the
//! DevTools protocol with chromiumoxide.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chromiumoxide::Browser;
use futures_util::StreamExt;

pub struct Chrome {
    pub browser: Browser,
    child: tokio::process::Child,
    handler: tokio::task::JoinHandle<()>,
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

/// Start Chromium headless in process group `pgid` (0: a group of its own), with its profile
/// in `profile`, and connect to it.
pub async fn launch(
    exe: &Path,
    profile: &Path,
    pgid: i32,
    (w, h): (u32, u32),
    log: std::fs::File,
) -> Result<Chrome, String> {
    let _ = std::fs::remove_file(profile.join("DevToolsActivePort"));
    crate::owner_only::create_dir_all(profile)
        .map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args([
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
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--window-size={w},{h}"));
    // Chromium's sandbox cannot run as root; elsewhere it stays on.
    if nix::unistd::geteuid().is_root() {
        cmd.arg("--no-sandbox");
    }
    let err = log
        .try_clone()
        .map_err(|e| format!("cannot open the browser log: {e}"))?;
    cmd.arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(pgid)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let ws = devtools_url(profile, &mut child).await?;
    let (browser, mut handler) = Browser::connect(ws)
        .await
        .map_err(|e| format!("cannot talk to Chromium: {e}"))?;
    let handler = tokio::spawn(async move {
        while let Some(event) = handler.next().await {
            if event.is_err() {
                break;
            }
        }
    });
    Ok(Chrome {
        browser,
        child,
        handler,
    })
}

/// Chromium writes its DevTools port and path to `DevToolsActivePort` in the profile.
async fn devtools_url(profile: &Path, child: &mut tokio::process::Child) -> Result<String, String> {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = tokio::fs::read_to_string(&file).await {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return Ok(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "Chromium ended before it was ready ({}); see browser/chromium.log",
                crate::supervisor::process::describe(&status)
            ));
        }
        if Instant::now() > deadline {
            return Err("Chromium did not come up within 30 s; see browser/chromium.log".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Chrome {
    /// Close the browser and make sure its process is gone.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(3), self.browser.close()).await;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.handler.abort();
    }
}
