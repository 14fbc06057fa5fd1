//! Runs on another host over SSH: a real sshd on 127.0.0.1 with generated keys, and a second
//! FLIGHTDECK_HOME on this machine as the "remote" host's. The run is made, supervised and
//! recorded there; every command reaches it through `ssh … flightdeck bridge`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::sshd::{self, Sshd};
use crate::common::*;
use serde_json::Value;

/// The remote host's side: its home, its config and its copy of the repository.
pub(crate) struct Remote {
    pub(crate) home: PathBuf,
    xdg: PathBuf,
    config: PathBuf,
    pub(crate) repo: PathBuf,
}

impl Remote {
    pub(crate) fn new(root: &Path) -> Remote {
        let remote = Remote {
            home: root.join("remote-home"),
            xdg: root.join("remote-xdg"),
            config: root.join("remote.toml"),
            repo: git_repo(root, "remote-repo"),
        };
        std::fs::create_dir_all(&remote.xdg).unwrap();
        std::fs::write(
            &remote.config,
            r#"
[agents.noop]
command = ["sh", "-c", "echo made-on-the-host > remote.txt; echo done there"]
[agents.slow]
command = ["sh", "-c", "i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done"]
"#,
        )
        .unwrap();
        remote
    }

    /// `flightdeck` run directly against the remote home (to check what is there, and to
    /// stop its server at the end).
    pub(crate) fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .env("FLIGHTDECK_HOME", &self.home)
            .env("FLIGHTDECK_CONFIG", &self.config)
            .env("XDG_CONFIG_HOME", &self.xdg)
            .output()
            .unwrap()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.cmd(&["shutdown", "--kill-runs"]);
    }
}

pub(crate) fn host_config(name: &str, sshd: &Sshd, remote: &Remote, local_repo: &Path) -> String {
    let words: Vec<String> = sshd.ssh_words().iter().map(|w| format!("{w:?}")).collect();
    format!(
        r#"
[agents.noop-local]
command = ["sh", "-c", "echo here"]

[hosts.{name}]
ssh = [{}]
home = {:?}
binary = {:?}
config = {:?}
max_parallel = 3
[hosts.{name}.env]
XDG_CONFIG_HOME = {:?}
[hosts.{name}.repos]
{:?} = {:?}
"#,
        words.join(", "),
        remote.home.display().to_string(),
        BIN,
        remote.config.display().to_string(),
        remote.xdg.display().to_string(),
        local_repo.display().to_string(),
        remote.repo.display().to_string(),
    )
}

fn shown(env: &Env, id: &str) -> Value {
    env.json(&["show", id, "--json"])
}

fn wait_shown(env: &Env, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = shown(env, id);
        if pred(&last) {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}: {last}");
}

