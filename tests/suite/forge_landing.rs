//! Landing through the forge, end to end on the real binary against the loopback GitHub:
//! auto-merge waits for the forge and lands through its merge API (never locally), the merged
//! result goes through flightdeck's merge queue test first, and branch protection (the merge
//! API's 405, a pre-receive hook on the remote) is said as such.

use std::path::Path;

use crate::common::forge_fake::{FakeCheck, FakeForge};
use crate::common::*;
use crate::forge::{config, env_with, repo_on_forge, TOKEN};

fn remote_main(remote: &Path) -> String {
    git(remote, &["rev-parse", "refs/heads/main"])
        .trim()
        .to_string()
}

fn merges(forge: &FakeForge) -> usize {
    forge
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path.ends_with("/merge"))
        .count()
}

#[test]
fn auto_merge_with_a_forge_waits_for_it_and_lands_through_its_api_never_locally() {
    let forge = FakeForge::github(TOKEN);
    // Branch protection: one approving review.
    forge.require_approval();
    let cfg = config("github", &forge.url(), "ready", "repo = \"o/r\"")
        .replace("[gate]\n", "[gate]\nauto_merge = true\n");
    let env = env_with(&cfg);
    let (repo, remote) = repo_on_forge(&env, &forge, "o/r");
    let local_main = git(&repo, &["rev-parse", "main"]);
    let before = remote_main(&remote.dir);
    let id = env.start(&repo, "noter", "add a note");
    let r = env.wait_for(&id, "a pull request", |r| r["pr"]["number"].is_u64());
    let n = r["pr"]["number"].as_u64().unwrap();
    // Auto-merge asks the forge, which wants an approval first: nothing lands anywhere.
    env.wait_for(&id, "the forge's refusal", |_| {
        !env.events_of(&id, "merge.refused").is_empty()
    });
    let refused = env.events_of(&id, "merge.refused");
    let said = refused[0]["message"].as_str().unwrap();
    assert!(
        said.contains("the forge refuses") && said.contains("branch protection"),
        "{said}"
    );
    let r = env.record(&id);
    assert_eq!(r["merge"], "ready", "{r}");
    assert!(env.events_of(&id, "merge.landed").is_empty());
    assert_eq!(git(&repo, &["rev-parse", "main"]), local_main);
    assert_eq!(remote_main(&remote.dir), before);
    assert_eq!(merges(&forge), 0);

    // Checks pass and a reviewer approves: auto-merge lands it through the forge's API.
    let head = r["pr"]["head"].as_str().unwrap().to_string();
    forge.set_checks(&head, vec![FakeCheck::completed("unit", "success", "")]);
    forge.review(n, "alice", "APPROVED", "", vec![]);
    let r = env.wait_for(&id, "merged through the forge", |r| r["merge"] == "merged");
    assert_eq!(r["pr"]["state"], "merged");
    assert!(forge.pr(n).merged);
    assert_eq!(merges(&forge), 1);
    assert_eq!(env.events_of(&id, "pr.merged").len(), 1);
    assert!(
        !env.events_of(&id, "merge.tested").is_empty(),
        "the merged result went through the merge queue's test"
    );
    assert!(env.events_of(&id, "merge.landed").is_empty());
    assert_eq!(
        git(&repo, &["rev-parse", "main"]),
        local_main,
        "flightdeck did not land it locally"
    );
    assert_eq!(r["merged_commit"], remote_main(&remote.dir).as_str());
}

/// Two runs that each pass alone but break main together: the second, merged after the
/// first landed through the forge, is refused by flightdeck's merge queue (its test of the
/// merged result on the forge's main), and the forge is not asked to merge it.
#[test]
fn landing_through_the_forge_tests_the_merged_result_as_the_merge_queue_does() {
    let forge = FakeForge::github(TOKEN);
    let env = env_with(&format!(
        r#"
max_parallel = 2
[agents.toucher]
command = ["sh", "-c", "touch \"$FLIGHTDECK_TASK\""]
[[smoke]]
name = "apart"
command = ["sh", "-c", "if [ -f first ] && [ -f second ]; then echo 'first and second clash'; exit 1; fi"]
[gate]
min_score = 0.0
[forge]
kind = "github"
api_url = "{}"
token_env = "{}"
open = "ready"
poll = "1s"
repo = "o/r"
"#,
        forge.url(),
        crate::forge::TOKEN_VAR
    ));
    let (repo, remote) = repo_on_forge(&env, &forge, "o/r");
    let a = env.start(&repo, "toucher", "first");
    let b = env.start(&repo, "toucher", "second");
    env.wait_for(&a, "a pull request", |r| r["pr"]["number"].is_u64());
    let rb = env.wait_for(&b, "a pull request", |r| r["pr"]["number"].is_u64());
    let out = env.ok(&["merge", &a]);
    assert!(out.contains("through pull request"), "{out}");
    let landed = remote_main(&remote.dir);
    assert!(git(&remote.dir, &["ls-tree", "--name-only", &landed]).contains("first"));

    let err = env.fails(&["merge", &b]);
    assert!(
        err.contains("flightdeck's merge queue refuses") && err.contains("first and second clash"),
        "{err}"
    );
    assert_eq!(
        remote_main(&remote.dir),
        landed,
        "the forge did not merge it"
    );
    assert_eq!(merges(&forge), 1);
    assert!(!forge.pr(rb["pr"]["number"].as_u64().unwrap()).merged);
    let rb = env.record(&b);
    assert_eq!(rb["merge"], "blocked");
    assert!(env
        .events_of(&b, "merge.tested")
        .iter()
        .any(|e| e["passed"] == false));
}

#[test]
fn branch_protection_refusals_are_said_as_such() {
    let forge = FakeForge::github(TOKEN);
    let env = env_with(&config("github", &forge.url(), "manual", "repo = \"o/r\""));
    let (repo, remote) = repo_on_forge(&env, &forge, "o/r");
    let id = env.start(&repo, "noter", "note");
    env.wait_status(&id, "succeeded");
    env.ok(&["pr", &id]);
    // GitHub's 405 for a required status check, then for a required review.
    for why in [
        "Required status check \"ci\" is expected.",
        "At least 1 approving review is required by reviewers with write access.",
    ] {
        forge.protect(why);
        let err = env.fails(&["merge", &id]);
        assert!(
            err.contains("the forge refuses")
                && err.contains("branch protection")
                && err.contains(why),
            "{err}"
        );
        assert_eq!(env.record(&id)["merge"], "ready", "the run stays ready");
    }
    assert_eq!(merges(&forge), 2);

    // A pre-receive hook on the remote refuses the push of another run's branch.
    let hook = remote.dir.join("hooks").join("pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'GL-HOOK-ERR: pushes are locked' >&2\nexit 1\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let other = env.start(&repo, "noter", "another note");
    env.wait_status(&other, "succeeded");
    let err = env.fails(&["pr", &other]);
    assert!(
        err.contains("refused the push") && err.contains("(a protected branch or a hook)"),
        "{err}"
    );
}
