//! A proof pack in brief, for `show`: which files exist, the checks, the size of the patch.
//! Read from the files alone, so it works for runs of any age.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths::pack;
use crate::proof::smoke::CheckResult;
use crate::proof::store;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProofSummary {
    pub dir: PathBuf,
    /// Proof pack files present, with their sizes in bytes.
    pub files: Vec<PackFile>,
    pub patch: Option<PatchSummary>,
    pub smoke: Option<Vec<CheckResult>>,
    pub score: Option<crate::proof::score::Score>,
    /// The text of PR.md, the reviewer's summary.
    pub pr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackFile {
    pub name: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatchSummary {
    pub files: Vec<String>,
    pub insertions: usize,
    pub deletions: usize,
}

/// Blocking: reads files.
pub fn summarize(dir: &Path) -> ProofSummary {
    let names = [
        pack::RUN,
        pack::TIMELINE,
        pack::AGENT_LOG,
        pack::PATCH,
        pack::SMOKE,
        pack::SCORE,
        pack::PR,
        pack::MODEL_CALLS,
    ];
    let files = names
        .iter()
        .filter_map(|n| {
            std::fs::metadata(dir.join(n)).ok().map(|m| PackFile {
                name: n.to_string(),
                bytes: m.len(),
            })
        })
        .collect();
    let patch = std::fs::read_to_string(dir.join(pack::PATCH))
        .ok()
        .map(|t| patch_summary(&t));
    let smoke = store::read_checks(dir);
    let score = store::read_score(dir);
    let pr = std::fs::read_to_string(dir.join(pack::PR)).ok();
    ProofSummary {
        dir: dir.to_path_buf(),
        files,
        patch,
        smoke,
        score,
        pr,
    }
}

pub fn patch_summary(text: &str) -> PatchSummary {
    let mut s = PatchSummary::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("diff --git a/") {
            let path = rest.split(" b/").last().unwrap_or(rest);
            s.files.push(path.to_string());
        } else if line.starts_with("+++") || line.starts_with("---") {
            continue;
        } else if line.starts_with('+') {
            s.insertions += 1;
        } else if line.starts_with('-') {
            s.deletions += 1;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_git_patch() {
        let p = "diff --git a/x.txt b/x.txt\nindex 1..2 100644\n--- a/x.txt\n+++ b/x.txt\n@@ -1 +1,2 @@\n-a\n+b\n+c\ndiff --git a/new.rs b/new.rs\nnew file mode 100644\n--- /dev/null\n+++ b/new.rs\n@@ -0,0 +1 @@\n+fn x() {}\n";
        let s = patch_summary(p);
        assert_eq!(s.files, vec!["x.txt", "new.rs"]);
        assert_eq!((s.insertions, s.deletions), (3, 1));
    }
}
