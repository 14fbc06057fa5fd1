//! The supervisor's behaviour, driven in this process through its `Handle` (see
//! `common::inproc`): real git repositories and real child processes, but no CLI, no socket
//! and no polling; each step waits for the event that says it happened.

use flightdeck::protocol::{Command, Reply};
use flightdeck::run::{Phase, Status};

use crate::common::git_repo;
use crate::common::inproc::InProc;

const AGENTS: &str = r#"
[agents.touch]
command = ["sh", "-c", "echo x > x.txt"]
[agents.slow]
command = ["sh", "-c", "sleep 1; echo slow > slow.txt"]
[agents.forever]
command = ["sleep", "600"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_goes_through_its_phases_in_order_and_succeeds() {
    let mut s = InProc::start(&format!(
        "{AGENTS}\n[[smoke]]\nname = \"present\"\ncommand = [\"test\", \"-f\", \"x.txt\"]\n"
    ))
    .await;
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "touch", "make x").await;
    let mut phases = Vec::new();
    loop {
        let e = s
            .until("a phase start or the run's end", |e| {
                matches!(e, flightdeck::protocol::Event::Timeline { run, line }
                    if run == &id && (line["type"] == "phase.started" || line["type"] == "run.finished"))
            })
            .await;
        let flightdeck::protocol::Event::Timeline { line, .. } = e else {
            unreachable!()
        };
        if line["type"] == "run.finished" {
            assert_eq!(line["status"], "succeeded", "{line}");
            break;
        }
        phases.push(line["phase"].as_str().unwrap_or_default().to_string());
    }
    let order: Vec<usize> = phases
        .iter()
        .map(|p| {
            Phase::PIPELINE
                .iter()
                .position(|q| q.as_str() == p)
                .unwrap_or_else(|| panic!("unknown phase {p}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{phases:?}");
    assert_eq!(phases.first().map(String::as_str), Some("prepare"));
    assert!(phases.iter().any(|p| p == "smoke"), "{phases:?}");
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Succeeded);
    assert!(r.score.is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_through_the_handle() {
    let mut s = InProc::start(AGENTS).await;
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "slow", "take a second").await;
    s.line(&id, "agent.started").await;
    let paused = s.call(Command::Pause { run: id.clone() }).await;
    assert!(
        matches!(paused, Ok(Reply::Run { .. }) | Ok(Reply::Done { .. })),
        "{paused:?}"
    );
    let r = s
        .until_run(&id, "paused", |r| r.status == Status::Paused)
        .await;
    assert_eq!(r.phase, Phase::Agent);
    s.call(Command::Resume { run: id.clone() })
        .await
        .expect("resumed");
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_check_fixed_in_the_worktree_passes_on_retry_from_smoke() {
    let mut s = InProc::start(&format!(
        "{AGENTS}\n[[smoke]]\nname = \"ok\"\ncommand = [\"test\", \"-f\", \"ok.txt\"]\n"
    ))
    .await;
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "touch", "make x").await;
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.phase, Phase::Smoke);
    std::fs::write(r.worktree.join("ok.txt"), "fixed by hand\n").unwrap();
    let r = s.retry(&id, Phase::Smoke).await;
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_through_the_handle_ends_the_run_killed() {
    let mut s = InProc::start(AGENTS).await;
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "forever", "never end").await;
    s.line(&id, "agent.started").await;
    s.call(Command::Kill { run: id.clone() })
        .await
        .expect("kill accepted");
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Killed, "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_md_names_the_records_target_even_after_the_config_changes() {
    let mut s = InProc::start(AGENTS).await;
    let repo = git_repo(s.path(), "repo");
    crate::common::git(&repo, &["branch", "release"]);
    let id = s.run(&repo, "touch", "make x").await;
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(r.target.as_deref(), Some("main"));
    // The config now names another target; the run's stays what it was accepted with.
    std::fs::write(
        &s.config,
        format!("{AGENTS}\n[gate]\ntarget = \"release\"\n"),
    )
    .unwrap();
    let r = s.retry(&id, Phase::Deliver).await;
    assert_eq!(r.target.as_deref(), Some("main"));
    let pr = std::fs::read_to_string(s.home.run_dir(&id).join("PR.md")).unwrap();
    assert!(pr.contains("→ `main`"), "{pr}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_that_dies_mid_run_is_followed_by_one_that_adopts_the_agent() {
    // No warm pool: the aborted supervisor's refill thread would live on in this process (a
    // crashed server's does not) and race the new supervisor's refill of the same pool.
    let mut s = InProc::start(&format!("pool = 0\n{AGENTS}")).await;
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "slow", "take a second").await;
    s.line(&id, "agent.started").await;
    let mut s = s.crash_and_restart().await;
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    assert!(r.worktree.join("slow.txt").exists());
    // (Read from the file: the new supervisor may adopt before a subscriber is there.)
    let timeline = flightdeck::proof::timeline::read_all(
        &s.home.run_dir(&id).join(flightdeck::paths::pack::TIMELINE),
    )
    .unwrap();
    let adopted: Vec<_> = timeline
        .iter()
        .filter(|l| l["type"] == "run.adopted")
        .collect();
    assert_eq!(adopted.len(), 1, "{timeline:#?}");
    let started: Vec<_> = timeline
        .iter()
        .filter(|l| l["type"] == "agent.started")
        .collect();
    assert_eq!(started.len(), 1, "the agent ran twice: {started:#?}");
    s.stop().await;
}

/// A stopped supervisor stops its own pool refills, not those of another in the same process
/// (the refill state was process-wide: after one server stopped, no pool refilled again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_supervisor_does_not_stop_another_ones_pool() {
    let first = InProc::start(AGENTS).await;
    let first_pools = first.injected.pools.clone();
    first.stop().await;
    assert!(
        first_pools.is_stopping(),
        "the stopped supervisor's own keeper stops"
    );
    let mut s = InProc::start(&format!("pool = 1\n{AGENTS}")).await;
    assert!(
        !s.injected.pools.is_stopping(),
        "another supervisor's keeper goes on"
    );
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "touch", "make x").await;
    let r = s.finished(&id).await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
    let pool = flightdeck::workspace::pool::dir_for(&r.worktree).expect("a pool directory");
    crate::common::wait_until("the pool to be refilled after the run", || {
        std::fs::read_dir(&pool).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("pool-"))
        })
    });
    s.stop().await;
}

/// The times a run's state records come from the supervisor's clock (here a fixed one): the
/// run starts and ends when the clock says, and a retry starts it anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_times_come_from_the_supervisors_clock() {
    let at = flightdeck::time::parse_rfc3339("2026-01-01T09:00:00Z").unwrap();
    let clock = flightdeck::time::Clock::fixed(at);
    let mut s = InProc::with_clock(AGENTS, clock.clone()).await;
    let repo = git_repo(s.path(), "repo");
    let id = s.run(&repo, "touch", "make x").await;
    let r = s.finished(&id).await;
    assert_eq!(r.started_at.as_deref(), Some("2026-01-01T09:00:00Z"));
    assert_eq!(r.finished_at.as_deref(), Some("2026-01-01T09:00:00Z"));
    clock.advance(std::time::Duration::from_secs(3600));
    let again = s.retry(&id, Phase::Agent).await;
    assert_eq!(again.attempt, 2);
    assert_eq!(again.started_at.as_deref(), Some("2026-01-01T10:00:00Z"));
    assert_eq!(again.finished_at.as_deref(), Some("2026-01-01T10:00:00Z"));
    s.stop().await;
}
