//! browser: start the run's dev server on its leased port (in a process group of its own, with
//! Chromium beside it, so pause and kill reach both), wait until it answers, visit each page,
//! keep the evidence in `browser/`, and when something went wrong send the agent round again
//! with the report, up to `max_iterations` times.

use super::browser_server::{stop_server, wait_ready};
use crate::proof::kind::TimelineKind as LineKind;
use std::collections::HashMap;
use std::process::Stdio;

use crate::browser::report::{self, Finding, Kind, PageResult};
use crate::browser::{chrome, compare, visit};
use crate::config::browser::BrowserConfig;
use crate::fields;
use crate::run::Phase;
use crate::supervisor::child_env::{self, RunVars};
use crate::supervisor::context::RunCtx;
use crate::supervisor::machine::Outcome;

use super::{PhaseJob, PhaseReport, Update};

/// Where the agent finds the report for its next iteration (consumed by the agent phase).
pub const FEEDBACK: &str = "browser/feedback.md";

pub async fn run(ctx: &std::sync::Arc<RunCtx>, job: &PhaseJob) -> PhaseReport {
    let cfg = &job.config.browser;
    if !cfg.enabled() {
        return PhaseReport::ok(vec![]);
    }
    let result = check(ctx, job, cfg).await;
    // The dev server and Chromium stop when the phase ends, whatever happened.
    ctx.procs.unregister_and_reap();
    match result {
        Ok(report) => report,
        Err(reason) => PhaseReport::failed(reason, vec![]),
    }
}

