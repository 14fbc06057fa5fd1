//! The browser-to-code loop with real Chromium and a real dev server (`python3 -m http.server`
//! on the run's leased port): a console error is caught, reported, fed back to the agent, and
//! its next iteration passes; parallel runs get distinct ports and see their own pages;
//! killing a run in its browser phase leaves no Chromium or dev server behind.

use std::collections::BTreeSet;

use crate::common::*;

const SERVE: &str = r#"serve = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]"#;

fn config(agents: &str, pages: &str, ports: &str) -> String {
    format!(
        r#"
max_parallel = 10

[browser]
{SERVE}
ports = {ports}
max_iterations = 2

{pages}

{agents}
"#
    )
}

const HOME_PAGE: &str = "[[browser.pages]]\nname = \"home\"\npath = \"/index.html\"\n";

#[test]
fn a_console_error_goes_back_to_the_agent_and_the_next_iteration_passes() {
    // First try: a page that logs an error. With the browser's report in hand: a fixed page.
    let agent = r#"
[agents.web]
command = ["sh", "-c", "if [ -n \"$FLIGHTDECK_FEEDBACK_FILE\" ]; then cp \"$FLIGHTDECK_FEEDBACK_FILE\" ../seen-$FLIGHTDECK_RUN_ID; echo '<h1>fixed</h1>' > index.html; else echo '<h1>broken</h1><script>console.error(\"boom: the widget is broken\")</script>' > index.html; fi"]
"#;
    let env = Env::new(&config(agent, HOME_PAGE, "[42100, 42199]"));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "web", "make the home page");
    let r = env.wait_for(&id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");

    let iterations = env.events_of(&id, "browser.iteration");
    assert_eq!(iterations.len(), 1, "{iterations:#?}");
    let finished = env.events_of(&id, "browser.finished");
    assert_eq!(finished.len(), 2);
    assert_eq!(finished[0]["errors"], 1);
    assert_eq!(finished[1]["errors"], 0);
    assert_eq!(env.events_of(&id, "agent.started").len(), 2);

    // The agent got the report: the task and the error, with page and step.
    let wt = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
    let seen = std::fs::read_to_string(wt.parent().unwrap().join(format!("seen-{id}"))).unwrap();
    assert!(
        seen.contains("console error on page `home` after `load`: boom: the widget is broken"),
        "{seen}"
    );
    let dir = env.run_dir(&id).join("browser");
    let first = std::fs::read_to_string(dir.join("report-1-1.md")).unwrap();
    assert!(first.contains("boom"), "{first}");
    let last = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(last.contains("No errors."), "{last}");
    let png = std::fs::read(dir.join("home.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let patch = std::fs::read_to_string(env.run_dir(&id).join("patch.diff")).unwrap();
    assert!(patch.contains("fixed"), "{patch}");

    // The evidence reaches the score and PR.md.
    let score: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.run_dir(&id).join("score.json")).unwrap())
            .unwrap();
    let browser = score["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "browser")
        .expect("a browser factor");
    assert_eq!(browser["value"], 1.0);
    let pr = std::fs::read_to_string(env.run_dir(&id).join("PR.md")).unwrap();
    assert!(pr.contains("## Browser"), "{pr}");
    assert!(pr.contains("- iteration 1: 1 problem(s)"), "{pr}");
    assert!(pr.contains("boom: the widget is broken"), "{pr}");
    assert!(pr.contains("- iteration 2: no problems"), "{pr}");
    assert!(pr.contains("| home | 0 |"), "{pr}");
    assert_eq!(r["browser_problems"], 0);
}

#[test]
fn parallel_runs_get_their_own_ports_and_pages() {
    let agent = r#"
[agents.own]
command = ["sh", "-c", "echo \"<h1>$FLIGHTDECK_RUN_ID</h1><script>console.warn('page of ' + '$FLIGHTDECK_RUN_ID')</script>\" > index.html"]
"#;
    let env = Env::new(&config(agent, HOME_PAGE, "[42200, 42299]"));
    let repo = git_repo(env.path(), "repo");
    let ids: Vec<String> = (0..10)
        .map(|i| env.start(&repo, "own", &format!("page {i}")))
        .collect();
    let mut ports = BTreeSet::new();
    for id in &ids {
        // Ten runs with a browser each, on two cores beside the rest of the suite: the last
        // may wait for the others (under load one took over 60 s).
        let r = env.wait_for_within(id, "finished", std::time::Duration::from_secs(240), |r| {
            matches!(r["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert_eq!(r["status"], "succeeded", "{r:#}");
        let started = env.events_of(id, "browser.started");
        ports.insert(started[0]["port"].as_u64().unwrap());
        let console =
            std::fs::read_to_string(env.run_dir(id).join("browser/console.json")).unwrap();
        assert!(
            console.contains(&format!("page of {id}")),
            "{id}: {console}"
        );
        for other in ids.iter().filter(|o| *o != id) {
            assert!(!console.contains(other.as_str()), "{id} saw {other}'s page");
        }
    }
    assert_eq!(ports.len(), 10, "{ports:?}");
    // Each screenshot is of its own run's page (each shows its run id): ten different images.
    let shots: BTreeSet<Vec<u8>> = ids
        .iter()
        .map(|id| std::fs::read(env.run_dir(id).join("browser/home.png")).unwrap())
        .collect();
    assert_eq!(shots.len(), 10);
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[test]
fn killing_a_run_in_its_browser_phase_leaves_no_browser_or_server() {
    let agent = r#"
[agents.slow]
command = ["sh", "-c", "echo '<p>waiting</p>' > index.html"]
"#;
    let pages = "[[browser.pages]]\nname = \"home\"\npath = \"/index.html\"\nsteps = [{ wait_for = \"#never\" }]\n";
    let env = Env::new(&config(agent, pages, "[42300, 42399]"));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "slow", "wait for ever");
    wait_until("the browser at work", || {
        !env.events_of(&id, "browser.started").is_empty()
            && !processes_with(&format!("{id}/browser/profile")).is_empty()
    });
    let port = env.events_of(&id, "browser.started")[0]["port"]
        .as_u64()
        .unwrap();
    env.ok(&["kill", &id]);
    env.wait_status(&id, "killed");
    wait_until("no Chromium or dev server left", || {
        processes_with(&format!("{id}/browser/profile")).is_empty()
            && processes_with(&format!("http.server {port}")).is_empty()
    });
}

#[test]
fn a_visual_change_shows_in_the_diff_and_an_unchanged_page_does_not() {
    let agents = r#"
[agents.recolour]
command = ["sh", "-c", "sed -i 's/#1f6feb/#d1242f/' index.html"]

[agents.elsewhere]
command = ["sh", "-c", "echo notes > NOTES.md"]
"#;
    let env = Env::new(&format!(
        r#"
max_parallel = 2

[browser]
{SERVE}
ports = [42800, 42899]
max_iterations = 0
required = false
max_diff_ratio = 0.01

{HOME_PAGE}
{agents}
"#
    ));
    let repo = git_repo(env.path(), "repo");
    std::fs::write(
        repo.join("index.html"),
        "<body style=\"margin:0\"><div style=\"width:600px;height:300px;background:#1f6feb\"></div></body>\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "a blue box"]);

    let changed = env.start(&repo, "recolour", "make the box red");
    let same = env.start(&repo, "elsewhere", "write notes");
    for id in [&changed, &same] {
        let r = env.wait_for(id, "finished", |r| {
            matches!(r["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert_eq!(r["status"], "succeeded", "{r:#}");
    }
    let ratio = |id: &str| {
        env.events_of(id, "browser.page")[0]["diff_ratio"]
            .as_f64()
            .unwrap()
    };
    let red = ratio(&changed);
    assert!(red > 0.1 && red < 0.3, "600x300 of 1280x800 changed: {red}");
    assert_eq!(ratio(&same), 0.0);
    let dir = env.run_dir(&changed).join("browser");
    for f in ["home.png", "home.base.png", "home.diff.png"] {
        let png = std::fs::read(dir.join(f)).unwrap();
        assert_eq!(&png[..4], b"\x89PNG", "{f}");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("screenshot changed on page `home`"),
        "{report}"
    );
    // Where the page changed: the recoloured box, exactly.
    assert!(report.contains("in a 600×300 region at (0,0)"), "{report}");
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.run_dir(&changed).join("browser/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary["pages"][0]["diff_region"],
        serde_json::json!({"x": 0, "y": 0, "width": 600, "height": 300}),
        "{summary:#}"
    );
    // The same words in PR.md, and so in `flightdeck show`.
    let shown = env.ok(&["show", &changed]);
    assert!(
        shown.contains("of pixels changed, in a 600×300 region at (0,0)"),
        "{shown}"
    );
    assert_eq!(env.events_of(&changed, "browser.warning").len(), 1);
    // The baseline was rendered once for the base commit and shared.
    let base = env.record(&changed)["base"].as_str().unwrap().to_string();
    assert!(env
        .home
        .join("browser-baselines")
        .join(base)
        .join("home.png")
        .exists());
}

/// A dev server that ignores SIGTERM is killed after `kill_grace`, says so, and leaves its port
/// free: the base render's server is gone before the run's starts on the same port.
#[test]
fn a_dev_server_that_ignores_sigterm_is_killed_after_kill_grace() {
    let agent = r#"
[agents.page]
command = ["sh", "-c", "echo '<p>ok</p>' > index.html"]
"#;
    let env = Env::new(&format!(
        r#"
kill_grace = "1s"
[browser]
serve = ["sh", "-c", "trap '' TERM; exec python3 -m http.server \"$PORT\" --bind 127.0.0.1"]
ports = [42900, 42999]

{HOME_PAGE}
{agent}
"#
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "page", "a page");
    let r = env.wait_for(&id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    // One warning for each server, saying whose: the base commit's render, then the run's.
    let warnings: Vec<String> = env
        .events_of(&id, "browser.warning")
        .iter()
        .map(|w| w["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        warnings,
        [
            "the base commit's dev server ignored SIGTERM; killed after kill_grace (1000 ms)",
            "the run's dev server ignored SIGTERM; killed after kill_grace (1000 ms)",
        ]
    );
    let port = env.events_of(&id, "browser.started")[0]["port"]
        .as_u64()
        .unwrap();
    assert!(processes_with(&format!("http.server {port}")).is_empty());
    assert!(std::net::TcpListener::bind(("127.0.0.1", port as u16)).is_ok());
}

#[test]
fn readiness_can_come_from_the_servers_output() {
    let agent = r#"
[agents.page]
command = ["sh", "-c", "echo '<p>ok</p>' > index.html"]
"#;
    let env = Env::new(&format!(
        r#"
[browser]
serve = ["python3", "-u", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
ready = "log:Serving HTTP on \\S+ port \\d+"
ports = [42500, 42599]

{HOME_PAGE}
{agent}
"#
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "page", "a page");
    let r = env.wait_for(&id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    assert_eq!(r["browser_problems"], 0);

    // A pattern that does not parse is refused up front, with the reason.
    std::fs::write(
        &env.config,
        format!("[browser]\n{SERVE}\nready = \"log:(\"\n{HOME_PAGE}{agent}"),
    )
    .unwrap();
    let err = env.fails(&[
        "run",
        "--repo",
        repo.to_str().unwrap(),
        "--agent",
        "page",
        "x",
    ]);
    assert!(err.contains("is not a valid pattern"), "{err}");
}

#[test]
fn a_page_still_broken_after_the_iterations_fails_the_run_and_blocks_the_gate() {
    let agent = r#"
[agents.broken]
command = ["sh", "-c", "echo '<script>throw new Error(\"still broken\")</script>' > index.html"]
"#;
    let env = Env::new(&format!(
        r#"
[browser]
{SERVE}
ports = [42600, 42699]
max_iterations = 1

{HOME_PAGE}
{agent}
"#
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "broken", "break it");
    let r = env.wait_status(&id, "failed");
    assert_eq!(r["phase"], "browser");
    assert_eq!(r["merge"], "blocked");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("still finds 1 problem(s) after 2 iteration(s)"),
        "{r:#}"
    );
    assert_eq!(env.events_of(&id, "agent.started").len(), 2);
    assert_eq!(r["browser_problems"], 1);
}

/// Two runs, each clean in the browser on its own branch, whose combination throws in the page:
/// the merge queue's browser check on the merged result refuses the second.
#[test]
fn the_merge_queue_runs_the_required_browser_check_on_the_merged_result() {
    let agents = r#"
[agents.rename]
command = ["sed", "-i", "s/helper/helper2/", "a.js"]
[agents.caller]
command = ["sh", "-c", "echo 'helper();' >> b.js"]
"#;
    let env = Env::new(&config(agents, HOME_PAGE, "[42700, 42799]"));
    let repo = git_repo(env.path(), "repo");
    std::fs::write(
        repo.join("index.html"),
        "<h1>home</h1><script src=\"a.js\"></script><script src=\"b.js\"></script>\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("a.js"),
        "window.helper = function () { return 1; };\n",
    )
    .unwrap();
    std::fs::write(repo.join("b.js"), "// calls come here\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "page"]);
    let a = env.start(&repo, "rename", "rename helper");
    let b = env.start(&repo, "caller", "call helper");
    for id in [&a, &b] {
        let r = env.wait_for(id, "ready", |r| {
            r["merge"] == "ready" || matches!(r["status"].as_str(), Some("failed"))
        });
        assert_eq!(r["merge"], "ready", "{r:#}");
    }
    let out = env.output(&["merge", &a, &b]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("not merging run {b}"))
            && stderr.contains("the browser check fails once merged with main"),
        "{stderr}"
    );
    assert_eq!(env.record(&a)["merge"], "merged");
    assert_eq!(env.record(&b)["merge"], "blocked");
    let report = std::fs::read_to_string(env.run_dir(&b).join("browser/report.md")).unwrap();
    assert!(report.contains("helper is not defined"), "{report}");
    // The refused run's agent is not sent round: nothing waits for it.
    assert!(!env.run_dir(&b).join("browser/feedback.md").exists());
    assert!(!std::fs::read_to_string(repo.join("b.js"))
        .unwrap()
        .contains("helper();"));
}

/// Listening TCP ports owned by `uid` that answer as a DevTools endpoint (`/json/version`),
/// as anyone on the machine can look for them.
const FIND_DEVTOOLS: &str = r#"
import sys, urllib.request
uid = sys.argv[1]
found = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if f[3] != "0A" or f[7] != uid:
            continue
        port = int(f[1].rsplit(":", 1)[1], 16)
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/json/version" % port, timeout=0.5).read()
        except Exception:
            continue
        if b"webSocketDebuggerUrl" in body:
            found.append(port)
print(" ".join(map(str, found)))
"#;

#[test]
fn another_local_user_finds_no_devtools_port_and_pages_cannot_read_local_files() {
    // A file only its owner may read, that a page would like to see.
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("agent.json");
    std::fs::write(&secret, "the-victims-gateway-token").unwrap();
    let page = format!(
        "<h1>hi</h1><script>fetch('file://{s}').then(r => r.text()).then(t => console.error('read: ' + t)).catch(e => console.warn('blocked: ' + e));</script>",
        s = secret.display()
    );
    let agent = format!(
        "[agents.web]\ncommand = [\"sh\", \"-c\", \"printf '%s' \\\"$PAGE\\\" > index.html\"]\nenv = {{ PAGE = {} }}\n",
        toml::Value::String(page)
    );
    // A step that waits for what never comes keeps the browser up for a while.
    let pages = "[[browser.pages]]\nname = \"home\"\npath = \"/index.html\"\nsteps = [{ wait_for = \".never\" }]\n";
    let env = Env::new(&config(&agent, pages, "[42400, 42449]"));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "web", "a page that looks around");
    let profile = env.run_dir(&id).join("browser").join("profile");
    let chromium_up = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .contains(&format!("--user-data-dir={}", profile.display()))
            })
        })
    };
    wait_until("Chromium up for the run", chromium_up);
    let uid = nix::unistd::geteuid().as_raw().to_string();
    let scan = |as_other: bool| {
        let out = if as_other {
            other_user::run(&["python3", "-c", FIND_DEVTOOLS, &uid])
        } else {
            std::process::Command::new("python3")
                .args(["-c", FIND_DEVTOOLS, &uid])
                .output()
                .unwrap()
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let other = other_user::available();
    let mut scans = 0;
    while chromium_up() {
        assert_eq!(scan(other), "", "a DevTools port another process can drive");
        scans += 1;
    }
    assert!(scans > 0, "Chromium was gone before a single scan");
    eprintln!(
        "{scans} scans while Chromium ran (as {})",
        if other { other_user::NAME } else { "this user" }
    );
    env.wait_for(&id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    });
    let report =
        std::fs::read_to_string(env.run_dir(&id).join("browser").join("report.md")).unwrap();
    assert!(!report.contains("the-victims-gateway-token"), "{report}");
    // Once (in CI, Chromium 156) the warning was missing with no more to go on: say how the
    // run went too.
    let steps: Vec<String> = env
        .timeline(&id)
        .iter()
        .map(|l| format!("{} {}", l["type"], l["message"]))
        .collect();
    assert!(
        report.contains("blocked: TypeError"),
        "{report}\n{}",
        steps.join("\n")
    );
}
