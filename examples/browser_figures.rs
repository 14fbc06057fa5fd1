//! Prints the browser phase's figures (a measurement, not a test): one run whose agent writes
//! a small static site of PAGES pages, served by `python3 -m http.server`, and one on the Vite
//! app of the tests (PAGES visits, served by `npm run dev`); for each, the time per page (load,
//! steps, screenshot) for the base render and the run's own, and the whole phase.
//!
//! cargo build --release && cargo run --release --example browser_figures [PAGES]

use std::time::{Duration, Instant};

mod common;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    println!("{n} pages, 1280x800, Chromium headless");
    // A static site served by Python.
    let pages: String = (0..n)
        .map(|i| format!("[[browser.pages]]\nname = \"p{i}\"\npath = \"/p{i}.html\"\n"))
        .collect();
    let w = common::World::new(&format!(
        r#"
[browser]
serve = ["python3", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
ports = [43000, 43099]

{pages}

[agents.site]
command = ["sh", "-c", "for i in $(seq 0 {last}); do echo \"<h1>page $i</h1><p>some text</p>\" > p$i.html; done"]
"#,
        last = n - 1
    ));
    measure(&w, "site", "static site, python3 -m http.server", n);

    // The Vite app of the tests (tests/browser_apps/vite), installed by [setup] and served by
    // `npm run dev`: the same number of visits of its page.
    let pages: String = (0..n)
        .map(|i| format!("[[browser.pages]]\nname = \"p{i}\"\npath = \"/?page={i}\"\n"))
        .collect();
    let w = common::World::new(&format!(
        r#"
[setup]
commands = [["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"]]

[browser]
serve = ["npm", "run", "dev", "--", "--port", "{{port}}", "--strictPort", "--host", "127.0.0.1"]
ready = "log:ready in"
ports = [43000, 43099]

{pages}

[agents.recolour]
command = ["sh", "-c", "sed -i 's/#1e40af/#dc2626/' src/style.css"]
"#
    ));
    let app = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser_apps/vite");
    for f in [
        "package.json",
        "package-lock.json",
        "index.html",
        ".gitignore",
        "src/main.js",
        "src/style.css",
    ] {
        let to = w.repo.join(f);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::copy(app.join(f), to).expect("copy the Vite app");
    }
    common::git(&w.repo, &["add", "."]);
    common::git(&w.repo, &["commit", "-q", "-m", "vite app"]);
    measure(&w, "recolour", "Vite 8 dev server (npm run dev)", n);
}

/// One run of `agent`; prints its per-page times and the whole browser phase.
fn measure(w: &common::World, agent: &str, what: &str, n: usize) {
    let out = w.fd(&[
        "run",
        "--repo",
        w.repo.to_str().expect("utf-8"),
        "--agent",
        agent,
        "--json",
        agent,
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("run --json");
    let id = v["id"].as_str().expect("id").to_string();
    let started = Instant::now();
    loop {
        let r: serde_json::Value =
            serde_json::from_str(&w.fd(&["show", &id, "--json"])).expect("show --json");
        if matches!(
            r["status"].as_str(),
            Some("succeeded" | "failed" | "killed")
        ) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the run never ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let timeline =
        std::fs::read_to_string(w.run_dir(&id).join("timeline.jsonl")).expect("timeline");
    let lines: Vec<serde_json::Value> = timeline
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |t: &str| lines.iter().filter(|l| l["type"] == t).collect::<Vec<_>>();
    let per_page: Vec<u64> = of("browser.page")
        .iter()
        .filter_map(|l| l["duration_ms"].as_u64())
        .collect();
    let ts = |l: &serde_json::Value| l["ts"].as_str().and_then(chrono_like).unwrap_or(0.0);
    let phase: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            l["phase"] == "browser"
                && (l["type"] == "phase.started" || l["type"] == "phase.finished")
        })
        .collect();
    if per_page.is_empty() {
        println!(
            "{what}: no pages were visited; see {}",
            w.run_dir(&id).join("browser").display()
        );
        return;
    }
    let avg = per_page.iter().sum::<u64>() as f64 / per_page.len() as f64;
    println!(
        "{what}: per page (load, settle 400 ms, screenshot) mean {avg:.0} ms, min {} ms, max {} ms",
        per_page.iter().min().unwrap_or(&0),
        per_page.iter().max().unwrap_or(&0)
    );
    if phase.len() >= 2 {
        println!(
            "{what}: whole browser phase (base render + dev server + Chromium + {n} pages + diffs): {:.2} s",
            ts(phase[phase.len() - 1]) - ts(phase[0])
        );
    }
    w.fd(&["stop", "--all"]);
}

/// Seconds within the day of an RFC 3339 time (enough for a difference on the same day).
fn chrono_like(t: &str) -> Option<f64> {
    let time = t.get(11..)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}
