//! The supervisor: one task that owns every run (records, workspaces, processes, proof packs).
//! It selects over client commands and reports from its phase workers, runs the pure state
//! machine (`machine`), and carries out the effects it returns.

mod adopt;
pub mod agent_process;
pub mod budget;
pub mod child_env;
mod commands;
mod context;
mod effects;
mod forge_land;
pub mod forge_link;
pub mod host_gateway;
pub(crate) mod in_order;
mod jobs;
pub mod machine;
pub mod merge_gate;
mod merge_queue;
mod merge_test;
mod merging;
pub mod phases;
mod pr_feedback;
mod pr_landing;
pub mod process;
mod radar;
mod radar_watch;
mod rebasing;
mod run_writer;
pub mod spawner;
mod submit;
mod tunnel_moved;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::config::Config;
use crate::paths::Home;
use crate::protocol::{Command, ErrorKind, Event, ProtocolError, Reply};
use crate::run::id::{self, Resolved};
use crate::run::{Phase, RunRecord};

use context::RunCtx;
use machine::Control;
use phases::PhaseReport;

pub type Answer = Result<Reply, ProtocolError>;

/// How to reach the supervisor: send commands, subscribe to events.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Msg>,
    events: broadcast::Sender<Event>,
}

impl Handle {
    pub async fn call(&self, cmd: Command) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Request(cmd, tx))
            .map_err(|_| ProtocolError::internal("the supervisor has stopped"))?;
        rx.await
            .map_err(|_| ProtocolError::internal("the supervisor dropped the request"))?
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

enum Msg {
    Request(Command, oneshot::Sender<Answer>),
    Internal(Internal),
}

impl From<Internal> for Msg {
    fn from(i: Internal) -> Self {
        Msg::Internal(i)
    }
}

/// Reports from tasks the supervisor started.
enum Internal {
    Submitted {
        result: Result<Box<submit::Validated>, ProtocolError>,
        reply: oneshot::Sender<Answer>,
    },
    RetryReady {
        run: String,
        phase: Option<Phase>,
        config: Result<Box<Config>, ProtocolError>,
        reply: oneshot::Sender<Answer>,
    },
    PhaseDone {
        run: String,
        phase: Phase,
        report: PhaseReport,
    },
    KillGraceOver {
        run: String,
    },
    Cleaned {
        run: String,
        result: Result<(), ProtocolError>,
        reply: oneshot::Sender<Answer>,
    },
    /// `flightdeck rebase`: the replay is done (or failed).
    Rebased {
        run: String,
        by_hand: bool,
        result: Box<Result<rebasing::Replay, crate::workspace::WorkspaceError>>,
        reply: oneshot::Sender<Answer>,
    },
    /// A merge queue's lane: a run landed or was refused.
    Lane(Box<merge_queue::LaneReport>),
    RadarTick,
    /// What start-up found of the runs a previous server left unfinished.
    Unfinished {
        runs: Vec<adopt::Unfinished>,
    },
    /// The run's budget is 80% spent.
    BudgetWarn {
        run: String,
        message: String,
    },
    /// The gateway found the run's budget spent: pause it.
    BudgetStop {
        run: String,
        message: String,
    },
    ResumeReady {
        run: String,
        config: Result<Box<Config>, ProtocolError>,
        reply: oneshot::Sender<Answer>,
    },
    /// A model call of a run (already written to its pack): add it to the totals.
    Call {
        run: String,
        call: Box<crate::models::calls::ModelCall>,
    },
    /// A job's answer for a caller.
    Answer {
        reply: oneshot::Sender<Answer>,
        answer: Answer,
    },
    RadarDone {
        findings: Result<HashMap<String, Vec<crate::run::ConflictFinding>>, jobs::JobFailed>,
    },
    /// What a forge job found (a delivery, a poll, a landing, feedback written).
    Forge(Box<forge_link::ForgeMsg>),
}

struct Entry {
    /// The run's record; its `state` is the machine's to change (`machine::advance`).
    record: RunRecord,
    /// What the machine keeps beside the state while this server runs the run.
    control: Control,
    ctx: Arc<RunCtx>,
    /// The run's config; None for runs loaded from disk until they are retried.
    config: Option<Arc<Config>>,
    /// A phase's failure reason the timeline already holds, so `run.finished` names the
    /// failure without saying it again (not run state: what this server wrote).
    told: Option<String>,
}

/// What a supervisor starts with.
pub struct Options {
    pub home: Home,
    /// The server's own config (defaults, your file, its `--config`).
    pub global: Config,
    /// The server's `--config` file.
    pub own_config: Option<std::path::PathBuf>,
    /// Your config file: where it usually is, or another (an in-process test's).
    pub user_config: crate::config::UserConfig,
    pub gateway: Option<Arc<crate::gateway::Gateway>>,
    pub exe: crate::self_exe::SelfExe,
    /// The run records on disk and the problems reading them, when the caller read them
    /// already (the server does, for the budgets); otherwise they are read here.
    pub loaded: Option<(Vec<RunRecord>, Vec<String>)>,
    /// The time runs' states record (a test may fix it).
    pub clock: crate::time::Clock,
    /// What starts runs' processes (a test may watch every start).
    pub spawner: spawner::Spawner,
    /// The warm pools' keeper (a test may hold it to see refills and failures).
    pub pools: crate::workspace::pool::Keeper,
}

