//! The server: holds the supervisor and answers clients on `$FLIGHTDECK_HOME/flightdeck.sock`,
//! one JSON-line request per connection. Exactly one server per home, guarded by a lock file.

pub mod caller;
mod connection;
mod gone;
mod lock;
pub mod spawn;

use std::sync::Arc;

use color_eyre::eyre::{eyre, Result, WrapErr};
use tokio::net::UnixListener;
use tokio::sync::Notify;

use crate::config::Config;
use crate::paths::Home;
use crate::protocol::Command;
use crate::supervisor::Supervisor;

pub use lock::AlreadyRunning;

/// Run the server until a shutdown request or a signal. Returns `AlreadyRunning` (as the error's
/// root cause) when another server holds the home.
/// `own_config`: the `--config` file `global` was loaded with.
pub async fn serve(
    home: Home,
    global: Config,
    own_config: Option<std::path::PathBuf>,
) -> Result<()> {
    crate::memory::limit_arenas();
    // It holds the provider keys: its /proc files are not for its children to read.
    crate::harden::non_dumpable();
    let caps = crate::fd_limit::caps(crate::fd_limit::raise());
    home.ensure()?;
    let _lock = lock::acquire(&home)?;
    let socket = home.socket();
    // We hold the lock, so a socket file left here belongs to a server that died.
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .wrap_err_with(|| format!("cannot listen on {}", socket.display()))?;
    let _ = nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &socket,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    );
    // A dropped SSH session must not take the server down.
    // SAFETY: setting a signal to "ignore" installs no handler code.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    tracing::info!(
        "server started: pid {}, home {}; at most {} client and {} gateway connections",
        std::process::id(),
        home.root().display(),
        caps.control,
        caps.gateway
    );

    // What runs spent before this server started counts towards global budgets.
    // Read once, off the runtime; the supervisor takes them from here.
    let h = home.clone();
    // Other hosts' calls through this machine's gateway count too.
    let (loaded, hosts_spent) = tokio::task::spawn_blocking(move || {
        (
            crate::proof::store::load_all(&h),
            crate::gateway::hosts::ledger_spent(h.root()),
        )
    })
    .await
    .map_err(|e| eyre!("cannot read the runs: {e}"))?;
    let records = &loaded.0;
    let spent = crate::gateway::budget::Spent {
        tokens: records.iter().map(|r| r.tokens.total()).sum::<u64>() + hosts_spent.tokens,
        usd: records.iter().filter_map(|r| r.cost_usd).sum::<f64>() + hosts_spent.usd,
    };
    let port_file = home.root().join("gateway.port");
    let port = tokio::fs::read_to_string(&port_file)
        .await
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let gateway = match crate::gateway::Gateway::start(spent, port, caps.gateway).await {
        Ok(g) => {
            tracing::info!("metering gateway on http://{}", g.addr());
            if let Err(e) =
                crate::owner_only::write(&port_file, g.addr().port().to_string().as_bytes())
            {
                tracing::warn!("cannot record the gateway's port: {e}");
            }
            Some(g)
        }
        Err(e) => {
            tracing::error!("cannot start the metering gateway: {e}; runs get no model proxy");
            None
        }
    };
    let options = crate::supervisor::Options {
        home: home.clone(),
        global,
        own_config,
        user_config: crate::config::UserConfig::Usual,
        gateway,
        exe: crate::self_exe::SelfExe::this(),
        loaded: Some(loaded),
        clock: crate::time::Clock::system(),
        spawner: crate::supervisor::spawner::Spawner::system(),
        pools: Default::default(),
    };
    // Off the runtime: starting reads the runs' files and finishes landings cut short.
    let (handle, supervisor) = tokio::task::spawn_blocking(move || Supervisor::start(options))
        .await
        .map_err(|e| eyre!("the supervisor could not start: {e}"))?;
    let stop = Arc::new(Notify::new());
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| eyre!("cannot watch SIGTERM: {e}"))?;
    let mut backoff = crate::backoff::AcceptBackoff::new();
    let conns = crate::conn_cap::ConnCap::new(caps.control);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if let Some(line) = backoff.succeeded("server") {
                        tracing::info!("{line}");
                    }
                    // At the cap the oldest connection still waiting for its request makes room.
                    let Some(conn) = conns.open() else {
                        tokio::spawn(connection::refuse_full(stream, conns.cap()));
                        continue;
                    };
                    let (handle, home, stop) = (handle.clone(), home.clone(), stop.clone());
                    tokio::spawn(async move {
                        connection::handle(stream, conn, handle, home, stop).await;
                    });
                }
                Err(e) => {
                    let (wait, line) = backoff.failed("server", &e, std::time::Instant::now());
                    if let Some(line) = line {
                        tracing::warn!("{line}");
                    }
                    tokio::time::sleep(wait).await;
                }
            },
            _ = stop.notified() => break,
            _ = tokio::signal::ctrl_c() => {
                let _ = handle.call(Command::Shutdown { kill_runs: false }).await;
                break;
            }
            _ = sigterm.recv() => {
                let _ = handle.call(Command::Shutdown { kill_runs: false }).await;
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&socket);
    let _ = supervisor.await;
    tracing::info!("server stopped");
    Ok(())
}
