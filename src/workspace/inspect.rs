//! What `--repo` points at, and what `--base` resolves to; checked when a run is submitted so bad
//! input is refused at once.

use std::path::{Path, PathBuf};

use git2::{BranchType, Repository};

use super::WorkspaceError;

/// The source of a run's workspace.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Git {
        /// The checkout's top directory.
        root: PathBuf,
        base: String,
        /// The local branch the base came from (`main`), if it came from one.
        base_branch: Option<String>,
        base_ref: String,
    },
    /// Not a git repository: the run works on a copy.
    Plain { dir: PathBuf },
}

impl Source {
    pub fn dir(&self) -> &Path {
        match self {
            Source::Git { root, .. } => root,
            Source::Plain { dir } => dir,
        }
    }

    /// A name for the worktree folder: the directory's name, made path-safe.
    pub fn name(&self) -> String {
        let raw = self
            .dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "root".into());
        let safe: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if safe.trim_matches('.').is_empty() {
            "repo".into()
        } else {
            safe
        }
    }
}

/// Where a run asked for in `dir` would work, as its record names it: the checkout's top
/// directory and true, or the directory itself and false when it is not a git repository
/// (or cannot be read as one).
pub fn run_home(dir: &Path) -> (PathBuf, bool) {
    match inspect(dir, None) {
        Ok(Source::Git { root, .. }) => (root, true),
        Ok(Source::Plain { dir }) => (dir, false),
        Err(_) => (dir.to_path_buf(), false),
    }
}

pub fn inspect(path: &Path, base: Option<&str>) -> Result<Source, WorkspaceError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        WorkspaceError::Invalid(format!(
            "repository path {} does not exist or cannot be read ({e}); pass an existing directory with --repo",
            path.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(WorkspaceError::Invalid(format!(
            "{} is not a directory; pass a repository or project directory with --repo",
            path.display()
        )));
    }
    let dir = std::fs::canonicalize(path)
        .map_err(|e| WorkspaceError::io(&format!("resolving {}", path.display()), e))?;

    // Discover, like git: a subdirectory of a checkout means that checkout.
    let repo = match Repository::discover(&dir) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            if let Some(b) = base {
                return Err(WorkspaceError::Invalid(format!(
                    "--base {b} needs a git repository, and {} is not one; drop --base to work on a copy",
                    dir.display()
                )));
            }
            return Ok(Source::Plain { dir });
        }
        Err(e) => return Err(e.into()),
    };
    if repo.is_bare() {
        return Err(WorkspaceError::Invalid(format!(
            "{} is a bare repository; point --repo at a checkout",
            dir.display()
        )));
    }
    // components() drops the trailing slash libgit2 leaves on workdir paths.
    let root: PathBuf = repo
        .workdir()
        .map(|p| p.components().collect())
        .unwrap_or_else(|| dir.clone());
    let base_ref = base.unwrap_or("HEAD").to_string();
    let (base, base_branch) = resolve_base(&repo, &base_ref)?;
    Ok(Source::Git {
        root,
        base,
        base_branch,
        base_ref,
    })
}

fn resolve_base(repo: &Repository, spec: &str) -> Result<(String, Option<String>), WorkspaceError> {
    if spec == "HEAD" {
        let head = repo.head().map_err(|e| match e.code() {
            git2::ErrorCode::UnbornBranch => WorkspaceError::Invalid(
                "the repository has no commits yet; commit something first, or pass --base".into(),
            ),
            _ => e.into(),
        })?;
        let commit = head.peel_to_commit()?;
        let branch = if head.is_branch() {
            head.shorthand().map(str::to_string)
        } else {
            None
        };
        return Ok((commit.id().to_string(), branch));
    }
    let obj = repo.revparse_single(spec).map_err(|_| {
        WorkspaceError::Invalid(format!(
            "base `{spec}` does not name a commit in {}; pass a branch, tag or commit id that exists",
            repo.workdir().unwrap_or(repo.path()).display()
        ))
    })?;
    let commit = obj.peel_to_commit().map_err(|_| {
        WorkspaceError::Invalid(format!(
            "base `{spec}` is not a commit; pass a branch, tag or commit id"
        ))
    })?;
    let branch = repo
        .find_branch(spec, BranchType::Local)
        .ok()
        .and_then(|b| b.name().ok().flatten().map(str::to_string));
    Ok((commit.id().to_string(), branch))
}
