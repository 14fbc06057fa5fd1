//! Prints how long a new server takes to re-adopt live runs (a measurement, not a test):
//! 100 runs whose agents sleep, the server killed with SIGKILL, then the time from starting a
//! new server to its log saying every run was re-adopted, and to every run's timeline having
//! its `run.adopted` line.
//!
//! cargo build --release && cargo run --release --example readopt_figures [RUNS]

use std::process::Command;
use std::time::{Duration, Instant};

mod common;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let w = common::World::new(&format!(
        "max_parallel = {n}\n\n[agents.sleeper]\ncommand = [\"sleep\", \"1000\"]\n"
    ));
    let fd = |args: &[&str]| w.fd(args);
    let home = w.home.clone();
    let repo_s = w.repo.to_str().expect("utf-8");
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
        .any(|id| !w.run_dir(id).join("shim.json").exists())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = w.server_pid().to_string();
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
        !std::fs::read_to_string(w.run_dir(id).join("timeline.jsonl"))
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
