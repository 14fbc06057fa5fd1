//! `flightdeck demo`: a sample repository made from assets/, scripted agents that really edit
//! files for 20 to 60 seconds (one leaves a TODO that fails its smoke check and takes it out
//! when retried with the check's output, one runs long enough to pause, one breaks the page
//! and fixes it from the browser's report, one changes a colour the screenshot diff shows),
//! seven runs, and Mission Control. No network, no API key: the agents ask the demo's own
//! model (`model`, on loopback) through each run's metering gateway, so tokens and cost add
//! up as for a real model; one agent's budget runs out, its run pauses, and the demo raises
//! the cap and resumes it (`resume`).
//! The browser loop joins in where Chromium and python3 are installed.

pub mod ask;
pub mod model;
mod resume;

use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::client::Client;
use crate::paths::Home;
use crate::protocol::{Command, RunRequest};

const REPO_FILES: [(&str, &str); 5] = [
    (
        "README.md",
        include_str!("../../assets/demo/repo/README.md"),
    ),
    (
        "index.html",
        include_str!("../../assets/demo/repo/index.html"),
    ),
    ("app.js", include_str!("../../assets/demo/repo/app.js")),
    (
        "style.css",
        include_str!("../../assets/demo/repo/style.css"),
    ),
    (
        "tests/check.sh",
        include_str!("../../assets/demo/repo/tests/check.sh"),
    ),
];

const COMMON: &str = include_str!("../../assets/demo/agents/common.sh");

/// (agent name, script file, script, task)
const AGENTS: [(&str, &str, &str, &str); 7] = [
    (
        "scripted-docs",
        "docs.sh",
        include_str!("../../assets/demo/agents/docs.sh"),
        "Document how to use the page in the README",
    ),
    (
        "scripted-refactor",
        "refactor.sh",
        include_str!("../../assets/demo/agents/refactor.sh"),
        "Extract the greeting text into a function",
    ),
    (
        "scripted-sloppy",
        "sloppy.sh",
        include_str!("../../assets/demo/agents/sloppy.sh"),
        "Add a dark mode toggle",
    ),
    (
        "scripted-marathon",
        "marathon.sh",
        include_str!("../../assets/demo/agents/marathon.sh"),
        "Move the colours to CSS variables",
    ),
    (
        "scripted-tests",
        "tests.sh",
        include_str!("../../assets/demo/agents/tests.sh"),
        "Add a test page for the greeting",
    ),
    (
        "scripted-web-bug",
        "webbug.sh",
        include_str!("../../assets/demo/agents/webbug.sh"),
        "Add a footer to the page",
    ),
    (
        "scripted-web-colour",
        "webcolour.sh",
        include_str!("../../assets/demo/agents/webcolour.sh"),
        "Give the heading a warmer colour",
    ),
];

pub const LABEL: &str = "scripted demo agent";

/// The agent whose runs have a budget of their own, small enough to pause them.
pub const BUDGETED: &str = "scripted-marathon";
/// Its cap, in USD, and the one the demo raises it to before resuming the run.
pub const BUDGET_USD: f64 = 0.05;
pub const RAISED_USD: f64 = 0.25;

pub struct Setup {
    pub repo: PathBuf,
    pub config: PathBuf,
    /// What the config file is made from, to write it again with the raised cap.
    pub parts: ConfigParts,
}

/// What the demo's config says besides the cap.
#[derive(Clone)]
pub struct ConfigParts {
    agents: PathBuf,
    exe: PathBuf,
    model_port: u16,
    browser_ports: Option<(u16, u16)>,
    /// `FLIGHTDECK_DEMO_STEP` (seconds a scripted step takes), passed on to the agents: runs
    /// get only an allow-list of the server's environment.
    step: Option<f64>,
}

/// The dev-server ports of the browser loop: `FLIGHTDECK_DEMO_PORTS=FIRST-LAST` (tests that
/// run demos side by side give each its own range), else 44000-44099.
fn browser_ports() -> (u16, u16) {
    std::env::var("FLIGHTDECK_DEMO_PORTS")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once('-')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .filter(|(a, b)| a <= b)
        .unwrap_or((44000, 44099))
}

/// The demo's config, with `cap` for the budgeted agent's runs.
pub fn config_text(parts: &ConfigParts, cap: f64) -> String {
    let q = |s: String| toml::Value::String(s).to_string();
    let mut config = String::from(
        "# Written by `flightdeck demo`: scripted agents, no network, no API key. They call the\n\
         # demo's model on loopback through the metering gateway; its price is made up.\n\
         default_agent = \"scripted-docs\"\n\n",
    );
    config.push_str(&format!(
        "[providers.{}]\nkind = \"demo\"\nbase_url = \"http://127.0.0.1:{}\"\n\n",
        ask::PROVIDER,
        parts.model_port
    ));
    let (input, output, cache_read) = model::PRICE;
    config.push_str(&format!(
        "[pricing.models.{}]\nprovider = \"demo\"\ninput = {input:?}\noutput = {output:?}\ncache_read = {cache_read:?}\n\n",
        model::MODEL
    ));
    for (name, file, _, _) in AGENTS {
        let path = parts.agents.join(file);
        let step = parts
            .step
            .map(|s| format!(", FLIGHTDECK_DEMO_STEP = \"{s}\""))
            .unwrap_or_default();
        config.push_str(&format!(
            "[agents.{name}]\nkind = \"command\"\ncommand = [\"sh\", {}]\nlabel = \"{LABEL}\"\ntimeout = \"10m\"\nprovider = \"{}\"\nenv = {{ FLIGHTDECK_DEMO_BIN = {}{step} }}\n",
            q(path.display().to_string()),
            ask::PROVIDER,
            q(parts.exe.display().to_string()),
        ));
        if name == BUDGETED {
            config.push_str(&format!(
                "# Small, so that its run pauses on it; the demo raises it and resumes the run.\nbudget_usd = {cap:?}\n"
            ));
        }
        config.push('\n');
    }
    config.push_str(
        "[[smoke]]\nname = \"no-todo-left\"\ncommand = [\"sh\", \"tests/check.sh\"]\ntimeout = \"1m\"\n",
    );
    // One run is left failed, to show a failure; `r` (the agent, proposed) sends it round
    // with the check's output, and it takes the TODO out.
    config.push_str("\n[smoke_feedback]\nmax_iterations = 0\n");
    // The browser loop joins the demo where Chromium and python3 (its dev server) are here.
    if let Some((first, last)) = parts.browser_ports {
        config.push_str(&format!(
            "\n[browser]\nserve = [\"python3\", \"-m\", \"http.server\", \"{{port}}\", \"--bind\", \"127.0.0.1\"]\nports = [{first}, {last}]\nmax_iterations = 2\n\n[[browser.pages]]\nname = \"greeter\"\npath = \"/index.html\"\nsteps = [{{ click = \"#again\" }}]\n",
        ));
    }
    config
}

