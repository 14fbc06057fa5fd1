//! A host that takes the connection and never says a word (a hung machine, a black-holing
//! firewall) holds nothing up for long: a command on a run of this machine does not wait for
//! it, and `hosts` says it is unreachable after ssh's connect timeout instead of hanging.

use std::net::TcpListener;
use std::process::Output;
use std::sync::mpsc;
use std::time::Duration;

use crate::hosts::{host_in, OneHost};

/// A port that accepts connections and never answers on them.
fn silent_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming() {
            held.push(c);
        }
    });
    port
}

/// `flightdeck args`, failing the test (not hanging it) when it has not ended in a minute.
fn within_a_minute(w: &OneHost, args: &[&str]) -> Output {
    let (tx, rx) = mpsc::channel();
    let mut cmd = w.env.cmd(args);
    std::thread::spawn(move || {
        let _ = tx.send(cmd.output().expect("run flightdeck"));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("flightdeck {args:?} hung on a silent host"))
}

#[test]
fn a_silent_host_holds_up_neither_a_local_run_s_command_nor_hosts() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let port = silent_port();
    w.configure("b1", |h| {
        format!("{h}\n[hosts.b2]\nssh = [\"-p\", \"{port}\", \"127.0.0.1\"]\n")
    });
    let id = w.env.start(&w.repo, "slow", "sleep here");

    // A run of this machine by its whole id: this machine answers, b2 is not waited on.
    let out = within_a_minute(&w, &["pause", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = within_a_minute(&w, &["resume", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // By a prefix, though, it could be a run on b2 too: that is said, not guessed.
    let out = within_a_minute(&w, &["pause", &id[..4]]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("give the whole id") && said.contains("b2"),
        "{said}"
    );
    assert_eq!(w.env.record(&id)["status"], "running");

    // hosts: b2 unreachable, saying why; the others listed.
    let out = within_a_minute(&w, &["hosts", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let host = |name: &str| host_in(&listed, name);
    assert_eq!(host("local")["reachable"], true, "{listed}");
    assert_eq!(host("b1")["reachable"], true, "{listed}");
    let b2 = host("b2");
    assert_eq!(b2["reachable"], false, "{listed}");
    assert!(
        b2["error"].as_str().unwrap().contains("timed out"),
        "{listed}"
    );
    w.env.ok(&["kill", &id]);
}