async fn check(
    ctx: &std::sync::Arc<RunCtx>,
    job: &PhaseJob,
    cfg: &BrowserConfig,
) -> Result<PhaseReport, String> {
    let rec = &job.record;
    let port = job.port.ok_or_else(|| {
        format!(
            "no free port in [browser] ports {}-{} for the dev server; widen the range or wait for other runs' browser checks",
            cfg.ports[0], cfg.ports[1]
        )
    })?;
    let exe = chrome::find(&cfg.chromium)?;
    let viewport = cfg.viewport()?;
    let dir = ctx.dir.join("browser");
    let (d, attempt) = (dir.clone(), rec.attempt);
    let iteration = super::blocking(move || {
        crate::owner_only::create_dir_all(&d)
            .map_err(|e| format!("cannot create browser/: {e}"))?;
        Ok(previous_reports(&d, attempt))
    })
    .await?
        + 1;

    // Baselines first (they need the port too), then the run's own pages. A base commit that
    // cannot be rendered leaves the diff out; the run's own pages are still checked.
    let baselines = match baselines(ctx, job, cfg, port, &exe, viewport).await {
        Ok(b) => b,
        Err(e) if !ctx.procs.is_killing() => {
            ctx.emit(
                Phase::Browser,
                LineKind::BrowserWarning,
                fields! {"message" => format!("the base commit's render failed: {e}; the pages are checked without a screenshot diff")},
            );
            HashMap::new()
        }
        Err(e) => return Err(e),
    };
    if ctx.procs.is_killing() {
        return Err("killed during the browser check".into());
    }
    // A base commit's server that left the port bound (a process it started outside its
    // group): the run's server gets another, held until the phase ends.
    let mut _other = None;
    let mut port = port;
    if !crate::browser::ports::free_now(port).await {
        let lease = job
            .leases
            .as_ref()
            .and_then(|l| crate::browser::ports::Lease::take(l, cfg.ports))
            .ok_or_else(|| {
                format!(
                    "port {port} is still in use after the base commit's dev server stopped, and [browser] ports {}-{} has no other free port",
                    cfg.ports[0], cfg.ports[1]
                )
            })?;
        port = lease.port;
        _other = Some(lease);
    }
    let rendered = render(
        ctx,
        job,
        &rec.worktree,
        port,
        &exe,
        viewport,
        &dir.join("profile"),
        "",
    )
    .await?;
    if ctx.procs.is_killing() {
        return Err("killed during the browser check".into());
    }
    let mut pages = Vec::new();
    let mut found: Vec<Finding> = Vec::new();
    let noise: Vec<regex::Regex> = cfg
        .noise
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect();
    for (page, mut v) in cfg.pages.iter().zip(rendered) {
        for f in &mut v.findings {
            f.classify(&noise);
        }
        let url = format!("http://127.0.0.1:{port}{}", page.path);
        // Writing the screenshot and decoding and diffing two images: off the runtime.
        let (d, name, png, base, c) = (
            dir.clone(),
            page.name.clone(),
            v.screenshot.clone(),
            baselines.get(&page.name).cloned(),
            cfg.clone(),
        );
        let (shot, compared) = super::blocking(move || {
            let shot = png.as_ref().and_then(|png| {
                let file = format!("{name}.png");
                crate::owner_only::write(&d.join(&file), png)
                    .map(|()| format!("browser/{file}"))
                    .ok()
            });
            Ok((
                shot,
                compare::compare(&d, &name, png.as_deref(), base.as_ref(), &c),
            ))
        })
        .await
        .unwrap_or((None, compare::Compared::default()));
        let errors = v.findings.iter().filter(|f| f.is_error()).count();
        let mut event = fields! {"page" => page.name, "url" => url.clone(), "errors" => errors, "duration_ms" => v.duration_ms, "screenshot" => shot};
        if let Some(ratio) = compared.ratio {
            event.insert("diff_ratio".into(), ratio.into());
        }
        if let Some(region) = compared.region {
            event.insert(
                "diff_region".into(),
                serde_json::to_value(region).unwrap_or_default(),
            );
        }
        ctx.emit(Phase::Browser, LineKind::BrowserPage, event);
        if let Some(f) = compared.finding.clone() {
            found.push(f);
        }
        pages.push(PageResult {
            name: page.name.clone(),
            url,
            screenshot: shot,
            duration_ms: v.duration_ms,
            diff_ratio: compared.ratio,
            diff_region: compared.region,
            errors: errors + usize::from(compared.finding.is_some()),
        });
        found.extend(v.findings);
    }

    let found = report::fold(found);
    let md = report::markdown(iteration, &pages, &found);
    {
        let (dir, run_dir, attempt) = (dir.clone(), ctx.dir.clone(), rec.attempt);
        let (found, md, pages) = (found.clone(), md.clone(), pages.clone());
        super::blocking(move || {
            write_evidence(&dir, attempt, iteration, &found, &md)?;
            let mut summary = report::Summary::read(&run_dir).unwrap_or_default();
            summary.record(iteration, pages, &found);
            let json = serde_json::to_vec_pretty(&summary).map_err(|e| e.to_string())?;
            crate::owner_only::write(&run_dir.join(report::Summary::FILE), &json)
                .map_err(|e| format!("cannot write {}: {e}", report::Summary::FILE))
        })
        .await?;
    }
    let errors = found.iter().filter(|f| f.is_error()).count();
    ctx.emit(
        Phase::Browser,
        LineKind::BrowserFinished,
        fields! {"iteration" => iteration, "errors" => errors, "pages" => pages.len(), "report" => "browser/report.md"},
    );
    let updates = vec![Update::Browser(errors)];
    if errors == 0 {
        return Ok(PhaseReport::ok(updates));
    }
    if iteration <= cfg.max_iterations {
        let path = ctx.dir.join(FEEDBACK);
        super::blocking(move || {
            crate::owner_only::write(&path, md.as_bytes())
                .map_err(|e| format!("cannot write {FEEDBACK}: {e}"))
        })
        .await?;
        return Ok(PhaseReport {
            outcome: Outcome::Iterate {
                reason: format!(
                    "the browser found {errors} problem(s); the agent goes again with the report (iteration {} of at most {})",
                    iteration + 1,
                    cfg.max_iterations + 1
                ),
            },
            updates,
            said: false,
        });
    }
    let reason = format!(
        "the browser check still finds {errors} problem(s) after {iteration} iteration(s); see browser/report.md"
    );
    if cfg.required {
        Ok(PhaseReport::failed(reason, updates))
    } else {
        ctx.emit(
            Phase::Browser,
            LineKind::BrowserWarning,
            fields! {"message" => reason},
        );
        Ok(PhaseReport::ok(updates))
    }
}

