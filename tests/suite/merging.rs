//! Merging, in process: `Command::Merge` and `Command::AwaitMerge` through the supervisor's
//! `Handle`, real repositories and real checks. Two runs green on their own but not together
//! never both land, and main only moves to what passed; each target's queue lands in the order
//! runs joined it, and one target's queue waits for no other's; a run that is not green is
//! refused with the gate's reasons. Where a test needs the queue to be mid-test, the candidate's
//! check waits for the test to let it go (no sleeps in the test). The real binary's
//! `flightdeck merge` is in merge_queue.rs and landing_recovery.rs.

use std::path::{Path, PathBuf};

use flightdeck::protocol::{Command, ErrorKind, Reply, RunSnapshot};
use flightdeck::run::{GateReason, MergeState, Status};

use crate::common::inproc::InProc;
use crate::common::landing::main_history;
use crate::common::{git, git_repo};

/// Agents for every test here, and a required check that runs each `checks/*.sh`; a candidate
/// of the queue that holds `held.txt` first waits while the file `hold` exists.
fn config(hold: &Path, extra: &str) -> String {
    format!(
        r#"
max_parallel = 5
{extra}
[agents.part]
command = ["sh", "-c", "echo \"$FLIGHTDECK_TASK\" > \"$FLIGHTDECK_TASK.txt\""]
[agents.held]
command = ["sh", "-c", "echo held > held.txt"]
# x and y each add a part and a check that the other's part is absent: each is green alone,
# and whichever is tested second fails.
[agents.x]
command = ["sh", "-c", "mkdir -p parts checks && echo x > parts/x && echo 'test ! -e parts/y' > checks/no-y.sh"]
[agents.y]
command = ["sh", "-c", "mkdir -p parts checks && echo y > parts/y && echo 'test ! -e parts/x' > checks/no-x.sh"]
[agents.line2-a]
command = ["sh", "-c", "sed -i 2s/.*/AAA/ long.txt && echo held > held.txt"]
[agents.line2-b]
command = ["sh", "-c", "sed -i 2s/.*/BBB/ long.txt"]
[agents.secret]
command = ["sh", "-c", "echo s > secret.txt"]
[agents.nothing]
command = ["true"]
[agents.broken]
command = ["sh", "-c", "mkdir -p checks && echo false > checks/broken.sh"]
{poke}
[[smoke]]
name = "checks"
command = ["sh", "-c", "if [ -e held.txt ]; then while [ -e '{hold}' ]; do sleep 0.05; done; fi; for f in checks/*.sh; do [ -e \"$f\" ] || continue; sh \"$f\" || {{ echo \"$f fails\"; exit 1; }}; done"]
"#,
        hold = hold.display(),
        poke = crate::radar::POKE,
    )
}

/// The file that holds the queue's tests of candidates with `held.txt` while it exists.
struct Hold {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Hold {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hold");
        Hold { _dir: dir, path }
    }

    fn on(&self) {
        std::fs::write(&self.path, "").unwrap();
    }

    fn off(&self) {
        std::fs::remove_file(&self.path).unwrap();
    }
}

/// A supervisor with `extra` config, a repository, and the queue's hold (off).
async fn world(extra: &str) -> (InProc, PathBuf, Hold) {
    let hold = Hold::new();
    let s = InProc::start(&config(&hold.path, extra)).await;
    let repo = git_repo(s.path(), "repo");
    (s, repo, hold)
}

/// Queue the run (`merge --no-wait`): its record, or why not.
async fn merge(s: &InProc, id: &str) -> Result<RunSnapshot, flightdeck::protocol::ProtocolError> {
    match s
        .call(Command::Merge {
            run: id.into(),
            no_wait: true,
        })
        .await
    {
        Ok(Reply::Run { run }) => Ok(*run),
        Ok(other) => panic!("merge answered {other:?}"),
        Err(e) => Err(e),
    }
}

/// The answer to `AwaitMerge`: when the run has left the queue (landed or refused).
async fn left_queue(s: &InProc, id: &str) -> Result<Reply, flightdeck::protocol::ProtocolError> {
    let wait = s.call(Command::AwaitMerge { run: id.into() });
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("{id} did not leave the merge queue within 60 s"))
}

/// The run's record once it has landed.
async fn landed(s: &InProc, id: &str) -> RunSnapshot {
    match left_queue(s, id).await {
        Ok(Reply::Run { run }) => {
            assert_eq!(run.merge, MergeState::Merged, "{run:?}");
            *run
        }
        other => panic!("{id} did not land: {other:?}"),
    }
}

/// Why the queue refused the run, once it has.
async fn refused(s: &InProc, id: &str) -> String {
    match left_queue(s, id).await {
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Refused, "{e:?}");
            e.message
        }
        other => panic!("{id} was not refused: {other:?}"),
    }
}

/// The run's record once it has succeeded with a green gate.
async fn ready(s: &mut InProc, id: &str) -> RunSnapshot {
    let r = s.finished(id).await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
    s.until_run(id, "ready to merge", |r| r.merge == MergeState::Ready)
        .await
}

