//! The browser loop on a real web app: the vanilla Vite app under `tests/browser_apps/vite`
//! (Vite pinned by its package-lock.json, installed by `[setup]` with `npm ci`), served by
//! `npm run dev` on the run's leased port, checked by real Chromium.

use std::path::{Path, PathBuf};

use crate::common::*;

const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser_apps/vite");

/// A repository holding the Vite app (node_modules ignored, as `npm create vite` makes it).
fn vite_repo(parent: &Path) -> PathBuf {
    let repo = parent.join("app");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    for f in [
        "package.json",
        "package-lock.json",
        "index.html",
        ".gitignore",
        "src/main.js",
        "src/style.css",
    ] {
        std::fs::copy(Path::new(APP).join(f), repo.join(f)).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "a vite app"]);
    repo
}

fn config(ports: &str, agents: &str) -> String {
    format!(
        r#"
max_parallel = 2
kill_grace = "3s"

[setup]
commands = [["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"]]

[browser]
serve = ["npm", "run", "dev", "--", "--port", "{{port}}", "--strictPort", "--host", "127.0.0.1"]
ports = {ports}
max_iterations = 2

[[browser.pages]]
name = "home"
path = "/"

{agents}
"#
    )
}

/// Processes left that belong to this test: their command line or working directory is under
/// `dir` (Vite, esbuild and npm run in the worktrees; Chromium's profile is in the run dir).
fn leftovers(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            if stat.rsplit_once(')')?.1.split_whitespace().next() == Some("Z") {
                return None;
            }
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
            (cmd.contains(&needle) || cwd.starts_with(dir)).then_some(cmd)
        })
        .filter(|c| !c.contains("flightdeck serve"))
        .collect()
}

/// A dev server's front door that checks, as each server starts, that the one before it is
/// wholly gone: no live process left in its process group, and its port not bound on 127.0.0.1
/// or ::1 (bound as servers bind, with SO_REUSEADDR). It writes `<pgid> <port>` to `argv[1]`
/// and what it found wrong to `argv[2]`, then becomes the dev server (`argv[3..]`).
const GUARD_PY: &str = r#"
import errno, os, socket, sys
log, wrong = sys.argv[1], sys.argv[2]
port = int(os.environ["PORT"])
def members(pgid):
    found = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if f[0] not in "ZX" and int(f[2]) == pgid:
            found.append(p)
    return found
def bound(port):
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(family)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return host
        finally:
            s.close()
    return None
before = open(log).read().split("\n") if os.path.exists(log) else []
before = [l.split() for l in before if l.strip()]
with open(wrong, "a") as out:
    if before:
        pgid = int(before[-1][0])
        alive = members(pgid)
        if alive:
            out.write("the last server's group %d still has %s\n" % (pgid, alive))
    host = bound(port)
    if host:
        out.write("port %d still bound on %s\n" % (port, host))
with open(log, "a") as out:
    out.write("%d %d\n" % (os.getpgid(0), port))
os.execvp(sys.argv[3], sys.argv[3:])
"#;

fn finished(env: &Env, id: &str) -> serde_json::Value {
    env.wait_for(id, "finished", |r| {
        matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    })
}

