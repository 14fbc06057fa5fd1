//! Keys never leave this machine: a run on another host (a real sshd on 127.0.0.1, a second
//! FLIGHTDECK_HOME as the host's) has its model calls go back through an `ssh -R` tunnel to this
//! machine's gateway, which holds the key. The host's gateway meters each call into the run's
//! record there; the key is in no file under the host's home and in no environment of its
//! processes; and the global budget here counts the host's calls, so a local run's next call
//! is held and that run paused.

use std::path::Path;

use serde_json::json as j;

use crate::common::provider::{post, Provider};
use crate::common::wait_until;
use crate::gateway::{agent_env_of, anthropic_turn};
use crate::hosts::{run_on, wait_shown, OneHost};

const KEY: &str = "sk-ant-SECRET-stays-home-7731";

/// Every file under `dir` whose bytes contain `needle`.
fn files_with(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                todo.push(p);
            } else if t.is_file() {
                if let Ok(bytes) = std::fs::read(&p) {
                    if bytes.windows(needle.len()).any(|w| w == needle) {
                        found.push(p.display().to_string());
                    }
                }
            }
        }
    }
    found
}

/// Each process (pid, whether `about` is in its cwd, command line or environment, whether
/// `needle` is in its environment, its command line) that this user may read.
fn processes(about: &str, needle: &str) -> Vec<(u32, bool, bool, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let dir = e.path();
        let Ok(environ) = std::fs::read(dir.join("environ")) else {
            continue;
        };
        let environ = String::from_utf8_lossy(&environ).into_owned();
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(dir.join("cwd"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let theirs = cwd.starts_with(about) || cmdline.contains(about) || environ.contains(about);
        out.push((pid, theirs, environ.contains(needle), cmdline));
    }
    out
}

#[test]
fn a_remote_builtin_agent_calls_through_this_machine_s_gateway_and_the_key_stays_here() {
    let Some(mut w) = OneHost::start() else {
        return;
    };
    let provider = Provider::start(vec![
        anthropic_turn(
            1,
            "Writing the note.",
            Some((
                "write_file",
                j!({"path": "note.txt", "content": "through the tunnel\n"}),
            )),
            [40, 10, 0, 0],
        ),
        anthropic_turn(2, "Done.", None, [900, 10, 0, 0]),
    ]);
    // This machine: the provider and its key, a global cap the host's run will spend, and a
    // local agent that waits while the test makes its calls.
    let here = format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{}"
api_key_env = "FD_TEST_HOST_KEY"

[budget]
global_tokens = 500

[agents.waiter]
command = ["sh", "-c", "env > \"$1\"; while [ ! -f \"$2\" ]; do sleep 0.1; done", "sh", "{{worktree}}/../env-{{run_id}}", "{{worktree}}/../done-{{run_id}}"]
"#,
        provider.port
    );
    w.configure("b1", |h| format!("{h}\n{here}"));
    w.env.vars.push(("FD_TEST_HOST_KEY".into(), KEY.into()));
    // The host: a built-in agent, and no providers of its own.
    let mut theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    theirs.push_str(
        "\n[agents.builtin-claude]\nkind = \"builtin\"\nprovider = \"anthropic\"\nmodel = \"claude-haiku-4-5\"\nmax_turns = 5\n",
    );
    std::fs::write(w.remote_config(), theirs).unwrap();
    let env = &w.env;

    let id = run_on(env, "b1", &w.repo, "builtin-claude", "write a note");
    // Its id was reserved here (no run here will be given it) and the host's run has it.
    assert!(env.home.join("host-run-ids").join(&id).is_dir(), "{id}");
    assert!(w.remote.home.join("runs").join(&id).is_dir(), "{id}");
    let r = wait_shown(env, &id, "the remote run to end", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let wt = Path::new(r["worktree"].as_str().unwrap());
    assert!(wt.starts_with(&w.remote.home), "{}", wt.display());
    assert_eq!(
        std::fs::read_to_string(wt.join("note.txt")).unwrap(),
        "through the tunnel\n"
    );

    // Both calls reached the provider with the key this machine holds.
    let got = provider.requests();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got.iter().all(|g| g.header("x-api-key") == Some(KEY)));
    assert!(got.iter().all(|g| g.path == "/v1/messages"), "{got:#?}");
    // Metered into the run's record there, read through the host.
    assert_eq!(r["tokens"]["input"], 940, "{r:#}");
    assert_eq!(r["tokens"]["output"], 20, "{r:#}");
    let calls = std::fs::read_to_string(
        w.remote
            .home
            .join("runs")
            .join(&id)
            .join("model_calls.jsonl"),
    )
    .unwrap();
    assert_eq!(calls.lines().count(), 2, "{calls}");

    // The key: in no file under the host's home, in no environment of the host's processes.
    let home = w.remote.home.display().to_string();
    assert_eq!(
        files_with(&w.remote.home, KEY.as_bytes()),
        Vec::<String>::new()
    );
    let procs = processes(&home, KEY);
    assert!(
        procs.iter().any(|p| p.1),
        "no process of the host's home was found (its server runs)"
    );
    let leaked: Vec<_> = procs.iter().filter(|p| p.1 && p.2).collect();
    assert!(
        leaked.is_empty(),
        "the key is in their environment: {leaked:?}"
    );
    // (This machine's server has it: the check can see a key where there is one.) Not the
    // tunnel's ssh here either, which this machine's server started: a SendEnv could carry
    // it over.
    assert!(procs.iter().any(|p| !p.1 && p.2), "no process has the key");
    let tunnel: Vec<_> = procs
        .iter()
        .filter(|p| {
            p.3.starts_with("ssh ")
                && p.3.contains(" -R ")
                && p.3.contains(&format!("-p {} ", w.sshd.port))
        })
        .collect();
    assert_eq!(tunnel.len(), 1, "{tunnel:?}");
    assert!(!tunnel[0].2, "the tunnel's ssh has the key: {tunnel:?}");
    // Nor the commands' ssh (started by this machine's CLI, whose environment has the key)
    // and their master connection.
    let local_home = env.home.display().to_string();
    let ssh: Vec<_> = procs
        .iter()
        .filter(|p| {
            p.3.starts_with("ssh")
                && (p.3.contains(&format!("-p {} ", w.sshd.port)) || p.3.contains(&local_home))
        })
        .collect();
    assert!(!ssh.is_empty(), "no ssh of this test's was found");
    let keyed: Vec<_> = ssh.iter().filter(|p| p.2).collect();
    assert!(
        keyed.is_empty(),
        "ssh has the key in its environment: {keyed:?}"
    );
    // The host's token is on no command line (ps shows them).
    let gw: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            w.remote
                .home
                .join("runs")
                .join(&id)
                .join("host-gateway.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let token = gw["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("fdh-"), "{gw}");
    let shown: Vec<_> = processes(&home, KEY)
        .into_iter()
        .filter(|p| p.3.contains(&token))
        .collect();
    assert!(
        shown.is_empty(),
        "the host's token is on a command line: {shown:?}"
    );

    // The host's 960 tokens spent this machine's global cap of 500: a local run's first call
    // is held at once, and the run paused for the budget, by this very server.
    let ledger = std::fs::read_to_string(env.home.join("host-spend.jsonl")).unwrap();
    assert_eq!(ledger.lines().count(), 2, "{ledger}");
    assert!(ledger.contains(r#""host":"b1""#), "{ledger}");
    held_for_the_budget(env, &w.repo, &provider);
    // And kept here for the next server: after a restart, the same.
    env.kill_server();
    held_for_the_budget(env, &w.repo, &provider);

    // A run on the host is paused at its first call too, there, for the budget here.
    let again = run_on(env, "b1", &w.repo, "builtin-claude", "write another note");
    let r = wait_shown(
        env,
        &again,
        "the host's run paused for the budget here",
        |r| r["status"] == "paused" || r["status"] == "failed" || r["status"] == "succeeded",
    );
    assert_eq!(r["status"], "paused", "{r:#}");
    assert_eq!(r["pause_reason"], "budget", "{r:#}");
    let timeline = std::fs::read_to_string(
        w.remote
            .home
            .join("runs")
            .join(&again)
            .join("timeline.jsonl"),
    )
    .unwrap();
    assert!(
        timeline.contains("the global budget of the machine this run was sent from is spent"),
        "{timeline}"
    );
    assert_eq!(provider.requests().len(), 2);
    env.ok(&["kill", &again]);
}

/// A local run (the `waiter` agent) makes a call: it is held, the run paused for the global
/// budget, and nothing reaches the provider (which had 2 calls).
fn held_for_the_budget(env: &crate::common::Env, repo: &Path, provider: &Provider) {
    let local = env.start(repo, "waiter", "wait for the budget");
    let agent_env = agent_env_of(env, &local);
    let url = format!("{}/v1/messages", agent_env["ANTHROPIC_BASE_URL"]);
    let run_token = agent_env["ANTHROPIC_API_KEY"].clone();
    let held = std::thread::spawn(move || {
        post(
            &url,
            &[("x-api-key", &run_token)],
            r#"{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}"#,
        )
    });
    let r = env.wait_for(&local, "the local run paused for the budget", |r| {
        r["status"] == "paused"
    });
    assert_eq!(r["pause_reason"], "budget", "{r:#}");
    let line = env
        .events_of(&local, "gateway.held")
        .into_iter()
        .find(|e| e["reason"] == "budget")
        .unwrap_or_else(|| panic!("{:#?}", env.timeline(&local)));
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("budget.global_tokens"),
        "{line}"
    );
    assert!(
        !held.is_finished(),
        "a call past the global cap was answered"
    );
    assert_eq!(provider.requests().len(), 2);
    env.ok(&["kill", &local]);
    let _ = held.join();
}

/// Whether something listens on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The runs on a host outlive this machine's server: killed (`kill -9`), its tunnel goes with
/// it; the next server opens it again on the same port with the same token, and a call the
/// host's agent makes after that reaches the provider with the key held here.
#[test]
fn a_host_s_tunnel_and_token_come_back_with_this_machine_s_next_server() {
    tunnel_comes_back(false);
}

/// As above, but the tunnel's port on the host was taken meanwhile: it opens on another, and
/// the host's run (given the old one) is told, so its call still reaches the provider.
#[test]
fn a_tunnel_back_on_another_port_is_told_to_the_host_s_runs() {
    tunnel_comes_back(true);
}

/// The port of a `http://127.0.0.1:PORT/…` URL.
fn port_of(url: &str) -> u16 {
    url.trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

fn tunnel_comes_back(port_taken: bool) {
    let Some(mut w) = OneHost::start() else {
        return;
    };
    let provider = Provider::start(vec![
        crate::common::provider::json(
            j!({"id":"msg_1","type":"message","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":7,"output_tokens":3}}),
        ),
        crate::common::provider::json(
            j!({"id":"msg_2","type":"message","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":5,"output_tokens":1}}),
        ),
    ]);
    let here = format!(
        "\n[providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:{}\"\napi_key_env = \"FD_TEST_HOST_KEY\"\n",
        provider.port
    );
    w.configure("b1", |h| format!("{h}{here}"));
    w.env.vars.push(("FD_TEST_HOST_KEY".into(), KEY.into()));
    // The host's agent makes its call once the test says go.
    let mut theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    theirs.push_str(
        r#"
[agents.caller]
command = ["sh", "-c", "while [ ! -f go ]; do sleep 0.1; done; rm go; curl -sS -o ../answer-$FLIGHTDECK_RUN_ID -H \"x-api-key: $ANTHROPIC_API_KEY\" -H 'content-type: application/json' -d '{\"model\":\"claude-haiku-4-5\",\"max_tokens\":1,\"messages\":[]}' \"$ANTHROPIC_BASE_URL/v1/messages\"; echo called > called.txt"]
"#,
    );
    std::fs::write(w.remote_config(), theirs).unwrap();
    let env = &w.env;

    let id = run_on(env, "b1", &w.repo, "caller", "call later");
    let r = wait_shown(env, &id, "the host's agent at work", |r| {
        r["status"] == "running" && r["phase"] == "agent"
    });
    let wt = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
    let file = w
        .remote
        .home
        .join("runs")
        .join(&id)
        .join("host-gateway.json");
    let url_now = || -> String {
        let gw: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        gw["url"].as_str().unwrap().to_string()
    };
    let url = url_now();
    let port = port_of(&url);
    assert!(listening(port), "{url}");

    // This machine's server killed: its tunnel ends with it.
    env.kill_server();
    wait_until("the tunnel to close with the server", || !listening(port));
    // Someone else takes the port on the host meanwhile (answering nothing: a call still sent
    // there gets no answer from the provider).
    let squatter = port_taken.then(|| {
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the old port is free");
        std::thread::spawn(move || {
            for c in l.incoming() {
                drop(c);
            }
        })
    });
    // The next server (started by any command) opens it again: where it was when it can.
    env.ok(&["ls"]);
    if squatter.is_some() {
        wait_until("the host's run to be told the tunnel's new port", || {
            port_of(&url_now()) != port
        });
        let moved = port_of(&url_now());
        assert!(listening(moved), "nothing listens on the new port {moved}");
        assert_eq!(
            url_now(),
            url.replace(&format!(":{port}/"), &format!(":{moved}/"))
        );
    } else {
        wait_until("the tunnel to open again", || listening(port));
        assert_eq!(url_now(), url);
    }

    std::fs::write(wt.join("go"), "").unwrap();
    let r = wait_shown(env, &id, "the host's run to end", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let answer = std::fs::read_to_string(wt.parent().unwrap().join(format!("answer-{id}")))
        .unwrap_or_default();
    assert!(answer.contains("msg_1"), "{answer}");
    let got = provider.requests();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].header("x-api-key"), Some(KEY));
    assert_eq!(r["tokens"]["input"], 7, "{r:#}");

    // Retried from the agent, the run reads its gateway again (the moved one, when it moved):
    // its new call reaches the provider too.
    env.ok(&["retry", &id, "--phase", "agent"]);
    wait_shown(env, &id, "the retry's agent at work", |r| {
        r["attempt"] == 2 && r["status"] == "running"
    });
    std::fs::write(wt.join("go"), "").unwrap();
    let r = wait_shown(env, &id, "the retry to end", |r| {
        r["attempt"] == 2 && (r["status"] == "succeeded" || r["status"] == "failed")
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let answer = std::fs::read_to_string(wt.parent().unwrap().join(format!("answer-{id}")))
        .unwrap_or_default();
    assert!(answer.contains("msg_2"), "{answer}");
    assert_eq!(provider.requests().len(), 2);
}
