//! A long-lived server must not run out of descriptors: 300 runs through a server started
//! under `ulimit -n 128` all finish, the server holds few descriptors afterwards, and its log
//! is not flooded with accept errors.

use std::process::Command;

use crate::common::*;

#[test]
fn three_hundred_runs_under_ulimit_128() {
    let env = Env::new(
        r#"
max_parallel = 8

[agents.tiny]
command = ["sh", "-c", "echo done > out.txt"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    let started = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 128 && exec {BIN} serve --detach"))
        .env("FLIGHTDECK_HOME", &env.home)
        .env("FLIGHTDECK_CONFIG", &env.config)
        .env("XDG_CONFIG_HOME", env.path().join("xdg"))
        .current_dir(env.path())
        .output()
        .expect("start the server");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let pid = env.server_pid();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(open_files.contains(" 128 "), "{open_files}");

    let ids: Vec<String> = (0..300)
        .map(|i| env.start(&repo, "tiny", &format!("run {i}")))
        .collect();
    for id in &ids {
        let r = env.wait_for(id, "finished", |r| {
            matches!(r["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert_eq!(r["status"], "succeeded", "{r:#}");
    }

    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    assert!(
        fds < 48,
        "the server holds {fds} descriptors after 300 runs"
    );
    let log = std::fs::read_to_string(env.home.join("server.log")).unwrap_or_default();
    let accept_lines = log.lines().filter(|l| l.contains("accept")).count();
    assert!(accept_lines < 5, "{accept_lines} accept lines in the log");
}
