//! The protocol between clients (CLI, Mission Control) and the supervisor: plain serde data,
//! sent as JSON lines over the server's Unix socket, or over channels in-process.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::run::{Phase, RunRecord};

/// The longest request line the server reads.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// The longest task a run takes (well inside a request).
pub const MAX_TASK_BYTES: usize = 512 * 1024;

/// The sentence for a task over [`MAX_TASK_BYTES`].
pub fn task_too_long(len: usize) -> String {
    format!(
        "the task is {} KiB; flightdeck takes tasks of up to {} KiB: put the details in a file in the repository and name that file in the task",
        len / 1024,
        MAX_TASK_BYTES / 1024
    )
}

/// What a client sees of a run. Today it is the run record itself; it is a separate name so the
/// cockpit can grow live-only fields without touching `run.json`.
pub type RunSnapshot = RunRecord;

/// A request; one per connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Start a run.
    Run(RunRequest),
    /// Every run, newest first.
    List,
    Show {
        run: String,
    },
    Pause {
        run: String,
    },
    Resume {
        run: String,
    },
    Kill {
        run: String,
    },
    Retry {
        run: String,
        phase: Option<Phase>,
    },
    Clean {
        run: String,
        force: bool,
    },
    /// Reply when the run has finished (succeeded, failed, killed, interrupted).
    Wait {
        run: String,
    },
    /// The run's timeline lines; with `follow`, keep sending new ones until the run ends.
    /// `tail` limits the lines sent from what is already written.
    Timeline {
        run: String,
        follow: bool,
        tail: Option<usize>,
    },
    /// The run's `patch.diff`.
    Patch {
        run: String,
    },
    /// The run's `PR.md`.
    Proof {
        run: String,
    },
    /// The run's last browser report (`browser/report.md`), answered as `Proof` text.
    BrowserReport {
        run: String,
    },
    /// The pictures of the run's last browser check (each page's base, new and diff
    /// screenshots), answered as `Pictures`.
    BrowserPictures {
        run: String,
    },
    /// Put the run in its target's merge queue, if the gate is green; answered once it landed
    /// or was refused, or at once with `no_wait`.
    Merge {
        run: String,
        #[serde(default)]
        no_wait: bool,
    },
    /// Replay the run's work onto its target's current head, then check it again; conflicts go
    /// to the agent, or with `by_hand` wait for a person.
    Rebase {
        run: String,
        #[serde(default)]
        by_hand: bool,
    },
    /// Push the run's branch and open or update its pull request (`[forge]`); answered with
    /// the record once the forge answered.
    Pr {
        run: String,
    },
    /// Send the agent round again with a person's words.
    Reply {
        run: String,
        text: String,
    },
    /// Answered once a queued run landed (the record) or was refused (why).
    AwaitMerge {
        run: String,
    },
    /// Every run now, then each run's record whenever it changes (the cockpit's feed).
    Subscribe,
    /// Liveness check; answers with the server's pid.
    Ping,
    /// What a run sent to host `name` needs from this server: a tunnel from the host to its
    /// gateway, opened (or found open), the host's token there, and a run id reserved here.
    HostGateway {
        name: String,
        host: Box<crate::config::hosts::HostConfig>,
    },
    /// On a host: the tunnel to the machine that sent runs here, reopened on another port
    /// there (its old one was taken). The runs that call through it with this token are
    /// pointed at the new port, live and in their files.
    HostTunnelMoved(Box<TunnelMoved>),
    /// Stop the server. With `kill_runs`, runs are killed first (tests use this to leave nothing
    /// behind); otherwise agents keep running without a supervisor.
    Shutdown {
        kill_runs: bool,
    },
}

