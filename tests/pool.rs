//! The warm pool: worktrees checked out ahead of time per repository, handed to a new run by a
//! rename, brought forward when the base moves, never listed as runs, removed with the server.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const CONFIG: &str = r#"
pool = 2
[agents.writer]
command = ["sh", "-c", "echo $FLIGHTDECK_RUN_ID > made-by-run.txt"]
"#;

fn pooled(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.starts_with("pool-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn created(env: &Env, id: &str) -> serde_json::Value {
    env.events_of(id, "workspace.created")
        .pop()
        .expect("workspace.created")
}

#[test]
fn runs_take_pooled_worktrees_and_the_pool_goes_with_the_server() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let first = env.start(&repo, "writer", "first");
    env.wait_status(&first, "succeeded");
    assert!(
        created(&env, &first)["pool"].is_null(),
        "nothing was pooled yet"
    );
    let wt: PathBuf = env.record(&first)["worktree"].as_str().unwrap().into();
    let pool = wt.parent().unwrap().join(".pool");
    wait_until("the pool to fill", || pooled(&pool).len() == 2);
    // Pooled worktrees are not runs.
    let runs = env.json(&["ls", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);

    // The next run takes one as it is: same base, O(1).
    let before = pooled(&pool);
    let second = env.start(&repo, "writer", "second");
    env.wait_status(&second, "succeeded");
    assert_eq!(created(&env, &second)["pool"], "at base");
    let wt2: PathBuf = env.record(&second)["worktree"].as_str().unwrap().into();
    assert!(wt2.ends_with(&second));
    let branch = env.record(&second)["branch"].as_str().unwrap().to_string();
    assert_eq!(
        git(&repo, &["show", &format!("{branch}:made-by-run.txt")]).trim(),
        second
    );
    assert_eq!(git(&wt2, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&wt2, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        branch
    );
    let list = git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(
        list.contains(&format!("worktree {}", wt2.display())),
        "{list}"
    );
    // ...and the pool is topped up again, with a new one.
    wait_until("the pool to refill", || {
        let now = pooled(&pool);
        now.len() == 2 && now != before
    });

    // The base moves: a pooled worktree is brought forward to it, and holds exactly it.
    std::fs::write(repo.join("new-on-main.txt"), "moved\n").unwrap();
    std::fs::remove_file(repo.join("shared.txt")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "main moves"]);
    let third = env.start(&repo, "writer", "third");
    env.wait_status(&third, "succeeded");
    assert_eq!(created(&env, &third)["pool"], "brought forward");
    let wt3: PathBuf = env.record(&third)["worktree"].as_str().unwrap().into();
    assert!(wt3.join("new-on-main.txt").exists());
    assert!(!wt3.join("shared.txt").exists());
    assert_eq!(git(&wt3, &["status", "--porcelain"]), "");
    let branch3 = env.record(&third)["branch"].as_str().unwrap().to_string();
    let files = git(&repo, &["ls-tree", "-r", "--name-only", &branch3]);
    assert!(
        files.contains("new-on-main.txt") && !files.contains("shared.txt"),
        "{files}"
    );

    // Stopping the server removes the pool; the runs' worktrees stay.
    wait_until("the pool to refill", || pooled(&pool).len() == 2);
    env.ok(&["stop", "--keep-runs"]);
    assert!(!pool.exists(), "the pool outlived the server");
    let list = git(&repo, &["worktree", "list"]);
    assert!(!list.contains(".pool"), "{list}");
    assert!(wt2.exists() && wt3.exists());
    git(&repo, &["worktree", "prune"]);
    assert!(git(&repo, &["worktree", "list"]).contains(&second));
}

#[test]
fn pool_zero_keeps_no_worktrees_ready() {
    let env = Env::new(&CONFIG.replace("pool = 2", "pool = 0"));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "writer", "only");
    env.wait_status(&id, "succeeded");
    std::thread::sleep(std::time::Duration::from_millis(800));
    let wt: PathBuf = env.record(&id)["worktree"].as_str().unwrap().into();
    assert!(!wt.parent().unwrap().join(".pool").exists());
}

#[test]
fn cleaning_a_repositorys_last_run_takes_its_pool_along() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "writer", "only");
    env.wait_status(&id, "succeeded");
    let wt: PathBuf = env.record(&id)["worktree"].as_str().unwrap().into();
    let pool = wt.parent().unwrap().join(".pool");
    wait_until("the pool to fill", || pooled(&pool).len() == 2);
    env.ok(&["clean", &id, "--force"]);
    assert!(
        !pool.exists(),
        "the pool outlived the repository's last run"
    );
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);
}
