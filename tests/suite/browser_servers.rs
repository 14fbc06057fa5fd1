//! The browser phase's dev servers, played by a small Python server (`serve.py` below) that
//! prints Vite's or Next.js's real readiness lines, exits early or never answers, as a file in
//! the tree it serves says: readiness from coloured output, messages that say whose server
//! failed and end with its log, a base commit's render that fails without failing the run, and
//! a server that leaves its port bound.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A static file server on `$PORT` whose behaviour the served tree picks:
/// - `exits`: says so and exits 1 before listening;
/// - `hangs`: says so and never listens;
/// - `banner`: its content is printed once the server listens (a readiness line);
/// - `escape`: the server runs in a session of its own, outside the dev server's process
///   group, and keeps the port bound after the group is stopped.
const SERVE_PY: &str = r#"
import functools, http.server, os, sys, time
if os.path.exists("escape") and os.getsid(0) != os.getpid():
    os.setsid()
port = int(os.environ["PORT"])
if os.path.exists("exits"):
    print("starting on port %d" % port, flush=True)
    print("Error: the last words of the server", flush=True)
    sys.exit(1)
if os.path.exists("hangs"):
    print("the last line: still compiling", flush=True)
    time.sleep(600)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.getcwd())
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
if os.path.exists("banner"):
    sys.stdout.write(open("banner").read())
    sys.stdout.flush()
srv.serve_forever()
"#;

/// Vite 8.4.0's banner as it prints it with FORCE_COLOR set (captured from
/// `FORCE_COLOR=1 vite --port …` in tests/browser_apps/vite).
pub const VITE_BANNER: &str = "\n  \u{1b}[32m\u{1b}[1mVITE\u{1b}[22m v8.4.0\u{1b}[39m  \u{1b}[2mready in \u{1b}[0m\u{1b}[1m779\u{1b}[22m\u{1b}[2m\u{1b}[0m ms\u{1b}[22m\n\n  \u{1b}[32m➜\u{1b}[39m  \u{1b}[1mLocal\u{1b}[22m:   \u{1b}[36mhttp://127.0.0.1:\u{1b}[1m5173\u{1b}[22m/\u{1b}[39m\n";

/// `next dev` 15's start, coloured as its log module colours it (the ✓ of an event is
/// `green(bold("✓"))`).
const NEXT_BANNER: &str = "   \u{1b}[1m\u{1b}[35m▲ Next.js 15.1.0\u{1b}[39m\u{1b}[22m\n   - Local:        http://localhost:3000\n   - Network:      http://127.0.0.1:3000\n\n \u{1b}[32m\u{1b}[1m✓\u{1b}[22m\u{1b}[39m Starting...\n \u{1b}[32m\u{1b}[1m✓\u{1b}[22m\u{1b}[39m Ready in 1234ms\n";

/// A config whose dev server is `serve.py` (written beside it), with `browser` settings added.
fn setup(ports: &str, browser: &str, agents: &str) -> (Env, PathBuf) {
    let env = Env::new("");
    let script = env.path().join("serve.py");
    std::fs::write(&script, SERVE_PY).unwrap();
    std::fs::write(
        &env.config,
        format!(
            r#"
kill_grace = "2s"
[browser]
serve = ["python3", "-u", "{script}"]
ports = {ports}
max_iterations = 1
{browser}

[[browser.pages]]
name = "home"
path = "/index.html"

{agents}
"#,
            script = script.display()
        ),
    )
    .unwrap();
    let repo = git_repo(env.path(), "repo");
    std::fs::write(repo.join("index.html"), "<h1>home</h1>\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "a page"]);
    (env, repo)
}

fn finished(env: &Env, id: &str) -> serde_json::Value {
    env.wait_for(id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    })
}

fn commit(repo: &Path, file: &str, text: &str) {
    std::fs::write(repo.join(file), text).unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", file]);
}