impl Command {
    /// The run the command is about, if any.
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Command::Show { run }
            | Command::Pause { run }
            | Command::Resume { run }
            | Command::Kill { run }
            | Command::Retry { run, .. }
            | Command::Clean { run, .. }
            | Command::Wait { run }
            | Command::Timeline { run, .. }
            | Command::Patch { run }
            | Command::Proof { run }
            | Command::BrowserReport { run }
            | Command::BrowserPictures { run }
            | Command::Merge { run, .. }
            | Command::Rebase { run, .. }
            | Command::Pr { run }
            | Command::Reply { run, .. }
            | Command::AwaitMerge { run } => Some(run),
            Command::Run(_)
            | Command::List
            | Command::Subscribe
            | Command::Ping
            | Command::HostGateway { .. }
            | Command::HostTunnelMoved(_)
            | Command::Shutdown { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub task: String,
    /// Absolute path of the repository or directory.
    pub repo: PathBuf,
    pub agent: Option<String>,
    pub base: Option<String>,
    /// `--config FILE` / `FLIGHTDECK_CONFIG`, absolute.
    pub config: Option<PathBuf>,
    /// A run sent to another host: its model calls go back to the sending machine's gateway
    /// (which holds the keys) through a tunnel. Absent from older clients' requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Box<HostGateway>>,
    /// The id the run is to have (a run sent to another host: the sending machine reserved it,
    /// so ids stay unique across hosts). Refused when a run has it already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Where a run on another host sends its model calls: the sending machine's gateway, reached
/// through an `ssh -R` tunnel to a loopback port on the host. The host's own gateway still
/// meters each call into the run's record, forwarding to `url` with `token` instead of a key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct HostGateway {
    /// `http://127.0.0.1:PORT/h/<token>` on the host (add `/<provider>`).
    pub url: String,
    /// The host's token at the sending machine's gateway (never a provider key).
    pub token: String,
    /// The sending machine's providers by name: the run's providers there.
    pub providers: std::collections::BTreeMap<String, crate::config::ProviderKind>,
}

/// A host's tunnel back to the sending machine's gateway now listens on `port` there. Only a
/// port: the host builds the loopback URL itself, so no request can point runs elsewhere.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TunnelMoved {
    /// The host's token at the sending machine's gateway: whose runs these are.
    pub token: String,
    pub port: u16,
}

impl TunnelMoved {
    /// The URL the runs are to call (add `/<provider>`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/h/{}", self.port, self.token)
    }
}

impl std::fmt::Debug for TunnelMoved {
    // The token is kept out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelMoved")
            .field("port", &self.port)
            .finish()
    }
}

impl std::fmt::Debug for HostGateway {
    // The token is kept out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostGateway")
            .field("url", &"…")
            .field("providers", &self.providers)
            .finish()
    }
}

/// Something that happened, pushed to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run's record changed (or appeared).
    Run { run: Box<RunSnapshot> },
    /// A new line of a run's timeline.
    Timeline {
        run: String,
        line: serde_json::Value,
    },
    /// Which server answers (a new pid: it restarted) and how many unfinished runs it took
    /// up again at start-up. Sent after the runs on `Subscribe`, again once start-up is done,
    /// and every 15 s as a heartbeat.
    Server { pid: u32, adopted: usize },
    /// The conflict radar finished a scan of these runs (their findings are applied). For
    /// whoever must know that the radar looked, not only what it found (tests, benchmarks).
    RadarScanned { runs: Vec<String> },
}

/// A reply line. Streams end with `End`; single answers are one line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Run {
        run: Box<RunSnapshot>,
    },
    Runs {
        runs: Vec<RunSnapshot>,
    },
    /// `show`: the record and a summary of its proof pack.
    Shown {
        run: Box<RunSnapshot>,
        proof: Box<crate::proof::summary::ProofSummary>,
    },
    /// A plain acknowledgement with what was done.
    Done {
        message: String,
    },
    Event {
        event: Event,
    },
    /// The text of `patch.diff` (empty when the run has none yet).
    Patch {
        run: String,
        text: String,
    },
    /// The text of `PR.md` (empty when the run has none yet); for a failed run, also why it
    /// failed (`Proof` only, not the browser report).
    Proof {
        run: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<Box<FailureSummary>>,
    },
    /// `BrowserPictures`: each page of the last browser check (none when it had none).
    Pictures {
        run: String,
        pages: Vec<PagePictures>,
    },
    /// One timeline line, as written to `timeline.jsonl`.
    Line {
        line: serde_json::Value,
    },
    /// `HostGateway`: None when this server has no providers (the host uses its own); and
    /// an id this server reserved for the run (none of its runs will have it).
    HostGateway {
        gateway: Option<HostGateway>,
        #[serde(default)]
        id: Option<String>,
    },
    Pong {
        pid: u32,
        /// Unfinished runs this server re-adopted at start-up.
        #[serde(default)]
        adopted: usize,
        /// The server's flightdeck version (None: older than this field, so not this one's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// Runs at once there (its `max_parallel`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_parallel: Option<usize>,
    },
    Error {
        error: ProtocolError,
    },
    End,
}

impl Reply {
    /// Read a reply line. The list of runs, the one long reply, skips the buffering that an
    /// internally tagged enum costs serde (the whole line copied into a tree first): with 500
    /// runs that was a third of `ls`. Any other line goes the general way.
    pub fn decode(line: &str) -> serde_json::Result<Reply> {
        #[derive(Deserialize)]
        struct Runs {
            runs: Vec<RunSnapshot>,
        }
        if line.starts_with(r#"{"reply":"runs","#) {
            if let Ok(Runs { runs }) = serde_json::from_str::<Runs>(line) {
                return Ok(Reply::Runs { runs });
            }
        }
        serde_json::from_str(line)
    }
}

