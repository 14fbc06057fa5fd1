//! The conflict radar, in process: each "nothing was flagged" is checked after a scan that is
//! known to have looked (the radar's `RadarScanned` event for a scan that started after the
//! moment in question), never after a sleep that passes when the radar merely has not looked.

use std::path::{Path, PathBuf};

use flightdeck::protocol::Event;
use flightdeck::run::MergeState;

use crate::common::inproc::InProc;
use crate::common::{git, git_repo, wait_until};

/// An agent that edits, says it is ready, and waits for `../go` (so it stays live).
fn gated(name: &str, edit: &str) -> String {
    format!(
        "[agents.{name}]\ncommand = [\"sh\", \"-c\", \"{edit}; touch ../ready-$FLIGHTDECK_RUN_ID; while [ ! -f ../go ]; do sleep 0.1; done\"]\n"
    )
}

pub(crate) const POKE: &str =
    "[agents.poke]\ncommand = [\"sh\", \"-c\", \"echo poke > poke.txt\"]\n";

fn repo_with_long_file(parent: &Path) -> PathBuf {
    let repo = git_repo(parent, "repo");
    let long: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    std::fs::write(repo.join("long.txt"), long).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "long file"]);
    repo
}

/// A supervisor with `config` (and the poke agent), and a repository with a long file.
async fn world(config: &str) -> (InProc, PathBuf) {
    let s = InProc::start(&format!("{config}\n{POKE}")).await;
    std::fs::create_dir_all(s.path().join("elsewhere")).unwrap();
    let repo = repo_with_long_file(s.path());
    (s, repo)
}

/// A scan of all of `ids` that started after now: a run in another repository finishes,
/// which changes what the radar compares, so the next scan is a whole one.
pub(crate) async fn a_fresh_scan_of(s: &mut InProc, ids: &[&str]) {
    let other = git_repo(&s.path().join("elsewhere"), "other");
    let poke = s.run(&other, "poke", "poke").await;
    s.finished(&poke).await;
    let want: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    s.until("a radar scan that includes the poke and the runs", |e| {
        matches!(e, Event::RadarScanned { runs }
            if runs.contains(&poke) && want.iter().all(|w| runs.contains(w)))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_runs_editing_the_same_lines_are_flagged_and_no_others() {
    // Four live runs, and a slot for the poke.
    let config = [
        "max_parallel = 5\n".into(),
        gated("line2-a", "sed -i 2s/.*/AAA/ long.txt"),
        gated("line2-b", "sed -i 2s/.*/BBB/ long.txt"),
        gated("line45", "sed -i 45s/.*/DDD/ long.txt"),
        gated("other", "echo c > c.txt"),
    ]
    .join("\n");
    let (mut s, repo) = world(&config).await;
    let a = s.run(&repo, "line2-a", "A").await;
    let b = s.run(&repo, "line2-b", "B").await;
    let d = s.run(&repo, "line45", "D").await;
    let c = s.run(&repo, "other", "C").await;
    let wt_parent = s.record(&a).await.worktree.parent().unwrap().to_path_buf();
    for id in [&a, &b, &c, &d] {
        wait_until("the edit", || {
            wt_parent.join(format!("ready-{id}")).exists()
        });
    }
    let ra = s
        .until_run(&a, "a flagged", |r| r.merge == MergeState::Conflict)
        .await;
    let rb = s
        .until_run(&b, "b flagged", |r| r.merge == MergeState::Conflict)
        .await;
    assert_eq!(ra.conflicts[0].with, format!("run:{b}"));
    assert_eq!(ra.conflicts[0].files, ["long.txt"]);
    assert_eq!(rb.conflicts[0].with, format!("run:{a}"));
    // Every edit is made; a scan that started after them finds nothing for c and d:
    // different files, and far-apart lines of one file, are no conflicts.
    a_fresh_scan_of(&mut s, &[&a, &b, &c, &d]).await;
    for id in [&c, &d] {
        let r = s.record(id).await;
        assert!(r.conflicts.is_empty(), "{id}: {:?}", r.conflicts);
        assert_ne!(r.merge, MergeState::Conflict);
    }
    assert_eq!(s.record(&a).await.merge, MergeState::Conflict);
    std::fs::write(wt_parent.join("go"), "").unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_apart_edit_of_the_same_file_is_no_conflict_between_runs_waiting_to_merge() {
    let (mut s, repo) = world(
        "[agents.line2-a]\ncommand = [\"sed\", \"-i\", \"2s/.*/AAA/\", \"long.txt\"]\n\
         [agents.line2-b]\ncommand = [\"sed\", \"-i\", \"2s/.*/BBB/\", \"long.txt\"]\n\
         [agents.line45]\ncommand = [\"sed\", \"-i\", \"45s/.*/DDD/\", \"long.txt\"]\n",
    )
    .await;
    let a = s.run(&repo, "line2-a", "A").await;
    let b = s.run(&repo, "line2-b", "B").await;
    let d = s.run(&repo, "line45", "D").await;
    for id in [&a, &b, &d] {
        s.finished(id).await;
    }
    let ra = s
        .until_run(&a, "a flagged", |r| !r.conflicts.is_empty())
        .await;
    assert!(ra.conflicts[0].both_waiting, "{:?}", ra.conflicts);
    assert_eq!(ra.merge, MergeState::Ready, "both stay mergeable");
    a_fresh_scan_of(&mut s, &[&a, &b, &d]).await;
    let rd = s.record(&d).await;
    assert!(rd.conflicts.is_empty(), "{:?}", rd.conflicts);
    assert_eq!(rd.merge, MergeState::Ready);
    s.stop().await;
}

/// The radar scans only when something moved: here the target branch, after a scan has
/// looked at both finished runs (nothing about the runs themselves changes afterwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_radar_sees_the_target_move_under_runs_waiting_to_merge() {
    let (mut s, repo) = world(
        "[agents.line2]\ncommand = [\"sed\", \"-i\", \"2s/.*/AAA/\", \"long.txt\"]\n\
         [agents.line45]\ncommand = [\"sed\", \"-i\", \"45s/.*/DDD/\", \"long.txt\"]\n",
    )
    .await;
    let a = s.run(&repo, "line2", "A").await;
    let d = s.run(&repo, "line45", "D").await;
    for id in [&a, &d] {
        assert_eq!(s.finished(id).await.merge, MergeState::Ready);
    }
    a_fresh_scan_of(&mut s, &[&a, &d]).await;
    assert_eq!(s.record(&a).await.merge, MergeState::Ready);
    // Someone commits to main over line 2.
    let text = std::fs::read_to_string(repo.join("long.txt")).unwrap();
    std::fs::write(
        repo.join("long.txt"),
        text.replacen("line 2\n", "main's line 2\n", 1),
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "main edits line 2"]);
    let ra = s
        .until_run(&a, "a conflict with main", |r| {
            r.merge == MergeState::Conflict
        })
        .await;
    assert_eq!(ra.conflicts[0].with, "target:main");
    // The same scan judged d (one repository, one scan): it stays ready.
    assert_eq!(s.record(&d).await.merge, MergeState::Ready);
    s.stop().await;
}
