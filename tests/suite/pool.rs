//! The warm pool: worktrees checked out ahead of time per repository, handed to a new run by a
//! rename, brought forward when the base moves, never listed as runs, removed with the server.

use std::path::{Path, PathBuf};

use crate::common::*;

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

/// A repository whose first run succeeded and whose pool is full: (repo, that run, the pool).
fn with_full_pool(env: &Env) -> (PathBuf, String, PathBuf) {
    let repo = git_repo(env.path(), "repo");
    let first = env.start(&repo, "writer", "first");
    env.wait_status(&first, "succeeded");
    let wt: PathBuf = env.record(&first)["worktree"].as_str().unwrap().into();
    let pool = wt.parent().unwrap().join(".pool");
    wait_until("the pool to fill", || pooled(&pool).len() == 2);
    (repo, first, pool)
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
    let mut env = Env::new(&CONFIG.replace("pool = 2", "pool = 0"));
    env.vars.push(("FLIGHTDECK_LOG".into(), "debug".into()));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "writer", "only");
    env.wait_status(&id, "succeeded");
    // Looked at once the refill the run asked for is over, not after a guessed time.
    let log = env.home.join("server.log");
    wait_until("the refill to end", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("refilled to 0"))
    });
    let wt: PathBuf = env.record(&id)["worktree"].as_str().unwrap().into();
    assert!(!wt.parent().unwrap().join(".pool").exists());
}

#[test]
fn cleaning_a_repositorys_last_run_takes_its_pool_along() {
    let env = Env::new(CONFIG);
    let (repo, id, pool) = with_full_pool(&env);
    env.ok(&["clean", &id, "--force"]);
    assert!(
        !pool.exists(),
        "the pool outlived the repository's last run"
    );
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);
}

/// The commit each pooled worktree is at (from git's record of it).
fn pooled_heads(pool: &Path) -> Vec<String> {
    pooled(pool)
        .iter()
        .filter_map(|name| {
            let dot_git = std::fs::read_to_string(pool.join(name).join(".git")).ok()?;
            let record = PathBuf::from(dot_git.strip_prefix("gitdir:")?.trim());
            std::fs::read_to_string(record.join("HEAD"))
                .ok()
                .map(|h| h.trim().to_string())
        })
        .collect()
}

