//! Landing through the forge: `merge` on a run with an open pull request goes through the
//! forge's merge API, once flightdeck's gate and the forge (asked at that moment) both agree.

use tokio::sync::oneshot;

use crate::config::forge::ForgeConfig;
use crate::fields;
use crate::forge::deliver::Forges;
use crate::proof::kind::TimelineKind;
use crate::protocol::ProtocolError;
use crate::run::{Phase, PrChecks, PrReview, PrState};

use super::forge_link::{title_of, ForgeMsg};
use super::merge_gate::GateInput;
use super::{Answer, Internal, Supervisor};

impl Supervisor {
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

    pub(super) fn landed_on_forge(
        &mut self,
        id: &str,
        result: Result<Option<String>, String>,
        reply: oneshot::Sender<Answer>,
    ) {
        let Some(e) = self.runs.get(id) else { return };
        match result {
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
                self.answer(reply, Ok(self.run_reply(id)));
            }
            Err(why) => {
                e.ctx.emit(
                    Phase::Deliver,
                    TimelineKind::MergeRefused,
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
