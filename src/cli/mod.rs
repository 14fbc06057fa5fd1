//! The command line, as DESIGN.md fixes it.

mod actions;
mod format;
mod hosts;
mod prices;
mod routing;
mod run;
mod trust;
mod view;

pub use run::expect_run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use color_eyre::eyre::Result;

use crate::hosts::route::Hosts;
use crate::run::Phase;
use routing::{about_a_run, on_run};

#[derive(Debug, Parser)]
#[command(
    name = "flightdeck",
    version,
    about = "Run many AI coding agents in parallel, each in its own git worktree, with a proof pack per run.",
    after_help = "With no command, opens Mission Control. FLIGHTDECK_HOME sets where state lives."
)]
pub struct Cli {
    /// A config file layered over the others (also FLIGHTDECK_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The host a command goes to ([hosts.NAME] in your config; `local` is this machine);
    /// for `run`, where the run is made (`auto`: the host with the most free slots). Without
    /// it, a run is found wherever it is.
    #[arg(long, global = true, value_name = "NAME")]
    pub host: Option<String>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Start a run: a worktree, an agent, a proof pack.
    Run {
        /// The repository (or plain directory) to work on; default: the current directory.
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
        /// The agent from config ([agents.NAME]); default: default_agent.
        #[arg(long, value_name = "NAME")]
        agent: Option<String>,
        /// The branch, tag or commit to start from; default: HEAD.
        #[arg(long, value_name = "REF")]
        base: Option<String>,
        /// Wait for the run to end; exit non-zero unless it succeeded.
        #[arg(long)]
        wait: bool,
        /// Print the run record as JSON.
        #[arg(long)]
        json: bool,
        /// What the agent should do.
        #[arg(required = true, num_args = 1.., value_name = "TASK")]
        task: Vec<String>,
    },
    /// List runs, newest first.
    Ls {
        /// Print the run records as JSON.
        #[arg(long)]
        json: bool,
        /// Also the cleaned runs that finished more than a day ago.
        #[arg(long)]
        all: bool,
    },
    /// The run record and its proof pack summary.
    Show {
        /// The run: its id, or any unique prefix of it.
        run: String,
        /// Print the record and the proof summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The run's timeline, human-readable.
    Logs {
        /// The run: its id, or any unique prefix of it.
        run: String,
        /// Keep printing new lines until the run ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Stop every process of a run (SIGSTOP).
    Pause {
        /// The run: its id, or any unique prefix of it.
        run: String,
    },
    /// Continue a paused run (SIGCONT).
    Resume {
        /// The run: its id, or any unique prefix of it.
        run: String,
    },
    /// End a run: SIGTERM, then SIGKILL after the grace period.
    Kill {
        /// The run: its id, or any unique prefix of it.
        run: String,
    },
    /// Run a phase again from its checkpoint and carry on to the end.
    Retry {
        /// The run: its id, or any unique prefix of it.
        run: String,
        /// prepare, agent, smoke or proof; default: the phase the run stopped in.
        #[arg(long, value_name = "PHASE")]
        phase: Option<Phase>,
    },
    /// Remove the run's worktree and branch (the proof pack stays).
    Clean {
        /// The runs to clean (any number; ids or unique prefixes).
        #[arg(value_name = "RUN", required_unless_present = "merged")]
        runs: Vec<String>,
        /// Every run that landed and is not cleaned yet.
        #[arg(long, conflicts_with = "runs")]
        merged: bool,
        /// Remove even with uncommitted changes or unmerged commits.
        #[arg(long)]
        force: bool,
    },
    /// Land runs through the gate and the merge queue: each is tested merged with its target
    /// (and the runs ahead of it) before the target moves. Waits until each landed or was
    /// refused; non-zero unless all landed.
    Merge {
        /// The runs to land, in this order (ids or unique prefixes).
        #[arg(required = true, value_name = "RUN")]
        runs: Vec<String>,
        /// Only put them in the queue; do not wait.
        #[arg(long)]
        no_wait: bool,
    },
    /// Replay the run's work onto its target's current head and check it again. Where that
    /// conflicts, the agent gets one more iteration to resolve it.
    Rebase {
        /// The run: its id, or any unique prefix of it.
        run: String,
        /// Leave the conflicts to me: the run waits until I resolve them in its worktree and
        /// `flightdeck retry` it.
        #[arg(long)]
        by_hand: bool,
    },
    /// Push the run's branch and open or update its pull request ([forge] in your config);
    /// prints its URL.
    Pr {
        /// The run: its id, or any unique prefix of it.
        run: String,
        /// Print the pull request as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send the agent round again with your words (a review of your own).
    Reply {
        /// The run: its id, or any unique prefix of it.
        run: String,
        /// What the agent should do next, in your words.
        #[arg(required = true, value_name = "TEXT")]
        text: Vec<String>,
    },
    /// Trust this repository's .flightdeck.toml (its exact content) so runs may use it.
    Trust {
        /// The repository; default: the current directory.
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
        /// Take the trust back.
        #[arg(long)]
        revoke: bool,
    },
    /// Run the server (other commands start it when needed).
    Serve {
        /// Start it in the background and return once it answers.
        #[arg(long)]
        detach: bool,
        /// Take over from a running server (an upgrade): it stops, runs keep going, and this
        /// server adopts them.
        #[arg(long)]
        replace: bool,
    },
    /// Stop the server; refused while runs are live unless --all or --keep-runs says what
    /// becomes of them.
    Stop {
        /// Kill every unfinished run too (the one way to stop runs with the server).
        #[arg(long, conflicts_with = "keep_runs")]
        all: bool,
        /// Stop only the server: runs keep going under their shims and the next server adopts
        /// them.
        #[arg(long)]
        keep_runs: bool,
    },
    /// The price table, its source and date; or one model's price and where it comes from.
    Prices {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Only this provider's models (anthropic, openai, google, ...).
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        /// A model name, as an agent or the gateway reports it (date suffixes are fine).
        #[arg(value_name = "MODEL")]
        model: Option<String>,
    },
    /// The hosts of your config: reachable, version, runs, free slots, latency.
    Hosts {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<HostsCmd>,
    },
    /// Copy a run's proof pack from the host it ran on to this machine.
    Fetch {
        /// The run: its id, or any unique prefix of it.
        run: String,
    },
    /// Relay stdin and stdout to this host's server (ssh runs it for another machine's
    /// flightdeck; not for people).
    #[command(hide = true)]
    Bridge {
        /// Refuse a client of another version.
        #[arg(long)]
        expect_version: Option<String>,
    },
    /// Make or fetch this host's clone of a URL and check a commit is in it (another
    /// machine's flightdeck runs it over ssh before sending a run; not for people).
    #[command(hide = true, name = "repo-clone")]
    RepoClone {
        #[arg(long)]
        url: String,
        #[arg(long)]
        commit: String,
        /// The branch the commit is on there: brought to it here when it can be fast-forwarded.
        #[arg(long)]
        branch: Option<String>,
        /// Refuse a client of another version.
        #[arg(long)]
        expect_version: Option<String>,
    },
    /// A sample repository and scripted agents, live in the cockpit.
    Demo {
        /// Start the demo runs and print their ids, without opening the cockpit.
        #[arg(long, hide = true)]
        no_ui: bool,
    },
    /// The demo's scripted model on loopback (`flightdeck demo` starts it; not for people).
    #[command(hide = true, name = "demo-model")]
    DemoModel {
        /// The port to take when it is free.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Ask the demo's model through the run's gateway (the demo's agents do; not for people).
    #[command(hide = true, name = "demo-ask")]
    DemoAsk {
        #[arg(required = true)]
        prompt: Vec<String>,
    },
    /// The built-in agent's process (the supervisor starts it; not for people).
    #[command(hide = true, name = "agent-builtin")]
    AgentBuiltin,
    /// A run's agent supervisor process (the server starts it; not for people).
    #[command(hide = true)]
    Shim {
        /// The run's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agent's argv.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// The parent of a process the server starts for a run (not for people).
    #[command(hide = true)]
    Tether {
        /// The run's directory.
        #[arg(long)]
        run: PathBuf,
        /// The child's argv.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// Stop the server (runs keep going unless --kill-runs).
    #[command(hide = true)]
    Shutdown {
        #[arg(long)]
        kill_runs: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostsCmd {
    /// Copy this flightdeck to the host when its version differs (or say what to do when the
    /// host is another kind of machine).
    Install {
        /// The host, as [hosts.NAME] names it.
        name: String,
    },
}

pub async fn main(cli: Cli) -> Result<i32> {
    let home = crate::paths::Home::from_env()?;
    let config = cli
        .config
        .clone()
        .or_else(|| {
            std::env::var_os("FLIGHTDECK_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .map(absolute);
    let client = crate::client::Client::new(home.clone(), config.clone());
    match cli.command {
        None => {
            let here = absolute(PathBuf::from("."));
            // Where `n` starts runs: this checkout's top directory, as runs record it.
            let (repo, is_git) = crate::workspace::run_home(&here);
            crate::ui::open(client, repo, is_git, config).await
        }
        Some(Cmd::Run {
            repo,
            agent,
            base,
            wait,
            json,
            task,
        }) => {
            let repo = absolute(repo.unwrap_or_else(|| PathBuf::from(".")));
            let (client, repo, base, config, (gateway, id)) = match cli.host.as_deref() {
                None | Some(crate::config::hosts::LOCAL) => {
                    (client, repo, base, config, (None, None))
                }
                Some(name) => {
                    let all = Hosts::load(&client, config.clone()).await?;
                    let (c, there, base) =
                        hosts::placed(&all, name, &repo, base, config.clone()).await?;
                    // A run on a host reads the config file named for it there.
                    let (theirs, gateway) = match all.config(c.host_name()) {
                        Some(h) => (
                            h.config.clone().map(PathBuf::from),
                            hosts::gateway_for(&client, c.host_name(), h).await?,
                        ),
                        None => (config, (None, None)),
                    };
                    (c, PathBuf::from(there), base, theirs, gateway)
                }
            };
            run::start(
                &client,
                run::Args {
                    repo,
                    agent,
                    base,
                    wait,
                    json,
                    task: task.join(" "),
                    config,
                    gateway,
                    id,
                },
            )
            .await
        }
        Some(Cmd::Ls { json, all }) => {
            let hosts = Hosts::load(&client, config.clone()).await?;
            match cli.host.as_deref() {
                Some(h) => view::ls(hosts.named(h)?, json, all).await,
                None if hosts.any_remote() => self::hosts::ls(&hosts, json, all).await,
                None => view::ls(&client, json, all).await,
            }
        }
        Some(Cmd::Hosts {
            action: Some(HostsCmd::Install { name }),
            ..
        }) => {
            let hosts = Hosts::load(&client, config.clone()).await?;
            hosts.named(&name)?;
            let Some(host) = hosts.config(&name) else {
                return Err(color_eyre::eyre::eyre!(
                    "`{name}` is this machine: nothing to install"
                ));
            };
            crate::hosts::copy::install(&home, &name, host).await
        }
        Some(Cmd::Fetch { run }) => {
            let hosts = Hosts::load(&client, config.clone()).await?;
            let c = hosts.for_run(&run, cli.host.as_deref()).await?;
            let (record, proof) = match c.request(&crate::protocol::Command::Show { run }).await? {
                crate::protocol::Reply::Shown { run, proof } => (run, proof),
                other => return Err(color_eyre::eyre::eyre!("unexpected answer: {other:?}")),
            };
            let Some(host) = hosts.config(c.host_name()) else {
                println!("{}", proof.dir.display());
                eprintln!(
                    "run {} is on this machine: its proof pack is already here",
                    record.id
                );
                return Ok(0);
            };
            let dest = home.root().join("fetched").join(c.host_name());
            let got =
                crate::hosts::copy::fetch(&home, c.host_name(), host, &proof.dir, &dest).await?;
            println!("{}", got.display());
            Ok(0)
        }
        Some(Cmd::Hosts { json, action: None }) => {
            let hosts = Hosts::load(&client, config.clone()).await?;
            let local = hosts::local_parallel(config.clone()).await;
            self::hosts::hosts(&hosts, local, json).await
        }
        Some(Cmd::Bridge { expect_version }) => {
            crate::hosts::bridge::serve(&client, expect_version.as_deref()).await
        }
        Some(Cmd::RepoClone {
            url,
            commit,
            branch,
            expect_version,
        }) => crate::hosts::clone::serve(url, commit, branch, expect_version).await,
        Some(cmd) if about_a_run(&cmd) => {
            on_run(cmd, &client, cli.host.as_deref(), config, home).await
        }
        Some(cmd) => {
            // `stop`, `serve`, `trust`... act here: never let --host make them look remote.
            if let Some(h) = cli
                .host
                .as_deref()
                .filter(|h| *h != crate::config::hosts::LOCAL)
            {
                return Err(color_eyre::eyre::eyre!(
                    "--host {h} is for run, ls, hosts and the commands about a run; this command acts on this machine (run it on {h} itself, e.g. ssh {h} flightdeck …)"
                ));
            }
            local_only(cmd, &client, config, home).await
        }
    }
}

pub(super) async fn local_only(
    cmd: Cmd,
    client: &crate::client::Client,
    config: Option<PathBuf>,
    home: crate::paths::Home,
) -> Result<i32> {
    let client = client.clone();
    match cmd {
        Cmd::Trust { repo, revoke } => {
            let repo = absolute(repo.unwrap_or_else(|| PathBuf::from(".")));
            trust::trust(&home, repo, revoke, config.clone()).await
        }
        Cmd::Serve { detach, replace } => {
            if replace {
                actions::shutdown(&client, false, true).await?;
            }
            actions::serve(&client, home, config, detach, replace).await
        }
        Cmd::Stop { all, keep_runs } => actions::shutdown(&client, all, keep_runs).await,
        Cmd::Prices {
            json,
            provider,
            model,
        } => prices::prices(prices::Args {
            config,
            json,
            provider,
            model,
        }),
        Cmd::Demo { no_ui } => crate::demo::run(home, no_ui).await,
        Cmd::DemoModel { port } => crate::demo::model::serve(home, port).await,
        Cmd::DemoAsk { prompt } => Ok(crate::demo::ask::main(&prompt.join(" ")).await),
        Cmd::Shutdown { kill_runs } => actions::shutdown(&client, kill_runs, true).await,
        Cmd::AgentBuiltin => Ok(crate::builtin::main().await),
        // main() runs the shim before any runtime starts; reaching here is still correct.
        Cmd::Shim { dir, argv } => Ok(crate::shim::main(&dir, &argv)),
        Cmd::Tether { argv, .. } => Ok(crate::tether::main(&argv)),
        // Handled by `main` and `on_run` before here.
        other => Err(color_eyre::eyre::eyre!(
            "internal error: {other:?} reached the wrong handler"
        )),
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_argument_people_see_has_help() {
        let cli = super::Cli::command();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() && arg.get_id() != "help" {
                    missing.push(format!("{} {}", sub.get_name(), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