/// Write the sample repository (once), the agent scripts and the demo config; start the demo's
/// model unless it runs. Blocking.
pub fn prepare(home: &Home) -> Result<Setup> {
    home.ensure()?;
    let dir = home.root().join("demo");
    let repo = dir.join("greeter");
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents)
        .wrap_err_with(|| format!("cannot create {}", agents.display()))?;
    if !repo.join(".git").exists() {
        make_repo(&repo)?;
    }
    write(&agents.join("common.sh"), COMMON)?;
    for (_, file, script, _) in AGENTS {
        write(&agents.join(file), script)?;
    }
    let parts = ConfigParts {
        agents,
        exe: std::env::current_exe().wrap_err("cannot find the flightdeck executable")?,
        model_port: model::ensure(home)?,
        // `FLIGHTDECK_DEMO_BROWSER=off` leaves the browser loop out (a test about other things
        // spares the machine its Chromiums).
        browser_ports: (browser_available()
            && std::env::var("FLIGHTDECK_DEMO_BROWSER").as_deref() != Ok("off"))
        .then(browser_ports),
        step: std::env::var("FLIGHTDECK_DEMO_STEP")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0),
    };
    let config_path = dir.join("flightdeck.toml");
    write(&config_path, &config_text(&parts, BUDGET_USD))?;
    Ok(Setup {
        repo,
        config: config_path,
        parts,
    })
}

/// A server started with another config keeps its own providers and prices, so it refuses the
/// demo's runs: say what to do about it in the demo's words.
fn other_server(e: crate::client::ClientError, config: &Path) -> color_eyre::Report {
    let text = e.to_string();
    if !text.contains("other than the running server's") {
        return e.into();
    }
    eyre!(
        "a flightdeck server is already running in this home with another config, and the demo's runs need the demo's model and its price, which a server takes only from the config it starts with: `flightdeck serve --replace --config {}` hands over to a server with it (runs keep going; your own config's budgets still apply to your runs), then run `flightdeck demo` again",
        config.display()
    )
}

/// Chromium and python3 on PATH.
pub fn browser_available() -> bool {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
            .unwrap_or(false)
    };
    crate::browser::chrome::find("").is_ok() && on_path("python3")
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .wrap_err_with(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).wrap_err_with(|| format!("cannot write {}", path.display()))
}

fn make_repo(repo: &Path) -> Result<()> {
    for (name, text) in REPO_FILES {
        write(&repo.join(name), text)?;
    }
    let r = git2::Repository::init_opts(
        repo,
        git2::RepositoryInitOptions::new().initial_head("main"),
    )
    .wrap_err("cannot create the demo repository")?;
    let mut index = r.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = r.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("flightdeck demo", "demo@flightdeck.invalid")?;
    r.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "greeter: a page that says hello",
        &tree,
        &[],
    )?;
    Ok(())
}

/// Set up, start the runs, open the cockpit (or, with `no_ui`, print the run ids).
pub async fn run(home: Home, no_ui: bool) -> Result<i32> {
    let h = home.clone();
    let setup = tokio::task::spawn_blocking(move || prepare(&h))
        .await
        .map_err(|e| eyre!("demo setup failed: {e}"))??;
    let client = Client::new(home, Some(setup.config.clone()));
    let mut budgeted = None;
    for (name, _, _, task) in AGENTS {
        let reply = client
            .request(&Command::Run(RunRequest {
                task: task.to_string(),
                repo: setup.repo.clone(),
                agent: Some(name.to_string()),
                base: None,
                config: Some(setup.config.clone()),
                gateway: None,
                id: None,
            }))
            .await
            .map_err(|e| other_server(e, &setup.config))?;
        let run = crate::cli::expect_run(reply)?;
        if no_ui {
            println!("{}", run.id);
        }
        if name == BUDGETED {
            budgeted = Some(run.id);
        }
    }
    if no_ui {
        return Ok(0);
    }
    if let Some(id) = budgeted {
        tokio::spawn(resume::when_paused(
            Client::new(client.home().clone(), Some(setup.config.clone())),
            id,
            setup.config.clone(),
            setup.parts.clone(),
        ));
    }
    let (repo, is_git) = crate::workspace::run_home(&setup.repo);
    crate::ui::open(client, repo, is_git, Some(setup.config)).await
}
