//! Landing through the forge: `merge` (and `gate.auto_merge`) on a run with an open pull
//! request goes through the forge's merge API, once flightdeck's gate is green, the forge
//! (asked at that moment) would merge it, and flightdeck's merge queue has tested the merged
//! result (forge_land.rs does the asking, the test and the merge, as a job).

use tokio::sync::oneshot;

use crate::fields;
use crate::proof::kind::TimelineKind;
use crate::protocol::ProtocolError;
use crate::run::{MergeState, Phase, PrChecks, PrReview, PrState, Status};

use super::forge_land::{self, LandJob, Refusal};
use super::forge_link::{title_of, ForgeMsg};
use super::merge_gate::GateInput;
use super::{Answer, Internal, Supervisor};

impl Supervisor {
    /// `merge` with `[forge]` and an open PR (`reply`), or auto-merge (None): lands through
    /// the forge's merge API once flightdeck's gate is green, the forge, asked now, has the PR
    /// mergeable with its checks passing and no change requested, and the merged result passes
    /// the merge queue's test.
    pub(super) fn merge_on_forge(&mut self, id: &str, reply: Option<oneshot::Sender<Answer>>) {
        let refuse = |reply: Option<oneshot::Sender<Answer>>, e: ProtocolError| {
            if let Some(r) = reply {
                let _ = r.send(Err(e));
            }
        };
        let (Some(cfg), Some(e)) = (self.forge_config(id), self.runs.get(id)) else {
            return refuse(reply, ProtocolError::internal("no forge"));
        };
        let Some(pr) = e.record.pr.clone() else {
            return refuse(reply, ProtocolError::internal("no pull request"));
        };
        if self.forge.landing.contains(id) {
            return refuse(
                reply,
                ProtocolError::refused(format!(
                    "run {id} is being landed through the forge already; `flightdeck show {id}` says how far"
                )),
            );
        }
        if let Some(why) = self.merge_refusal(id) {
            return refuse(
                reply,
                ProtocolError::refused(format!(
                    "not merging run {id}: flightdeck's gate refuses: {why}"
                )),
            );
        }
        let Some(lane_key) = super::merge_queue::lane_key(&e.record) else {
            return refuse(
                reply,
                ProtocolError::refused(format!("run {id} has no target branch; set gate.target")),
            );
        };
        let squash = e
            .config
            .as_ref()
            .map_or(self.global.gate.merge_style, |c| c.gate.merge_style)
            == crate::config::MergeStyle::Squash;
        let lane = self.forge.lanes.entry(lane_key).or_default().clone();
        let job = LandJob {
            forges: self.forge.forges.clone(),
            cfg,
            pr,
            title: title_of(&e.record.task),
            squash,
            record: e.record.clone(),
            ctx: e.ctx.clone(),
            config: e.config.clone(),
            config_source: self.config_source.clone(),
            ports: self.ports.clone(),
            lane,
        };
        e.ctx.emit(
            Phase::Deliver,
            TimelineKind::MergeQueued,
            fields! {"message" => format!(
                "landing through {} #{}: asking the forge, then testing the merged result",
                job.pr.forge.pr_word(), job.pr.number
            ), "forge" => true},
        );
        self.forge.landing.insert(id.to_string());
        self.gate(id, GateInput::Queued);
        self.persist(id);
        let run = id.to_string();
        self.jobs.task(forge_land::land(job), move |result| {
            let result = result.unwrap_or_else(|e| Err(Refusal::Other(e.to_string())));
            Internal::Forge(Box::new(ForgeMsg::Landed { run, result, reply })).into()
        });
    }

    pub(super) fn landed_on_forge(
        &mut self,
        id: &str,
        result: Result<Option<String>, Refusal>,
        reply: Option<oneshot::Sender<Answer>>,
    ) {
        self.forge.landing.remove(id);
        let Some(e) = self.runs.get(id) else { return };
        let answer = match result {
            Ok(commit) => {
                let Some(pr) = e.record.pr.as_ref() else {
                    return;
                };
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::PrMerged,
                    fields! {"commit" => commit, "message" => format!("#{} merged through the forge", pr.number)},
                );
                let commit = commit.unwrap_or_else(|| pr.head.clone());
                self.gate(id, GateInput::Merged { commit });
                self.persist(id);
                self.refresh_pr(id);
                Ok(self.run_reply(id))
            }
            Err(why) => {
                let message = why.to_string();
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::MergeRefused,
                    fields! {"message" => message.clone()},
                );
                // The queue's refusals block the run as in the local queue; the forge's leave
                // it ready (to be merged again, or auto-merged once the forge agrees).
                let input = match why {
                    Refusal::Queue(msg) => GateInput::Refused(msg),
                    Refusal::Conflict(files) => GateInput::MergeConflict {
                        target: e.record.target.clone().unwrap_or_default(),
                        files,
                    },
                    Refusal::Forge(_) | Refusal::Other(_) => GateInput::Dequeued,
                };
                self.gate(id, input);
                self.refusals.insert(id.to_string(), message.clone());
                self.persist(id);
                self.refresh_pr(id);
                Err(ProtocolError::refused(format!(
                    "not merging run {id}: {message}"
                )))
            }
        };
        if let Some(reply) = reply {
            self.answer(reply, answer);
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

    /// `gate.auto_merge` with `[forge]`: a green run whose PR the forge reports open, its
    /// checks passing (or none) and no change requested is landed through the forge, tried
    /// again only when the PR changed (a refusal by the forge, e.g. a missing approval, waits
    /// for the next change).
    pub(super) fn maybe_auto_merge_forge(&mut self, id: &str) {
        let Some(e) = self.runs.get(id) else { return };
        let auto = e.config.as_ref().is_some_and(|c| c.gate.auto_merge);
        let Some(pr) = e.record.pr.as_ref() else {
            return;
        };
        let r = &e.record;
        let looks_ready = pr.state == PrState::Open
            && matches!(pr.checks, PrChecks::Passing | PrChecks::None)
            && pr.review != PrReview::ChangesRequested
            && pr.mergeable != Some(false);
        if !auto
            || !looks_ready
            || r.status != Status::Succeeded
            || r.merge != MergeState::Ready
            || e.control.busy
            || self.forge.landing.contains(id)
            || !self.lands_on_forge(id)
        {
            return;
        }
        let seen = format!(
            "{}:{}:{}:{}:{:?}",
            pr.head, pr.state, pr.checks, pr.review, pr.mergeable
        );
        if self.forge.auto_tried.get(id) == Some(&seen) {
            return;
        }
        self.forge.auto_tried.insert(id.to_string(), seen);
        self.merge_on_forge(id, None);
    }
}
