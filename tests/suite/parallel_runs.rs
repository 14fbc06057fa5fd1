//! Ten runs at once on one repository: each in its own worktree and branch, none seeing the
//! others' changes, the user's checkout untouched.

use crate::common::*;

const CONFIG: &str = r#"
max_parallel = 4
[agents.writer]
command = ["sh", "-c", "printf '%s\n' \"$FLIGHTDECK_TASK\" > \"own-$FLIGHTDECK_RUN_ID.txt\"; printf '%s\n' \"$FLIGHTDECK_TASK\" >> shared.txt; sleep 0.3"]
"#;

#[test]
fn ten_parallel_runs_stay_isolated() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let head_before = git(&repo, &["rev-parse", "HEAD"]);

    // Ten clients at once (this also races them to start the server).
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let (env, repo) = (&env, &repo);
                s.spawn(move || env.start(repo, "writer", &format!("task number {i}")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "ids: {ids:?}");

    let records: Vec<_> = ids
        .iter()
        .map(|id| env.wait_status(id, "succeeded"))
        .collect();

    let branches = git(
        &repo,
        &[
            "branch",
            "--list",
            "flightdeck/*",
            "--format=%(refname:short)",
        ],
    );
    let mut branches: Vec<&str> = branches.lines().collect();
    branches.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| format!("flightdeck/{id}")).collect();
    expected.sort();
    assert_eq!(branches, expected);

    for r in &records {
        let id = r["id"].as_str().unwrap();
        let task = r["task"].as_str().unwrap();
        let wt = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
        assert_eq!(r["branch"], format!("flightdeck/{id}"));
        assert_eq!(r["base"].as_str().unwrap(), head_before.trim());
        assert!(wt.ends_with(format!("repo/{id}")), "{}", wt.display());
        // Its own file, nobody else's.
        let own: Vec<String> = std::fs::read_dir(&wt)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("own-"))
            .collect();
        assert_eq!(own, vec![format!("own-{id}.txt")]);
        assert_eq!(
            std::fs::read_to_string(wt.join("shared.txt")).unwrap(),
            format!("shared log\n{task}\n")
        );
        // The branch holds the work as a commit by flightdeck.
        let author = git(&wt, &["log", "-1", "--format=%an %s"]);
        assert_eq!(author.trim(), format!("flightdeck {task}"));
        assert!(git(&wt, &["status", "--porcelain"]).trim().is_empty());

        // patch.diff: exactly this run's change.
        let patch = std::fs::read_to_string(env.run_dir(id).join("patch.diff")).unwrap();
        assert!(patch.contains(&format!("+++ b/own-{id}.txt")), "{patch}");
        assert!(patch.contains(&format!("+{task}")), "{patch}");
        for other in ids.iter().filter(|o| *o != id) {
            assert!(
                !patch.contains(other.as_str()),
                "patch of {id} mentions {other}:\n{patch}"
            );
        }
        assert_eq!(patch.matches("diff --git").count(), 2, "{patch}");
        let shared = patch.split("diff --git a/shared.txt").nth(1).unwrap();
        assert_eq!(
            shared
                .lines()
                .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
                .count(),
            1
        );
        assert!(env.run_dir(id).join("agent.log").exists());
        assert!(env.run_dir(id).join("run.json").exists());
    }

    // The user's checkout: same HEAD, same branch, clean, no run's files.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head_before);
    assert_eq!(
        git(&repo, &["symbolic-ref", "--short", "HEAD"]).trim(),
        "main"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");
    assert_eq!(
        std::fs::read_to_string(repo.join("shared.txt")).unwrap(),
        "shared log\n"
    );

    // The queue kept at most max_parallel runs going: count overlapping agent phases.
    let mut spans: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            let started = env.events_of(id, "agent.started")[0]["ts"]
                .as_str()
                .unwrap()
                .to_string();
            let exited = env.events_of(id, "agent.exited")[0]["ts"]
                .as_str()
                .unwrap()
                .to_string();
            (started, exited)
        })
        .collect();
    spans.sort();
    for (i, (start, _)) in spans.iter().enumerate() {
        let overlapping = spans[..i].iter().filter(|(_, end)| end > start).count() + 1;
        assert!(
            overlapping <= 4,
            "{overlapping} agents ran at once with max_parallel = 4"
        );
    }
}
