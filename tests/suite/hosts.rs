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
[agents.short]
command = ["sh", "-c", "i=0; while [ $i -lt 30 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done; echo finished there > done.txt"]
"#,
        )
        .unwrap();
        remote
    }

    /// `flightdeck` run directly against the remote home (to check what is there, and to
    /// stop its server at the end).
    pub(crate) fn cmd(&self, args: &[&str]) -> std::process::Output {
        self.cmd_with(args, &[])
    }

    /// As `cmd`, with more environment (a server it starts has it too).
    pub(crate) fn cmd_with(&self, args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .env("FLIGHTDECK_HOME", &self.home)
            .env("FLIGHTDECK_CONFIG", &self.config)
            .env("XDG_CONFIG_HOME", &self.xdg)
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    }
}

impl Remote {
    /// The pid of the host's server, asked there directly.
    pub(crate) fn server_pid(&self) -> i32 {
        let out = self.cmd(&["serve", "--detach"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split("pid ")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {text}"))
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.cmd(&["shutdown", "--kill-runs"]);
    }
}

/// This machine's own agents, for the runs made here.
pub(crate) const LOCAL_AGENTS: &str = r#"
[agents.noop-local]
command = ["sh", "-c", "echo here"]
[agents.slow]
command = ["sh", "-c", "sleep 120"]
"#;

pub(crate) fn host_config(name: &str, sshd: &Sshd, remote: &Remote, local_repo: &Path) -> String {
    let words: Vec<String> = sshd.ssh_words().iter().map(|w| format!("{w:?}")).collect();
    format!(
        r#"
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

/// `flightdeck --host HOST run` of `agent` on `repo`; the run's id.
pub(crate) fn run_on(env: &Env, host: &str, repo: &Path, agent: &str, task: &str) -> String {
    let out = env.output(&[
        "--host",
        host,
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        agent,
        task,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An sshd, one host behind it with its home and repository, and this machine's Env with a
/// repository; None (the test skips) where sshd is not installed.
/// Fields drop in this order: the servers are stopped before the directory holding their
/// homes goes (else they would be left running without a socket to stop them by).
pub(crate) struct OneHost {
    pub env: Env,
    pub remote: Remote,
    pub sshd: Sshd,
    pub repo: PathBuf,
    pub dir: tempfile::TempDir,
}

impl OneHost {
    pub(crate) fn start() -> Option<OneHost> {
        if !sshd::available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let sshd = Sshd::start(&dir.path().join("sshd"));
        let remote = Remote::new(dir.path());
        let env = Env::new("");
        let repo = git_repo(env.path(), "repo");
        Some(OneHost {
            env,
            remote,
            sshd,
            repo,
            dir,
        })
    }

    /// The config file the host's runs read.
    pub(crate) fn remote_config(&self) -> &Path {
        &self.remote.config
    }

    /// `[hosts.NAME]` for the host, edited by `edit`, with this machine's agents, as the
    /// config this machine reads.
    pub(crate) fn configure(&self, name: &str, edit: impl FnOnce(String) -> String) {
        let host = edit(host_config(name, &self.sshd, &self.remote, &self.repo));
        std::fs::write(&self.env.config, format!("{LOCAL_AGENTS}{host}")).unwrap();
    }
}

/// Host `name`'s entry in `hosts --json`.
pub(crate) fn host_in(listed: &Value, name: &str) -> Value {
    listed
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .find(|h| h["host"] == name)
        .unwrap_or_else(|| panic!("no {name} in {listed}"))
        .clone()
}

pub(crate) fn shown(env: &Env, id: &str) -> Value {
    env.json(&["show", id, "--json"])
}

pub(crate) fn wait_shown(env: &Env, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
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
    let Some(w) = OneHost::start() else {
        return;
    };
    let OneHost {
        dir: _,
        sshd: _,
        ref remote,
        ref env,
        repo: ref local_repo,
    } = w;
    w.configure("b1", |h| h);

    // hosts: this machine and b1, both reachable, the same version.
    let listed = env.json(&["hosts", "--json"]);
    let b1 = host_in(&listed, "b1");
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
    let r = shown(env, &id);
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

    // fetch: the proof pack copied here.
    let fetched = PathBuf::from(env.ok(&["fetch", &id]).trim());
    assert!(fetched.starts_with(&env.home), "{}", fetched.display());
    for file in ["run.json", "timeline.jsonl", "PR.md", "patch.diff"] {
        assert!(
            fetched.join(file).is_file(),
            "{file} fetched to {}",
            fetched.display()
        );
    }

    // ls: both hosts, a HOST column; --json says the host of each run.
    let local_id = env.start(local_repo, "noop-local", "a local one");
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
    let slow = run_on(env, "b1", local_repo, "slow", "ticking");
    wait_shown(env, &slow, "the agent ticking", |r| {
        r["status"] == "running" && r["phase"] == "agent"
    });
    // logs --follow streams the host's lines as they come.
    let follow = env
        .cmd(&["logs", "--follow", &slow])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.ok(&["pause", &slow]);
    wait_shown(env, &slow, "paused", |r| r["status"] == "paused");
    env.ok(&["resume", &slow]);
    wait_shown(env, &slow, "running again", |r| r["status"] == "running");
    env.ok(&["kill", &slow]);
    wait_shown(env, &slow, "killed", |r| r["status"] == "killed");
    let followed = follow.wait_with_output().unwrap();
    let followed = String::from_utf8_lossy(&followed.stdout);
    assert!(
        followed.contains("tick ") && followed.contains("run.finished"),
        "logs --follow through the tunnel:\n{followed}"
    );
    env.ok(&["retry", &slow, "--phase", "agent"]);
    wait_shown(env, &slow, "its second attempt", |r| {
        r["attempt"] == 2 && r["status"] == "running"
    });
    env.ok(&["kill", &slow]);
    wait_shown(env, &slow, "killed again", |r| r["status"] == "killed");

    // A run id no host has.
    let err = env.fails(&["show", "zzzzzzzz"]);
    assert!(
        err.contains("no run matches `zzzzzzzz` here or on b1"),
        "{err}"
    );
}

#[test]
fn a_host_that_cannot_be_reached_or_runs_another_version_is_said_so() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let OneHost {
        dir: _,
        ref sshd,
        ref remote,
        ref env,
        repo: ref local_repo,
    } = w;
    // `down` is a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    w.configure("down", |h| {
        h.replace(&format!("\"{}\"", sshd.port), &format!("\"{closed}\""))
    });
    // (Several times: ssh refused at once may be gone before the command is written to it,
    // and that too must read as what ssh said.)
    for _ in 0..5 {
        let out = env.output(&["hosts"]);
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("cannot reach host down over ssh") && said.contains("Connection refused"),
            "{said}"
        );
    }
    // ls still lists this machine's runs, and says which host it could not reach.
    let id = env.start(local_repo, "noop-local", "a local one");
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
    // A command that acts on this machine is not sent anywhere by --host.
    let err = env.fails(&["--host", "down", "stop"]);
    assert!(err.contains("this command acts on this machine"), "{err}");
    // A host not in the config.
    let err = env.fails(&["--host", "nowhere", "ls"]);
    assert!(err.contains("no host `nowhere` in your config"), "{err}");
}

#[test]
fn hosts_install_copies_this_flightdeck_where_the_host_has_none() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let OneHost {
        ref dir,
        sshd: _,
        remote: _,
        ref env,
        repo: _,
    } = w;
    let bin = dir.path().join("remote-bin/flightdeck");
    w.configure("b1", |h| {
        h.replace(
            &format!("binary = {BIN:?}"),
            &format!("binary = {:?}", bin.display().to_string()),
        )
    });
    let out = env.output(&["hosts"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("flightdeck hosts install b1"),
        "a missing program says what to do:\n{said}"
    );
    let said = env.ok(&["hosts", "install", "b1"]);
    assert!(said.contains("installed flightdeck"), "{said}");
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
    let listed = env.json(&["hosts", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["reachable"] == true),
        "{listed}"
    );
    let said = env.ok(&["hosts", "install", "b1"]);
    assert!(said.contains("already has flightdeck"), "{said}");
}

#[test]
fn ten_runs_with_host_auto_over_two_hosts_go_where_slots_are_free() {
    if !sshd::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"));
    let (r1, r2) = (dir.path().join("h1"), dir.path().join("h2"));
    std::fs::create_dir_all(&r1).unwrap();
    std::fs::create_dir_all(&r2).unwrap();
    let (b1, b2) = (Remote::new(&r1), Remote::new(&r2));
    let env = Env::new("");
    let local_repo = git_repo(env.path(), "repo");
    // Slots: 1 here, 4 on b1, 5 on b2: ten runs fill them all, each where most are free.
    let config = format!(
        "max_parallel = 1\n{LOCAL_AGENTS}{}{}",
        host_config("b1", &sshd, &b1, &local_repo).replace("max_parallel = 3", "max_parallel = 4"),
        host_config("b2", &sshd, &b2, &local_repo).replace("max_parallel = 3", "max_parallel = 5"),
    );
    for remote in [&b1, &b2] {
        let text = std::fs::read_to_string(&remote.config).unwrap();
        std::fs::write(&remote.config, format!("max_parallel = 5\n{text}")).unwrap();
    }
    std::fs::write(&env.config, config).unwrap();
    let ids: Vec<String> = (0..10)
        .map(|i| run_on(&env, "auto", &local_repo, "slow", &format!("run {i}")))
        .collect();
    let listed = env.json(&["ls", "--json"]);
    let host_of = |id: &str| -> String {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {listed}"))["host"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Each went where most slots were free then (ties to the first in order: here, b1, b2);
    // "the first host with a slot" would have put the first here.
    let order: Vec<String> = ids.iter().map(|id| host_of(id)).collect();
    assert_eq!(
        order,
        ["b2", "b1", "b2", "b1", "b2", "b1", "b2", "local", "b1", "b2"],
        "{listed}"
    );
    let mut placed = std::collections::BTreeMap::<String, usize>::new();
    for h in &order {
        *placed.entry(h.clone()).or_default() += 1;
    }
    let expected: std::collections::BTreeMap<String, usize> = [
        ("b1".to_string(), 4),
        ("b2".to_string(), 5),
        ("local".to_string(), 1),
    ]
    .into();
    assert_eq!(placed, expected);
    let listed = env.json(&["hosts", "--json"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["free_slots"] == 0),
        "every slot taken: {listed}"
    );
    env.ok(&["stop", "--all"]);
}

/// The pid of the ssh master connection whose socket is under `control` (`ssh: … [mux]`).
pub(crate) fn master_pid(control: &Path) -> Option<i32> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("{}/.* \\[mux\\]", control.display())])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
}

#[test]
fn a_run_on_a_host_goes_on_when_the_ssh_connection_is_killed() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let OneHost {
        dir: _,
        ref sshd,
        ref remote,
        ref env,
        repo: ref local_repo,
    } = w;
    // A master kept for a minute, so it is there to kill.
    w.configure("b1", |h| {
        h.replace("\"ControlPersist=1\"", "\"ControlPersist=60\"")
    });
    let id = run_on(env, "b1", local_repo, "short", "tick for three seconds");
    let mut follow = env
        .cmd(&["logs", "--follow", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        let out = follow.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                seen.lock().unwrap().push_str(&format!("{line}\n"));
            }
        })
    };
    // Followed over the master connection while the agent ticks...
    wait_until("the agent's ticks followed", || {
        seen.lock().unwrap().contains("tick ")
    });
    let control = env.home.join("ssh");
    let pid = master_pid(&control).expect("the ssh master");
    // ...when the connection dies, as a dropped link would: the master and every ssh on it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = Command::new("pkill")
        .args(["-9", "-f", &format!("ControlPath={}/", control.display())])
        .status();
    let _ = follow.wait();
    let _ = reader.join();
    // The next connections' master ends with the test.
    std::fs::write(
        &env.config,
        format!(
            "{LOCAL_AGENTS}{}",
            host_config("b1", sshd, remote, local_repo)
        ),
    )
    .unwrap();
    assert!(
        !seen.lock().unwrap().contains("run.finished"),
        "the follower was cut off before the end:\n{}",
        seen.lock().unwrap()
    );
    let r = wait_shown(env, &id, "the run to end there", |r| {
        r["status"] != "running" && r["status"] != "queued"
    });
    assert_eq!(r["status"], "succeeded", "{r}");
    assert!(Path::new(r["worktree"].as_str().unwrap())
        .join("done.txt")
        .exists());
    let runs = env.json(&["ls", "--json"]);
    assert_eq!(runs[0]["status"], "succeeded", "{runs}");
    assert_eq!(runs[0]["host"], "b1");
}