#[test]
fn vite_an_uncaught_exception_goes_back_to_the_agent_and_the_fix_ends_green() {
    // First try: a call to an undefined function; given the browser's report: removed.
    let agent = r#"
[agents.breaker]
command = ["sh", "-c", "if [ -n \"$FLIGHTDECK_FEEDBACK_FILE\" ]; then cp \"$FLIGHTDECK_FEEDBACK_FILE\" ../seen-$FLIGHTDECK_RUN_ID; sed -i '/undefinedFn/d' src/main.js; else echo 'undefinedFn()' >> src/main.js; fi"]
"#;
    // The serve command config.example.toml suggests, behind a guard that checks the server
    // before is gone.
    let env = Env::new("");
    let (guard, servers, wrong) = (
        env.path().join("guard.py"),
        env.path().join("servers"),
        env.path().join("wrong"),
    );
    std::fs::write(&guard, GUARD_PY).unwrap();
    std::fs::write(
        &env.config,
        config("[43100, 43199]", agent).replace(
            "serve = [\"npm\"",
            &format!(
                "serve = [\"python3\", \"{}\", \"{}\", \"{}\", \"npm\"",
                guard.display(),
                servers.display(),
                wrong.display()
            ),
        ),
    )
    .unwrap();
    let repo = vite_repo(env.path());
    let id = env.start(&repo, "breaker", "count clicks");
    let r = finished(&env, &id);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    // Base, first and second iteration: each on the same port, each started after the one
    // before was gone and its port free; Vite never found another of itself.
    let started: Vec<(i64, u16)> = std::fs::read_to_string(&servers)
        .unwrap()
        .lines()
        .map(|l| {
            let (pgid, port) = l.split_once(' ').unwrap();
            (pgid.parse().unwrap(), port.parse().unwrap())
        })
        .collect();
    assert_eq!(started.len(), 3, "{started:?}");
    assert!(started.iter().all(|s| s.1 == started[0].1), "{started:?}");
    assert_eq!(
        std::fs::read_to_string(&wrong).unwrap_or_default(),
        "",
        "{started:?}"
    );
    let server_log = std::fs::read_to_string(env.run_dir(&id).join("browser/server.log")).unwrap();
    assert!(!server_log.contains("Found another Vite"), "{server_log}");
    assert_eq!(server_log.matches("ready in").count(), 2, "{server_log}");
    // And at the end: the port free, on both loopbacks.
    let port = started[0].1;
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    if std::net::TcpListener::bind(("::1", 0)).is_ok() {
        assert!(std::net::TcpListener::bind(("::1", port)).is_ok());
    }
    let finished = env.events_of(&id, "browser.finished");
    assert_eq!(finished.len(), 2, "two iterations: {finished:#?}");
    assert!(finished[0]["errors"].as_u64().unwrap() >= 1);
    assert_eq!(finished[1]["errors"], 0);
    let wt = PathBuf::from(r["worktree"].as_str().unwrap());
    let seen = std::fs::read_to_string(wt.parent().unwrap().join(format!("seen-{id}"))).unwrap();
    assert!(
        seen.contains("undefinedFn is not defined"),
        "the agent saw the exception: {seen}"
    );
    // The base commit was rendered (with [setup]: Vite needs node_modules) and diffed.
    let warnings = env.events_of(&id, "browser.warning");
    assert!(warnings.is_empty(), "{warnings:#?}");
    let started = env.events_of(&id, "browser.started");
    assert_eq!(
        started.iter().filter(|s| s["baseline"] == true).count(),
        1,
        "{started:#?}"
    );
    assert_eq!(started.len(), 3, "base, then one server per iteration");
    // Vite's own chatter is not a problem the agent is sent.
    assert!(!seen.contains("[vite]"), "{seen}");
    wait_until("no Vite or Chromium left", || {
        leftovers(env.path()).is_empty()
    });
}

