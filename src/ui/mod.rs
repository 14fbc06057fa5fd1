//! Mission Control: the live ratatui cockpit. It talks to the supervisor only through the
//! protocol (over the server's socket); it never touches git, processes or run files.

pub mod app;
pub mod attempt;
pub mod attention;
pub mod failure;
pub mod gate;
pub mod host_feed;
pub mod hosts;
pub mod input;
pub mod keymap;
pub mod markdown;
pub mod osc;
pub mod pictures;
pub mod pr;
pub mod runtime;
pub mod search;
pub mod update;
pub mod view;

use std::path::PathBuf;

use color_eyre::eyre::{eyre, Result};

use crate::client::Client;
use crate::config::{self, Sources};

/// Open the cockpit. `repo` is where `n` starts new runs; the config (for the agent list and
/// the key bindings) is read the way a run's would be, leaving out an untrusted repository
/// file (the server refuses a run with it, and `n` shows that refusal).
/// `repo_is_git`: whether `repo` is a git repository's top directory (the caller looked), so
/// `n` can ask before starting a run on a copy of a plain directory.
pub async fn open(
    client: Client,
    repo: PathBuf,
    repo_is_git: bool,
    config_file: Option<PathBuf>,
) -> Result<i32> {
    let cfg = config::load(&Sources {
        repo: Some(repo.clone()),
        explicit: config_file.clone(),
        trust: Some(config::TrustStore::in_home(client.home())),
        untrusted: config::OnUntrusted::Skip,
        ..Default::default()
    })
    .map_err(|e| eyre!("{e}"))?;
    let mut app = app::App::new(repo, config_file);
    app.repo_is_git = repo_is_git;
    app.keymap = keymap::Keymap::new(&cfg.keys).map_err(|e| eyre!("{e}"))?;
    // Looked up once, before the screen is taken: a few stats of PATH's directories.
    app.agents = cfg
        .agents
        .iter()
        .map(|(name, a)| app::AgentChoice {
            name: name.clone(),
            label: a.label.clone(),
            unavailable: crate::agents::availability::unavailable(name, a),
        })
        .collect();
    app.default_agent = cfg.default_agent.clone();
    app.alerts = cfg.cockpit;
    app.forge = cfg.forge.is_some();
    // Which graphics the terminal takes, and its cell's size in pixels when it says
    // (half blocks assume the usual 1:2).
    let term = pictures::detect(|name| std::env::var(name).ok());
    let cell = crossterm::terminal::window_size()
        .ok()
        .filter(|w| w.width > 0 && w.height > 0 && w.columns > 0 && w.rows > 0)
        .map(|w| (w.width / w.columns, w.height / w.rows))
        .filter(|_| term.graphics != pictures::Graphics::Halfblocks)
        .unwrap_or((10, 20));
    app.encoder = pictures::Encoder::new(term, cell);
    // The hosts of `[hosts]`: each one's runs join the table, with a HOST column.
    let hosts = crate::hosts::route::Hosts::load(&client, app.config.clone())
        .await
        .map_err(|e| eyre!("{e}"))?;
    for remote in &hosts.remote {
        app.add_host(remote.host_name());
    }
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    runtime::run(client, hosts.remote, app, color).await?;
    Ok(0)
}
