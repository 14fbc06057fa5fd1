//! An agent that prints far too much cannot drown the server: the timeline gets coalesced
//! `agent.output` events naming their bytes in agent.log, capped with one
//! `agent.output.truncated` event; agent.log keeps everything; the run ends when the agent
//! ends; `kill` stops a flooding agent at once.

use std::time::{Duration, Instant};

use crate::common::*;

const CONFIG: &str = r#"
[agents.flood]
command = ["sh", "-c", "echo start; yes 'a line of flood output, forty bytes long' | head -c 40000000; echo change > flood.txt; echo end"]

[agents.forever]
command = ["sh", "-c", "yes 'more and more output'"]
"#;

#[test]
fn a_flood_is_coalesced_capped_and_kept_whole_in_agent_log() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "flood", "print a lot");
    let r = env.wait_for(&id, "finished", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");

    let dir = env.run_dir(&id);
    let log = std::fs::read(dir.join("agent.log")).unwrap();
    assert!(
        log.len() >= 40_000_000,
        "agent.log holds {} bytes",
        log.len()
    );
    let timeline_len = std::fs::metadata(dir.join("timeline.jsonl")).unwrap().len();
    assert!(timeline_len < 5_000_000, "timeline is {timeline_len} bytes");

    // Output events are coalesced and each names its bytes in agent.log.
    let outputs = env.events_of(&id, "agent.output");
    assert!(!outputs.is_empty());
    assert!(outputs.len() < 200, "{} output events", outputs.len());
    for o in &outputs {
        let (off, len) = (o["offset"].as_u64().unwrap(), o["len"].as_u64().unwrap());
        let bytes = &log[off as usize..(off + len) as usize];
        let text = String::from_utf8_lossy(bytes);
        assert_eq!(
            o["text"].as_str().unwrap(),
            text.strip_suffix('\n').unwrap_or(&text),
            "event at {off}+{len} does not match agent.log"
        );
        assert_eq!(o["lines"].as_u64().unwrap() as usize, text.lines().count());
    }
    assert!(outputs[0]["text"].as_str().unwrap().starts_with("start"));

    // Past the cap: one truncation event saying where agent.log takes over.
    let truncated = env.events_of(&id, "agent.output.truncated");
    assert_eq!(truncated.len(), 1, "{truncated:#?}");
    let from = truncated[0]["offset"].as_u64().unwrap();
    let last = outputs.last().unwrap();
    assert_eq!(
        from,
        last["offset"].as_u64().unwrap() + last["len"].as_u64().unwrap()
    );
    assert!(truncated[0]["message"]
        .as_str()
        .unwrap()
        .contains("agent.log"));

    // The timeline goes on after the flood: the agent's exit and the checkpoint are there.
    assert_eq!(env.events_of(&id, "agent.exited").len(), 1);
    // `logs` prints it, bounded.
    let out = env.output(&["logs", &id]);
    assert!(out.status.success());
    assert!(out.stdout.len() < 5_000_000, "{} bytes", out.stdout.len());
    assert!(String::from_utf8_lossy(&out.stdout).contains("agent.output.truncated"));
}

#[test]
fn kill_stops_a_flooding_agent_at_once() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "forever", "print forever");
    wait_until("output", || !env.events_of(&id, "agent.output").is_empty());
    std::thread::sleep(Duration::from_secs(2));
    let asked = Instant::now();
    env.ok(&["kill", &id]);
    env.wait_status(&id, "killed");
    let took = asked.elapsed();
    // Generous: a killed run must not wait on a backlog of output (minutes before the fix).
    assert!(took < Duration::from_secs(20), "kill took {took:?}");
    let timeline_len = std::fs::metadata(env.run_dir(&id).join("timeline.jsonl"))
        .unwrap()
        .len();
    assert!(timeline_len < 5_000_000, "timeline is {timeline_len} bytes");
}