/// Serve `root` on `port`, visit every page with Chromium (profile in `profile`), and stop
/// both. `label` tells the base render's timeline lines from the run's.
#[allow(clippy::too_many_arguments)]
async fn render(
    ctx: &std::sync::Arc<RunCtx>,
    job: &PhaseJob,
    root: &std::path::Path,
    port: u16,
    exe: &std::path::Path,
    viewport: (u32, u32),
    profile: &std::path::Path,
    label: &str,
) -> Result<Vec<visit::Visit>, String> {
    let rec = &job.record;
    let cfg = &job.config.browser;
    let dir = ctx.dir.join("browser");
    let argv: Vec<String> = cfg
        .serve
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let server_log = dir.join(format!("{label}server.log"));
    let log = super::open_log(server_log.clone())
        .await
        .map_err(|e| format!("cannot open browser/{label}server.log: {e}"))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("cannot open browser/{label}server.log: {e}"))?;
    // Under a tether: a parent that holds no key and dies with the server.
    let (mut cmd, lifeline) = crate::tether::command(ctx.tether(), &argv[0], &argv[1..], root)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "cannot start the dev server `{}`: no such program; fix [browser] serve",
                argv[0]
            ),
            _ => format!("cannot start the dev server `{}`: {e}", argv[0]),
        })?;
    // The dev server and Chromium: the run's environment, the same for both.
    let run_env = child_env::whole(
        &job.config,
        &RunVars {
            task: &rec.task,
            run_id: &rec.id,
            worktree: &rec.worktree,
            run_dir: &ctx.dir,
        },
        &[],
    );
    cmd.env_clear().envs(run_env.clone());
    cmd.env("PORT", port.to_string())
        .env("FLIGHTDECK_PORT", port.to_string())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .process_group(0)
        .kill_on_drop(true);
    let mut server = ctx.spawner.spawn(&mut cmd).map_err(|e| {
        format!(
            "cannot start the dev server `{}`: {e}; fix [browser] serve",
            argv[0]
        )
    })?;
    let pgid = server.id().unwrap_or(0) as i32;
    ctx.procs.register(pgid);
    let base = format!("http://127.0.0.1:{port}");
    ctx.emit(
        Phase::Browser,
        LineKind::BrowserStarted,
        fields! {"port" => port, "url" => base.clone(), "argv" => argv, "baseline" => !label.is_empty()},
    );
    let result = async {
        wait_ready(
            ctx,
            &mut server,
            &format!("{base}{}", cfg.ready),
            cfg,
            &server_log,
            label,
        )
        .await?;
        let chromium_log = super::open_log(dir.join("chromium.log"))
            .await
            .map_err(|e| format!("cannot open browser/chromium.log: {e}"))?;
        let chrome = chrome::launch(
            exe,
            profile,
            pgid,
            viewport,
            chromium_log,
            run_env,
            ctx.tether(),
        )
        .await?;
        let mut visits = Vec::new();
        for page in &cfg.pages {
            if ctx.procs.is_killing() {
                break;
            }
            // A browser that ends (the run killed, a crash) ends the visit at once; its
            // requests would otherwise each wait out their timeout.
            let mut gone = chrome.gone();
            tokio::select! {
                v = visit::visit(&chrome.browser, &base, page, viewport) => visits.push(v),
                _ = gone.wait_for(|g| *g) => break,
            }
        }
        chrome.close().await;
        Ok(visits)
    }
    .await;
    // This server and its browser stop here, whatever happened: the whole group gone and the
    // port free before anything (the next iteration's server) may start on it.
    stop_server(ctx, pgid, port, job.kill_grace, label).await;
    ctx.procs.unregister_and_reap();
    drop(lifeline);
    result
}

