//! Prints flightdeck's figures at scale beside git's own, in one run on a generated
//! 5,000-file repository (a measurement, not a test):
//! - run start (`flightdeck run` called) to agent running: cold (pool = 0) and pooled, against
//!   `git worktree add`;
//! - ten runs started together, to the last agent running, against ten `git worktree add` at once;
//! - the idle server's CPU with 100 runs waiting to merge, and its RSS;
//! - `ls --json` with those runs.
//!
//! cargo build --release && cargo run --release --example scale_figures

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{git, World};

/// Files in the generated repository: 5,000, or SCALE_FILES (50000, say).
fn files() -> usize {
    std::env::var("SCALE_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// 5,000 files of 40 lines in 100 directories, committed and packed. With `SCALE_REPO=real`, as
/// real repositories are: a `.gitattributes` (text=auto, eol rules, binary), an LFS-tracked file
/// (with git-lfs installed), and a history of 200 commits, then `git gc`.
fn fill(repo: &Path) {
    if std::env::var("SCALE_REPO").is_ok_and(|v| v == "real") {
        return fill_real(repo);
    }
    for i in 0..files() {
        let p = repo.join(format!("src/mod{:03}/file{i:05}.rs", i / 50));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let body: String = (0..40).map(|l| format!("// file {i} line {l}\n")).collect();
        std::fs::write(p, body).expect("write");
    }
    commit_all(repo, "files");
    git(repo, &["repack", "-a", "-d", "-q"]);
}

/// Commit whatever the work tree holds (possibly nothing), with no gc on the way.
fn commit_all(repo: &Path, msg: &str) {
    git(repo, &["add", "."]);
    git(
        repo,
        &[
            "-c",
            "user.name=f",
            "-c",
            "user.email=f@f",
            "-c",
            "gc.auto=0",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            msg,
        ],
    );
}

fn fill_real(repo: &Path) {
    // One gc at the end, none on the way.
    git(repo, &["config", "gc.auto", "0"]);
    let lfs = std::process::Command::new("git")
        .args(["lfs", "install", "--local"])
        .current_dir(repo)
        .output()
        .is_ok_and(|o| o.status.success());
    let mut attributes =
        String::from("* text=auto\n*.sh text eol=lf\n*.bat text eol=crlf\n*.png binary\n");
    if lfs {
        attributes.push_str("*.dat filter=lfs diff=lfs merge=lfs -text\n");
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(repo.join("assets.dat"), big).expect("write");
    }
    std::fs::write(repo.join(".gitattributes"), attributes).expect("write");
    let per_commit = (files() / 200).max(1);
    for i in 0..files() {
        let ext = ["rs", "sh", "bat", "md"][i % 4];
        let p = repo.join(format!("src/mod{:03}/file{i:05}.{ext}", i / 50));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let body: String = (0..40).map(|l| format!("// file {i} line {l}\n")).collect();
        std::fs::write(p, body).expect("write");
        if (i + 1) % per_commit == 0 {
            commit_all(repo, &format!("files to {i}"));
        }
    }
    commit_all(repo, "the rest");
    git(repo, &["gc", "-q"]);
}

fn config(pool: usize, max_parallel: usize) -> String {
    format!(
        r#"
pool = {pool}
max_parallel = {max_parallel}
[agents.stamp]
# Says when it started (the measure), then makes a change of its own.
command = ["sh", "-c", "date +%s.%N > ../started-$FLIGHTDECK_RUN_ID; echo $FLIGHTDECK_RUN_ID > own-$FLIGHTDECK_RUN_ID.txt"]
"#
    )
}

/// When the agent of `id` started (its stamp file), waiting for it.
fn started(w: &World, id: &str) -> f64 {
    let rec: serde_json::Value =
        serde_json::from_str(&w.fd(&["show", id, "--json"])).expect("json");
    let wt = PathBuf::from(rec["worktree"].as_str().unwrap_or_default());
    let stamp = wt.parent().expect("parent").join(format!("started-{id}"));
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(t) = std::fs::read_to_string(&stamp)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
        {
            return t;
        }
        assert!(Instant::now() < until, "run {id} never started its agent");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Seconds since midnight of a timeline line's `ts` (same day is enough here).
fn ts_secs(v: &serde_json::Value) -> f64 {
    let ts = v["ts"].as_str().unwrap_or_default();
    let time = ts
        .split('T')
        .nth(1)
        .unwrap_or("0:0:0")
        .trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let m: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let s: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    h * 3600.0 + m * 60.0 + s
}

/// How long the run's prepare took to make its worktree (from its timeline).
fn worktree_made(w: &World, id: &str) -> f64 {
    let text = std::fs::read_to_string(w.run_dir(id).join("timeline.jsonl")).unwrap_or_default();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = |kind: &str| lines.iter().find(|l| l["type"] == kind).map(ts_secs);
    match (at("phase.started"), at("workspace.created")) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    }
}

fn start(w: &World, task: &str) -> String {
    let repo = w.repo.to_string_lossy().into_owned();
    w.fd(&["run", "--repo", &repo, "--agent", "stamp", task])
        .trim()
        .to_string()
}

fn wait_finished(w: &World, ids: &[String]) {
    let until = Instant::now() + Duration::from_secs(600);
    loop {
        let ls: serde_json::Value = serde_json::from_str(&w.fd(&["ls", "--json"])).expect("json");
        let done = ls
            .as_array()
            .map(|runs| {
                runs.iter()
                    .filter(|r| ids.iter().any(|id| r["id"] == id.as_str()))
                    .filter(|r| r["status"] == "succeeded" || r["status"] == "failed")
                    .count()
            })
            .unwrap_or(0);
        if done == ids.len() {
            return;
        }
        assert!(Instant::now() < until, "runs did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ms(s: f64) -> String {
    format!("{:.0} ms", s * 1000.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `git worktree add` of a new branch, timed.
fn git_add(repo: &Path, dir: &Path, name: &str) -> f64 {
    let t = Instant::now();
    git(
        repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            name,
            &dir.join(name).to_string_lossy(),
            "HEAD",
        ],
    );
    t.elapsed().as_secs_f64()
}

/// (user + system) CPU seconds and RSS (kB) of a process.
fn cpu_and_rss(pid: i32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    };
    (cpu, kb("VmRSS:"), kb("VmHWM:"))
}

/// Server CPU (% of a core) over `windows` windows of `each`, and RSS/peak (kB) at the end.
fn cpu_windows(pid: i32, windows: usize, each: Duration) -> (Vec<f64>, u64, u64) {
    let mut out = Vec::new();
    let (mut rss, mut hwm) = (0, 0);
    for _ in 0..windows {
        let (c0, _, _) = cpu_and_rss(pid);
        let t = Instant::now();
        std::thread::sleep(each);
        let (c1, r, h) = cpu_and_rss(pid);
        out.push((c1 - c0) / t.elapsed().as_secs_f64() * 100.0);
        (rss, hwm) = (r, h);
    }
    (out, rss, hwm)
}

fn percents(v: &[f64]) -> String {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let each: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
    format!("{mean:.2}% of a core (per 5 s: {})", each.join(", "))
}

/// Sections to run: all, or those named in SCALE_ONLY (starts, ten, waiting, live, table).
fn wanted(section: &str) -> bool {
    std::env::var("SCALE_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == section))
}

fn main() {
    println!(
        "scale figures: a {}-file repository{}, release build, {} cores",
        files(),
        if std::env::var("SCALE_REPO").is_ok_and(|v| v == "real") {
            " with .gitattributes, an LFS file and 200 commits, gc-ed"
        } else {
            ""
        },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if wanted("starts") {
        one_run();
    }
    if wanted("ten") {
        ten_at_once();
    }
    if wanted("waiting") {
        waiting();
    }
    if wanted("live") {
        live();
    }
    if wanted("table") {
        table();
    }
}

/// One run, cold and pooled, against git worktree add.
fn one_run() {
    let cold = World::new(&config(0, 4));
    fill(&cold.repo);
    let scratch = cold.dir.path().join("git-wt");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    let mut git_one = Vec::new();
    let warm = start(&cold, "warm the server up");
    wait_finished(&cold, &[warm]);
    let mut cold_times = Vec::new();
    let mut cold_made = Vec::new();
    for i in 0..5 {
        // git's add and flightdeck's cold start taken in turn, so that both see the same load.
        git_one.push(git_add(&cold.repo, &scratch, &format!("g{i}")));
        let t0 = now();
        let id = start(&cold, &format!("cold {i}"));
        cold_times.push(started(&cold, &id) - t0);
        cold_made.push(worktree_made(&cold, &id));
        // The run's own later phases (its commit, its diff) do not overlap the next start.
        wait_finished(&cold, &[id]);
    }
    let pooled = World::new(&config(2, 4));
    fill(&pooled.repo);
    let first = start(&pooled, "fills the pool");
    started(&pooled, &first);
    let mut pooled_times = Vec::new();
    let mut pooled_made = Vec::new();
    for i in 0..5 {
        // Let the pool refill between runs, as it does when runs start one by one.
        std::thread::sleep(Duration::from_millis(2500));
        let t0 = now();
        let id = start(&pooled, &format!("pooled {i}"));
        pooled_times.push(started(&pooled, &id) - t0);
        pooled_made.push(worktree_made(&pooled, &id));
        wait_finished(&pooled, &[id]);
    }
    println!(
        "\none run (median of 5):            worktree made   `flightdeck run` to agent running"
    );
    println!("  git worktree add                 {}", ms(median(git_one)));
    println!(
        "  flightdeck, cold                 {:<15} {}",
        ms(median(cold_made)),
        ms(median(cold_times))
    );
    println!(
        "  flightdeck, from pool            {:<15} {}",
        ms(median(pooled_made)),
        ms(median(pooled_times))
    );

    cold.fd(&["stop", "--all"]);
    pooled.fd(&["stop", "--all"]);
}

/// Ten runs started at once, against ten `git worktree add` at once.
fn ten_at_once() {
    let ten = World::new(&config(0, 10));
    fill(&ten.repo);
    start(&ten, "warm the server up");
    let scratch = ten.dir.path().join("git-wt");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    let t = Instant::now();
    let gits: Vec<_> = (0..10)
        .map(|i| {
            Command::new("git")
                .args(["worktree", "add", "-q", "-b", &format!("p{i}")])
                .arg(scratch.join(format!("p{i}")))
                .arg("HEAD")
                .current_dir(&ten.repo)
                .spawn()
                .expect("git")
        })
        .collect();
    for mut g in gits {
        let _ = g.wait();
    }
    let git_ten = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..10 {
        git_add(&ten.repo, &scratch, &format!("s{i}"));
    }
    let git_one_by_one = t.elapsed().as_secs_f64();
    let t0 = now();
    let ids: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let w = &ten;
                s.spawn(move || start(w, &format!("together {i}")))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("start")).collect()
    });
    let stamps: Vec<f64> = ids.iter().map(|id| started(&ten, id) - t0).collect();
    let first = stamps.iter().cloned().fold(f64::MAX, f64::min);
    let last = stamps.iter().cloned().fold(0.0, f64::max);
    println!("\nten runs started together (pool = 0, max_parallel = 10):");
    println!(
        "  ten `git worktree add` at once     all done after {}",
        ms(git_ten)
    );
    println!(
        "  ten `git worktree add` one by one  all done after {}",
        ms(git_one_by_one)
    );
    println!(
        "  flightdeck                          first agent after {}, last after {}",
        ms(first),
        ms(last)
    );
    ten.fd(&["stop", "--all"]);
}

/// 100 runs waiting to merge: idle CPU, RSS, ls --json.
fn waiting() {
    let hundred = World::new(&config(2, 8));
    fill(&hundred.repo);
    let ids: Vec<String> = (0..100)
        .map(|i| start(&hundred, &format!("waiting {i}")))
        .collect();
    wait_finished(&hundred, &ids);
    let pid = hundred.server_pid();
    std::thread::sleep(Duration::from_secs(3));
    let (idle, rss, hwm) = cpu_windows(pid, 4, Duration::from_secs(5));
    let mut ls = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        hundred.fd(&["ls", "--json"]);
        ls.push(t.elapsed().as_secs_f64());
    }
    let (_, rss_after_ls, _) = cpu_and_rss(pid);
    println!("\n100 runs waiting to merge:");
    println!("  idle server CPU over 20 s          {}", percents(&idle));
    println!(
        "  server RSS                         {:.1} MB (peak {:.1} MB; {:.1} MB after 10 ls)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        rss_after_ls as f64 / 1024.0
    );
    println!(
        "  `flightdeck ls --json` (process included, median of 10)  {}",
        ms(median(ls))
    );
    hundred.fd(&["stop", "--all"]);
}

/// 100 live runs (agents at work, here sleeping): RSS and CPU while they run.
fn live() {
    let live = World::new(
        "pool = 0\nmax_parallel = 100\n[agents.sleeper]\ncommand = [\"sh\", \"-c\", \"touch ../up-$FLIGHTDECK_RUN_ID; sleep 300\"]\n",
    );
    fill(&live.repo);
    let repo = live.repo.to_string_lossy().into_owned();
    let ids: Vec<String> = (0..100)
        .map(|i| {
            live.fd(&[
                "run",
                "--repo",
                &repo,
                "--agent",
                "sleeper",
                &format!("live {i}"),
            ])
            .trim()
            .to_string()
        })
        .collect();
    let root = live.home.join("worktrees").join("repo");
    let until = Instant::now() + Duration::from_secs(300);
    while ids.iter().any(|id| !root.join(format!("up-{id}")).exists()) {
        assert!(Instant::now() < until, "not all 100 agents started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = live.server_pid();
    std::thread::sleep(Duration::from_secs(2));
    let (cpu, rss, hwm) = cpu_windows(pid, 4, Duration::from_secs(5));
    println!("\n100 live runs (agents running, quiet):");
    println!("  server CPU over 20 s               {}", percents(&cpu));
    println!(
        "  server RSS                         {:.1} MB (peak {:.1} MB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    live.fd(&["stop", "--all"]);
}

/// 500 runs in the table (a small repository: the table, not the checkouts, is measured).
fn table() {
    let many = World::new("pool = 0\nmax_parallel = 16\n[agents.quick]\ncommand = [\"sh\", \"-c\", \"echo $FLIGHTDECK_RUN_ID > own-$FLIGHTDECK_RUN_ID.txt\"]\n");
    let repo = many.repo.to_string_lossy().into_owned();
    let ids: Vec<String> = (0..500)
        .map(|i| {
            many.fd(&[
                "run",
                "--repo",
                &repo,
                "--agent",
                "quick",
                &format!("many {i}"),
            ])
            .trim()
            .to_string()
        })
        .collect();
    wait_finished(&many, &ids);
    let mut ls = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        many.fd(&["ls", "--json"]);
        ls.push(t.elapsed().as_secs_f64());
    }
    let (_, rss, _) = cpu_and_rss(many.server_pid());
    println!("\n500 runs in the table:");
    println!(
        "  `flightdeck ls --json` (process included, median of 10)  {}",
        ms(median(ls))
    );
    println!(
        "  server RSS                         {:.1} MB",
        rss as f64 / 1024.0
    );
    many.fd(&["stop", "--all"]);
}
