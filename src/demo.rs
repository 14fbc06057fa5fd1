//! `flightdeck demo`: a sample repository made from assets/, scripted agents that really edit
//! files for 20 to 60 seconds (one leaves a TODO that fails its smoke check and takes it out
//! when retried with the check's output, one runs long enough to pause, one breaks the page
//! and fixes it from the browser's report, one changes a colour the screenshot diff shows),
//! seven runs, and Mission Control. No network, no API key.
//! The browser loop joins in where Chromium and python3 are installed.

use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::client::Client;
use crate::paths::Home;
use crate::protocol::{Command, RunRequest};

const REPO_FILES: [(&str, &str); 5] = [
    ("README.md", include_str!("../assets/demo/repo/README.md")),
    ("index.html", include_str!("../assets/demo/repo/index.html")),
    ("app.js", include_str!("../assets/demo/repo/app.js")),
    ("style.css", include_str!("../assets/demo/repo/style.css")),
    (
        "tests/check.sh",
        include_str!("../assets/demo/repo/tests/check.sh"),
    ),
];

const COMMON: &str = include_str!("../assets/demo/agents/common.sh");

/// (agent name, script file, script, task)
const AGENTS: [(&str, &str, &str, &str); 7] = [
    (
        "scripted-docs",
        "docs.sh",
        include_str!("../assets/demo/agents/docs.sh"),
        "Document how to use the page in the README",
    ),
    (
        "scripted-refactor",
        "refactor.sh",
        include_str!("../assets/demo/agents/refactor.sh"),
        "Extract the greeting text into a function",
    ),
    (
        "scripted-sloppy",
        "sloppy.sh",
        include_str!("../assets/demo/agents/sloppy.sh"),
        "Add a dark mode toggle",
    ),
    (
        "scripted-marathon",
        "marathon.sh",
        include_str!("../assets/demo/agents/marathon.sh"),
        "Move the colours to CSS variables",
    ),
    (
        "scripted-tests",
        "tests.sh",
        include_str!("../assets/demo/agents/tests.sh"),
        "Add a test page for the greeting",
    ),
    (
        "scripted-web-bug",
        "webbug.sh",
        include_str!("../assets/demo/agents/webbug.sh"),
        "Add a footer to the page",
    ),
    (
        "scripted-web-colour",
        "webcolour.sh",
        include_str!("../assets/demo/agents/webcolour.sh"),
        "Give the heading a warmer colour",
    ),
];

pub const LABEL: &str = "scripted demo agent";

pub struct Setup {
    pub repo: PathBuf,
    pub config: PathBuf,
}

/// Write the sample repository (once), the agent scripts and the demo config. Blocking.
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
    let mut config = String::from(
        "# Written by `flightdeck demo`: scripted agents, no network, no API key.\n\
         default_agent = \"scripted-docs\"\n\n",
    );
    for (name, file, script, _) in AGENTS {
        let path = agents.join(file);
        write(&path, script)?;
        config.push_str(&format!(
            "[agents.{name}]\nkind = \"command\"\ncommand = [\"sh\", {}]\nlabel = \"{LABEL}\"\ntimeout = \"10m\"\n\n",
            toml::Value::String(path.display().to_string())
        ));
    }
    config.push_str(
        "[[smoke]]\nname = \"no-todo-left\"\ncommand = [\"sh\", \"tests/check.sh\"]\ntimeout = \"1m\"\n",
    );
    // One run is left failed, to show a failure; `r` (the agent, proposed) sends it round
    // with the check's output, and it takes the TODO out.
    config.push_str("\n[smoke_feedback]\nmax_iterations = 0\n");
    // The browser loop joins the demo where Chromium and python3 (its dev server) are here.
    if browser_available() {
        config.push_str(
            "\n[browser]\nserve = [\"python3\", \"-m\", \"http.server\", \"{port}\", \"--bind\", \"127.0.0.1\"]\nports = [44000, 44099]\nmax_iterations = 2\n\n[[browser.pages]]\nname = \"greeter\"\npath = \"/index.html\"\nsteps = [{ click = \"#again\" }]\n",
        );
    }
    let config_path = dir.join("flightdeck.toml");
    write(&config_path, &config)?;
    Ok(Setup {
        repo,
        config: config_path,
    })
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
    for (name, _, _, task) in AGENTS {
        let reply = client
            .request(&Command::Run(RunRequest {
                task: task.to_string(),
                repo: setup.repo.clone(),
                agent: Some(name.to_string()),
                base: None,
                config: Some(setup.config.clone()),
            }))
            .await?;
        let run = crate::cli::expect_run(reply)?;
        if no_ui {
            println!("{}", run.id);
        }
    }
    if no_ui {
        return Ok(0);
    }
    let (repo, is_git) = crate::workspace::run_home(&setup.repo);
    crate::ui::open(client, repo, is_git, Some(setup.config)).await
}
