//! What the measuring examples share (each uses part of it): the release binary, a sample
//! repository, and running flightdeck against a private home and config.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private flightdeck world in a temporary directory.
pub struct World {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub config: PathBuf,
    pub repo: PathBuf,
    bin: PathBuf,
}

impl World {
    /// A home, this config, and a one-commit git repository.
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let config_path = dir.path().join("flightdeck.toml");
        std::fs::write(&config_path, config).expect("write config");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).expect("repo dir");
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README"), "figures\n").expect("write");
        git(&repo, &["add", "."]);
        git(
            &repo,
            &[
                "-c",
                "user.name=f",
                "-c",
                "user.email=f@f",
                "commit",
                "-qm",
                "init",
            ],
        );
        World {
            home,
            config: config_path,
            repo,
            bin: binary(),
            dir,
        }
    }

    /// Run flightdeck; panics with its stderr unless it succeeds; returns stdout.
    pub fn fd(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(args)
            .env("FLIGHTDECK_HOME", &self.home)
            .env("FLIGHTDECK_CONFIG", &self.config)
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .output()
            .expect("run flightdeck");
        assert!(
            out.status.success(),
            "flightdeck {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn server_pid(&self) -> i32 {
        std::fs::read_to_string(self.home.join("server.lock"))
            .expect("server.lock")
            .trim()
            .parse()
            .expect("server pid")
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.home.join("runs").join(id)
    }
}

/// The server binary next to the example (`target/<profile>/flightdeck`).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples");
    let bin = profile_dir.join("flightdeck");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release` first",
        bin.display()
    );
    bin
}

/// Run git in `repo`; panics with its stderr unless it succeeds; returns stdout.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
