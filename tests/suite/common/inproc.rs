//! A supervisor inside the test process: started through its `Options` (a home of its own, no
//! user config file, flightdeck's binary for shims and tethers, and what a test injects: a
//! clock, a spawner, a gateway), driven through its `Handle`, and waited on through its events,
//! never by polling a CLI or sleeping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flightdeck::config::{self, Sources, UserConfig};
use flightdeck::gateway::Gateway;
use flightdeck::paths::Home;
use flightdeck::protocol::{Command, Event, ProtocolError, Reply, RunRequest, RunSnapshot};
use flightdeck::run::Status;
use flightdeck::self_exe::SelfExe;
use flightdeck::supervisor::spawner::Spawner;
use flightdeck::supervisor::{Handle, Options, Supervisor};
use tokio::sync::broadcast;

/// How long any one awaited event may take before the test fails saying what it waited for.
const PATIENCE: Duration = Duration::from_secs(60);

pub struct InProc {
    pub dir: tempfile::TempDir,
    pub home: Home,
    pub config: PathBuf,
    pub handle: Handle,
    events: broadcast::Receiver<Event>,
    task: tokio::task::JoinHandle<()>,
    /// The supervisor's own runtime: every task it spawns lives there, so a crash can end them
    /// all at once, as a dying server's do. (Aborting only its main task left its phase workers
    /// going, and a dead supervisor's commit raced the new one's for the same patch.diff.)
    runtime: Option<tokio::runtime::Runtime>,
    pub injected: Injected,
}

/// What the test gives the supervisor in place of the real thing (the same again after a
/// restart).
#[derive(Clone, Default)]
pub struct Injected {
    /// The time runs' states record.
    pub clock: flightdeck::time::Clock,
    /// What starts runs' processes.
    pub spawner: Spawner,
    /// The metering gateway, if any: runs get no model proxy without one.
    pub gateway: Option<Arc<Gateway>>,
    /// The warm pools' keeper: a test sees its refills and failures.
    pub pools: flightdeck::workspace::pool::Keeper,
}

/// A metering gateway on loopback, as a server starts one.
pub async fn gateway() -> Arc<Gateway> {
    Gateway::start(Default::default(), None, 64)
        .await
        .expect("a gateway")
}

impl InProc {
    pub async fn start(config_text: &str) -> Self {
        Self::with(config_text, Injected::default()).await
    }

    /// A supervisor whose runs' states record the time `clock` says.
    pub async fn with_clock(config_text: &str, clock: flightdeck::time::Clock) -> Self {
        Self::with(
            config_text,
            Injected {
                clock,
                ..Default::default()
            },
        )
        .await
    }

