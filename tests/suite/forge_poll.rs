//! Polling pull requests economically, on the client itself against the loopback GitHub: one
//! conditional list per repository per poll, details only for what may have changed, and the
//! forge's rate limit honoured before the next request. Each poll stands for a minute of
//! `poll = "60s"`, so requests per poll are requests per minute.

use flightdeck::config::forge::{ForgeConfig, ForgeKind};
use flightdeck::forge::{Forge, ForgeError};
use flightdeck::run::{PrChecks, PrReview};
use serde_json::json;

use crate::common::forge_fake::{git_remote, send, FakeCheck, FakeForge, GitRemote};
use crate::common::git;

const TOKEN: &str = "poll-token";

fn forge_for(fake: &FakeForge) -> Forge {
    let cfg = ForgeConfig {
        kind: ForgeKind::Github,
        api_url: fake.url(),
        ..Default::default()
    };
    Forge::new(&cfg, "o/r".into(), TOKEN.into()).unwrap()
}

/// Open `n` pull requests on the fake, as some other client would, each from a branch of its
/// own on a real remote (so each has its own head).
fn open_prs(fake: &FakeForge, dir: &std::path::Path, n: u64) -> (Vec<u64>, GitRemote) {
    let remote = git_remote(dir);
    let bare = remote.dir.clone();
    let tree = git(&bare, &["hash-object", "-t", "tree", "-w", "/dev/null"]);
    let main = git(&bare, &["commit-tree", tree.trim(), "-m", "main"]);
    git(&bare, &["update-ref", "refs/heads/main", main.trim()]);
    for i in 1..=n {
        let c = git(
            &bare,
            &[
                "commit-tree",
                tree.trim(),
                "-p",
                main.trim(),
                "-m",
                &format!("run {i}"),
            ],
        );
        git(
            &bare,
            &["update-ref", &format!("refs/heads/fd/{i}"), c.trim()],
        );
    }
    fake.attach_remote("o/r", &bare);
    let auth = format!("Bearer {TOKEN}");
    let numbers = (1..=n)
        .map(|i| {
            let body = json!({"title": format!("run {i}"), "head": format!("fd/{i}"), "base": "main", "body": "proof"});
            let r = send(
                "POST",
                &format!("{}/repos/o/r/pulls", fake.url()),
                &[("User-Agent", "t"), ("Authorization", &auth)],
                Some(&body.to_string()),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            r.json()["number"].as_u64().unwrap()
        })
        .collect::<Vec<u64>>();
    (numbers, remote)
}

#[tokio::test]
async fn thirty_open_prs_polled_for_ten_minutes_stay_under_sixty_requests_a_minute() {
    let fake = FakeForge::github(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let (numbers, _remote) = open_prs(&fake, dir.path(), 30);
    // Five have checks still running (looked at every poll), ten passed, the rest have none.
    for (i, pr) in fake.prs().iter().enumerate() {
        let checks = match i {
            0..5 => vec![FakeCheck::in_progress("ci")],
            5..15 => vec![FakeCheck::completed("ci", "success", "")],
            _ => continue,
        };
        fake.set_checks(&pr.head_sha, checks);
    }
    let forge = forge_for(&fake);
    let mut per_poll = Vec::new();
    let mut seen_review = PrReview::None;
    for minute in 0..10 {
        if minute == 4 {
            // Something happens on the forge: a review on #7 comes back within the minute.
            fake.review(7, "alice", "APPROVED", "", vec![]);
        }
        let before = fake.requests().len();
        let seen = forge.poll(&numbers).await.unwrap();
        assert_eq!(seen.len(), 30, "every PR reported each poll");
        if let Some(s) = seen.iter().find(|s| s.pr.number == 7) {
            seen_review = s.pr.review;
        }
        if minute == 4 {
            assert_eq!(
                seen_review,
                PrReview::Approved,
                "the change is seen in its poll"
            );
        }
        per_poll.push(fake.requests().len() - before);
    }
    println!("requests per poll (a minute each), 30 PRs: {per_poll:?}");
    assert!(per_poll.iter().all(|&n| n < 60), "{per_poll:?}");
    let total: usize = per_poll.iter().sum();
    assert!(total < 10 * 60, "{total}");
    // After the first look, most polls are the list (answered 304) and little else.
    let quiet: Vec<usize> = per_poll[2..4].to_vec();
    assert!(quiet.iter().all(|&n| n <= 8), "{quiet:?}");
    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|q| q.method == "GET" && q.path.starts_with("/repos/o/r/pulls?"))
        .collect();
    assert!(
        lists.iter().skip(1).any(|q| q.status == 304),
        "the list is asked for conditionally"
    );
    assert!(lists
        .iter()
        .skip(1)
        .all(|q| q.header("if-none-match").is_some()));
    let s = forge.poll(&numbers).await.unwrap();
    let pending = s
        .iter()
        .filter(|s| s.pr.checks == PrChecks::Pending)
        .count();
    let passing = s
        .iter()
        .filter(|s| s.pr.checks == PrChecks::Passing)
        .count();
    assert_eq!(pending, 5);
    assert!(passing >= 10, "{passing}");
}

#[tokio::test]
async fn the_forges_rate_limit_holds_the_next_request_back() {
    let fake = FakeForge::github(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let (numbers, _remote) = open_prs(&fake, dir.path(), 2);
    let forge = forge_for(&fake);
    fake.rate_limit_next(1, 2);
    let first = forge.poll(&numbers).await;
    assert!(
        matches!(first, Err(ForgeError::RateLimited { .. })),
        "{first:?}"
    );
    let asked = fake.requests().len();
    // Within the wait: refused here, the forge is not asked.
    let held = forge.poll(&numbers).await;
    assert!(
        matches!(held, Err(ForgeError::RateLimited { .. })),
        "{held:?}"
    );
    assert_eq!(fake.requests().len(), asked, "no request while held back");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(forge.poll(&numbers).await.unwrap().len(), 2);
}