pub struct Supervisor {
    home: Home,
    global: Config,
    /// Run configs: layers, trust, and the providers, budgets and prices pinned at start.
    config_source: submit::ConfigSource,
    /// The flightdeck program for runs' shims, tethers and built-in agents.
    exe: crate::self_exe::SelfExe,
    runs: HashMap<String, Entry>,
    queue: VecDeque<String>,
    waiters: HashMap<String, Vec<oneshot::Sender<Answer>>>,
    events: broadcast::Sender<Event>,
    tx: mpsc::UnboundedSender<Msg>,
    /// Off-thread work, whose results come back on `tx`.
    jobs: jobs::Jobs<Msg>,
    /// Set when a shutdown was asked for: the loop ends after answering.
    stopping: bool,
    /// The merge queue's lanes, one per repository and target branch.
    lanes: HashMap<(std::path::PathBuf, String), mpsc::UnboundedSender<merge_queue::LaneMsg>>,
    /// `merge` callers waiting for their run to land or be refused.
    merge_waiters: HashMap<String, Vec<oneshot::Sender<Answer>>>,
    /// Why the queue last refused a run (for a caller who asks after the fact).
    refusals: HashMap<String, String>,
    /// One radar scan at a time.
    radar_flight: jobs::SingleFlight,
    /// What makes the radar look again (refs and live worktrees, watched).
    radar_watch: Arc<std::sync::Mutex<radar_watch::RadarWatch>>,
    /// The radar's inputs at its last scan (a hash): a change means a full scan.
    radar_inputs: u64,
    /// When the scan under way started, and when the next may start (a slow scan waits a
    /// few times its own length, so the radar never takes more than a share of a core).
    radar_started: std::time::Instant,
    radar_next: std::time::Instant,
    /// The metering gateway, when it could start.
    gateway: Option<Arc<crate::gateway::Gateway>>,
    /// How many unfinished runs this server took up again at start-up.
    adopted: usize,
    /// The version `Ping` answers with (a test may say another, to be an old server).
    version: String,
    /// Dev-server ports leased to runs in their browser phase.
    /// Shared with the merge queue, whose browser checks lease ports too.
    ports: crate::browser::ports::Shared,
    leased: HashMap<String, u16>,
    clock: crate::time::Clock,
    spawner: spawner::Spawner,
    /// This server's warm pools: refills under way, and whether it is stopping.
    pools: crate::workspace::pool::Keeper,
    /// The runs' pull requests: deliveries and polls under way, the forge clients.
    forge: forge_link::ForgeLink,
    /// Tunnels from other hosts to the gateway, for the runs sent there.
    tunnels: crate::hosts::tunnel::Tunnels,
}

