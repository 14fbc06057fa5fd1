//! Prints the conflict radar's time for 20 active runs (a measurement, not a test), on a
//! repository of 5,000 files and, for comparison, one of 500.
//!
//! cargo run --release --example radar_figures

use std::path::Path;
use std::time::Instant;

use flightdeck::run::WorkspaceKind;
use flightdeck::workspace::{self, radar, Spec};

fn make_repo(dir: &Path, files: usize) -> String {
    let repo = git2::Repository::init(dir).expect("init");
    for i in 0..files {
        let p = dir.join(format!("src/mod{:03}/file{i:05}.rs", i / 50));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let body: String = (0..40).map(|l| format!("// file {i} line {l}\n")).collect();
        std::fs::write(p, body).expect("write");
    }
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let sig = git2::Signature::now("bench", "bench@example.com").expect("sig");
    repo.commit(Some("HEAD"), &sig, &sig, "files", &tree, &[])
        .expect("commit")
        .to_string()
}

fn measure(files: usize) {
    let root =
        std::env::temp_dir().join(format!("flightdeck-radar-{}-{files}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let base = make_repo(&repo, files);
    let mut runs = Vec::new();
    for r in 0..20 {
        let id = format!("run{r:02}");
        let wt = root.join("worktrees").join(&id);
        workspace::create(&Spec {
            run_id: id.clone(),
            kind: WorkspaceKind::Worktree,
            source: repo.clone(),
            base: base.clone(),
            branch: format!("flightdeck/{id}"),
            path: wt.clone(),
        })
        .expect("worktree");
        // Each run edits three files; runs 0 and 1 edit the same lines of one of them.
        for k in 0..3 {
            let f = if r < 2 && k == 0 {
                0
            } else {
                (r * 7 + k * 131) % files
            };
            let p = wt.join(format!("src/mod{:03}/file{f:05}.rs", f / 50));
            let mut text = std::fs::read_to_string(&p).expect("read");
            text = text.replacen("line 1\n", &format!("line 1 edited by {id}\n"), 1);
            std::fs::write(&p, text).expect("write");
        }
        // Half are still in their agent phase (read live from the worktree), half committed.
        let live = r % 2 == 0;
        if !live {
            workspace::commit_all(&wt, "work", &[]).expect("commit");
        }
        runs.push(radar::RadarRun {
            id,
            repo: repo.clone(),
            worktree: wt,
            base: base.clone(),
            branch: format!("flightdeck/run{r:02}"),
            target: None,
            live,
            pairwise: true,
            waiting: false,
            excludes: vec![],
        });
    }
    let first = radar::scan(&runs);
    let flagged = first.values().filter(|f| !f.is_empty()).count();
    let rounds = 10;
    let t = Instant::now();
    for _ in 0..rounds {
        radar::scan(&runs);
    }
    let all = t.elapsed() / rounds;
    for r in runs.iter_mut() {
        r.live = false;
        workspace::commit_all(&r.worktree, "work", &[]).expect("commit");
    }
    let t = Instant::now();
    for _ in 0..rounds {
        radar::scan(&runs);
    }
    let committed = t.elapsed() / rounds;
    println!(
        "radar, 20 runs (190 pairs), {files} files: {:.1} ms per scan with 10 runs read live from their worktrees, {:.1} ms with all 20 committed; {flagged} runs flagged",
        all.as_secs_f64() * 1000.0,
        committed.as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn main() {
    measure(5000);
    measure(500);
}