    /// A supervisor with what `injected` gives it.
    pub async fn with(config_text: &str, injected: Injected) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("flightdeck.toml");
        std::fs::write(&config, config_text).expect("config");
        Self::on(dir, config, injected).await
    }

    /// A supervisor on the home in `dir` with the config file `config`.
    async fn on(dir: tempfile::TempDir, config: PathBuf, injected: Injected) -> Self {
        let home = Home::at(dir.path().join("home"));
        home.ensure().expect("home");
        let global = config::load(&Sources {
            explicit: Some(config.clone()),
            user: UserConfig::Without,
            ..Default::default()
        })
        .expect("a valid config");
        let options = Options {
            home: home.clone(),
            global,
            own_config: Some(config.clone()),
            user_config: UserConfig::Without,
            gateway: injected.gateway.clone(),
            exe: SelfExe::at(PathBuf::from(super::BIN)),
            loaded: None,
            clock: injected.clock.clone(),
            spawner: injected.spawner.clone(),
            pools: injected.pools.clone(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the supervisor");
        let on_it = runtime.handle().clone();
        // As the server starts it: off the runtime (it reads the runs from disk).
        let (handle, task) = tokio::task::spawn_blocking(move || {
            let _inside = on_it.enter();
            Supervisor::start(options)
        })
        .await
        .expect("the supervisor starts");
        let events = handle.subscribe();
        Self {
            dir,
            home,
            config,
            handle,
            events,
            task,
            runtime: Some(runtime),
            injected,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub async fn call(&self, cmd: Command) -> Result<Reply, ProtocolError> {
        self.handle.call(cmd).await
    }

    /// Start a run; its id.
    pub async fn run(&self, repo: &Path, agent: &str, task: &str) -> String {
        let reply = self
            .call(Command::Run(RunRequest {
                task: task.into(),
                repo: repo.to_path_buf(),
                agent: Some(agent.into()),
                base: None,
                config: Some(self.config.clone()),
                gateway: None,
                id: None,
            }))
            .await;
        match reply {
            Ok(Reply::Run { run }) => run.id,
            other => panic!("run was not started: {other:?}"),
        }
    }

    pub async fn record(&self, id: &str) -> RunSnapshot {
        match self.call(Command::Show { run: id.into() }).await {
            Ok(Reply::Run { run }) => *run,
            other => panic!("no record of {id}: {other:?}"),
        }
    }

    /// The first event from now on that `pred` takes; fails the test after `PATIENCE`.
    pub async fn until(&mut self, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Ok(e) if pred(&e) => return e,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        panic!("the supervisor stopped while waiting for {what}")
                    }
                }
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}"))
    }

    /// The run's record once `pred` holds for it (now or at a later change).
    pub async fn until_run(
        &mut self,
        id: &str,
        what: &str,
        mut pred: impl FnMut(&RunSnapshot) -> bool,
    ) -> RunSnapshot {
        let now = self.record(id).await;
        if pred(&now) {
            return now;
        }
        match self
            .until(
                what,
                |e| matches!(e, Event::Run { run } if run.id == id && pred(run)),
            )
            .await
        {
            Event::Run { run } => *run,
            _ => unreachable!("only run events pass"),
        }
    }

    /// Retry the run from `phase`; its record once that attempt has ended.
    pub async fn retry(&mut self, id: &str, phase: flightdeck::run::Phase) -> RunSnapshot {
        let attempt = self.record(id).await.attempt + 1;
        self.call(Command::Retry {
            run: id.into(),
            phase: Some(phase),
        })
        .await
        .expect("retried");
        self.until_run(id, "the retry's end", |r| {
            r.attempt == attempt && r.status.is_terminal()
        })
        .await
    }

    /// The run's record once it has ended.
    pub async fn finished(&mut self, id: &str) -> RunSnapshot {
        self.until_run(id, "the run's end", |r| r.status.is_terminal())
            .await
    }

    /// The timeline line of the run with this `type`, as it is written.
    pub async fn line(&mut self, id: &str, kind: &str) -> serde_json::Value {
        match self
            .until(
                &format!("{kind} of {id}"),
                |e| matches!(e, Event::Timeline { run, line } if run == id && line["type"] == kind),
            )
            .await
        {
            Event::Timeline { line, .. } => line,
            _ => unreachable!("only timeline events pass"),
        }
    }

    /// The supervisor dies without a word (its runtime and every task on it are dropped, as in
    /// a crash: agents under their shims go on, a tether's child dies with it), and a new one
    /// starts on the same home.
    pub async fn crash_and_restart(mut self) -> Self {
        self.end_runtime();
        let _ = (&mut self.task).await;
        // The old supervisor's last record writes settle before the new one reads them.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let dir = tempfile::TempDir::new().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, dir);
        Self::on(dir, self.config.clone(), self.injected.clone()).await
    }

    /// Every task of the supervisor ends where it is (a runtime cannot be dropped in async
    /// code, so it is shut down in the background).
    fn end_runtime(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Stop the supervisor and every run it has.
    pub async fn stop(mut self) {
        let _ = self.call(Command::Shutdown { kill_runs: true }).await;
        let _ = tokio::time::timeout(Duration::from_secs(20), &mut self.task).await;
        self.end_runtime();
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        self.end_runtime();
    }
}

pub fn status(r: &RunSnapshot) -> Status {
    r.status
}