/// One page of a browser check in pictures: how much changed and where, and its screenshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagePictures {
    pub page: String,
    pub diff_ratio: Option<f64>,
    pub diff_region: Option<crate::browser::diff::Region>,
    /// The base commit's render (`browser/<page>.base.png`).
    pub base: Option<Picture>,
    /// The run's render (`browser/<page>.png`).
    pub new: Option<Picture>,
    /// The changes in red over a faded base (`browser/<page>.diff.png`).
    pub diff: Option<Picture>,
}

/// A PNG file of the proof pack, as plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    /// Its path in the run's directory (`browser/home.png`).
    pub file: String,
    /// The PNG's bytes, base64.
    pub png: String,
}

/// Why a run failed, for the cockpit's `v`: the record's reason and phase, and the smoke
/// checks that failed with the tail of their output (from `smoke.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureSummary {
    pub phase: Phase,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub failed_checks: Vec<crate::proof::smoke::CheckResult>,
}

impl FailureSummary {
    /// For a failed run: its record and the checks in its proof pack.
    pub fn of(
        run: &RunRecord,
        checks: Option<Vec<crate::proof::smoke::CheckResult>>,
    ) -> Option<Self> {
        if run.status != crate::run::Status::Failed {
            return None;
        }
        Some(Self {
            phase: run.phase,
            reason: run.reason.clone(),
            exit_code: run.exit_code,
            failed_checks: checks
                .unwrap_or_default()
                .into_iter()
                .filter(|c| !c.passed)
                .collect(),
        })
    }
}

/// Errors a client branches on: kind for programs, message for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input from the user: path, agent, base, config.
    Invalid,
    /// No run matches the id or prefix.
    UnknownRun,
    /// The prefix matches several runs.
    AmbiguousRun,
    /// The run is in a state where the action makes no sense, or would lose work.
    Refused,
    /// Something broke on the server's side.
    Internal,
}

impl ProtocolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_runs_decodes_the_fast_way_as_the_general_way_does() {
        let runs: Vec<RunSnapshot> = (0..3)
            .map(|i| {
                RunRecord::queued(
                    &format!("id{i}"),
                    "fix \"it\"\n",
                    "claude",
                    "/src/app".into(),
                    format!("/wt/id{i}").into(),
                    crate::run::WorkspaceKind::Worktree,
                )
            })
            .collect();
        let line = serde_json::to_string(&Reply::Runs { runs: runs.clone() }).unwrap();
        assert!(line.starts_with(r#"{"reply":"runs","#), "{line}");
        assert_eq!(Reply::decode(&line).unwrap(), Reply::Runs { runs });
        assert_eq!(
            Reply::decode(&line).unwrap(),
            serde_json::from_str::<Reply>(&line).unwrap()
        );
        // Anything else, and a broken list, go the general way (and its error).
        let done = serde_json::to_string(&Reply::Done {
            message: "ok".into(),
        })
        .unwrap();
        assert_eq!(
            Reply::decode(&done).unwrap(),
            Reply::Done {
                message: "ok".into()
            }
        );
        assert!(Reply::decode(r#"{"reply":"runs","runs":[{"id":1}]}"#).is_err());
    }

    #[test]
    fn a_run_request_without_a_gateway_still_reads_and_the_token_is_not_shown() {
        let older =
            r#"{"cmd":"run","task":"t","repo":"/r","agent":null,"base":null,"config":null}"#;
        match serde_json::from_str::<Command>(older).unwrap() {
            Command::Run(r) => assert_eq!(r.gateway, None),
            other => panic!("{other:?}"),
        }
        let g = HostGateway {
            url: "http://127.0.0.1:1/h/fdh-secret".into(),
            token: "fdh-secret".into(),
            providers: Default::default(),
        };
        assert!(!format!("{g:?}").contains("secret"));
        let line = serde_json::to_string(&Command::Run(RunRequest {
            task: "t".into(),
            repo: "/r".into(),
            agent: None,
            base: None,
            config: None,
            gateway: None,
            id: None,
        }))
        .unwrap();
        assert!(!line.contains("gateway"), "{line}");
    }

    #[test]
    fn commands_round_trip_as_json_lines() {
        let cmds = vec![
            Command::Run(RunRequest {
                task: "fix \"it\"\n$(rm -rf /) `x` é".into(),
                repo: "/tmp/r".into(),
                agent: Some("a".into()),
                base: None,
                config: None,
                gateway: None,
                id: None,
            }),
            Command::Retry {
                run: "abc".into(),
                phase: Some(Phase::Agent),
            },
            Command::Timeline {
                run: "abc".into(),
                follow: true,
                tail: Some(10),
            },
        ];
        for c in cmds {
            let line = serde_json::to_string(&c).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Command>(&line).unwrap(), c);
        }
        let v = serde_json::to_value(Command::Kill { run: "x".into() }).unwrap();
        assert_eq!(v["cmd"], "kill");
    }
}
