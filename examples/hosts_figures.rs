//! Prints what a host over SSH costs a command (a measurement, not a test): a real sshd on
//! 127.0.0.1 and a second FLIGHTDECK_HOME as the host's, both on this machine, so the figures
//! are flightdeck's and ssh's overhead without a network's round trip.
//!
//! cargo build --release && cargo run --release --example hosts_figures [ROUNDS]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
#[path = "../tests/suite/common/sshd.rs"]
#[allow(dead_code)]
mod sshd;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    if !sshd::available() {
        eprintln!("sshd is not installed (apt-get install openssh-server): nothing to measure");
        return;
    }
    let w = common::World::new("");
    let sshd = sshd::Sshd::start(&w.dir.path().join("sshd"));
    // The host's side: its home, config and copy of the repository.
    let remote_home = w.dir.path().join("remote-home");
    let remote_config = w.dir.path().join("remote.toml");
    std::fs::write(
        &remote_config,
        "[agents.noop]\ncommand = [\"sh\", \"-c\", \"echo there > there.txt\"]\n",
    )
    .expect("remote config");
    let remote_repo = w.dir.path().join("remote-repo");
    common::git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            w.repo.to_str().expect("utf-8"),
            remote_repo.to_str().expect("utf-8"),
        ],
    );
    // The user's ssh words, with ssh's usual master lifetime (the tests' is 1 s).
    let mut words = sshd.ssh_words();
    if let Some(i) = words.iter().position(|w| w == "ControlPersist=1") {
        words.drain(i - 1..=i);
    }
    let words: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    let bin = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("flightdeck")))
        .expect("the release binary");
    let local_agents =
        "[agents.noop-local]\ncommand = [\"sh\", \"-c\", \"echo here > here.txt\"]\n";
    let with_host = format!(
        "{local_agents}\n[hosts.b1]\nssh = [{}]\nhome = {:?}\nbinary = {:?}\nconfig = {:?}\nmax_parallel = 4\n[hosts.b1.repos]\n{:?} = {:?}\n",
        words.join(", "),
        remote_home.display().to_string(),
        bin.display().to_string(),
        remote_config.display().to_string(),
        w.repo.display().to_string(),
        remote_repo.display().to_string(),
    );
    std::fs::write(&w.config, &with_host).expect("config");
    let time = |args: &[&str]| {
        let t = Instant::now();
        w.fd(args);
        t.elapsed()
    };
    let repo = w.repo.to_str().expect("utf-8");

    println!("a host over ssh on loopback (sshd on 127.0.0.1), {rounds} rounds each, median:");
    let cold = time(&["hosts"]);
    println!(
        "  hosts, cold (ssh master made, the host's server started): {}",
        ms(cold)
    );
    let warm = median((0..rounds).map(|_| time(&["hosts"])).collect());
    println!(
        "  hosts, warm (one channel on the master each):                {}",
        ms(warm)
    );
    let said = w.fd(&["hosts", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&said).expect("hosts --json");
    let latency = listed
        .as_array()
        .and_then(|a| a.iter().find(|h| h["host"] == "b1"))
        .and_then(|h| h["latency_ms"].as_u64())
        .unwrap_or_default();
    println!("  b1's latency as hosts says it (listing its runs):              {latency} ms");
    let ls_remote = median((0..rounds).map(|_| time(&["--host", "b1", "ls"])).collect());
    println!(
        "  --host b1 ls:                                                  {}",
        ms(ls_remote)
    );
    let ls_both = median((0..rounds).map(|_| time(&["ls"])).collect());
    println!(
        "  ls (this machine and b1):                                      {}",
        ms(ls_both)
    );

    let run_there = median(
        (0..rounds)
            .map(|i| {
                time(&[
                    "--host",
                    "b1",
                    "run",
                    "--repo",
                    repo,
                    "--agent",
                    "noop",
                    "--wait",
                    &format!("there {i}"),
                ])
            })
            .collect(),
    );
    println!(
        "  --host b1 run --wait (a one-line agent, proof pack and all):  {}",
        ms(run_there)
    );
    let run_here = median(
        (0..rounds)
            .map(|i| {
                time(&[
                    "run",
                    "--repo",
                    repo,
                    "--agent",
                    "noop-local",
                    "--wait",
                    &format!("here {i}"),
                ])
            })
            .collect(),
    );
    println!(
        "  run --wait here, the same agent:                               {}",
        ms(run_here)
    );

    // A command by id: a local run is found here at once; a remote one asks the host too.
    let runs: serde_json::Value =
        serde_json::from_str(&w.fd(&["ls", "--json"])).expect("ls --json");
    let id_on = |host: &str| {
        runs.as_array()
            .and_then(|a| a.iter().find(|r| r["host"] == host))
            .and_then(|r| r["id"].as_str())
            .map(str::to_string)
            .expect("a run")
    };
    let (here, there) = (id_on("local"), id_on("b1"));
    let show_here = median((0..rounds).map(|_| time(&["show", &here])).collect());
    let show_there = median((0..rounds).map(|_| time(&["show", &there])).collect());
    println!(
        "  show RUN of this machine (b1 not waited on):                  {}",
        ms(show_here)
    );
    println!(
        "  show RUN of b1 (asked here first, then there):                {}",
        ms(show_there)
    );

    // Without [hosts]: what ls costs with no host at all.
    std::fs::write(&w.config, local_agents).expect("config");
    let ls_alone = median((0..rounds).map(|_| time(&["ls"])).collect());
    println!(
        "  ls with no host configured:                                    {}",
        ms(ls_alone)
    );

    std::fs::write(&w.config, &with_host).expect("config");
    stop(&w, &remote_home, &remote_config);
}

/// Both servers stopped (the host's directly, as a person there would).
fn stop(w: &common::World, remote_home: &Path, remote_config: &Path) {
    let _ = Command::new(
        std::env::current_exe()
            .ok()
            .and_then(|e| Some(e.parent()?.parent()?.join("flightdeck")))
            .expect("binary"),
    )
    .args(["stop", "--all"])
    .env("FLIGHTDECK_HOME", remote_home)
    .env("FLIGHTDECK_CONFIG", remote_config)
    .output();
    let _ = w.fd(&["stop", "--all"]);
}
