//! Landing through the forge, the job's side: ask the forge whether it would merge the pull
//! request now, then test the merged result as the merge queue does (the run's branch merged
//! onto the target's tip on the forge, `[setup]` and the required checks in the run's scratch
//! worktree), and only then call the forge's merge API at the commit that was tested. One
//! landing at a time per repository and target, as in the queue.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::forge::ForgeConfig;
use crate::config::Config;
use crate::fields;
use crate::forge::deliver::Forges;
use crate::forge::{push, Forge};
use crate::proof::kind::TimelineKind;
use crate::run::{Phase, PrChecks, PrReview, PrState, PullRequest, RunRecord};
use crate::workspace::{scratch, WorkspaceError};

use super::context::RunCtx;
use super::merge_queue::{candidate_for, Ports};
use super::merge_test::test_candidate;
use super::phases::blocking;
use super::submit::ConfigSource;

/// Why a landing through the forge did not happen, by who refused.
#[derive(Debug, Clone)]
pub(super) enum Refusal {
    /// The forge would not merge it now (draft, checks, review, protection, an API error).
    Forge(String),
    /// flightdeck's merge queue: the merged result fails the required checks, or the branch
    /// holds commits the checks did not run on.
    Queue(String),
    /// The run's branch conflicts with the target's tip on the forge, in these files.
    Conflict(Vec<String>),
    /// Anything else (the remote cannot be read, the config cannot be): the gate stays.
    Other(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Forge(why) => write!(f, "the forge refuses: {why}"),
            Refusal::Queue(why) => write!(f, "flightdeck's merge queue refuses: {why}"),
            Refusal::Conflict(files) => write!(
                f,
                "flightdeck's merge queue refuses: merging into the forge's target would conflict in {}",
                files.join(", ")
            ),
            Refusal::Other(why) => f.write_str(why),
        }
    }
}

/// What one landing needs.
pub(super) struct LandJob {
    pub forges: Forges,
    pub cfg: ForgeConfig,
    pub pr: PullRequest,
    pub title: String,
    pub squash: bool,
    pub record: RunRecord,
    pub ctx: Arc<RunCtx>,
    /// The run's config; None: read again from its repository.
    pub config: Option<Arc<Config>>,
    pub config_source: ConfigSource,
    pub ports: Ports,
    /// Held for the whole landing: one at a time per repository and target.
    pub lane: Arc<tokio::sync::Mutex<()>>,
}

/// How many times the target may move on the forge under a test before giving up.
const RETESTS: usize = 3;

pub(super) async fn land(job: LandJob) -> Result<Option<String>, Refusal> {
    let (forges, cfg, repo) = (job.forges.clone(), job.cfg.clone(), job.pr.repo.clone());
    let forge = tokio::task::spawn_blocking(move || forges.get(&cfg, &repo))
        .await
        .map_err(|e| Refusal::Other(e.to_string()))?
        .map_err(|e| Refusal::Other(e.to_string()))?;
    let now = forge_verdict(&forge, &job.pr).await?;
    let _turn = job.lane.lock().await;
    let config = match job.config.clone() {
        Some(c) => c,
        None => {
            let (source, repo, explicit) = (
                job.config_source.clone(),
                job.record.repo.clone(),
                job.record.config_file.clone(),
            );
            Arc::new(
                blocking(move || source.load(Some(repo), explicit).map_err(|e| e.message))
                    .await
                    .map_err(|e| Refusal::Other(format!("cannot read the run's config: {e}")))?,
            )
        }
    };
    let tested = test_merged(&job, &config).await?;
    let head = tested.unwrap_or(now.head);
    forge
        .merge(now.number, &head, &job.title, job.squash)
        .await
        .map_err(|e| Refusal::Forge(e.to_string()))
}

