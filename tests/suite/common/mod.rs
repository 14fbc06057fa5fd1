//! Test harness: a private FLIGHTDECK_HOME, real git repositories, the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod forge_fake;
pub mod inproc;
pub mod landing;
pub mod other_user;

pub const BIN: &str = env!("CARGO_BIN_EXE_flightdeck");

/// One test's world: its own home, config and server. Dropping it stops the server and kills
/// every run it still has.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub config: PathBuf,
    /// Extra environment for every command (and so for the server they start).
    pub vars: Vec<(String, String)>,
    /// A soft descriptor limit for every command (and the server they start), as a login
    /// shell may have; the test process's own stays as it is.
    pub soft_nofile: Option<u64>,
}

impl Env {
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let config_path = dir.path().join("flightdeck.toml");
        std::fs::write(&config_path, config).expect("write config");
        std::fs::create_dir_all(dir.path().join("xdg")).unwrap();
        Env {
            dir,
            home,
            config: config_path,
            vars: Vec::new(),
            soft_nofile: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("FLIGHTDECK_HOME", &self.home)
            .env("FLIGHTDECK_CONFIG", &self.config)
            // Keep the user's own config out of the tests.
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        if let Some(soft) = self.soft_nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: getrlimit and setrlimit are plain system calls.
            unsafe {
                c.pre_exec(move || {
                    use nix::sys::resource::{getrlimit, setrlimit, Resource};
                    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
                    setrlimit(Resource::RLIMIT_NOFILE, soft.min(hard), hard)?;
                    Ok(())
                });
            }
        }
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run flightdeck")
    }

    /// Run and expect success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "flightdeck {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run and expect failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            !out.status.success(),
            "flightdeck {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Start a run and return its id.
    pub fn start(&self, repo: &Path, agent: &str, task: &str) -> String {
        let out = self.ok(&[
            "run",
            "--repo",
            repo.to_str().unwrap(),
            "--agent",
            agent,
            task,
        ]);
        out.trim().to_string()
    }

    pub fn record(&self, id: &str) -> Value {
        self.json(&["show", id, "--json"])
    }

    /// Poll until the run's record satisfies `pred`.
    pub fn wait_for(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(id, what, Duration::from_secs(60), pred)
    }

    /// `wait_for` with its own patience, for a test whose runs queue behind each other
    /// (ten Chromiums on two cores), not one that times how long a run takes.
    pub fn wait_for_within(
        &self,
        id: &str,
        what: &str,
        patience: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let r = self.record(id);
            if pred(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} never became {what}: {r:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait_for(id, status, |r| r["status"] == status)
    }

    /// The pid of the server this home's lock names.
    pub fn server_pid(&self) -> i32 {
        std::fs::read_to_string(self.home.join("server.lock"))
            .expect("server.lock")
            .trim()
            .parse()
            .expect("a pid in server.lock")
    }

    /// SIGKILL the server and wait until it is gone.
    pub fn kill_server(&self) {
        let pid = self.server_pid();
        let killed = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(killed, "kill -9 {pid}");
        wait_until("the server to die", || !alive(pid));
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.home.join("runs").join(id)
    }

    pub fn timeline(&self, id: &str) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.run_dir(id).join("timeline.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The lines of the run's `model_calls.jsonl`.
    pub fn model_calls(&self, id: &str) -> Vec<Value> {
        std::fs::read_to_string(self.run_dir(id).join("model_calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a model_calls.jsonl line"))
            .collect()
    }

    pub fn events_of(&self, id: &str, kind: &str) -> Vec<Value> {
        self.timeline(id)
            .into_iter()
            .filter(|l| l["type"] == kind)
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // A failing test shows what the server said, which is gone with the directory.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.home.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- server.log (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = self.cmd(&["shutdown", "--kill-runs"]).output();
    }
}

/// A git repository with a few committed files, on branch `main`.
pub fn git_repo(parent: &Path, name: &str) -> PathBuf {
    let repo = parent.join(name);
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join("README.md"), "# sample\n").unwrap();
    std::fs::write(repo.join("shared.txt"), "shared log\n").unwrap();
    std::fs::write(repo.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "initial"]);
    repo
}

pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Process state letter from /proc/<pid>/stat (R, S, T, Z, ...), or None when gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.chars().next()
}

/// Whether any thread of `pid` still runs. A killed process's main thread can be a zombie
/// while its other threads are still exiting and holding its files (a server's socket still
/// accepts then), so every thread counts.
pub fn alive(pid: i32) -> bool {
    let running = |stat: String| {
        let state = stat
            .rfind(')')
            .and_then(|i| stat.get(i + 2..))
            .and_then(|s| s.chars().next());
        matches!(state, Some(s) if s != 'Z' && s != 'X')
    };
    match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => tasks
            .flatten()
            .any(|t| std::fs::read_to_string(t.path().join("stat")).is_ok_and(running)),
        Err(_) => false,
    }
}

pub fn wait_until(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pids written one per line to `file`, once it has `n` of them.
pub fn read_pids(file: &Path, n: usize) -> Vec<i32> {
    let mut pids = Vec::new();
    wait_until(&format!("{n} pids in {}", file.display()), || {
        pids = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.len() >= n
    });
    pids
}
pub mod provider;
pub mod sshd;
pub mod tmux;

/// Every regular file under `dir`, recursively (symlinks not followed; a missing dir: none).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(files_under(&p)),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
    out
}

/// Every `.rs` file under `dir` (source scans: who writes a run's state, file I/O on the runtime).
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}
