//! Feedback for the agent's next round: what a phase or a person left for it (a rebase's
//! conflicts, the pull request's notes or a reply, the browser's report, the failing checks'
//! output), taken once as the agent starts, and the task to give it with.

use std::path::{Path, PathBuf};

pub(super) struct Feedback {
    /// Where the agent finds it (`FLIGHTDECK_FEEDBACK_FILE`).
    pub path: PathBuf,
    /// The task with the feedback after it.
    pub prompt: String,
}

/// The feedback waiting for this round, if any: the first of the rebase's conflicts, the pull
/// request's feedback, the browser's report and the checks' report. `reset`: the worktree went
/// back to where the agent started (a retry).
pub(super) async fn take(dir: &Path, attempt: u32, task: &str, reset: bool) -> Option<Feedback> {
    let waiting = [
        (super::REBASE_FEEDBACK, "rebase"),
        (crate::supervisor::forge_link::FEEDBACK, "forge"),
        (super::browser::FEEDBACK, "browser"),
    ];
    for (file, kept) in waiting {
        if let Some((path, text)) = take_file(dir, attempt, file, kept).await {
            // A checks' report left from before is about work this round does not start from.
            let stale = dir.join(super::smoke::FEEDBACK);
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(stale)).await;
            let prompt = match kept {
                "browser" => crate::browser::report::feedback_prompt(task, &text),
                // The rebase's conflicts and the pull request's checks and reviews follow the
                // task.
                _ => format!("{task}\n\n---\n{text}"),
            };
            return Some(Feedback { path, prompt });
        }
    }
    let (path, text) = take_file(dir, attempt, super::smoke::FEEDBACK, "smoke").await?;
    Some(Feedback {
        path,
        prompt: crate::proof::smoke::feedback_prompt(task, &text, reset),
    })
}

/// Feedback waiting at `file` in the run's directory, moved to `<kept>/feedback-<attempt>-<n>.md`
/// as the agent takes it (so a later plain retry does not see it again), with its text.
async fn take_file(
    dir: &Path,
    attempt: u32,
    file: &str,
    kept: &'static str,
) -> Option<(PathBuf, String)> {
    let from = dir.join(file);
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let text = std::fs::read_to_string(&from).ok()?;
        let n = (1..)
            .find(|n| {
                !dir.join(format!("{kept}/feedback-{attempt}-{n}.md"))
                    .exists()
            })
            .unwrap_or(1);
        crate::owner_only::create_dir_all(&dir.join(kept)).ok()?;
        let to = dir.join(format!("{kept}/feedback-{attempt}-{n}.md"));
        std::fs::rename(&from, &to).ok()?;
        Some((to, text))
    })
    .await
    .ok()
    .flatten()
}