/// When main moves under a pool (here the user commits), the pool is brought forward in the
/// background, before any run asks: the next run takes a worktree already at its base.
#[test]
fn the_pool_follows_main_before_the_next_run_asks() {
    let env = Env::new(CONFIG);
    let (repo, _, pool) = with_full_pool(&env);
    let old = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(pooled_heads(&pool), vec![old.clone(), old.clone()]);

    std::fs::write(repo.join("new-on-main.txt"), "moved\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "main moves"]);
    let new = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    wait_until("the pool to follow main", || {
        pooled_heads(&pool) == vec![new.clone(), new.clone()]
    });
    for name in pooled(&pool) {
        let dir = pool.join(name);
        assert!(dir.join("new-on-main.txt").exists());
        assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    }

    let second = env.start(&repo, "writer", "second");
    env.wait_status(&second, "succeeded");
    assert_eq!(created(&env, &second)["pool"], "at base");
    assert_eq!(env.record(&second)["base"], new.as_str());
}

/// A server killed mid-way leaves pool entries half made or half removed; the next refill
/// removes them, with git's records of them, and hands out only whole ones.
#[test]
fn what_a_killed_server_left_in_the_pool_is_removed_by_the_next_refill() {
    let env = Env::new(CONFIG);
    let (repo, _, pool) = with_full_pool(&env);
    env.kill_server();
    // A drain cut short after its claim, and a checkout cut short before its record.
    let claimed = pooled(&pool)[0].clone();
    let record = std::fs::read_to_string(pool.join(&claimed).join(".git")).unwrap();
    let record = PathBuf::from(record.strip_prefix("gitdir:").unwrap().trim());
    std::fs::rename(
        pool.join(&claimed),
        pool.join(claimed.replace("pool-", "drop-")),
    )
    .unwrap();
    std::fs::create_dir_all(pool.join("making-cutshort/src")).unwrap();

    let second = env.start(&repo, "writer", "second");
    env.wait_status(&second, "succeeded");
    wait_until("the pool to be whole again", || {
        let names: Vec<String> = std::fs::read_dir(&pool)
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.len() == 2 && names.iter().all(|n| n.starts_with("pool-"))
    });
    assert!(!record.exists(), "the cut-short entry's record stayed");
    git(&repo, &["worktree", "prune"]);
    let list = git(&repo, &["worktree", "list"]);
    assert_eq!(
        list.lines().filter(|l| l.contains(".pool")).count(),
        2,
        "{list}"
    );
}

/// A burst of runs through the pool while main moves under them: every run succeeds with its
/// own commit on its own branch, and cleaning them all leaves git with no worktree record and
/// no flightdeck branch (a pooled run's record keeps its pool- name; clean finds it).
#[test]
fn a_burst_of_runs_through_the_pool_while_main_moves_all_succeed_and_clean_up() {
    let env = Env::new(&format!("max_parallel = 6\n{CONFIG}"));
    let repo = git_repo(env.path(), "repo");
    let mut ids = Vec::new();
    for i in 0..30 {
        if i == 12 {
            std::fs::write(repo.join("moved.txt"), "main moved\n").unwrap();
            git(&repo, &["add", "-A"]);
            git(&repo, &["commit", "-q", "-m", "main moves"]);
        }
        ids.push(env.start(&repo, "writer", &format!("run {i}")));
    }
    let mut pooled_runs = 0;
    for id in &ids {
        let r = env.wait_for(id, "finished", |r| {
            matches!(r["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert_eq!(r["status"], "succeeded", "{r:#}");
        let branch = r["branch"].as_str().unwrap();
        assert_eq!(
            git(&repo, &["show", &format!("{branch}:made-by-run.txt")]).trim(),
            id
        );
        let base = r["base"].as_str().unwrap();
        assert_eq!(
            git(&repo, &["rev-parse", &format!("{branch}~1")]).trim(),
            base
        );
        if !created(&env, id)["pool"].is_null() {
            pooled_runs += 1;
        }
    }
    assert!(pooled_runs > 0, "no run came from the pool");
    // Cleaned all at once, as a script or the cockpit may: each clean removes a worktree
    // record while the others are deleting branches.
    std::thread::scope(|s| {
        for chunk in ids.chunks(5) {
            let env = &env;
            s.spawn(move || {
                for id in chunk {
                    env.ok(&["clean", id, "--force"]);
                }
            });
        }
    });
    env.ok(&["stop"]);
    assert_eq!(
        git(&repo, &["worktree", "list"]).lines().count(),
        1,
        "{}",
        git(&repo, &["worktree", "list"])
    );
    let records = repo.join(".git/worktrees");
    assert!(
        std::fs::read_dir(&records).map_or(true, |d| d.count() == 0),
        "records left: {:?}",
        std::fs::read_dir(&records).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    assert_eq!(git(&repo, &["branch", "--list", "flightdeck/*"]), "");
}

/// Takers and a refiller racing on one pool while the base moves back and forth: every
/// worktree handed out is whole, points at its own git record, and commits; the pool never
/// holds a half-made entry under a pool- name. (A refill publishing an entry before it had
/// finished writing it, or bringing one forward while a run took it, broke exactly this.)
#[test]
fn takers_racing_a_refill_always_get_a_whole_worktree() {
    race_takers_and_a_refill(false);
}

/// The same race on a tree with a `.gitattributes`, as most real projects have: the refill
/// takes libgit2's checkout there (the fast writer handles no attributes).
#[test]
fn takers_racing_a_refill_on_a_tree_with_attributes_get_whole_worktrees() {
    race_takers_and_a_refill(true);
}

fn race_takers_and_a_refill(attributes: bool) {
    use flightdeck::run::WorkspaceKind;
    use flightdeck::workspace::{self, pool, Spec};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(tmp.path(), "repo");
    for i in 0..40 {
        std::fs::write(repo.join(format!("src/f{i}.txt")), format!("{i}\n")).unwrap();
    }
    if attributes {
        std::fs::write(
            repo.join(".gitattributes"),
            "*.txt text eol=lf\n*.png binary\n",
        )
        .unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "more files"]);
    let a = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    std::fs::write(repo.join("src/f0.txt"), "moved\n").unwrap();
    std::fs::remove_file(repo.join("src/f1.txt")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base moves"]);
    let b = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();

    let runs = tmp.path().join("worktrees/repo");
    std::fs::create_dir_all(&runs).unwrap();
    let pool_dir = runs.join(".pool");
    let done = Arc::new(AtomicBool::new(false));
    let refiller = {
        let (repo, pool_dir, done) = (repo.clone(), pool_dir.clone(), done.clone());
        let (a, b) = (a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !done.load(Ordering::SeqCst) {
                let base = if (i / 3).is_multiple_of(2) { &a } else { &b };
                // A refill may lose an entry to a taker mid-way; that is its error to log.
                let _ = pool::Keeper::default().refill(&repo, &pool_dir, base, 2);
                i += 1;
            }
        })
    };
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let taken = Arc::new(Mutex::new(0usize));
    let takers: Vec<_> = (0..3)
        .map(|t| {
            let (repo, runs, problems, taken) =
                (repo.clone(), runs.clone(), problems.clone(), taken.clone());
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                // Each taker takes 24 worktrees (waiting for the refill when the pool is
                // empty), alternating between the two bases.
                let mut n = 0;
                let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
                while n < 24 && std::time::Instant::now() < until {
                    n += 1;
                    let id = format!("t{t}n{n}");
                    let base = if n % 2 == 0 { &a } else { &b };
                    let spec = Spec {
                        run_id: id.clone(),
                        kind: WorkspaceKind::Worktree,
                        source: repo.clone(),
                        base: base.clone(),
                        branch: format!("flightdeck/{id}"),
                        path: runs.join(&id),
                    };
                    match workspace::from_pool(&spec) {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            n -= 1;
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            continue;
                        }
                        Err(e) => {
                            problems.lock().unwrap().push(format!("{id}: take: {e}"));
                            continue;
                        }
                    }
                    *taken.lock().unwrap() += 1;
                    if let Err(e) = check_taken(&spec, base) {
                        problems.lock().unwrap().push(format!("{id}: {e}"));
                    }
                }
            })
        })
        .collect();
    for t in takers {
        t.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    refiller.join().unwrap();
    let problems = problems.lock().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(*taken.lock().unwrap(), 72, "the pool handed out too few");
}

/// A taken worktree is at `base` on its branch, is its own (git's record points back at it),
/// holds exactly base's files, and commits.
fn check_taken(spec: &flightdeck::workspace::Spec, base: &str) -> Result<(), String> {
    let wt = git2::Repository::open(&spec.path).map_err(|e| format!("open: {e}"))?;
    let workdir = wt.workdir().ok_or("no workdir")?.canonicalize().unwrap();
    if workdir != spec.path.canonicalize().unwrap() {
        return Err(format!("git sees the worktree at {}", workdir.display()));
    }
    let head = wt.head().map_err(|e| format!("head: {e}"))?;
    if head.shorthand() != Some(spec.branch.as_str()) {
        return Err(format!("HEAD is {:?}", head.shorthand()));
    }
    let status = git_out(&spec.path, &["status", "--porcelain"]);
    if !status.is_empty() {
        return Err(format!("not clean: {status}"));
    }
    let tip = git_out(&spec.path, &["rev-parse", "HEAD"]);
    if tip.trim() != base {
        return Err(format!("at {} not {base}", tip.trim()));
    }
    std::fs::write(spec.path.join("made.txt"), &spec.run_id).unwrap();
    flightdeck::workspace::commit_all(&spec.path, "made", &[])
        .map_err(|e| format!("commit: {e}"))?;
    Ok(())
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A run whose branch name is already taken is told so, as a cold start would tell it, and
/// the pool keeps its worktree.
#[test]
fn a_taken_branch_name_costs_no_pooled_worktree() {
    use flightdeck::run::WorkspaceKind;
    use flightdeck::workspace::{self, pool, Spec};

    let tmp = tempfile::tempdir().unwrap();
    let repo = git_repo(tmp.path(), "repo");
    let base = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let runs = tmp.path().join("worktrees/repo");
    std::fs::create_dir_all(&runs).unwrap();
    let pool_dir = runs.join(".pool");
    pool::Keeper::default()
        .refill(&repo, &pool_dir, &base, 2)
        .unwrap();
    assert_eq!(pooled(&pool_dir).len(), 2);
    git(&repo, &["branch", "flightdeck/dup"]);
    let spec = Spec {
        run_id: "dup".into(),
        kind: WorkspaceKind::Worktree,
        source: repo.clone(),
        base,
        branch: "flightdeck/dup".into(),
        path: runs.join("dup"),
    };
    let err = workspace::from_pool(&spec).unwrap_err().to_string();
    assert!(
        err.contains("branch flightdeck/dup already exists"),
        "{err}"
    );
    assert_eq!(pooled(&pool_dir).len(), 2);
    assert!(!spec.path.exists());
    // The user's branch is theirs: still there.
    git(&repo, &["rev-parse", "--verify", "flightdeck/dup"]);
    pool::drain(&pool_dir);
}