/// The forge's view, asked now: Err unless it would merge the pull request.
async fn forge_verdict(forge: &Forge, pr: &PullRequest) -> Result<PullRequest, Refusal> {
    let refuse = |why: String| Err(Refusal::Forge(why));
    let now = match forge.poll_all(&[pr.number]).await {
        Ok(mut p) => match (p.seen.pop(), p.errors.pop()) {
            (Some(s), _) => s.pr,
            (None, Some((_, e))) => return refuse(e.to_string()),
            (None, None) => return refuse(format!("the forge no longer has #{}", pr.number)),
        },
        Err(e) => return refuse(e.to_string()),
    };
    let n = now.number;
    match (now.state, now.checks, now.review) {
        (PrState::Merged | PrState::Closed, _, _) => refuse(format!("#{n} is {}", now.state)),
        (PrState::Draft, _, _) => refuse(format!(
            "#{n} is a draft; mark it ready for review on the forge"
        )),
        (_, PrChecks::Failing, _) => {
            let names: Vec<&str> = now.failing.iter().map(|f| f.by.as_str()).collect();
            refuse(format!("checks fail on #{n} ({})", names.join(", ")))
        }
        (_, PrChecks::Pending, _) => refuse(format!(
            "checks on #{n} are still running; merge again once they pass"
        )),
        (_, _, PrReview::ChangesRequested) => {
            refuse(format!("a reviewer requested changes on #{n}"))
        }
        _ => match forge.mergeable(n).await {
            Ok(Ok(())) => Ok(now),
            Ok(Err(why)) => refuse(why),
            Err(e) => refuse(e.to_string()),
        },
    }
}

/// The merge queue's test on the forge's target: the run's branch merged onto the target's
/// tip there (fetched), through `[setup]` and the required checks; tested again while the
/// target moves under it. The run's tested tip (None: the branch has none recorded).
async fn test_merged(job: &LandJob, config: &Arc<Config>) -> Result<Option<String>, Refusal> {
    let r = &job.record;
    let target = r.target.clone().unwrap_or_default();
    let remote = job.cfg.remote.clone();
    // git never sees the token's variable.
    let token_var = job.cfg.token_var().to_string();
    for _ in 0..RETESTS {
        let (repo, rem, t, var) = (
            r.repo.clone(),
            remote.clone(),
            target.clone(),
            token_var.clone(),
        );
        let parent =
            blocking(move || push::fetch(&repo, &rem, &t, &[&var]).map_err(|e| e.to_string()))
                .await
                .map_err(Refusal::Other)?;
        let cand = candidate_for(&r.repo, &parent, r, config.gate.merge_style)
            .await
            .map_err(|e| match e {
                WorkspaceError::Conflict(files) => Refusal::Conflict(files),
                WorkspaceError::Unchecked(m) => Refusal::Queue(m),
                other => Refusal::Other(other.to_string()),
            })?;
        job.ctx.emit(
            Phase::Deliver,
            TimelineKind::MergeTesting,
            fields! {
                "message" => format!("testing {} merged into {target} as on the forge ({remote}) as {}", r.branch, short(&cand.commit)),
                "commit" => cand.commit, "parent" => cand.parent, "target" => target.clone(), "forge" => true,
            },
        );
        let cancel = AtomicBool::new(false);
        let tested = test_candidate(&job.ctx, r.clone(), config, &cand, &cancel, &job.ports).await;
        let (repo, wt, id) = (r.repo.clone(), r.worktree.clone(), r.id.clone());
        let _ = blocking(move || {
            if let Some(dir) = scratch::dir_for(&wt, &id) {
                scratch::remove(&repo, &dir, &id);
            }
            Ok::<(), String>(())
        })
        .await;
        if !tested.passed {
            return Err(Refusal::Queue(tested.why));
        }
        let (repo, rem, t, var) = (
            r.repo.clone(),
            remote.clone(),
            target.clone(),
            token_var.clone(),
        );
        let tip = blocking(move || {
            push::remote_head(&repo, &rem, &t, &[&var]).map_err(|e| e.to_string())
        })
        .await
        .map_err(Refusal::Other)?;
        if tip.as_deref() == Some(parent.as_str()) {
            return Ok(r.checked_commit.clone());
        }
        job.ctx.emit(
            Phase::Deliver,
            TimelineKind::MergeRetest,
            fields! {
                "message" => format!("{target} moved on the forge while {} was tested; testing again on it", short(&cand.commit)),
                "was" => parent,
            },
        );
    }
    Err(Refusal::Other(format!(
        "{target} kept moving on the forge while the merged result was tested ({RETESTS} times); merge again"
    )))
}

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}
