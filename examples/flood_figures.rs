//! Prints the output-flood figures (a measurement, not a test): an agent prints 200 MB, and
//! we measure how long after the agent's exit the run is finished, the timeline's size, and
//! the server's peak RSS (VmHWM), before and after `flightdeck logs` reads that run.
//!
//! cargo build --release && cargo run --release --example flood_figures [MEGABYTES]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

fn main() {
    let mb: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let marker_dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_dir.path().join("agent-ended");
    let w = common::World::new(&format!(
        r#"
[agents.flood]
command = ["sh", "-c", "yes 'a line of flood output, forty bytes long' | head -c {bytes}; echo change > flood.txt; date +%s.%N > {marker}"]
"#,
        bytes = mb * 1_000_000,
        marker = marker.display()
    ));
    let fd = |args: &[&str]| w.fd(args);
    let out = fd(&[
        "run",
        "--repo",
        w.repo.to_str().expect("utf-8"),
        "--agent",
        "flood",
        "--json",
        "flood",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("run --json");
    let id = v["id"].as_str().expect("id").to_string();
    let pid = w.server_pid();
    println!("flood: {mb} MB of agent output, run {id}, server pid {pid}");

    let started = Instant::now();
    let finished_at = loop {
        let v: serde_json::Value =
            serde_json::from_str(&fd(&["show", &id, "--json"])).expect("show --json");
        let status = v["status"].as_str().unwrap_or("");
        if matches!(status, "succeeded" | "failed" | "killed") {
            break (now(), status.to_string());
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "run never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let agent_ended: f64 = std::fs::read_to_string(&marker)
        .expect("agent marker")
        .trim()
        .parse()
        .expect("marker time");
    let run_dir = w.run_dir(&id);
    let size = |f: &str| std::fs::metadata(run_dir.join(f)).map_or(0, |m| m.len());
    println!(
        "run {} {:.2} s after the agent ended (target: within 5 s)",
        finished_at.1,
        finished_at.0 - agent_ended
    );
    println!(
        "agent.log {:.1} MB, timeline.jsonl {:.2} MB (target: under 5 MB)",
        size("agent.log") as f64 / 1e6,
        size("timeline.jsonl") as f64 / 1e6
    );
    println!("server peak RSS {:.1} MB during the run", hwm(pid) / 1024.0);
    let t = Instant::now();
    let logs = fd(&["logs", &id]);
    println!(
        "logs printed {:.2} MB in {:.2} s; server peak RSS {:.1} MB after it (target: under 100 MB)",
        logs.len() as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        hwm(pid) / 1024.0
    );
    fd(&["shutdown", "--kill-runs"]);
}

/// Peak resident set of a process, in KiB.
fn hwm(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
