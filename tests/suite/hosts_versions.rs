//! A host whose flightdeck server is of another version than its program (the program was
//! replaced under a running server, as `hosts install` does) never half-works: the next
//! command through the bridge stops that server (its runs carry on) and starts one of this
//! version, which adopts them. `hosts` says the version the host's server runs and the free
//! slots its own config gives.

use crate::hosts::{host_in, wait_shown, OneHost};

#[test]
fn a_host_s_server_of_an_older_version_is_replaced_and_its_runs_adopted() {
    let Some(w) = OneHost::start() else {
        return;
    };
    // No cap for b1 here: the host's own config says 2.
    w.configure("b1", |h| h.replace("max_parallel = 3\n", ""));
    let mut theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    theirs.insert_str(0, "max_parallel = 2\n");
    std::fs::write(w.remote_config(), theirs).unwrap();
    let env = &w.env;

    // The host's server is an old one (it says so), with a run under way until told to end
    // (however slow the machine, it is still under way when `hosts` counts it).
    let go = w.dir.path().join("go");
    let mut theirs = std::fs::read_to_string(w.remote_config()).unwrap();
    theirs.push_str(&format!(
        "[agents.until]\ncommand = [\"sh\", \"-c\", \"while [ ! -e '{}' ]; do sleep 0.1; done; echo ended > ended.txt\"]\n",
        go.display()
    ));
    std::fs::write(w.remote_config(), theirs).unwrap();
    let out = w.remote.cmd_with(
        &[
            "run",
            "--repo",
            w.remote.repo.to_str().unwrap(),
            "--agent",
            "until",
            "end when told",
        ],
        &[("FLIGHTDECK_TEST_SERVER_VERSION", "0.0.1")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let old = w.remote.server_pid();

    // `hosts` through the bridge: the old server is replaced, and the new one answers.
    let listed = env.json(&["hosts", "--json"]);
    let b1 = host_in(&listed, "b1");
    assert_eq!(b1["reachable"], true, "{listed}");
    assert_eq!(b1["version"], env!("CARGO_PKG_VERSION"), "{listed}");
    assert_ne!(w.remote.server_pid(), old, "the old server still answers");
    // Its run was adopted by the new server, not lost: one of the host's two slots is taken.
    assert_eq!(b1["runs"], 1, "{listed}");
    assert_eq!(b1["free_slots"], 1, "{listed}");
    std::fs::write(&go, "").unwrap();
    let r = wait_shown(env, &id, "the adopted run to end", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let timeline =
        std::fs::read_to_string(w.remote.home.join("runs").join(&id).join("timeline.jsonl"))
            .unwrap();
    assert!(timeline.contains("\"run.adopted\""), "{timeline}");
}

/// A host whose flightdeck is an older one (no `bridge`): every command says so and what to
/// do; `hosts install` replaces it with this one, and the host then answers.
#[test]
fn hosts_install_replaces_an_older_flightdeck_on_the_host() {
    let Some(w) = OneHost::start() else {
        return;
    };
    let bin = w.dir.path().join("remote-bin").join("flightdeck");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(
        &bin,
        "#!/bin/sh\ncase \"$1\" in\n--version) echo 'flightdeck 0.0.1' ;;\n*) echo \"error: unrecognized subcommand '$1'\" >&2; exit 2 ;;\nesac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.configure("b1", |h| {
        h.replace(
            &format!("binary = {:?}", crate::common::BIN),
            &format!("binary = {:?}", bin.display().to_string()),
        )
    });
    let env = &w.env;

    let said = env.fails(&["--host", "b1", "ls"]);
    assert!(
        said.contains("an older version") && said.contains("flightdeck hosts install b1"),
        "{said}"
    );
    let said = env.ok(&["hosts", "install", "b1"]);
    assert!(said.contains("(it had: flightdeck 0.0.1)"), "{said}");
    assert_eq!(
        std::fs::read(&bin).unwrap(),
        std::fs::read(crate::common::BIN).unwrap()
    );
    let listed = env.json(&["hosts", "--json"]);
    let b1 = host_in(&listed, "b1");
    assert_eq!(b1["reachable"], true, "{listed}");
    assert_eq!(b1["version"], env!("CARGO_PKG_VERSION"), "{listed}");
}
