//! Checking a new run's request (path, base, config, agent) and making its record.

use std::path::PathBuf;

use crate::config::{self, Config, Sources, TrustStore};
use crate::paths::Home;
use crate::protocol::{ProtocolError, RunRequest};
use crate::run::{RunRecord, WorkspaceKind};
use crate::workspace::{self, Source, WorkspaceError};

pub struct Validated {
    pub request: RunRequest,
    pub source: Source,
    pub config: Config,
    pub agent: String,
    /// The run's id, whose directory `claim` made (empty until then).
    pub id: String,
}

/// A new run's id and its directory under `runs/`, made here (a directory already there is
/// another run's: another id is drawn), with the task whole in it for agents whose task is too
/// long for an argument. Blocking.
pub fn claim(home: &crate::paths::Home, task: &str) -> Result<String, ProtocolError> {
    loop {
        let id = crate::run::id::generate();
        let dir = home.run_dir(&id);
        match crate::owner_only::create_dir(&dir) {
            Ok(()) => {
                let task_file = dir.join(super::child_env::TASK_FILE);
                crate::owner_only::write(&task_file, task.as_bytes()).map_err(|e| {
                    ProtocolError::internal(format!("cannot write {}: {e}", task_file.display()))
                })?;
                return Ok(id);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(ProtocolError::internal(format!(
                    "cannot create {}: {e}",
                    dir.display()
                )))
            }
        }
    }
}

/// Blocking (git2, config files): call from `spawn_blocking`.
pub fn validate(
    request: RunRequest,
    config_source: &ConfigSource,
) -> Result<Validated, ProtocolError> {
    if request.task.trim().is_empty() {
        return Err(ProtocolError::invalid(
            "the task is empty; say what the agent should do, e.g. flightdeck run \"fix the flaky test\"",
        ));
    }
    if request.task.len() > crate::protocol::MAX_TASK_BYTES {
        return Err(ProtocolError::invalid(crate::protocol::task_too_long(
            request.task.len(),
        )));
    }
    let source =
        workspace::inspect(&request.repo, request.base.as_deref()).map_err(|e| match e {
            WorkspaceError::Invalid(m) => ProtocolError::invalid(m),
            other => ProtocolError::invalid(format!(
                "cannot read the repository {}: {other}",
                request.repo.display()
            )),
        })?;
    let config = config_source.load(Some(source.dir().to_path_buf()), request.config.clone())?;
    let (agent, _) = config
        .agent(request.agent.as_deref())
        .map_err(ProtocolError::invalid)?;
    Ok(Validated {
        request,
        source,
        config,
        agent,
        id: String::new(),
    })
}

/// Where a run's config comes from: its layers (the repository's file only if the user
/// trusts it), with the providers, budgets and prices the server started with.
#[derive(Clone)]
pub struct ConfigSource {
    pub trust: TrustStore,
    pub pinned: std::sync::Arc<crate::config::pinned::Pinned>,
    pub user: crate::config::UserConfig,
}

impl ConfigSource {
    /// `own`: the server's own `--config` file; `user`: which file is the user's.
    pub fn new(
        home: &Home,
        server: &Config,
        own: Option<PathBuf>,
        user: crate::config::UserConfig,
    ) -> Self {
        Self {
            trust: TrustStore::in_home(home),
            pinned: std::sync::Arc::new(crate::config::pinned::Pinned::of(
                server,
                own,
                user.clone(),
            )),
            user,
        }
    }

    /// Blocking (config files): call from `spawn_blocking`.
    pub fn load(
        &self,
        repo: Option<PathBuf>,
        explicit: Option<PathBuf>,
    ) -> Result<Config, ProtocolError> {
        let mut config = config::load(&Sources {
            repo,
            explicit: explicit.clone(),
            trust: Some(self.trust.clone()),
            user: self.user.clone(),
            ..Default::default()
        })
        .map_err(|e| ProtocolError::invalid(e.to_string()))?;
        match self.pinned.apply(&mut config, explicit.as_deref()) {
            Ok(Some(note)) => tracing::info!("{note}"),
            Ok(None) => {}
            Err(refusal) => return Err(ProtocolError::refused(refusal)),
        }
        Ok(config)
    }
}

/// The record of a run that has just been accepted.
pub fn new_record(id: &str, v: &Validated, home: &Home) -> RunRecord {
    let worktree = v.config.worktree_root(home).join(v.source.name()).join(id);
    let (workspace, base, base_ref, base_branch) = match &v.source {
        Source::Git {
            base,
            base_ref,
            base_branch,
            ..
        } => (
            WorkspaceKind::Worktree,
            base.clone(),
            base_ref.clone(),
            base_branch.clone(),
        ),
        Source::Plain { .. } => (WorkspaceKind::Copy, String::new(), "copy".into(), None),
    };
    let target = crate::gate::target(&v.config.gate, base_branch.as_deref()).map(str::to_string);
    RunRecord {
        base,
        base_ref,
        base_branch,
        config_file: v.request.config.clone(),
        target,
        ..RunRecord::queued(
            id,
            &v.request.task,
            &v.agent,
            v.source.dir().to_path_buf(),
            worktree,
            workspace,
        )
    }
}
