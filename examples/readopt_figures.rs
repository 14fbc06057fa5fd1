//! Prints how long a new server takes to re-adopt live runs (a measurement, not a test):
//! 100 runs whose agents sleep, the server killed with SIGKILL, then the time from starting a
//! new server to its log saying every run was re-adopted, and to every run's timeline having
//! its `run.adopted` line.
//!
//! cargo build --release && cargo run --release --example readopt_figures [RUNS]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let bin = binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let config = dir.path().join("flightdeck.toml");
    std::fs::write(
        &config,
        format!("max_parallel = {n}\n\n[agents.sleeper]\ncommand = [\"sleep\", \"1000\"]\n"),
    )
    .expect("write config");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "readopt\n").expect("write");
    git(&repo, &["add", "."]);
    git(
        &repo,
        &[
            "-c",
            "user.name=f",
            "-c",
            "user.email=f@f",
            "commit",
            "-qm",
            "init",
        ],
    );
    let fd = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .env("FLIGHTDECK_HOME", &home)
            .env("FLIGHTDECK_CONFIG", &config)
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .output()
            .expect("run flightdeck");
        assert!(
            out.status.success(),
            "flightdeck {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let repo_s = repo.to_str().expect("utf-8");
    let ids: Vec<String> = (0..n)
        .map(|i| {
            fd(&[
                "run",
                "--repo",
                repo_s,
                "--agent",
                "sleeper",
                &format!("sleep {i}"),
            ])
            .trim()
            .to_string()
        })
        .collect();
    let running = || {
        let v: serde_json::Value = serde_json::from_str(&fd(&["ls", "--json"])).expect("ls --json");
        v.as_array()
            .map(|a| a.iter().filter(|r| r["status"] == "running").count())
            .unwrap_or(0)
    };
    let t = Instant::now();
    while running() < n {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "runs never all started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let every agent get under way (its shim recorded).
    while ids
        .iter()
        .any(|id| !home.join("runs").join(id).join("shim.json").exists())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = std::fs::read_to_string(home.join("server.lock"))
        .expect("server.lock")
        .trim()
        .to_string();
    Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    std::thread::sleep(Duration::from_millis(500));
    println!("{n} live runs, server {pid} killed with SIGKILL");

    let log = home.join("server.log");
    let before = std::fs::read_to_string(&log).unwrap_or_default().len();
    let started = Instant::now();
    fd(&["serve", "--detach"]);
    let answering = started.elapsed();
    let adopted_line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text[before.min(text.len())..]
            .lines()
            .find(|l| l.contains("re-adopted"))
        {
            break line.to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no adoption");
        std::thread::sleep(Duration::from_millis(5));
    };
    let adopted = started.elapsed();
    while ids.iter().any(|id| {
        !std::fs::read_to_string(home.join("runs").join(id).join("timeline.jsonl"))
            .unwrap_or_default()
            .contains("\"run.adopted\"")
    }) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let followed = started.elapsed();
    println!(
        "new server answering after {:.0} ms",
        answering.as_secs_f64() * 1000.0
    );
    println!(
        "all runs re-adopted after {:.0} ms ({})",
        adopted.as_secs_f64() * 1000.0,
        adopted_line.trim()
    );
    println!(
        "every timeline has its run.adopted line after {:.0} ms",
        followed.as_secs_f64() * 1000.0
    );
    fd(&["stop", "--all"]);
}

/// The server binary next to this example (`target/<profile>/flightdeck`).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples");
    let bin = profile_dir.join("flightdeck");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release` first",
        bin.display()
    );
    bin
}

fn git(repo: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(repo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?} failed");
}