/// Readiness from the server's output works on the lines Vite and Next.js really print,
/// colours and all, with the patterns config.example.toml gives.
#[test]
fn readiness_matches_vites_coloured_banner_and_nexts_ready_line() {
    for (banner, ready, ports) in [
        // The stricter pattern: Vite colours the figure apart from its words.
        (VITE_BANNER, r"log:ready in \\d+ ms", "[45000, 45049]"),
        (VITE_BANNER, "log:ready in", "[45050, 45099]"),
        (NEXT_BANNER, "log:Ready in", "[45100, 45149]"),
    ] {
        let agent =
            "[agents.page]\ncommand = [\"sh\", \"-c\", \"echo '<p>ok</p>' > index.html\"]\n";
        let (env, repo) = setup(
            ports,
            &format!("ready = \"{ready}\"\nready_timeout = \"10s\""),
            agent,
        );
        commit(&repo, "banner", banner);
        let id = env.start(&repo, "page", "a page");
        let r = finished(&env, &id);
        assert_eq!(r["status"], "succeeded", "{ready}: {r:#}");
        assert_eq!(r["browser_problems"], 0);
        let warnings = env.events_of(&id, "browser.warning");
        assert!(warnings.is_empty(), "{ready}: {warnings:#?}");
        // Both servers were waited for by their output: the base commit's and the run's.
        assert_eq!(env.events_of(&id, "browser.started").len(), 2);
    }
}

/// A run's dev server that exits before it answers fails the run with a reason that says it
/// was the run's server (not the base commit's) and ends with the last line of its log.
#[test]
fn a_runs_dev_server_that_exits_early_is_named_with_its_last_words() {
    let agent = "[agents.breaker]\ncommand = [\"touch\", \"exits\"]\n";
    let (env, repo) = setup("[45150, 45199]", "", agent);
    let id = env.start(&repo, "breaker", "break the server");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(r["phase"], "browser");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("the run's dev server exited with code 1 before its first answer"),
        "{reason}"
    );
    assert!(reason.contains("browser/server.log ends:"), "{reason}");
    assert!(
        reason.contains("Error: the last words of the server"),
        "{reason}"
    );
    // The base commit's server was fine: no warning about it.
    assert!(env.events_of(&id, "browser.warning").is_empty());
}

/// A run's dev server that never answers within `ready_timeout`: the reason names it and shows
/// the end of its log.
#[test]
fn a_runs_dev_server_that_misses_ready_timeout_is_named_with_its_log() {
    let agent = "[agents.breaker]\ncommand = [\"touch\", \"hangs\"]\n";
    let (env, repo) = setup("[45200, 45249]", "ready_timeout = \"3s\"", agent);
    let id = env.start(&repo, "breaker", "hang the server");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "failed", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("the run's dev server showed no answer at http://127.0.0.1:"),
        "{reason}"
    );
    assert!(
        reason.contains("within 3 s; browser/server.log ends:"),
        "{reason}"
    );
    assert!(
        reason.contains("the last line: still compiling"),
        "{reason}"
    );
}

/// The same with readiness from the output, on the base commit's server: its render fails,
/// said as such, and the run's own server (which answers) is checked anyway.
#[test]
fn a_base_commits_server_that_misses_its_ready_line_is_named_and_the_run_goes_on() {
    let agent = "[agents.fixer]\ncommand = [\"sh\", \"-c\", \"rm hangs; printf 'ready in 5 ms\\\\n' > banner\"]\n";
    let (env, repo) = setup(
        "[45250, 45299]",
        "ready = \"log:ready in\"\nready_timeout = \"5s\"",
        agent,
    );
    commit(&repo, "hangs", "");
    let id = env.start(&repo, "fixer", "unhang the server");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let warnings = env.events_of(&id, "browser.warning");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let w = warnings[0]["message"].as_str().unwrap();
    assert!(
        w.starts_with("the base commit's render failed: the base commit's dev server showed no output matching `ready in` within 5 s; browser/base-server.log ends:"),
        "{w}"
    );
    assert!(w.contains("the last line: still compiling"), "{w}");
}