fn tip(repo: &Path, branch: &str) -> String {
    git(repo, &["rev-parse", branch]).trim().to_string()
}

fn parent(repo: &Path, commit: &str) -> String {
    tip(repo, &format!("{commit}^"))
}

/// Whether `path` is in `branch`'s tree.
fn holds(repo: &Path, branch: &str, path: &str) -> bool {
    !git(repo, &["ls-tree", "--name-only", branch, path])
        .trim()
        .is_empty()
}

/// The main story of the queue: x and y are each green on their own branch, and each breaks
/// the other's check. The first queued lands; the second is tested on top of it, fails, and
/// is refused as failing once merged; main only ever pointed at commits whose checks pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_green_alone_but_red_together_the_first_lands_the_second_is_refused() {
    let (mut s, repo, _) = world("").await;
    let initial = tip(&repo, "main");
    let x = s.run(&repo, "x", "add x").await;
    let y = s.run(&repo, "y", "add y").await;
    ready(&mut s, &x).await;
    ready(&mut s, &y).await;

    assert_eq!(merge(&s, &x).await.unwrap().merge, MergeState::Pending);
    assert_eq!(merge(&s, &y).await.unwrap().merge, MergeState::Pending);
    let rx = landed(&s, &x).await;
    let why = refused(&s, &y).await;
    assert!(
        why.contains(&format!("not merging run {y}"))
            && why.contains("the required checks fail once merged with main")
            && why.contains("checks/no-x.sh fails"),
        "{why}"
    );
    let ry = s.record(&y).await;
    assert_eq!(ry.merge, MergeState::Blocked);
    assert!(ry.fails_once_merged);
    assert!(
        matches!(&ry.gate_reasons[..], [GateReason::FailsOnceMerged { detail }]
            if detail.contains("fail once merged with main")),
        "{:?}",
        ry.gate_reasons
    );

    // main moved once, to x's landing, and holds no part of y: its checks pass there.
    assert_eq!(
        main_history(&repo),
        [initial, rx.merged_commit.clone().unwrap()]
    );
    assert!(holds(&repo, "main", "parts/x") && holds(&repo, "main", "checks/no-y.sh"));
    assert!(!holds(&repo, "main", "parts/y") && !holds(&repo, "main", "checks/no-x.sh"));
    // The user's checkout of main followed.
    assert!(repo.join("parts/x").exists() && !repo.join("parts/y").exists());
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");

    // y was tested on top of x, and failed there; it cannot be queued again as it is.
    let testing = s.line(&y, "merge.testing").await;
    assert_eq!(testing["ahead"], serde_json::json!([x]), "{testing}");
    let tested = s.line(&y, "merge.tested").await;
    assert_eq!(tested["passed"], false, "{tested}");
    let again = merge(&s, &y).await.expect_err("y queued again");
    assert!(
        again.message.contains("the merge gate is not green")
            && again.message.contains("fail once merged with main"),
        "{again:?}"
    );
    s.stop().await;
}

/// Two runs edit the same line: both wait to merge, neither blocks the other. Queued one after
/// the other, the second is merged onto the first while the first is still under test: that
/// conflicts, and it is refused as a conflict with main before main has moved at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_of_two_runs_editing_the_same_line_is_refused_as_a_conflict() {
    let (mut s, repo, hold) = world("").await;
    let long: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    std::fs::write(repo.join("long.txt"), long).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "long file"]);
    let initial = tip(&repo, "main");
    let a = s.run(&repo, "line2-a", "AAA").await;
    let b = s.run(&repo, "line2-b", "BBB").await;
    s.finished(&a).await;
    s.finished(&b).await;
    // While one was still live the radar may have blocked the other: a scan that began once
    // both were waiting has seen them both waiting.
    crate::radar::a_fresh_scan_of(&mut s, &[&a, &b]).await;
    for id in [&a, &b] {
        let r = s.record(id).await;
        assert_eq!(r.merge, MergeState::Ready, "{r:?}");
        assert!(r.conflicts.iter().all(|c| c.both_waiting), "{r:?}");
    }

    // a's test waits for the hold; b joins the queue behind it.
    hold.on();
    merge(&s, &a).await.expect("a queued");
    merge(&s, &b).await.expect("b queued");
    let why = refused(&s, &b).await;
    assert!(
        why.contains("merging into main would conflict in long.txt")
            && why.contains(&format!("flightdeck rebase {b}")),
        "{why}"
    );
    let rb = s.record(&b).await;
    assert_eq!(rb.merge, MergeState::Conflict);
    assert!(
        rb.conflicts
            .iter()
            .any(|c| c.with == "target:main" && c.files == ["long.txt"] && !c.both_waiting),
        "{:?}",
        rb.conflicts
    );
    assert_eq!(
        tip(&repo, "main"),
        initial,
        "main moved before a's test passed"
    );
    assert_eq!(s.record(&a).await.merge, MergeState::Pending);

    // Let a's test go: a lands, and main has its line.
    hold.off();
    let ra = landed(&s, &a).await;
    assert_eq!(tip(&repo, "main"), ra.merged_commit.clone().unwrap());
    let text = git(&repo, &["show", "main:long.txt"]);
    assert!(text.starts_with("line 1\nAAA\nline 3\n"), "{text}");
    let again = merge(&s, &b).await.expect_err("b queued again");
    assert!(again.message.contains("not green"), "{again:?}");
    s.stop().await;
}

