//! The runs' pull requests: open or update one (on a green gate, a success, or request), poll
//! their state, send failing checks and change requests back to the agent, and land through
//! the forge. The forge work runs as jobs; what it found comes back here and goes through the
//! run's machine.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::config::forge::{ForgeConfig, OpenWhen};
use crate::fields;
use crate::forge::deliver::{self, Delivered, Forges};
use crate::forge::{ForgeError, Opened, Polled, Seen};
use crate::proof::kind::TimelineKind;
use crate::protocol::ProtocolError;
use crate::run::{MergeState, Phase, PrState, Status};

use super::merge_gate::GateInput;
use super::{Answer, Internal, Supervisor};

/// Where the agent finds what the pull request said (consumed by the agent phase).
pub const FEEDBACK: &str = "forge/feedback.md";

/// The supervisor's side of the forge.
#[derive(Default)]
pub(super) struct ForgeLink {
    pub forges: Forges,
    /// Runs with a delivery under way (one at a time per run), and those asked again meanwhile.
    busy: HashSet<String>,
    again: HashSet<String>,
    /// Per forge repository: a poll under way, and when the last one started.
    polling: HashSet<(String, String)>,
    polled: HashMap<(String, String), Instant>,
    /// `pr` callers waiting on a delivery.
    waiting: HashMap<String, Vec<oneshot::Sender<Answer>>>,
    /// Runs (and attempts) whose PR was opened or tried by itself: a failure is not tried
    /// again every tick (`flightdeck pr` tries it again).
    opened: HashSet<(String, u32)>,
    /// Runs (and attempts) whose draft PR was marked ready for review, or tried.
    readied: HashSet<(String, u32)>,
    /// Runs being landed through the forge (its verdict, the queue's test, the merge).
    pub(super) landing: HashSet<String>,
    /// Per repository and target: one landing through the forge at a time, as in the queue.
    pub(super) lanes: HashMap<(std::path::PathBuf, String), std::sync::Arc<tokio::sync::Mutex<()>>>,
    /// Per run, the PR as auto-merge last tried it: tried again only once it changed.
    pub(super) auto_tried: HashMap<String, String>,
    /// Runs and the PR failure or review they were not sent round with (max_feedback
    /// reached), said once each.
    pub(super) capped: HashSet<(String, String)>,
}

pub(super) enum ForgeMsg {
    Delivered {
        run: String,
        result: Box<Result<Delivered, ForgeError>>,
    },
    Polled {
        key: (String, String),
        result: Result<Polled, ForgeError>,
    },
    Landed {
        run: String,
        result: Result<Option<String>, super::forge_land::Refusal>,
        reply: Option<oneshot::Sender<Answer>>,
    },
    FeedbackWritten {
        run: String,
        answered: Option<String>,
        result: Result<(), String>,
    },
}

impl Supervisor {
    /// The run's `[forge]`, if it has one.
    pub(super) fn forge_config(&self, id: &str) -> Option<ForgeConfig> {
        let e = self.runs.get(id)?;
        e.config
            .as_ref()
            .and_then(|c| c.forge.clone())
            .or_else(|| self.global.forge.clone())
    }

    /// After deliver: open the PR when `[forge] open` says now, or update the one it has.
    pub(super) fn after_deliver_forge(&mut self, id: &str) {
        let Some(cfg) = self.forge_config(id) else {
            return;
        };
        let Some(e) = self.runs.get(id) else { return };
        let r = &e.record;
        let has_pr = r.pr.as_ref().is_some_and(|p| !p.settled());
        let now = has_pr
            || match cfg.open {
                OpenWhen::Ready => r.merge == MergeState::Ready,
                OpenWhen::Succeeded => r.status == Status::Succeeded,
                OpenWhen::Manual => false,
            };
        if now && r.status == Status::Succeeded {
            self.forge.opened.insert((id.to_string(), r.attempt));
            self.deliver_pr(id, None);
        }
    }

