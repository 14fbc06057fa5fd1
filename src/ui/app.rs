//! Mission Control's state. Plain data: `update` changes it, `view` draws it.

use std::collections::VecDeque;
use std::path::PathBuf;

use serde_json::Value;

use crate::protocol::RunSnapshot;
use crate::run::{MergeState, Phase, Status};

use super::input::Input;
use super::keymap::Keymap;

/// Timeline lines kept for the split pane; older ones are dropped as new ones arrive.
pub const TIMELINE_KEEP: usize = 5000;
/// Lines asked for when a pane opens: read from the end of the file, never the whole of it.
pub const TIMELINE_TAIL: usize = 1000;

pub struct App {
    /// Every run the server reported, in arrival order (see `visible` for display order).
    pub runs: Vec<RunSnapshot>,
    /// The selected run's id: selection follows the run when the table re-sorts.
    pub selected: Option<String>,
    /// The last run selected: a filter that shows nothing leaves no selection, and clearing
    /// it comes back here.
    pub last_selected: Option<String>,
    pub filter: String,
    /// Cleaned runs that finished more than a day ago are shown too (`a`).
    pub show_all: bool,
    pub mode: Mode,
    pub pane: Option<Pane>,
    pub focus: Focus,
    pub status: Option<StatusLine>,
    pub connection: Connection,
    pub keymap: Keymap,
    /// Agents offered by `n`, with their labels and whether they can start here.
    pub agents: Vec<AgentChoice>,
    pub default_agent: String,
    /// Where `n` starts new runs: the current directory's repository (its top directory).
    pub repo: PathBuf,
    /// `repo` is a git repository (else a run there works on a copy of the directory).
    pub repo_is_git: bool,
    pub config: Option<PathBuf>,
    pub quit: bool,
    /// Rows of the table that fit on screen, for paging (set by the view).
    pub page: usize,
    /// Rows of the timeline pane on screen (set by the view): `g` stops with the first line at
    /// the top.
    pub pane_rows: usize,
    /// Rows of text a proof-pack overlay (`d`, `v`) shows (set by the view): what it pages by.
    pub doc_rows: usize,
    /// Columns of text inside a proof-pack overlay (set by the view): what text made for it
    /// (a failed run's summary) is wrapped to.
    pub doc_width: usize,
    /// Columns the proof-pack overlay's text is moved left by (← and →).
    pub doc_shift: usize,
    /// Lines the help overlay has at the screen's width (set by the view): where scrolling
    /// it stops.
    pub help_lines: usize,
    /// The timeline pane takes the whole width (and height) in place of the table.
    pub zoom: bool,
    /// The server's pid and how many runs it re-adopted, as last heard.
    pub server: Option<(u32, usize)>,
    /// The server we talk to is not the one we first met.
    pub server_restarted: bool,
    /// Bell and notification when a run starts to need a person (`[cockpit]` in config).
    pub alerts: crate::config::CockpitConfig,
    /// The first run list has come: later changes are news.
    pub seen_runs: bool,
    /// Timeline streams opened so far: the next one's number.
    pub streams: u64,
    /// Seconds since the cockpit opened (one a `Tick`): what status messages age by.
    pub clock: u64,
    /// The status messages said, newest last (at most `HISTORY_KEEP`).
    pub history: VecDeque<StatusLine>,
    /// Where the last frame shows URLs, for OSC 8 links (set by the view; the runtime turns
    /// them into links before the frame is written).
    pub links: Vec<super::view::link::Link>,
    /// `[forge]` is configured: `P` can open a pull request (the footer offers it).
    pub forge: bool,
    /// `/` in the open proof-pack text or the timeline pane.
    pub search: Option<super::search::Search>,
    /// The browser check's pictures `i` asked for (shown in `Mode::Pictures`).
    pub gallery: Option<super::pictures::Gallery>,
    /// The terminal's graphics, and the pictures encoded for it (used by the view).
    pub encoder: super::pictures::Encoder,
    /// The hosts of `[hosts]` followed beside this machine (none: no HOST column).
    pub hosts: Vec<super::hosts::HostLink>,
    /// Which host each remote run is on.
    pub run_hosts: super::hosts::RunHosts,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// `?`, scrolled down `scroll` lines.
    Help {
        scroll: usize,
    },
    Filter {
        input: Input,
    },
    NewRun {
        input: Input,
        agent: usize,
        /// Where the run will work (shown in the prompt).
        repo: PathBuf,
    },
    /// Before `n`'s prompt, when where to start is not plain: the current directory is not a
    /// git repository, or is not the selected run's.
    PickRepo {
        choices: Vec<RepoChoice>,
        choice: usize,
    },
    Confirm {
        action: Confirmable,
        run: String,
    },
    /// `R`: words for the run's agent, which goes again with them.
    Reply {
        run: String,
        input: Input,
    },
    Retry {
        run: String,
        choice: usize,
        /// `rebase` comes first among the choices (the run conflicts with its target, or its
        /// checks fail once merged with it).
        rebase: bool,
    },
    /// The last status messages, newest first, scrollable.
    Messages {
        scroll: usize,
    },
    /// `i`: the browser check's pictures (`App::gallery`), one page of it at a time.
    Pictures {
        run: String,
        page: usize,
    },
    /// A proof pack text, scrollable: the patch (`d`) or PR.md (`v`).
    Doc {
        kind: DocKind,
        run: String,
        lines: Vec<String>,
        scroll: usize,
    },
}

