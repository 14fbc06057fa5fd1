//! tmux for the cockpit tests: a private server, keys in, the screen out.

use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn new() -> Self {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            ok,
            "tmux is needed for the cockpit test: apt-get install tmux"
        );
        // One tmux server per Tmux, so the tests of one binary can run side by side.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Tmux {
            socket: format!("fdtest-{}-{n}", std::process::id()),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        // -u: UTF-8 whatever the locale, so the status symbols come through.
        Command::new("tmux")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux")
    }

    pub fn capture(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "fd"]).stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "fd"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(30), pred)
    }

    /// `wait_for`, for something that takes longer than the usual (a timeout of the app's).
    pub fn wait_for_within(
        &self,
        what: &str,
        patience: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `wait_for`, and then the same screen a moment later: a frame tmux caught half drawn
    /// (after a resize, say) is not taken for the app's answer.
    pub fn wait_settled(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.wait_for(what, &pred);
            std::thread::sleep(Duration::from_millis(150));
            if self.capture() == screen {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the screen kept changing:\n{screen}"
            );
        }
    }

    pub fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "fd"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

impl Tmux {
    /// Start the cockpit (the real binary, this test's home and config) in a 120x40 window.
    pub fn cockpit(&self, env: &Env, cwd: &Path) {
        self.cockpit_with(env, cwd, "")
    }

    /// The cockpit in a window of `width` x `height`.
    pub fn cockpit_sized(&self, env: &Env, cwd: &Path, width: u16, height: u16) {
        self.start(env, cwd, "", width, height)
    }

    /// The window's new size (the cockpit redraws for it).
    pub fn resize(&self, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        let out = self.cmd(&["resize-window", "-t", "fd", "-x", &w, "-y", &h]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The cockpit with extra `VAR=value ...` words before it (e.g. `SHELL=/path/to/script`).
    pub fn cockpit_with(&self, env: &Env, cwd: &Path, vars: &str) {
        self.start(env, cwd, vars, 120, 40)
    }

    fn start(&self, env: &Env, cwd: &Path, vars: &str, width: u16, height: u16) {
        let shell = format!(
            "{vars} FLIGHTDECK_HOME={} FLIGHTDECK_CONFIG={} XDG_CONFIG_HOME={} {BIN}",
            env.home.display(),
            env.config.display(),
            env.path().join("xdg").display()
        );
        let started = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "fd",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-c",
            cwd.to_str().expect("utf-8 path"),
            &shell,
        ]);
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
    }
}

impl Tmux {
    /// `flightdeck demo` (the cockpit it opens) in a 120x40 window, this test's home, no
    /// config of the test's own (the demo writes its own), `vars` before it.
    pub fn demo(&self, env: &Env, vars: &str) {
        let shell = format!(
            "env -u FLIGHTDECK_CONFIG {vars} FLIGHTDECK_HOME={} XDG_CONFIG_HOME={} {BIN} demo",
            env.home.display(),
            env.path().join("xdg").display()
        );
        let cwd = env.path().to_str().expect("utf-8 path").to_string();
        let started = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "fd",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            &cwd,
            &shell,
        ]);
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
    }
}

impl Tmux {
    /// `wait_for` with a longer deadline, for a screen that comes after a whole demo's work.
    pub fn wait_long(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