    /// With `open = "ready"`: a run that turned green after its deliver (the radar cleared its
    /// conflict, a reopened PR) gets its PR now.
    fn open_newly_ready(&mut self) {
        let due: Vec<String> = self
            .runs
            .iter()
            .filter(|(id, e)| {
                let r = &e.record;
                r.status == Status::Succeeded
                    && r.merge == MergeState::Ready
                    && r.pr.is_none()
                    && !r.cleaned
                    && !self.forge.opened.contains(&(id.to_string(), r.attempt))
                    // Only runs this server started or retried: adding [forge] does not open
                    // pull requests for every older run.
                    && e
                        .config
                        .as_ref()
                        .and_then(|c| c.forge.as_ref())
                        .is_some_and(|c| c.open == OpenWhen::Ready)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.after_deliver_forge(&id);
        }
        // With `open = "succeeded"`: a draft whose run turned green since is marked ready.
        let drafts: Vec<(String, u32)> = self
            .runs
            .iter()
            .filter(|(id, e)| {
                let r = &e.record;
                r.status == Status::Succeeded
                    && r.merge == MergeState::Ready
                    && !r.cleaned
                    && r.pr.as_ref().is_some_and(|p| p.state == PrState::Draft)
                    && !self.forge.readied.contains(&(id.to_string(), r.attempt))
                    && !self.forge.busy.contains(*id)
                    && e.config
                        .as_ref()
                        .and_then(|c| c.forge.as_ref())
                        .is_some_and(|c| c.open == OpenWhen::Succeeded && !c.draft)
            })
            .map(|(id, e)| (id.clone(), e.record.attempt))
            .collect();
        for (id, attempt) in drafts {
            self.forge.readied.insert((id.clone(), attempt));
            self.deliver_pr(&id, None);
        }
    }

    /// `flightdeck pr RUN`: push and open or update, answered with the record.
    pub(super) fn pr_command(&mut self, run: &str, reply: oneshot::Sender<Answer>) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        if self.forge_config(&id).is_none() {
            return drop(reply.send(Err(ProtocolError::refused(
                "no [forge] in your config: add one (kind, api_url, token_env, remote; see config.example.toml) to open pull requests",
            ))));
        }
        let r = &self.runs[&id].record;
        if r.status != Status::Succeeded || r.cleaned {
            return drop(reply.send(Err(ProtocolError::refused(format!(
                "run {id} has nothing to open a pull request with: it is {}{}",
                r.status,
                if r.cleaned { " and cleaned" } else { "" }
            )))));
        }
        if r.target.is_none() {
            return drop(reply.send(Err(ProtocolError::refused(format!(
                "run {id} has no target branch for a pull request; set gate.target"
            )))));
        }
        self.deliver_pr(&id, Some(reply));
    }

    fn deliver_pr(&mut self, id: &str, reply: Option<oneshot::Sender<Answer>>) {
        if let Some(reply) = reply {
            self.forge
                .waiting
                .entry(id.to_string())
                .or_default()
                .push(reply);
        }
        let (Some(cfg), Some(e)) = (self.forge_config(id), self.runs.get(id)) else {
            return;
        };
        if !self.forge.busy.insert(id.to_string()) {
            self.forge.again.insert(id.to_string());
            return;
        }
        let r = &e.record;
        let job = deliver::Job {
            run_id: r.id.clone(),
            repo_dir: r.repo.clone(),
            branch: r.branch.clone(),
            target: r.target.clone().unwrap_or_default(),
            title: title_of(&r.task),
            pr_md: e.ctx.dir.join("PR.md"),
            // `open = "succeeded"` opens a draft while the gate is not green; once it is, the
            // next delivery marks it ready for review (`draft` keeps it a draft).
            draft: cfg.draft || (cfg.open == OpenWhen::Succeeded && r.merge != MergeState::Ready),
            known_repo: r
                .pr
                .as_ref()
                .map(|p| p.repo.clone())
                .filter(|s| !s.is_empty()),
            known_head: r
                .pr
                .as_ref()
                .filter(|p| !p.settled())
                .map(|p| p.pushed.clone().unwrap_or_else(|| p.head.clone())),
            cfg,
        };
        let run = id.to_string();
        self.jobs.task(
            deliver::deliver(job, self.forge.forges.clone()),
            move |result| {
                let result = result.unwrap_or_else(|e| Err(ForgeError::Push(e.to_string())));
                Internal::Forge(Box::new(ForgeMsg::Delivered {
                    run,
                    result: Box::new(result),
                }))
                .into()
            },
        );
    }

