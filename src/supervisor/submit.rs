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
/// another run's: another id is drawn; an id this machine reserved for a run on another host
/// is not taken either), with the task whole in it for agents whose task is too long for an
/// argument. `wanted`: the id the request asks for (a run sent from another machine), refused
/// when taken. Blocking.
pub fn claim(
    home: &crate::paths::Home,
    task: &str,
    wanted: Option<&str>,
) -> Result<String, ProtocolError> {
    if let Some(w) = wanted.filter(|w| !crate::run::id::is_valid(w)) {
        return Err(ProtocolError::invalid(format!(
            "`{}` cannot be a run id (lower-case letters and digits, no 0, 1, i, l or o)",
            crate::text::cut(&crate::text::printable(w), 80)
        )));
    }
    loop {
        let id = wanted.map_or_else(crate::run::id::generate, str::to_string);
        let dir = home.run_dir(&id);
        match crate::owner_only::create_dir(&dir) {
            Ok(()) => {
                if wanted.is_none() && super::host_gateway::reserved(home, &id) {
                    let _ = std::fs::remove_dir(&dir);
                    continue;
                }
                let task_file = dir.join(super::child_env::TASK_FILE);
                crate::owner_only::write(&task_file, task.as_bytes()).map_err(|e| {
                    ProtocolError::internal(format!("cannot write {}: {e}", task_file.display()))
                })?;
                return Ok(id);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && wanted.is_some() => {
                return Err(ProtocolError::refused(format!(
                    "a run {id} is here already; send the run again (another id is drawn)"
                )))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_asked_for_is_taken_once_and_a_reserved_one_is_never_drawn_here() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().to_path_buf());
        crate::owner_only::create_dir_all(&home.runs_dir()).unwrap();
        assert_eq!(claim(&home, "t", Some("abc23456")).unwrap(), "abc23456");
        let again = claim(&home, "t", Some("abc23456")).unwrap_err();
        assert!(again.message.contains("here already"), "{again:?}");
        assert!(claim(&home, "t", Some("../x")).is_err());
        let reserved = super::super::host_gateway::reserve(&home).unwrap();
        assert!(super::super::host_gateway::reserved(&home, &reserved));
        assert!(!home.run_dir(&reserved).exists());
        for _ in 0..50 {
            assert_ne!(claim(&home, "t", None).unwrap(), reserved);
        }
    }
}
