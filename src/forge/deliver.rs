//! One delivery to the forge: push the run's branch (leased), then open or update its pull
//! request with PR.md. Plain data in and out; the supervisor runs it as a job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{body, push, remote, Forge, ForgeError, OpenSpec, Opened, Seen};
use crate::config::forge::ForgeConfig;

/// The server's forge clients, one per API and repository (their ETags and rate limits live
/// as long as the server).
/// (API URL, forge repository) → its client.
type ByRepo = HashMap<(String, String), Arc<Forge>>;

#[derive(Clone, Default)]
pub struct Forges {
    by_repo: Arc<Mutex<ByRepo>>,
}

impl Forges {
    /// The client for `repo` on `cfg`'s forge, made (and its token read) the first time.
    /// Blocking: reading the token may run `gh auth token`.
    pub fn get(&self, cfg: &ForgeConfig, repo: &str) -> Result<Arc<Forge>, ForgeError> {
        let key = (cfg.api(), repo.to_string());
        if let Some(f) = self.lock().get(&key) {
            return Ok(f.clone());
        }
        let forge = Arc::new(Forge::new(cfg, repo.to_string(), super::token(cfg)?)?);
        self.lock().insert(key, forge.clone());
        Ok(forge)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ByRepo> {
        self.by_repo.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Job {
    pub run_id: String,
    /// The user's repository (where the branch lives and the remote is configured).
    pub repo_dir: PathBuf,
    pub branch: String,
    pub target: String,
    pub title: String,
    pub pr_md: PathBuf,
    pub cfg: ForgeConfig,
    /// The forge repository and head flightdeck last pushed, when it has a PR already.
    pub known_repo: Option<String>,
    pub known_head: Option<String>,
    pub draft: bool,
}

pub struct Delivered {
    pub seen: Seen,
    pub how: Opened,
    /// The forge repository (`owner/name`).
    pub repo: String,
    pub remote: String,
    /// The commit pushed, when the push moved the remote's branch.
    pub pushed: Option<String>,
    /// The run's commit the remote's branch is at now (pushed now or before): the lease of the
    /// next push.
    pub ours: String,
}

/// Where the branch goes and what it holds: blocking (git, the token).
struct Prepared {
    forge: Arc<Forge>,
    repo: String,
    pushed: Option<String>,
    ours: String,
    body: String,
}

fn prepare(job: &Job, forges: &Forges) -> Result<Prepared, ForgeError> {
    let hide = [job.cfg.token_var()];
    let url = push::remote_url(&job.repo_dir, &job.cfg.remote, &hide)?;
    let parsed = remote::host_and_path(&url);
    let repo = match (&job.known_repo, job.cfg.repo.trim(), &parsed) {
        (Some(r), _, _) => r.clone(),
        (None, r, _) if !r.is_empty() => r.to_string(),
        (None, _, Some((_, path))) => path.clone(),
        (None, _, None) => {
            return Err(ForgeError::Config(format!(
                "cannot tell the forge repository from the remote `{}` ({}); set [forge] repo = \"owner/name\"",
                job.cfg.remote,
                crate::text::printable(&url)
            )))
        }
    };
    // Against the public forge, the remote must be on it: a push to one place and a pull
    // request on another would show reviewers nothing.
    let public = match job.cfg.kind {
        crate::config::forge::ForgeKind::Github => "github.com",
        crate::config::forge::ForgeKind::Gitlab => "gitlab.com",
    };
    if job.cfg.api_url.trim().is_empty() {
        if let Some((host, _)) = &parsed {
            if host != public {
                return Err(ForgeError::Config(format!(
                    "the remote `{}` is on {host}, not {public}: set [forge] api_url to its forge's API, or [forge] remote to a remote on {public}",
                    job.cfg.remote
                )));
            }
        }
    }
    let forge = forges.get(&job.cfg, &repo)?;
    let tip = crate::workspace::branch_tip(&job.repo_dir, &job.branch)
        .map_err(|e| ForgeError::Push(e.to_string()))?
        .ok_or_else(|| {
            ForgeError::Push(format!(
                "the run's branch {} is gone from {}; nothing to push",
                job.branch,
                job.repo_dir.display()
            ))
        })?;
    let expected = match &job.known_head {
        Some(h) => Some(h.clone()),
        None => push::remote_head(&job.repo_dir, &job.cfg.remote, &job.branch, &hide)?,
    };
    let pushed = if expected.as_deref() == Some(tip.as_str()) {
        None
    } else {
        push::push(
            &job.repo_dir,
            &job.cfg.remote,
            &job.branch,
            expected.as_deref(),
            &hide,
        )?;
        Some(tip.clone())
    };
    let md = std::fs::read_to_string(&job.pr_md).map_err(|e| {
        ForgeError::Config(format!(
            "cannot read {} for the pull request's description: {e}",
            job.pr_md.display()
        ))
    })?;
    Ok(Prepared {
        forge,
        repo,
        pushed,
        ours: tip,
        body: body::fit(&md, job.cfg.kind, &job.run_id),
    })
}

/// Push, then open or update the pull request.
pub async fn deliver(job: Job, forges: Forges) -> Result<Delivered, ForgeError> {
    let job = Arc::new(job);
    let j = job.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&j, &forges))
        .await
        .map_err(|e| ForgeError::Push(format!("the push job failed: {e}")))??;
    let (seen, how) = prepared
        .forge
        .open(&OpenSpec {
            branch: &job.branch,
            base: &job.target,
            title: &job.title,
            body: &prepared.body,
            draft: job.draft,
        })
        .await?;
    Ok(Delivered {
        seen,
        how,
        repo: prepared.repo,
        remote: job.cfg.remote.clone(),
        pushed: prepared.pushed,
        ours: prepared.ours,
    })
}