    pub(super) fn on_forge(&mut self, msg: ForgeMsg) {
        match msg {
            ForgeMsg::Delivered { run, result } => self.delivered(&run, *result),
            ForgeMsg::Polled { key, result } => self.polled(key, result),
            ForgeMsg::Landed { run, result, reply } => self.landed_on_forge(&run, result, reply),
            ForgeMsg::FeedbackWritten {
                run,
                answered,
                result,
            } => self.feedback_written(&run, answered, result),
        }
    }

    fn delivered(&mut self, id: &str, result: Result<Delivered, ForgeError>) {
        self.forge.busy.remove(id);
        let waiting = self.forge.waiting.remove(id).unwrap_or_default();
        let Some(e) = self.runs.get(id) else { return };
        let answer = match result {
            Ok(d) => {
                if let Some(head) = &d.pushed {
                    e.ctx.emit(
                        Phase::Deliver,
                        TimelineKind::PrPushed,
                        fields! {"remote" => d.remote, "branch" => e.record.branch, "head" => head,
                        "message" => format!("pushed {} to {}", e.record.branch, d.remote)},
                    );
                }
                let (kind, verb) = match d.how {
                    Opened::Created => (TimelineKind::PrOpened, "opened"),
                    Opened::Updated => (TimelineKind::PrUpdated, "updated"),
                };
                let mut pr = d.seen.pr.clone();
                pr.repo = d.repo.clone();
                // The next push's lease: the run's commit the remote has now (pushed now, or
                // found there already), never a head a poll sees later (someone else's push).
                pr.pushed = Some(d.ours.clone());
                // Opening says nothing of checks and reviews: keep what the last poll saw (the
                // checks only while the head is the same; a change request stands until the
                // reviewer says otherwise).
                if let Some(old) = &e.record.pr {
                    pr.review = old.review;
                    pr.requested = old.requested.clone();
                    if old.head == pr.head {
                        pr.checks = old.checks;
                        pr.failing = old.failing.clone();
                    }
                }
                e.ctx.emit(
                    Phase::Deliver,
                    kind,
                    fields! {"number" => pr.number, "url" => pr.url, "state" => pr.state,
                             "message" => format!("{} {} #{} {}", pr.forge.pr_word(), verb, pr.number, pr.url)},
                );
                self.gate(
                    id,
                    GateInput::PrSeen {
                        pr: Box::new(pr),
                        merge_commit: d.seen.merge_commit,
                    },
                );
                self.persist(id);
                self.maybe_auto_merge_forge(id);
                Ok(self.run_reply(id))
            }
            Err(err) => {
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::PrError,
                    fields! {"message" => err.to_string()},
                );
                Err(ProtocolError::refused(format!("run {id}: {err}")))
            }
        };
        for w in waiting {
            self.answer(w, answer.clone());
        }
        if self.forge.again.remove(id) {
            self.deliver_pr(id, None);
        }
    }

    /// On the radar's tick: poll each forge repository whose interval is up.
    pub(super) fn forge_tick(&mut self) {
        self.open_newly_ready();
        let mut groups: HashMap<(String, String), (ForgeConfig, Vec<u64>)> = HashMap::new();
        for (id, e) in &self.runs {
            let Some(pr) = e.record.pr.as_ref().filter(|p| !p.settled()) else {
                continue;
            };
            let Some(cfg) = self.forge_config(id) else {
                continue;
            };
            let key = (cfg.api(), pr.repo.clone());
            groups
                .entry(key)
                .or_insert_with(|| (cfg, Vec::new()))
                .1
                .push(pr.number);
        }
        for (key, (cfg, numbers)) in groups {
            let due = self
                .forge
                .polled
                .get(&key)
                .is_none_or(|t| t.elapsed() >= cfg.poll.0);
            if !due || !self.forge.polling.insert(key.clone()) {
                continue;
            }
            self.forge.polled.insert(key.clone(), Instant::now());
            let forges = self.forge.forges.clone();
            let k = key.clone();
            self.jobs.task(
                async move {
                    let repo = k.1.clone();
                    let forge = tokio::task::spawn_blocking(move || forges.get(&cfg, &repo))
                        .await
                        .map_err(|e| ForgeError::Network(e.to_string()))??;
                    forge.poll_all(&numbers).await
                },
                move |result| {
                    let result = result.unwrap_or_else(|e| Err(ForgeError::Network(e.to_string())));
                    Internal::Forge(Box::new(ForgeMsg::Polled { key, result })).into()
                },
            );
        }
    }

    fn polled(&mut self, key: (String, String), result: Result<Polled, ForgeError>) {
        self.forge.polling.remove(&key);
        let polled = match result {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("forge {} {}: {e}", key.0, key.1);
                // Every run waiting on that repository's poll is told (once per error).
                let why = match e {
                    ForgeError::RateLimited { .. } => {
                        "the forge's rate limit is spent; polling waits until it resets".to_string()
                    }
                    e => e.to_string(),
                };
                for id in self.runs_polled_by(&key) {
                    self.pr_error(&id, format!("cannot poll the forge: {why}"));
                }
                return;
            }
        };
        for (n, e) in polled.errors {
            if let Some(id) = self.run_of_pr(&key, n) {
                self.pr_error(
                    &id,
                    format!("the forge would not say how pull request #{n} is: {e}"),
                );
            }
        }
        for s in polled.seen {
            if let Some(id) = self.run_of_pr(&key, s.pr.number) {
                self.seen_pr(&id, s);
            }
        }
    }

    fn run_of_pr(&self, key: &(String, String), number: u64) -> Option<String> {
        self.runs.iter().find_map(|(id, e)| {
            let pr = e.record.pr.as_ref()?;
            (pr.number == number && pr.repo == key.1).then(|| id.clone())
        })
    }

    /// The runs whose open pull request that repository's poll is for.
    fn runs_polled_by(&self, key: &(String, String)) -> Vec<String> {
        self.runs
            .iter()
            .filter(|(id, e)| {
                e.record
                    .pr
                    .as_ref()
                    .is_some_and(|p| !p.settled() && p.repo == key.1)
                    && self.forge_config(id).is_some_and(|c| c.api() == key.0)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A poll could not read the run's PR: its timeline says so once per distinct error, and
    /// the record keeps it (`show`, the cockpit) until the PR is read again.
    fn pr_error(&mut self, id: &str, message: String) {
        let Some(e) = self.runs.get(id) else { return };
        let Some(pr) = e.record.pr.as_ref() else {
            return;
        };
        if pr.error.as_deref() == Some(message.as_str()) {
            return;
        }
        e.ctx.emit(
            Phase::Deliver,
            TimelineKind::PrError,
            fields! {"number" => pr.number, "message" => message.clone()},
        );
        if self.gate(id, GateInput::PrError(message)) {
            self.persist(id);
        }
    }

    fn seen_pr(&mut self, id: &str, s: Seen) {
        let Some(e) = self.runs.get(id) else { return };
        let Some(old) = e.record.pr.clone() else {
            return;
        };
        let mut pr = s.pr.clone();
        pr.repo = old.repo.clone();
        let say = |kind: TimelineKind, f: serde_json::Map<String, serde_json::Value>| {
            e.ctx.emit(Phase::Deliver, kind, f)
        };
        if pr.checks != old.checks {
            let failing: Vec<String> = pr.failing.iter().map(|n| n.by.clone()).collect();
            say(
                TimelineKind::PrChecks,
                fields! {"checks" => pr.checks, "failing" => failing, "head" => pr.head,
                "message" => format!("checks on #{} {}", pr.number, pr.checks)},
            );
        }
        if pr.review != old.review {
            say(
                TimelineKind::PrReview,
                fields! {"review" => pr.review, "message" => format!("review on #{}: {}", pr.number, pr.review)},
            );
        }
        if pr.state != old.state {
            match pr.state {
                PrState::Merged => say(
                    TimelineKind::PrMerged,
                    fields! {"commit" => s.merge_commit, "message" => format!("#{} merged on the forge", pr.number)},
                ),
                PrState::Closed => say(
                    TimelineKind::PrClosed,
                    fields! {"message" => format!("#{} closed on the forge without merging", pr.number)},
                ),
                _ => {}
            }
        }
        let changed = self.gate(
            id,
            GateInput::PrSeen {
                pr: Box::new(pr),
                merge_commit: s.merge_commit.clone(),
            },
        );
        if changed {
            self.persist(id);
        }
        self.maybe_feedback(id, &s);
        self.maybe_auto_merge_forge(id);
    }
}

/// The PR's title: the task's first line, cut to what forges show.
pub(super) fn title_of(task: &str) -> String {
    let first = task
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("flightdeck run");
    let t: String = first.trim().chars().take(120).collect();
    if first.trim().chars().count() > 120 {
        format!("{t}…")
    } else {
        t
    }
}