#[test]
fn a_run_on_another_host_over_ssh_is_made_and_driven_there() {
    if !sshd::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"));
    let remote = Remote::new(dir.path());
    let env = Env::new("");
    let local_repo = git_repo(env.path(), "repo");
    std::fs::write(&env.config, host_config("b1", &sshd, &remote, &local_repo)).unwrap();

    // hosts: this machine and b1, both reachable, the same version.
    let listed = env.json(&["hosts", "--json"]);
    let b1 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "b1")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(b1["reachable"], true, "{listed}");
    assert_eq!(b1["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(b1["free_slots"], 3);

    // A run made there: its worktree is the remote home's, its repository the host's copy.
    let out = env.output(&[
        "--host",
        "b1",
        "run",
        "--repo",
        local_repo.to_str().unwrap(),
        "--agent",
        "noop",
        "--wait",
        "make a file there",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = shown(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r}");
    let wt = r["worktree"].as_str().unwrap();
    assert!(wt.starts_with(remote.home.to_str().unwrap()), "{wt}");
    assert_eq!(r["repo"], remote.repo.to_str().unwrap());
    assert!(Path::new(wt).join("remote.txt").exists());
    assert!(
        !env.home.join("runs").join(&id).exists(),
        "recorded on the host only"
    );
    let there = remote.cmd(&["show", &id, "--json"]);
    assert!(there.status.success(), "the host's own server has it");

    // ls: both hosts, a HOST column; --json says the host of each run.
    let local_id = env.start(&local_repo, "noop-local", "a local one");
    let table = env.ok(&["ls"]);
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} in:\n{table}"))
            .to_string()
    };
    assert!(table.starts_with("HOST"), "{table}");
    assert!(row(&id).starts_with("b1 "), "{table}");
    assert!(row(&local_id).starts_with("local "), "{table}");
    let runs = env.json(&["ls", "--json"]);
    let hosts_of: Vec<(String, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["host"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        hosts_of.contains(&(id.clone(), "b1".into())),
        "{hosts_of:?}"
    );
    assert!(
        hosts_of.contains(&(local_id.clone(), "local".into())),
        "{hosts_of:?}"
    );

    // logs through the tunnel.
    let logs = env.ok(&["logs", &id]);
    assert!(logs.contains("run.finished"), "{logs}");

    // pause, resume, kill and retry reach a run on the host by its id alone.
    let out = env.output(&[
        "--host",
        "b1",
        "run",
        "--repo",
        local_repo.to_str().unwrap(),
        "--agent",
        "slow",
        "ticking",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let slow = String::from_utf8_lossy(&out.stdout).trim().to_string();
    wait_shown(&env, &slow, "the agent ticking", |r| {
        r["status"] == "running" && r["phase"] == "agent"
    });
    // logs --follow streams the host's lines as they come.
    let follow = env
        .cmd(&["logs", "--follow", &slow])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.ok(&["pause", &slow]);
    wait_shown(&env, &slow, "paused", |r| r["status"] == "paused");
    env.ok(&["resume", &slow]);
    wait_shown(&env, &slow, "running again", |r| r["status"] == "running");
    env.ok(&["kill", &slow]);
    wait_shown(&env, &slow, "killed", |r| r["status"] == "killed");
    let followed = follow.wait_with_output().unwrap();
    let followed = String::from_utf8_lossy(&followed.stdout);
    assert!(
        followed.contains("tick ") && followed.contains("run.finished"),
        "logs --follow through the tunnel:\n{followed}"
    );
    env.ok(&["retry", &slow, "--phase", "agent"]);
    wait_shown(&env, &slow, "its second attempt", |r| {
        r["attempt"] == 2 && r["status"] == "running"
    });
    env.ok(&["kill", &slow]);
    wait_shown(&env, &slow, "killed again", |r| r["status"] == "killed");

    // A run id no host has.
    let err = env.fails(&["show", "zzzzzzzz"]);
    assert!(
        err.contains("no run matches `zzzzzzzz` here or on b1"),
        "{err}"
    );
}

#[test]
fn a_host_that_cannot_be_reached_or_runs_another_version_is_said_so() {
    if !sshd::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"));
    let remote = Remote::new(dir.path());
    let env = Env::new("");
    let local_repo = git_repo(env.path(), "repo");
    // `down` is a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = host_config("down", &sshd, &remote, &local_repo)
        .replace(&format!("\"{}\"", sshd.port), &format!("\"{closed}\""));
    std::fs::write(&env.config, down).unwrap();
    let out = env.output(&["hosts"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("cannot reach host down over ssh") && said.contains("Connection refused"),
        "{said}"
    );
    // ls still lists this machine's runs, and says which host it could not reach.
    let id = env.start(&local_repo, "noop-local", "a local one");
    let out = env.output(&["ls"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    assert!(String::from_utf8_lossy(&out.stderr).contains("host down:"));
    // A host whose flightdeck is another version refuses, saying so.
    let mut bridge = Command::new(BIN)
        .args(["bridge", "--expect-version", "0.0.1"])
        .env("FLIGHTDECK_HOME", &remote.home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(bridge.stdin.take());
    let out = bridge.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("the local one 0.0.1: the two must be the same"),
        "{said}"
    );
    // A host not in the config.
    let err = env.fails(&["--host", "nowhere", "ls"]);
    assert!(err.contains("no host `nowhere` in your config"), "{err}");
}