/// A queue lands in the order runs joined it (not the order they were started in, nor the
/// order their tests end), and main steps through them one at a time. A run for another target
/// is in a queue of its own and lands while main's head is still under test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_lands_in_the_order_runs_were_queued_and_no_target_waits_for_another() {
    let (mut s, repo, hold) = world("").await;
    git(&repo, &["branch", "release"]);
    let initial = tip(&repo, "main");
    let p1 = s.run(&repo, "part", "p1").await;
    let p2 = s.run(&repo, "part", "p2").await;
    let h = s.run(&repo, "held", "held").await;
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!("{config}\n[gate]\ntarget = \"release\"\n"),
    )
    .unwrap();
    let r = s.run(&repo, "part", "r").await;
    for id in [&p1, &p2, &h, &r] {
        ready(&mut s, id).await;
    }
    assert_eq!(s.record(&r).await.target.as_deref(), Some("release"));

    // Queued h, p2, p1: h's test (its candidate holds held.txt) waits, so do those behind it.
    hold.on();
    for (i, id) in [&h, &p2, &p1].into_iter().enumerate() {
        merge(&s, id).await.expect("queued");
        let queued = s.line(id, "merge.queued").await;
        assert_eq!(queued["position"], i + 1, "{queued}");
        assert_eq!(queued["target"], "main");
    }
    // release's queue is another: r lands there at once.
    merge(&s, &r).await.expect("r queued");
    let rr = landed(&s, &r).await;
    assert_eq!(tip(&repo, "release"), rr.merged_commit.clone().unwrap());
    assert_eq!(parent(&repo, "release"), initial);
    assert!(holds(&repo, "release", "r.txt"));
    assert_eq!(tip(&repo, "main"), initial, "main moved while h was held");
    for id in [&h, &p2, &p1] {
        assert_eq!(s.record(id).await.merge, MergeState::Pending);
    }

    // Let h go: h, p2, p1 land in that order, each on the one before.
    hold.off();
    let mut commits = vec![initial.clone()];
    for id in [&h, &p2, &p1] {
        let landed = landed(&s, id).await.merged_commit.clone().unwrap();
        assert_eq!(&parent(&repo, &landed), commits.last().unwrap(), "{id}");
        commits.push(landed);
    }
    assert_eq!(main_history(&repo), commits);
    assert!(!holds(&repo, "main", "r.txt"));
    s.stop().await;
}

/// A run that may not merge is refused at once, with the gate's reasons, and nothing moves:
/// one that touches a protected path, one that changed nothing, one whose check failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_is_not_green_is_refused_with_its_gate_reasons() {
    let (mut s, repo, _) = world("[gate]\nprotected = [\"secret.txt\"]\n").await;
    let initial = tip(&repo, "main");
    let secret = s.run(&repo, "secret", "touch a protected path").await;
    let nothing = s.run(&repo, "nothing", "change nothing").await;
    let broken = s.run(&repo, "broken", "break the check").await;

    for (id, reason) in [
        (&secret, "touches protected paths: secret.txt"),
        (&nothing, "the run changed nothing"),
    ] {
        let r = s.finished(id).await;
        assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
        assert_eq!(r.merge, MergeState::Blocked, "{r:?}");
        let err = merge(&s, id).await.expect_err("a blocked run was queued");
        assert_eq!(err.kind, ErrorKind::Refused);
        assert!(
            err.message.starts_with(&format!(
                "not merging run {id}: the merge gate is not green: "
            )),
            "{err:?}"
        );
        // Every reason the gate gives, and this one among them.
        let reasons = r.gate_reasons.sentences();
        assert!(reasons.iter().any(|g| g.contains(reason)), "{reasons:?}");
        for g in &reasons {
            assert!(err.message.contains(g.as_str()), "{g} not in {err:?}");
        }
        assert_eq!(s.record(id).await.merge, MergeState::Blocked);
    }
    assert!(s
        .record(&secret)
        .await
        .gate_reasons
        .iter()
        .any(|g| matches!(g, GateReason::ProtectedPaths { paths } if paths == &["secret.txt"])));
    assert!(s
        .record(&nothing)
        .await
        .gate_reasons
        .contains(&GateReason::ChangedNothing));

    let r = s.finished(&broken).await;
    assert_eq!(r.status, Status::Failed);
    assert!(matches!(
        &r.gate_reasons[..],
        [GateReason::RunEnded {
            status: Status::Failed,
            ..
        }]
    ));
    let err = merge(&s, &broken)
        .await
        .expect_err("a failed run was queued");
    assert!(
        err.message.contains("it is failed")
            && err.message.contains("only a run that succeeded can merge"),
        "{err:?}"
    );
    assert_eq!(main_history(&repo), [initial]);
    s.stop().await;
}
