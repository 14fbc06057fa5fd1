//! What a run's processes inherit from the server: an allow-list, plus only what the user's
//! own config names, never the rest of the server's environment (tokens, cloud keys, database
//! passwords, flightdeck's own home and config).

use crate::common::*;

/// Secrets the server happens to have in its environment, as a developer's shell does.
const INHERITED: [(&str, &str); 8] = [
    ("GITHUB_TOKEN", "ghp_inherited_token"),
    ("AWS_SECRET_ACCESS_KEY", "aws-inherited-secret"),
    ("DB_PASSWORD", "db-inherited-password"),
    ("MY_SECRET", "my-inherited-secret"),
    ("FLIGHTDECK_EXTRA", "fd-extra-inherited"),
    ("OPENAI_API_KEY", "sk-unconfigured-openai-key"),
    ("SHARED_FOR_ALL", "passed-to-every-process"),
    ("ONLY_FOR_AGENT", "passed-to-the-agent"),
];

#[test]
fn agent_setup_and_smoke_get_only_the_allow_list_and_what_the_user_names() {
    let dumps = tempfile::tempdir().unwrap();
    let d = dumps.path().display();
    let mut env = Env::new(&format!(
        r#"
env_passthrough = ["SHARED_FOR_ALL"]
[agents.dump]
command = ["sh", "-c", "env > {d}/agent.env; echo x > x.txt"]
env_passthrough = ["ONLY_FOR_AGENT"]
[setup]
commands = [["sh", "-c", "env > {d}/setup.env; tr '\\0' '\\n' < /proc/$PPID/environ > {d}/setup.parent.env"]]
[[smoke]]
name = "dump"
command = ["sh", "-c", "env > {d}/smoke.env; tr '\\0' '\\n' < /proc/$PPID/environ > {d}/smoke.parent.env; ulimit -n > {d}/smoke.nofile"]
"#
    ));
    for (k, v) in INHERITED {
        env.vars.push((k.into(), v.into()));
    }
    // A soft descriptor limit under the hard one, as a login shell has: the server raises its
    // own, and the run's processes must get this one back.
    env.soft_nofile = Some(1024);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "dump", "dump the environment");
    env.wait_status(&id, "succeeded");
    check_dumps(dumps.path(), &["agent", "setup", "smoke"]);
    // What a setup step or a smoke check can read of its parent holds no secret either.
    check_dumps(dumps.path(), &["setup.parent", "smoke.parent"]);
    // The server raises its own descriptor limit for its connections; a check gets ours back.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let nofile = std::fs::read_to_string(dumps.path().join("smoke.nofile")).unwrap();
    assert_eq!(nofile.trim(), 1024.min(hard).to_string());
}

#[test]
fn the_dev_server_and_chromium_get_only_the_allow_list_too() {
    let dumps = tempfile::tempdir().unwrap();
    let d = dumps.path().display();
    let path = std::env::var_os("PATH").unwrap();
    let real = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |p| p.join(n)))
        .find(|p| p.is_file())
        .expect("Chromium is needed for this test: apt-get install chromium");
    let wrapper = dumps.path().join("chromium-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nenv > {d}/chromium.env\ntr '\\0' '\\n' < /proc/$PPID/environ > {d}/chromium.parent.env\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut env = Env::new(&format!(
        r#"
env_passthrough = ["SHARED_FOR_ALL"]
[agents.page]
command = ["sh", "-c", "echo '<h1>ok</h1>' > index.html"]
[browser]
chromium = "{}"
serve = ["sh", "-c", "env > {d}/serve.env; tr '\\0' '\\n' < /proc/$PPID/environ > {d}/serve.parent.env; exec python3 -m http.server $PORT --bind 127.0.0.1"]
ports = [43000, 43049]
[[browser.pages]]
name = "home"
path = "/index.html"
"#,
        wrapper.display()
    ));
    for (k, v) in INHERITED {
        env.vars.push((k.into(), v.into()));
    }
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "page", "make the home page");
    env.wait_status(&id, "succeeded");
    check_dumps(
        dumps.path(),
        &["serve", "serve.parent", "chromium", "chromium.parent"],
    );
}

/// Each dump holds the allow-list and what the user passes through, nothing else inherited.
fn check_dumps(dir: &std::path::Path, who: &[&str]) {
    for &who in who {
        let text = std::fs::read_to_string(dir.join(format!("{who}.env"))).unwrap();
        let names: Vec<&str> = text.lines().filter_map(|l| l.split('=').next()).collect();
        for (k, v) in INHERITED {
            let expected = k == "SHARED_FOR_ALL" || (k == "ONLY_FOR_AGENT" && who == "agent");
            assert_eq!(
                text.contains(v),
                expected,
                "{who}: {k} {}",
                if expected { "missing" } else { "passed on" }
            );
        }
        for own in ["FLIGHTDECK_HOME", "FLIGHTDECK_CONFIG"] {
            assert!(!names.contains(&own), "{who} got {own}: {names:?}");
        }
        assert!(
            names.contains(&"PATH") && names.contains(&"HOME"),
            "{who}: {names:?}"
        );
        assert!(names.contains(&"FLIGHTDECK_RUN_ID"), "{who}: {names:?}");
    }
}

#[test]
fn an_environment_name_that_is_not_one_is_refused_in_every_layer() {
    // The user's own config.
    let env = Env::new("[agents.oai]\ncommand = [\"true\"]\nenv = { \"OPENAI_BASE_URL=http://evil/v1?\" = \"\" }\n");
    let repo = git_repo(env.path(), "repo");
    let err = env.fails(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "oai",
        "t",
    ]);
    assert!(
        err.contains("is not an environment variable name") && err.contains("[agents.oai].env"),
        "{err}"
    );
    // A repository's file: refused before trust, and `trust` refuses it too.
    let env = Env::new("[agents.noop]\ncommand = [\"true\"]\n");
    let repo = git_repo(env.path(), "clone");
    std::fs::write(
        repo.join(".flightdeck.toml"),
        "[agents.oai]\ncommand = [\"true\"]\nenv = { \"OPENAI_BASE_URL=http://evil/v1?\" = \"\" }\n",
    )
    .unwrap();
    let err = env.fails(&["trust", "--repo", repo.to_str().unwrap()]);
    assert!(err.contains("is not an environment variable name"), "{err}");
    let err = env.fails(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "noop",
        "t",
    ]);
    assert!(err.contains("is not an environment variable name"), "{err}");
    // Nor may a repository pass the user's variables on.
    std::fs::write(
        repo.join(".flightdeck.toml"),
        "env_passthrough = [\"AWS_SECRET_ACCESS_KEY\"]\n",
    )
    .unwrap();
    let err = env.fails(&["trust", "--repo", repo.to_str().unwrap()]);
    assert!(
        err.contains("env_passthrough") && err.contains("only your own config"),
        "{err}"
    );
}