impl Supervisor {
    /// Load the runs on disk and start the supervisor task.
    /// Start the supervisor. Blocking: it reads every run from disk and finishes landings
    /// cut short (git), so callers on the runtime call it through `spawn_blocking`; it needs
    /// the runtime's context for the tasks it starts.
    pub fn start(opts: Options) -> (Handle, tokio::task::JoinHandle<()>) {
        let Options {
            home,
            global,
            own_config,
            user_config,
            gateway,
            exe,
            loaded,
            clock,
            spawner,
            pools,
        } = opts;
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(4096);
        let config_source = submit::ConfigSource::new(&home, &global, own_config, user_config);
        let mut sup = Supervisor {
            config_source,
            exe,
            home,
            global,
            runs: HashMap::new(),
            queue: VecDeque::new(),
            waiters: HashMap::new(),
            events: events.clone(),
            tx: tx.clone(),
            jobs: jobs::Jobs::new(tx.clone()),
            stopping: false,
            lanes: HashMap::new(),
            merge_waiters: HashMap::new(),
            refusals: HashMap::new(),
            radar_flight: Default::default(),
            radar_watch: Default::default(),
            radar_inputs: 0,
            radar_started: std::time::Instant::now(),
            radar_next: std::time::Instant::now(),
            gateway,
            adopted: 0,
            version: std::env::var("FLIGHTDECK_TEST_SERVER_VERSION")
                .unwrap_or_else(|_| crate::hosts::bridge::VERSION.to_string()),
            ports: Default::default(),
            leased: HashMap::new(),
            clock,
            spawner,
            pools,
            forge: Default::default(),
            tunnels: Default::default(),
        };
        sup.load_existing(loaded);
        sup.readopt_unfinished();
        // Runs on other hosts reach their models through this server's gateway again.
        sup.reopen_host_links();
        // Landings cut short are finished first; then the merge queue, on disk as the runs'
        // `merge: pending`, is taken up again.
        sup.finish_landings();
        sup.requeue_pending();
        radar::start_ticker(tx.clone());
        let handle = Handle { tx, events };
        let task = tokio::spawn(sup.run(rx));
        (handle, task)
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Request(Command::Shutdown { kill_runs }, reply) => {
                    let unfinished = self.active_count()
                        + self
                            .runs
                            .values()
                            .filter(|e| e.record.status == crate::run::Status::Queued)
                            .count();
                    self.shutdown(kill_runs).await;
                    let message = match (kill_runs, unfinished) {
                        (_, 0) => "server stopped".to_string(),
                        (true, n) => format!("server stopped; killed {n} unfinished run(s)"),
                        (false, n) => format!(
                            "server stopped; {n} unfinished run(s) keep going, and the next server adopts them (`flightdeck stop --all` stops runs too)"
                        ),
                    };
                    let _ = reply.send(Ok(Reply::Done { message }));
                    self.stopping = true;
                }
                Msg::Request(cmd, reply) => self.on_command(cmd, reply),
                Msg::Internal(i) => self.on_internal(i),
            }
            if self.stopping {
                break;
            }
        }
    }

    /// Load every run on disk; unfinished ones are taken up again by `readopt_unfinished`.
    fn load_existing(&mut self, loaded: Option<(Vec<RunRecord>, Vec<String>)>) {
        let (records, problems) =
            loaded.unwrap_or_else(|| crate::proof::store::load_all(&self.home));
        for p in problems {
            tracing::warn!("skipping an unreadable run record: {p}");
        }
        for record in records {
            if !id::is_valid(&record.id) {
                continue;
            }
            let ctx = RunCtx::new(
                record.id.clone(),
                self.home.run_dir(&record.id),
                self.events.clone(),
                self.tx.clone(),
                self.exe.clone(),
                self.spawner.clone(),
            );
            let control = Control::loaded(&record.state, record.checkpoints.keys().max().copied());
            let mut record = record;
            machine::refresh(&mut record, &control);
            self.runs.insert(
                record.id.clone(),
                Entry {
                    record,
                    control,
                    ctx,
                    config: None,
                    told: None,
                },
            );
        }
    }

    fn resolve(&self, prefix: &str) -> Result<String, ProtocolError> {
        match id::resolve(prefix, self.runs.keys().map(String::as_str)) {
            Resolved::One(id) => Ok(id.to_string()),
            Resolved::None => Err(ProtocolError::new(
                ErrorKind::UnknownRun,
                format!("no run matches `{prefix}`; `flightdeck ls` lists the runs"),
            )),
            Resolved::Ambiguous(ids) => Err(ProtocolError::new(
                ErrorKind::AmbiguousRun,
                format!(
                    "`{prefix}` matches {} runs ({}); give more of the id",
                    ids.len(),
                    ids.join(", ")
                ),
            )),
        }
    }

    fn active_count(&self) -> usize {
        self.runs
            .values()
            .filter(|e| e.record.status.is_active())
            .count()
    }

    /// Answer a caller once the files of the runs the answer shows are on disk: nobody sees a
    /// state before the timeline lines that explain it.
    fn answer(&self, reply: oneshot::Sender<Answer>, answer: Answer) {
        let shown: Vec<&str> = match &answer {
            Ok(Reply::Run { run }) => vec![run.id.as_str()],
            Ok(Reply::Runs { runs }) => runs.iter().map(|r| r.id.as_str()).collect(),
            _ => Vec::new(),
        };
        let written: Vec<_> = shown
            .iter()
            .filter_map(|id| self.runs.get(*id))
            .map(|e| e.ctx.flushed())
            .collect();
        if written.is_empty() {
            let _ = reply.send(answer);
        } else {
            self.jobs
                .when_all(written, Internal::Answer { reply, answer }.into());
        }
    }

    fn send_internal(tx: &mpsc::UnboundedSender<Msg>, i: Internal) {
        let _ = tx.send(Msg::Internal(i));
    }

    fn kill_grace(&self) -> Duration {
        self.global.kill_grace.0
    }

    /// Records newest first.
    fn sorted_records(&self) -> Vec<RunRecord> {
        let mut v: Vec<RunRecord> = self.runs.values().map(|e| e.record.clone()).collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        v
    }

    async fn shutdown(&mut self, kill_runs: bool) {
        if kill_runs {
            let ids: Vec<String> = self
                .runs
                .iter()
                .filter(|(_, e)| !e.record.status.is_terminal())
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                if let Some(e) = self.runs.get(&id) {
                    e.ctx.procs.kill_now();
                }
                self.step(&id, machine::Input::Shutdown);
            }
        }
        // Every run's files on disk before the server says it stopped.
        let flushed: Vec<_> = self.runs.values().map(|e| e.ctx.flushed()).collect();
        for f in flushed {
            f.await;
        }
        // The warm pools go with the server that made them (a next one refills them).
        let pools: std::collections::BTreeSet<std::path::PathBuf> = self
            .runs
            .values()
            .filter_map(|e| crate::workspace::pool::dir_for(&e.record.worktree))
            .collect();
        let keeper = self.pools.clone();
        let _ = tokio::task::spawn_blocking(move || {
            keeper.stop(std::time::Duration::from_secs(5));
            for p in pools {
                crate::workspace::pool::drain(&p);
            }
        })
        .await;
    }
}