/// The baseline screenshot of each page: committed (`baseline_dir`), or rendered from the
/// run's base commit once and cached for every run on that base.
async fn baselines(
    ctx: &std::sync::Arc<RunCtx>,
    job: &PhaseJob,
    cfg: &BrowserConfig,
    port: u16,
    exe: &std::path::Path,
    viewport: (u32, u32),
) -> Result<HashMap<String, Vec<u8>>, String> {
    let rec = &job.record;
    let mut out = HashMap::new();
    if !cfg.baseline_dir.is_empty() {
        for page in &cfg.pages {
            let p = rec
                .worktree
                .join(&cfg.baseline_dir)
                .join(format!("{}.png", page.name));
            if let Ok(png) = tokio::fs::read(&p).await {
                out.insert(page.name.clone(), png);
            }
        }
        return Ok(out);
    }
    // <home>/browser-baselines/<base commit>/<page>.png
    let home = ctx
        .dir
        .parent()
        .and_then(|p| p.parent())
        .unwrap_or(&ctx.dir);
    let cache = home.join("browser-baselines").join(&rec.base);
    let cached = |name: &str| cache.join(format!("{name}.png"));
    let mut all_cached = true;
    for page in &cfg.pages {
        all_cached &= tokio::fs::try_exists(cached(&page.name))
            .await
            .unwrap_or(false);
    }
    if all_cached {
        for page in &cfg.pages {
            if let Ok(png) = tokio::fs::read(cached(&page.name)).await {
                out.insert(page.name.clone(), png);
            }
        }
        return Ok(out);
    }
    let src = ctx.dir.join("browser").join("base-src");
    let (wt, base, dest) = (rec.worktree.clone(), rec.base.clone(), src.clone());
    super::blocking(move || {
        crate::workspace::export::export_commit(&wt, &base, &dest).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("cannot write out the base commit for the baseline: {e}"))?;
    // The base gets the run's [setup] (its installed dependencies, copied files): a dev server
    // that needs them (`vite`, `next`) serves it as it serves the run.
    let mut base_rec = rec.clone();
    base_rec.worktree = src.clone();
    if let Err(e) = super::prepare::setup(ctx, &base_rec, job, Phase::Browser).await {
        let _ = tokio::fs::remove_dir_all(&src).await;
        return Err(e);
    }
    let visits = render(
        ctx,
        job,
        &src,
        port,
        exe,
        viewport,
        &ctx.dir.join("browser").join("base-profile"),
        "base-",
    )
    .await;
    let _ = tokio::fs::remove_dir_all(&src).await;
    let shots: Vec<(String, Vec<u8>)> = cfg
        .pages
        .iter()
        .zip(visits?)
        .filter_map(|(page, v)| Some((page.name.clone(), v.screenshot?)))
        .collect();
    let cache_dir = cache.clone();
    let out = super::blocking(move || {
        crate::owner_only::create_dir_all(&cache_dir)
            .map_err(|e| format!("cannot create {}: {e}", cache_dir.display()))?;
        for (name, png) in shots {
            // Written whole or not at all: runs on the same base may race here.
            let _ = crate::proof::store::write_atomic(&cache_dir.join(format!("{name}.png")), &png);
            out.insert(name, png);
        }
        Ok(out)
    })
    .await?;
    Ok(out)
}

/// How many browser reports this attempt already has. Blocking.
fn previous_reports(dir: &std::path::Path, attempt: u32) -> u32 {
    let prefix = format!("report-{attempt}-");
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count() as u32
        })
        .unwrap_or(0)
}

/// The iteration's report, console and network findings under `browser/`. Blocking.
fn write_evidence(
    dir: &std::path::Path,
    attempt: u32,
    iteration: u32,
    found: &[Finding],
    md: &str,
) -> Result<(), String> {
    let (network, console): (Vec<&Finding>, Vec<&Finding>) =
        found.iter().partition(|f| f.kind == Kind::Network);
    let write = |name: &str, bytes: &[u8]| {
        crate::owner_only::write(&dir.join(name), bytes)
            .map_err(|e| format!("cannot write browser/{name}: {e}"))
    };
    let json = |v: &Vec<&Finding>| serde_json::to_vec_pretty(v).unwrap_or_default();
    write("console.json", &json(&console))?;
    write("network.json", &json(&network))?;
    write("report.md", md.as_bytes())?;
    write(&format!("report-{attempt}-{iteration}.md"), md.as_bytes())
}