/// A place `n` can start a run in, and why it is offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoChoice {
    pub dir: PathBuf,
    pub why: String,
}

/// An agent `n` offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChoice {
    pub name: String,
    pub label: Option<String>,
    /// Why it cannot start on this machine (its program is not installed), if so.
    pub unavailable: Option<String>,
}

impl AgentChoice {
    pub fn new(name: &str, label: Option<&str>) -> Self {
        Self {
            name: name.into(),
            label: label.map(str::to_string),
            unavailable: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Patch,
    Proof,
    /// The last browser report: problems per page, diff ratios.
    Browser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmable {
    Kill,
    Clean,
    Merge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Table,
    Timeline,
}

/// The split pane: one run's timeline, tailing live.
#[derive(Debug, Clone, PartialEq)]
pub struct Pane {
    pub run: String,
    pub lines: VecDeque<Value>,
    /// At the bottom, showing new lines as they come.
    pub follow: bool,
    /// Shown lines scrolled up from the bottom (0 in follow mode).
    pub scroll: usize,
    /// The stream ended (run finished or server gone).
    pub ended: bool,
    /// Only what the agent said (`agent.output`, `agent.message`).
    pub output_only: bool,
    /// Which stream feeds this pane: lines from an older stream (one aborted when the pane
    /// closed or moved, still queued) are dropped.
    pub stream: u64,
    /// The run's attempt when the stream opened: a retry means a new stream.
    pub attempt: u32,
}

/// Timeline types that are the agent's own words.
pub fn is_agent_output(line: &Value) -> bool {
    use crate::proof::kind::{self, TimelineKind};
    matches!(
        kind::of(line),
        Some(TimelineKind::AgentOutput | TimelineKind::AgentMessage)
    )
}

impl Pane {
    pub fn new(run: String) -> Self {
        Self {
            run,
            lines: VecDeque::new(),
            follow: true,
            scroll: 0,
            ended: false,
            output_only: false,
            stream: 0,
            attempt: 0,
        }
    }

    fn shows(&self, line: &Value) -> bool {
        !self.output_only || is_agent_output(line)
    }

    /// The lines on view, oldest first (all, or the agent's output only).
    pub fn shown(&self) -> Vec<&Value> {
        self.lines.iter().filter(|l| self.shows(l)).collect()
    }

    pub fn push(&mut self, lines: Vec<Value>) {
        // Coalesced output shows one row per line of text.
        let lines: Vec<Value> = lines
            .into_iter()
            .flat_map(crate::proof::timeline::rows)
            .collect();
        let added = lines.iter().filter(|l| self.shows(l)).count();
        self.lines.extend(lines);
        while self.lines.len() > TIMELINE_KEEP {
            self.lines.pop_front();
        }
        if !self.follow {
            // Keep the same lines in view while new ones arrive below.
            let max = self.shown().len().saturating_sub(1);
            self.scroll = (self.scroll + added).min(max);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    pub text: String,
    pub error: bool,
    /// When it was said, in seconds of the cockpit's clock (`App::clock`).
    pub at: u64,
}

impl StatusLine {
    /// How long it stays in the footer: errors a little longer than news.
    pub fn lasts(&self) -> u64 {
        if self.error {
            STATUS_ERROR_SECS
        } else {
            STATUS_SECS
        }
    }
}

/// Seconds a status message stays in the footer (`M` shows the ones gone).
pub const STATUS_SECS: u64 = 5;
pub const STATUS_ERROR_SECS: u64 = 10;
/// Status messages kept for `M`.
pub const HISTORY_KEEP: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Connecting,
    Connected,
    Lost(String),
}

/// The phases `r` offers, in order.
pub const RETRY_PHASES: [Phase; 4] = [Phase::Prepare, Phase::Agent, Phase::Smoke, Phase::Proof];

impl App {
    pub fn new(repo: PathBuf, config: Option<PathBuf>) -> Self {
        Self {
            runs: Vec::new(),
            selected: None,
            last_selected: None,
            filter: String::new(),
            show_all: false,
            mode: Mode::Normal,
            pane: None,
            focus: Focus::Table,
            status: None,
            connection: Connection::Connecting,
            keymap: Keymap::default(),
            agents: Vec::new(),
            default_agent: String::new(),
            repo,
            repo_is_git: true,
            config,
            quit: false,
            server: None,
            server_restarted: false,
            page: 10,
            pane_rows: 10,
            doc_rows: 10,
            doc_width: crate::ui::failure::WRAP,
            doc_shift: 0,
            help_lines: 0,
            zoom: false,
            alerts: crate::config::CockpitConfig::default(),
            seen_runs: false,
            streams: 0,
            clock: 0,
            history: VecDeque::new(),
            links: Vec::new(),
            forge: false,
            search: None,
            gallery: None,
            encoder: super::pictures::Encoder::halfblocks(),
            hosts: Vec::new(),
            run_hosts: Default::default(),
        }
    }

    /// Runs in display order, filtered: those that need a person first, then active ones,
    /// queued ones in the order they start, then the rest (see `attention::order`).
    pub fn visible(&self) -> Vec<&RunSnapshot> {
        let needle = self.filter.to_lowercase();
        let mut v: Vec<&RunSnapshot> = self
            .runs
            .iter()
            .filter(|r| self.show_all || !r.is_stale_cleaned())
            .filter(|r| needle.is_empty() || matches_filter(r, self.host_of(&r.id), &needle))
            .collect();
        v.sort_by(|a, b| super::attention::order(a, b));
        v
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_deref()?;
        self.visible().iter().position(|r| r.id == id)
    }

    pub fn selected_run(&self) -> Option<&RunSnapshot> {
        let id = self.selected.as_deref()?;
        self.runs.iter().find(|r| r.id == id)
    }

    /// Keep a selection that is visible: the same run if it still is, else the run selected
    /// before a filter hid every row, else the first row.
    pub fn fix_selection(&mut self) {
        let visible = self.visible();
        let shown = |id: &Option<String>| {
            id.as_deref()
                .is_some_and(|id| visible.iter().any(|r| r.id == id))
        };
        if !shown(&self.selected) {
            let back = self.selected.is_none() && shown(&self.last_selected);
            self.selected = if back {
                self.last_selected.clone()
            } else {
                visible.first().map(|r| r.id.clone())
            };
        }
        if self.selected.is_some() {
            self.last_selected = self.selected.clone();
        }
    }

    pub fn select_index(&mut self, i: usize) {
        let id = {
            let visible = self.visible();
            if visible.is_empty() {
                None
            } else {
                Some(visible[i.min(visible.len() - 1)].id.clone())
            }
        };
        if id.is_some() {
            self.last_selected = id.clone();
        }
        self.selected = id;
    }

    pub fn upsert(&mut self, run: RunSnapshot) {
        match self.runs.iter_mut().find(|r| r.id == run.id) {
            Some(slot) => *slot = run,
            None => self.runs.push(run),
        }
    }

    pub fn has_active(&self) -> bool {
        self.runs
            .iter()
            .any(|r| matches!(r.status, Status::Running | Status::Queued | Status::Paused))
    }

    /// Say something in the status line. Advice written for the command line (the server's
    /// `flightdeck retry RUN`, `--phase`, ...) is said with keys.
    pub fn say(&mut self, text: impl Into<String>) {
        self.tell(text.into(), false);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.tell(text.into(), true);
    }

    fn tell(&mut self, text: String, error: bool) {
        self.status = Some(self.remember(text, error));
    }

    /// Keep a message in `M`'s history only (news of a run, not an answer to a key).
    pub fn remember(&mut self, text: String, error: bool) -> StatusLine {
        let line = StatusLine {
            // Keys act on the selected run: only advice about it (or no run) becomes keys.
            text: crate::advice::for_keys(&text, self.selected.as_deref()),
            error,
            at: self.clock,
        };
        self.history.push_back(line.clone());
        while self.history.len() > HISTORY_KEEP {
            self.history.pop_front();
        }
        line
    }

    /// One second more: a status message that has been shown long enough goes (it stays in
    /// the history). True when it went.
    pub fn tick(&mut self) -> bool {
        self.clock += 1;
        let expired = self
            .status
            .as_ref()
            .is_some_and(|s| self.clock.saturating_sub(s.at) >= s.lasts());
        if expired {
            self.status = None;
        }
        expired
    }
}

/// What `/` searches: the words of every column the table shows (id, task, agent, status,
/// phase, merge state, the REASON text, the PR cell, the host), the pause reason and the
/// repository.
fn matches_filter(r: &RunSnapshot, host: &str, needle: &str) -> bool {
    let reason = super::attention::reason(r).unwrap_or_default();
    let pr = r.pr.as_ref().map(|p| p.cell()).unwrap_or_default();
    let repo = r.repo.to_string_lossy();
    [
        r.id.as_str(),
        r.task.as_str(),
        r.agent.as_str(),
        r.status.as_str(),
        r.phase.as_str(),
        r.merge.as_str(),
        r.pause_reason.as_deref().unwrap_or(""),
        reason.as_str(),
        pr.as_str(),
        &repo,
        host,
    ]
    .iter()
    .any(|f| f.to_lowercase().contains(needle))
}

/// What `r` offers: `rebase` first (None) when the run's trouble is its target having moved,
/// then the phases a retry may start from.
pub fn retry_choices(rebase: bool) -> Vec<Option<Phase>> {
    let phases = RETRY_PHASES.iter().copied().map(Some);
    if rebase {
        std::iter::once(None).chain(phases).collect()
    } else {
        phases.collect()
    }
}

/// Whether `r` offers `rebase` first for this run: it conflicts with its target, or the merge
/// queue refused it because its checks fail once merged.
pub fn rebase_first(r: &RunSnapshot) -> bool {
    r.status == Status::Succeeded
        && (r.merge == MergeState::Conflict
            || (r.merge == MergeState::Blocked && r.fails_once_merged))
}

/// The choice `r` proposes: rebase when it comes first, else the phase the run stopped in, or
/// agent for a finished run, or for one whose checks failed with their output waiting for the
/// agent (checking the same work again would fail again).
pub fn default_retry_phase(r: &RunSnapshot) -> usize {
    if rebase_first(r) {
        return 0;
    }
    let phase = match r.status {
        Status::Succeeded => Phase::Agent,
        Status::Failed if crate::proof::smoke::agent_may_fix(r.reason.as_deref()) => Phase::Agent,
        _ => r.phase,
    };
    RETRY_PHASES.iter().position(|p| *p == phase).unwrap_or(1)
}