#[test]
fn vite_a_colour_change_shows_where_the_heading_is_and_the_base_is_rendered_once() {
    let agents = r#"
[agents.recolour]
command = ["sh", "-c", "sed -i 's/#1e40af/#dc2626/' src/style.css"]

[agents.notes]
command = ["sh", "-c", "echo notes > NOTES.md"]
"#;
    // Ready when Vite says so ("VITE v8.4.0  ready in 324 ms"), not when a path answers.
    // Vite colours that line when FORCE_COLOR (or CI) is set, as it is here: the figure apart
    // from its words.
    let mut env = Env::new(
        &config("[43200, 43299]", agents)
            .replace(
                "max_iterations = 2",
                "max_iterations = 2\nready = 'log:ready in \\d+ ms'",
            )
            .replace(
                "kill_grace =",
                "env_passthrough = [\"FORCE_COLOR\"]\nkill_grace =",
            ),
    );
    env.vars.push(("FORCE_COLOR".into(), "1".into()));
    let repo = vite_repo(env.path());
    let changed = env.start(&repo, "recolour", "make the heading red");
    let r = finished(&env, &changed);
    assert_eq!(r["status"], "succeeded", "{r:#}");
    let dir = env.run_dir(&changed).join("browser");
    let load = |f: &str| image::open(dir.join(f)).unwrap().to_rgba8();
    let (shot, base, diff) = (
        load("home.png"),
        load("home.base.png"),
        load("home.diff.png"),
    );
    assert_eq!(shot.dimensions(), base.dimensions());
    // The heading's band (40px padding around the text, at the top) changed; the page below
    // it did not.
    let differs = |x, y| shot.get_pixel(x, y) != base.get_pixel(x, y);
    assert!(differs(5, 5), "the heading's background changed");
    assert!(!differs(5, 400), "nothing changed below the heading");
    assert_ne!(diff.get_pixel(5, 5), diff.get_pixel(5, 400));
    let page = &env.events_of(&changed, "browser.page")[0];
    let ratio = page["diff_ratio"].as_f64().unwrap();
    assert!(ratio > 0.01 && ratio < 0.5, "{ratio}");
    // The reported region is the <h1>'s box: its background paints exactly that box, so the
    // base render shows it as the rows of #1e40af at the page's left edge, from the top.
    let heading = |y| base.get_pixel(0, y).0 == [0x1e, 0x40, 0xaf, 0xff];
    let h1_height = (0..base.height()).take_while(|y| heading(*y)).count() as i64;
    assert!(
        (80..200).contains(&h1_height),
        "a heading 40px padding on each side of one line: {h1_height}"
    );
    let region = &page["diff_region"];
    assert!(
        region["x"] == 0 && region["y"] == 0 && region["width"] == shot.width(),
        "the heading spans the page from its top: {page:#}"
    );
    // Its last row may be a blend of the heading and the page below (a fractional line height).
    let height = region["height"].as_i64().unwrap();
    assert!(
        (height - h1_height).abs() <= 1,
        "the region {height} px high, the heading {h1_height}: {page:#}"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains(&format!("in a {}×{height} region at (0,0)", shot.width())),
        "{report}"
    );

    // A second run on the same base reuses the base render.
    let same = env.start(&repo, "notes", "write notes");
    assert_eq!(finished(&env, &same)["status"], "succeeded");
    let base_starts = |id: &str| {
        env.events_of(id, "browser.started")
            .iter()
            .filter(|s| s["baseline"] == true)
            .count()
    };
    assert_eq!((base_starts(&changed), base_starts(&same)), (1, 0));
    assert_eq!(
        env.events_of(&same, "browser.page")[0]["diff_ratio"]
            .as_f64()
            .unwrap(),
        0.0
    );
    wait_until("no Vite or Chromium left", || {
        leftovers(env.path()).is_empty()
    });
}

#[test]
fn vite_a_run_killed_in_its_browser_phase_leaves_nothing_running() {
    let agent = r#"
[agents.slow]
command = ["sh", "-c", "echo '// waiting' >> src/main.js"]
"#;
    let env = Env::new(&config("[43300, 43399]", agent).replace(
        "path = \"/\"\n",
        "path = \"/\"\nsteps = [{ wait_for = \"#never\" }]\n",
    ));
    let repo = vite_repo(env.path());
    let id = env.start(&repo, "slow", "wait for ever");
    // npm ci, the base render (its step waits out its timeout), then the run's own page.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !env
        .events_of(&id, "browser.started")
        .iter()
        .any(|s| s["baseline"] == false)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run's page never opened"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    env.ok(&["kill", &id]);
    env.wait_status(&id, "killed");
    wait_until("no Vite or Chromium left", || {
        leftovers(env.path()).is_empty()
    });
}
