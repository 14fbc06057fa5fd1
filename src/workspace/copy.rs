//! The fallback for a directory that is not a git repository: copy it (without `.git`, `target/`
//! and `node_modules/`), and give the copy a private repository whose first commit is the
//! original state. Commits, resets and diffs then work exactly as in a worktree, and
//! `patch.diff` compares the copy with the original as it was copied.

use std::fs;
use std::path::Path;

use git2::{IndexAddOption, Repository, RepositoryInitOptions};

use super::{signature, Created, Spec, WorkspaceError};

const SKIP: [&str; 3] = [".git", "target", "node_modules"];

pub fn create(spec: &Spec) -> Result<Created, WorkspaceError> {
    if spec.path.exists() {
        return Err(WorkspaceError::Invalid(format!(
            "{} already exists; remove it or clean the old run",
            spec.path.display()
        )));
    }
    // Refuse to copy a directory into itself (a worktree root inside the source).
    if spec.path.starts_with(&spec.source) {
        return Err(WorkspaceError::Invalid(format!(
            "the worktree root {} lies inside {}; set worktree_root elsewhere",
            spec.path.display(),
            spec.source.display()
        )));
    }
    crate::owner_only::create_dir_all(&spec.path)
        .map_err(|e| WorkspaceError::io(&format!("creating {}", spec.path.display()), e))?;
    let files = copy_tree(&spec.source, &spec.path)?;

    let mut opts = RepositoryInitOptions::new();
    opts.initial_head(&spec.branch);
    let repo = Repository::init_opts(&spec.path, &opts)?;
    let mut index = repo.index()?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = signature()?;
    let message = format!("flightdeck: snapshot of {}", spec.source.display());
    let base = repo.commit(Some("HEAD"), &sig, &sig, &message, &tree, &[])?;
    Ok(Created {
        base: base.to_string(),
        files_copied: Some(files),
        pooled: None,
    })
}

fn copy_tree(from: &Path, to: &Path) -> Result<usize, WorkspaceError> {
    let mut count = 0;
    let entries = fs::read_dir(from)
        .map_err(|e| WorkspaceError::io(&format!("reading {}", from.display()), e))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| WorkspaceError::io(&format!("reading {}", from.display()), e))?;
        let name = entry.file_name();
        if SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        let kind = entry
            .file_type()
            .map_err(|e| WorkspaceError::io(&format!("reading {}", src.display()), e))?;
        if kind.is_symlink() {
            let target = fs::read_link(&src)
                .map_err(|e| WorkspaceError::io(&format!("reading link {}", src.display()), e))?;
            std::os::unix::fs::symlink(&target, &dst)
                .map_err(|e| WorkspaceError::io(&format!("linking {}", dst.display()), e))?;
            count += 1;
        } else if kind.is_dir() {
            fs::create_dir(&dst)
                .map_err(|e| WorkspaceError::io(&format!("creating {}", dst.display()), e))?;
            count += copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)
                .map_err(|e| WorkspaceError::io(&format!("copying {}", src.display()), e))?;
            count += 1;
        }
        // Sockets, fifos and devices are not project files: skipped.
    }
    Ok(count)
}
