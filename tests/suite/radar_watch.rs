//! What the radar watches in a live worktree: the directories git tracks or could (new ones
//! included), never those `.gitignore` leaves out (`target/`, `node_modules/`), where a build
//! makes thousands of directories and inotify watches run out. Read from the server's inotify
//! descriptor in `/proc/PID/fdinfo`.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::common::*;

/// The inode numbers the process's inotify descriptors watch.
fn watched_inodes(pid: i32) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return inodes;
    };
    for fd in fds.flatten() {
        let is_inotify =
            std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().contains("inotify"));
        if !is_inotify {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        for line in info.lines().filter(|l| l.starts_with("inotify ")) {
            if let Some(ino) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ino:"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
            {
                inodes.insert(ino);
            }
        }
    }
    inodes
}

fn inode(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

#[test]
fn a_live_worktree_is_watched_except_where_gitignore_leaves_out() {
    let env = Env::new(
        r#"
[setup]
commands = [["mkdir", "-p", "node_modules/pkg/lib"]]

[agents.build]
command = ["sh", "-c", "mkdir -p target/debug/deps src/newmod/inner && touch ../ready-$FLIGHTDECK_RUN_ID && sleep 60"]
"#,
    );
    let repo = git_repo(env.path(), "repo");
    std::fs::write(repo.join(".gitignore"), "target/\nnode_modules/\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "ignore build output"]);
    let id = env.start(&repo, "build", "build");
    let r = env.wait_status(&id, "running");
    let wt = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
    wait_until("the agent made its directories", || {
        wt.parent().unwrap().join(format!("ready-{id}")).exists()
    });
    let pid = env.server_pid();
    // New directories the agent made are watched, down to the innermost one.
    wait_until("src/newmod/inner watched", || {
        watched_inodes(pid).contains(&inode(&wt.join("src/newmod/inner")))
    });
    let watched = watched_inodes(pid);
    assert!(watched.contains(&inode(&wt)), "the worktree's top");
    assert!(watched.contains(&inode(&wt.join("src"))));
    assert!(watched.contains(&inode(&wt.join("src/newmod"))));
    for ignored in [
        "target",
        "target/debug",
        "target/debug/deps",
        "node_modules",
        "node_modules/pkg",
        "node_modules/pkg/lib",
    ] {
        assert!(
            !watched.contains(&inode(&wt.join(ignored))),
            "{ignored} is ignored by git but watched"
        );
    }
    env.ok(&["kill", &id]);
}
