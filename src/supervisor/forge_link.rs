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
use crate::forge::{ForgeError, Opened, Seen};
use crate::proof::kind::Kind;
use crate::protocol::{ProtocolError, Reply};
use crate::run::{MergeState, Phase, PrChecks, PrNote, PrReview, PrState, Status};

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
}

pub(super) enum ForgeMsg {
    Delivered {
        run: String,
        result: Box<Result<Delivered, ForgeError>>,
    },
    Polled {
        key: (String, String),
        result: Result<Vec<Seen>, ForgeError>,
    },
    Landed {
        run: String,
        result: Result<Option<String>, String>,
        reply: oneshot::Sender<Answer>,
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
            self.deliver_pr(id, None);
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
        if !self.forge.busy.insert(id.to_string()) {
            self.forge.again.insert(id.to_string());
            return;
        }
        let (Some(cfg), Some(e)) = (self.forge_config(id), self.runs.get(id)) else {
            return;
        };
        let r = &e.record;
        let job = deliver::Job {
            run_id: r.id.clone(),
            repo_dir: r.repo.clone(),
            branch: r.branch.clone(),
            target: r.target.clone().unwrap_or_default(),
            title: title_of(&r.task),
            pr_md: e.ctx.dir.join("PR.md"),
            draft: cfg.draft || cfg.open == OpenWhen::Succeeded,
            known_repo: r
                .pr
                .as_ref()
                .map(|p| p.repo.clone())
                .filter(|s| !s.is_empty()),
            known_head: r
                .pr
                .as_ref()
                .filter(|p| !p.settled())
                .map(|p| p.head.clone()),
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
                        Kind::PrPushed,
                        fields! {"remote" => d.remote, "branch" => e.record.branch, "head" => head,
                        "message" => format!("pushed {} to {}", e.record.branch, d.remote)},
                    );
                }
                let (kind, verb) = match d.how {
                    Opened::Created => (Kind::PrOpened, "opened"),
                    Opened::Updated => (Kind::PrUpdated, "updated"),
                };
                let mut pr = d.seen.pr.clone();
                pr.repo = d.repo.clone();
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
                        pr,
                        merge_commit: d.seen.merge_commit,
                    },
                );
                self.persist(id);
                Ok(self.run_reply_of(id))
            }
            Err(err) => {
                e.ctx.emit(
                    Phase::Deliver,
                    Kind::PrError,
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

    fn run_reply_of(&self, id: &str) -> Reply {
        Reply::Run {
            run: Box::new(self.runs[id].record.clone()),
        }
    }

    /// On the radar's tick: poll each forge repository whose interval is up.
    pub(super) fn forge_tick(&mut self) {
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
                    forge.poll(&numbers).await
                },
                move |result| {
                    let result = result.unwrap_or_else(|e| Err(ForgeError::Network(e.to_string())));
                    Internal::Forge(Box::new(ForgeMsg::Polled { key, result })).into()
                },
            );
        }
    }

    fn polled(&mut self, key: (String, String), result: Result<Vec<Seen>, ForgeError>) {
        self.forge.polling.remove(&key);
        let seen = match result {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("forge {} {}: {e}", key.0, key.1);
                return;
            }
        };
        for s in seen {
            let id = self.runs.iter().find_map(|(id, e)| {
                let pr = e.record.pr.as_ref()?;
                (pr.number == s.pr.number && pr.repo == key.1).then(|| id.clone())
            });
            if let Some(id) = id {
                self.seen_pr(&id, s);
            }
        }
    }

    fn seen_pr(&mut self, id: &str, s: Seen) {
        let Some(e) = self.runs.get(id) else { return };
        let Some(old) = e.record.pr.clone() else {
            return;
        };
        let mut pr = s.pr.clone();
        pr.repo = old.repo.clone();
        let say = |kind: Kind, f: serde_json::Map<String, serde_json::Value>| {
            e.ctx.emit(Phase::Deliver, kind, f)
        };
        if pr.checks != old.checks {
            let failing: Vec<String> = pr.failing.iter().map(|n| n.by.clone()).collect();
            say(
                Kind::PrChecks,
                fields! {"checks" => pr.checks, "failing" => failing, "head" => pr.head,
                "message" => format!("checks on #{} {}", pr.number, pr.checks)},
            );
        }
        if pr.review != old.review {
            say(
                Kind::PrReview,
                fields! {"review" => pr.review, "message" => format!("review on #{}: {}", pr.number, pr.review)},
            );
        }
        if pr.state != old.state {
            match pr.state {
                PrState::Merged => say(
                    Kind::PrMerged,
                    fields! {"commit" => s.merge_commit, "message" => format!("#{} merged on the forge", pr.number)},
                ),
                PrState::Closed => say(
                    Kind::PrClosed,
                    fields! {"message" => format!("#{} closed on the forge without merging", pr.number)},
                ),
                _ => {}
            }
        }
        let changed = self.gate(
            id,
            GateInput::PrSeen {
                pr,
                merge_commit: s.merge_commit.clone(),
            },
        );
        if changed {
            self.persist(id);
        }
        self.maybe_feedback(id, &s);
    }

    /// Failing checks or a change request on the PR: the agent goes round again with them,
    /// at most `max_feedback` times, each failure or review once.
    fn maybe_feedback(&mut self, id: &str, s: &Seen) {
        let Some(cfg) = self.forge_config(id) else {
            return;
        };
        let Some(e) = self.runs.get(id) else { return };
        let Some(pr) = e.record.pr.as_ref() else {
            return;
        };
        if !cfg.feedback || pr.settled() || e.record.status != Status::Succeeded || e.control.busy {
            return;
        }
        let Some(key) = crate::forge::feedback_key(s) else {
            return;
        };
        if pr.answered.as_deref() == Some(key.as_str()) || pr.feedback_rounds >= cfg.max_feedback {
            return;
        }
        let text = if s.pr.checks == PrChecks::Failing {
            prompt("The pull request's checks fail on the forge", &s.pr.failing)
        } else {
            prompt(
                "A reviewer requested changes on the pull request",
                &s.pr.requested,
            )
        };
        self.send_feedback(id, Some(key), text);
    }

    /// Write the feedback for the agent, then send it round (from the agent phase). With
    /// `answered` (a PR's failure or review), the round counts against `max_feedback` and is
    /// marked answered now, so a poll meanwhile does not send it twice.
    pub(super) fn send_feedback(&mut self, id: &str, answered: Option<String>, text: String) {
        if let Some(answered) = answered.clone() {
            self.gate(id, GateInput::PrFeedback { answered });
            self.persist(id);
        }
        let Some(e) = self.runs.get(id) else { return };
        let path = e.ctx.dir.join(FEEDBACK);
        let run = id.to_string();
        self.jobs.blocking(
            move || {
                if let Some(dir) = path.parent() {
                    crate::owner_only::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                crate::owner_only::write(&path, text.as_bytes()).map_err(|e| e.to_string())
            },
            move |result| {
                let result = result.unwrap_or_else(|e| Err(e.to_string()));
                Internal::Forge(Box::new(ForgeMsg::FeedbackWritten {
                    run,
                    answered,
                    result,
                }))
                .into()
            },
        );
    }

    fn feedback_written(&mut self, id: &str, answered: Option<String>, result: Result<(), String>) {
        let Some(e) = self.runs.get(id) else { return };
        if let Err(err) = result {
            e.ctx.emit(
                Phase::Deliver,
                Kind::PrError,
                fields! {"message" => format!("cannot write {FEEDBACK}: {err}")},
            );
            return;
        }
        let message = match (&answered, e.record.pr.as_ref()) {
            (Some(_), Some(pr)) => format!(
                "the agent goes again with what pull request #{} said (round {})",
                pr.number, pr.feedback_rounds
            ),
            _ => "the agent goes again with a person's reply".to_string(),
        };
        e.ctx.emit(
            Phase::Deliver,
            Kind::PrFeedback,
            fields! {"answers" => answered, "rounds" => e.record.pr.as_ref().map(|p| p.feedback_rounds),
                     "message" => message},
        );
        let (tx, _) = oneshot::channel();
        self.reload_config(id, move |run, config| Internal::RetryReady {
            run,
            phase: Some(Phase::Agent),
            config,
            reply: tx,
        });
    }

    /// `merge` with `[forge]` and an open PR: lands through the forge's merge API once
    /// flightdeck's gate is green and the forge, asked now, has the PR mergeable with its checks
    /// passing and no change requested.
    pub(super) fn merge_on_forge(&mut self, id: &str, reply: oneshot::Sender<Answer>) {
        let (Some(cfg), Some(e)) = (self.forge_config(id), self.runs.get(id)) else {
            return drop(reply.send(Err(ProtocolError::internal("no forge"))));
        };
        let Some(pr) = e.record.pr.clone() else {
            return drop(reply.send(Err(ProtocolError::internal("no pull request"))));
        };
        if let Some(why) = self.merge_refusal(id) {
            return drop(reply.send(Err(ProtocolError::refused(format!(
                "not merging run {id}: flightdeck's gate refuses: {why}"
            )))));
        }
        let forges = self.forge.forges.clone();
        let title = title_of(&e.record.task);
        let squash = e
            .config
            .as_ref()
            .map_or(self.global.gate.merge_style, |c| c.gate.merge_style)
            == crate::config::MergeStyle::Squash;
        let run = id.to_string();
        self.jobs
            .task(land(forges, cfg, pr, title, squash), move |result| {
                let result = result.unwrap_or_else(|e| Err(e.to_string()));
                Internal::Forge(Box::new(ForgeMsg::Landed { run, result, reply })).into()
            });
    }

    fn landed_on_forge(
        &mut self,
        id: &str,
        result: Result<Option<String>, String>,
        reply: oneshot::Sender<Answer>,
    ) {
        let Some(e) = self.runs.get(id) else { return };
        match result {
            Ok(commit) => {
                let Some(mut pr) = e.record.pr.clone() else {
                    return;
                };
                pr.state = PrState::Merged;
                e.ctx.emit(
                    Phase::Deliver,
                    Kind::PrMerged,
                    fields! {"commit" => commit, "message" => format!("#{} merged through the forge", pr.number)},
                );
                self.gate(
                    id,
                    GateInput::PrSeen {
                        pr,
                        merge_commit: commit,
                    },
                );
                self.persist(id);
                self.answer(reply, Ok(self.run_reply_of(id)));
            }
            Err(why) => {
                e.ctx.emit(
                    Phase::Deliver,
                    Kind::MergeRefused,
                    fields! {"message" => why.clone()},
                );
                self.answer(
                    reply,
                    Err(ProtocolError::refused(format!(
                        "not merging run {id}: {why}"
                    ))),
                );
            }
        }
    }

    /// Whether `merge` goes through the forge for this run.
    pub(super) fn lands_on_forge(&self, id: &str) -> bool {
        self.forge_config(id).is_some()
            && self
                .runs
                .get(id)
                .is_some_and(|e| e.record.pr.as_ref().is_some_and(|p| !p.settled()))
    }

    /// `flightdeck reply RUN TEXT`: the agent goes again with a person's words.
    pub(super) fn reply_command(
        &mut self,
        run: &str,
        text: String,
        reply: oneshot::Sender<Answer>,
    ) {
        let id = match self.resolve(run) {
            Ok(id) => id,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let e = &self.runs[&id];
        if let Err(why) = super::machine::guard(
            &e.record.state,
            &e.control,
            &super::machine::Input::Retry {
                phase: Some(Phase::Agent),
            },
        ) {
            return drop(reply.send(Err(ProtocolError::refused(format!(
                "cannot reply to run {id}: {why}"
            )))));
        }
        if text.trim().is_empty() {
            return drop(reply.send(Err(ProtocolError::refused(
                "the reply is empty; say what the agent should do, e.g. flightdeck reply RUN \"rename x to y\"",
            ))));
        }
        let body = format!("A person reviewing this run says:\n\n{}\n", text.trim());
        self.send_feedback(&id, None, body);
        self.answer(
            reply,
            Ok(Reply::Done {
                message: format!("run {id}: the agent goes again with your words"),
            }),
        );
    }
}

/// Ask the forge for the PR as it is now; merge it if the forge would, at the head it has.
async fn land(
    forges: Forges,
    cfg: ForgeConfig,
    pr: crate::run::PullRequest,
    title: String,
    squash: bool,
) -> Result<Option<String>, String> {
    let repo = pr.repo.clone();
    let forge = tokio::task::spawn_blocking(move || forges.get(&cfg, &repo))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let now = forge
        .poll(&[pr.number])
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| format!("the forge no longer has #{}", pr.number))?
        .pr;
    let n = now.number;
    let refuse = |why: String| Err(format!("the forge refuses: {why}"));
    match (now.state, now.checks, now.review) {
        (PrState::Merged | PrState::Closed, _, _) => {
            return refuse(format!("#{n} is {}", now.state))
        }
        (PrState::Draft, _, _) => {
            return refuse(format!(
                "#{n} is a draft; mark it ready for review on the forge"
            ))
        }
        (_, PrChecks::Failing, _) => {
            let names: Vec<&str> = now.failing.iter().map(|f| f.by.as_str()).collect();
            return refuse(format!("checks fail on #{n} ({})", names.join(", ")));
        }
        (_, PrChecks::Pending, _) => {
            return refuse(format!(
                "checks on #{n} are still running; merge again once they pass"
            ))
        }
        (_, _, PrReview::ChangesRequested) => {
            return refuse(format!("a reviewer requested changes on #{n}"))
        }
        _ => {}
    }
    forge
        .mergeable(n)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|why| format!("the forge refuses: {why}"))?;
    forge
        .merge(n, &now.head, &title, squash)
        .await
        .map_err(|e| e.to_string())
}

/// The PR's title: the task's first line, cut to what forges show.
fn title_of(task: &str) -> String {
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

/// The agent's next prompt from the PR's notes: each check or comment, with file and line.
fn prompt(head: &str, notes: &[PrNote]) -> String {
    let mut out = format!("{head}. Fix what they point at, in this worktree:\n");
    for n in notes {
        let at = match (&n.path, n.line) {
            (Some(p), Some(l)) => format!(" ({p}:{l})"),
            (Some(p), None) => format!(" ({p})"),
            _ => String::new(),
        };
        out.push_str(&format!("\n- {}{at}: {}\n", n.by, n.text.trim()));
    }
    out
}