/// The base commit's render fails (its dev server exits): a `browser.warning` says so, the
/// run's own page is still checked (its console error sends the agent round), there is no
/// diff, and the run is not failed by it.
#[test]
fn a_failing_base_render_is_a_warning_and_the_runs_own_checks_still_run() {
    let agent = r#"
[agents.web]
command = ["sh", "-c", "rm -f exits; if [ -n \"$FLIGHTDECK_FEEDBACK_FILE\" ]; then echo '<h1>fixed</h1>' > index.html; else echo '<h1>broken</h1><script>console.error(\"boom: the widget is broken\")</script>' > index.html; fi"]
"#;
    let (env, repo) = setup("[45300, 45349]", "", agent);
    // The base commit's server cannot start; the agent's first change lets it.
    commit(&repo, "exits", "");
    let id = env.start(&repo, "web", "make the home page");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r:#}");

    // Each iteration tried the base render (a failed one is not cached) and said it failed.
    let warnings = env.events_of(&id, "browser.warning");
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    for w in &warnings {
        let w = w["message"].as_str().unwrap();
        assert!(
            w.starts_with("the base commit's render failed: the base commit's dev server exited with code 1 before its first answer"),
            "{w}"
        );
        assert!(w.contains("Error: the last words of the server"), "{w}");
        assert!(
            w.ends_with("the pages are checked without a screenshot diff"),
            "{w}"
        );
    }
    // The run's own console error was still caught, and its fix checked.
    let finished = env.events_of(&id, "browser.finished");
    assert_eq!(finished.len(), 2, "{finished:#?}");
    assert_eq!(finished[0]["errors"], 1);
    assert_eq!(finished[1]["errors"], 0);
    let first = std::fs::read_to_string(env.run_dir(&id).join("browser/report-1-1.md")).unwrap();
    assert!(first.contains("boom: the widget is broken"), "{first}");
    // No diff: no base image, no ratio, no region, nothing cached for the base commit.
    for page in env.events_of(&id, "browser.page") {
        assert!(page.get("diff_ratio").is_none(), "{page:#}");
        assert!(page.get("diff_region").is_none(), "{page:#}");
    }
    let dir = env.run_dir(&id).join("browser");
    assert!(!dir.join("home.base.png").exists());
    assert!(!dir.join("home.diff.png").exists());
    assert!(dir.join("home.png").exists());
    let base = env.record(&id)["base"].as_str().unwrap().to_string();
    assert!(!env.home.join("browser-baselines").join(base).exists());
}

/// Pids of live `serve.py` servers whose working directory is under `dir`.
fn servers_in(dir: &Path) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("serve.py"))
                && std::fs::read_link(format!("/proc/{pid}/cwd"))
                    .is_ok_and(|cwd| cwd.starts_with(dir))
                && alive(*pid)
        })
        .collect()
}

/// A dev server that leaves its port bound when its process group is gone (a process of it in
/// a session of its own): a `browser.warning` says so, and the next server gets another port
/// instead of failing on a busy one.
#[test]
fn a_port_left_bound_by_a_dev_server_is_said_and_the_next_server_gets_another() {
    let agent = "[agents.page]\ncommand = [\"sh\", \"-c\", \"echo '<p>ok</p>' > index.html\"]\n";
    let (env, repo) = setup("[45350, 45399]", "", agent);
    commit(&repo, "escape", "");
    let id = env.start(&repo, "page", "a page");
    let r = finished(&env, &id);
    // The servers that escaped their group hold their ports until the test ends them.
    let escaped = servers_in(env.path());
    for pid in &escaped {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let started = env.events_of(&id, "browser.started");
    let ports: Vec<u64> = started
        .iter()
        .map(|s| s["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports.len(), 2, "{started:#?}");
    assert_ne!(
        ports[0], ports[1],
        "the run's server went on the base's busy port"
    );
    let warnings: Vec<String> = env
        .events_of(&id, "browser.warning")
        .iter()
        .map(|w| w["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        warnings,
        vec![
            format!("the base commit's dev server's port {} is still in use 5 s after its process group ended (a process it started outside its group?); the next dev server gets another port", ports[0]),
            format!("the run's dev server's port {} is still in use 5 s after its process group ended (a process it started outside its group?); the next dev server gets another port", ports[1]),
        ]
    );
    assert_eq!(r["browser_problems"], 0);
    assert_eq!(escaped.len(), 2, "two escaped servers: {escaped:?}");
}
