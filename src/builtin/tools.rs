//! The built-in agent's tools. The file tools are confined to the worktree (`confined`: opened
//! beneath a directory handle, so `..` and symlinks cannot lead out, and hard-linked files are
//! not written). `run_command` is not a sandbox: it runs as the user, with the worktree as its
//! directory, an environment without keys or the run token, in the agent's process group
//! (`command`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::command;
use super::confined::Worktree;

pub use command::MAX_OUTPUT;

/// The tools as both APIs describe them (name, description, JSON schema).
pub fn specs() -> Vec<(&'static str, &'static str, Value)> {
    let path = json!({"type": "string", "description": "a path relative to the project root"});
    vec![
        (
            "read_file",
            "Read a text file of the project.",
            json!({"type": "object", "properties": {"path": path}, "required": ["path"]}),
        ),
        (
            "write_file",
            "Write a text file of the project (created or replaced whole).",
            json!({"type": "object", "properties": {"path": path, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        (
            "list_dir",
            "List a directory of the project.",
            json!({"type": "object", "properties": {"path": path}, "required": ["path"]}),
        ),
        (
            "run_command",
            "Run a shell command in the project root (tests, builds, searches); output is cut.",
            json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
        ),
    ]
}

pub struct Tools {
    tree: Worktree,
    root: PathBuf,
    timeout: Duration,
    /// The environment of `run_command` (already scrubbed of keys and the run token).
    env: Vec<(OsString, OsString)>,
}

impl Tools {
    /// Tools on the worktree at `root`; `env` is what commands get as their whole environment.
    pub fn new(
        root: &Path,
        timeout: Duration,
        env: Vec<(OsString, OsString)>,
    ) -> std::io::Result<Self> {
        let root = std::fs::canonicalize(root)?;
        Ok(Self {
            tree: Worktree::open(&root)?,
            root,
            timeout,
            env,
        })
    }

    /// Run a tool; Err is a refusal or failure to tell the model.
    pub fn run(&self, name: &str, input: &Value) -> Result<String, String> {
        let arg = |k: &str| {
            input
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("missing string argument `{k}`"))
        };
        match name {
            "read_file" => self.tree.read(arg("path")?),
            "write_file" => {
                let rel = arg("path")?;
                let content = arg("content")?;
                self.tree.write(rel, content.as_bytes())?;
                Ok(format!("wrote {} bytes to {rel}", content.len()))
            }
            "list_dir" => Ok(self.tree.list(arg("path")?)?.join("\n")),
            "run_command" => command::run(arg("command")?, &self.root, &self.env, self.timeout),
            other => Err(format!("no tool named `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Tools) {
        let wt = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
        std::fs::create_dir(wt.path().join("src")).unwrap();
        std::fs::write(wt.path().join("src/lib.rs"), "fn x() {}").unwrap();
        std::os::unix::fs::symlink(outside.path(), wt.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            wt.path().join("leak.txt"),
        )
        .unwrap();
        let tools = Tools::new(wt.path(), Duration::from_secs(5), path_only()).unwrap();
        (wt, outside, tools)
    }

    fn path_only() -> Vec<(OsString, OsString)> {
        vec![("PATH".into(), std::env::var_os("PATH").unwrap_or_default())]
    }

    #[test]
    fn paths_stay_inside() {
        let (wt, outside, t) = setup();
        assert_eq!(
            t.run("read_file", &json!({"path": "src/lib.rs"})).unwrap(),
            "fn x() {}"
        );
        for bad in ["../x", "src/../../x", "/etc/passwd"] {
            assert!(t.run("read_file", &json!({"path": bad})).is_err(), "{bad}");
        }
        let e = t
            .run("read_file", &json!({"path": "leak.txt"}))
            .unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let e = t
            .run(
                "write_file",
                &json!({"path": "escape/planted.txt", "content": "x"}),
            )
            .unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(!outside.path().join("planted.txt").exists());
        assert!(t.run("list_dir", &json!({"path": "escape"})).is_err());
        t.run(
            "write_file",
            &json!({"path": "new/dir/file.txt", "content": "ok"}),
        )
        .unwrap();
        assert!(wt.path().join("new/dir/file.txt").exists());
    }

    #[test]
    fn commands_run_inside_with_a_timeout_and_cut_output() {
        let (_wt, _o, t) = setup();
        let out = t.run("run_command", &json!({"command": "ls src"})).unwrap();
        assert!(
            out.starts_with("exit code 0") && out.contains("lib.rs"),
            "{out}"
        );
        let big = t
            .run(
                "run_command",
                &json!({"command": "head -c 100000 /dev/zero | tr '\\\\0' a"}),
            )
            .unwrap();
        assert!(
            big.len() < MAX_OUTPUT + 200 && big.contains("cut:"),
            "{}",
            big.len()
        );
        let quick = Tools::new(_wt.path(), Duration::from_millis(300), path_only()).unwrap();
        let e = quick
            .run("run_command", &json!({"command": "sleep 10"}))
            .unwrap_err();
        assert!(e.starts_with("timed out"), "{e}");
    }

    #[test]
    fn hard_links_are_not_written_through() {
        let (wt, outside, t) = setup();
        std::fs::hard_link(
            outside.path().join("secret.txt"),
            wt.path().join("linked.txt"),
        )
        .unwrap();
        let e = t
            .run(
                "write_file",
                &json!({"path": "linked.txt", "content": "changed"}),
            )
            .unwrap_err();
        assert!(e.contains("hard links"), "{e}");
        assert_eq!(
            std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
            "top secret"
        );
    }

    /// A thread swaps `a/` (inside) and `b` (a symlink to a directory outside) as fast as it
    /// can while the tools read and write under `a/`: whatever the timing, nothing outside is
    /// ever read or written.
    #[test]
    fn symlinks_swapped_in_while_the_tools_work_never_lead_out() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (wt, outside, t) = setup();
        std::fs::create_dir(wt.path().join("a")).unwrap();
        std::fs::write(wt.path().join("a/secret.txt"), "inside").unwrap();
        std::os::unix::fs::symlink(outside.path(), wt.path().join("b")).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, a, b) = (stop.clone(), wt.path().join("a"), wt.path().join("b"));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = nix::fcntl::renameat2(
                        nix::fcntl::AT_FDCWD,
                        &a,
                        nix::fcntl::AT_FDCWD,
                        &b,
                        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                    );
                }
            })
        };
        let mut leaked = 0;
        for _ in 0..3000 {
            if let Ok(text) = t.run("read_file", &json!({"path": "a/secret.txt"})) {
                if text == "top secret" {
                    leaked += 1;
                }
            }
            let _ = t.run(
                "write_file",
                &json!({"path": "a/planted.txt", "content": "x"}),
            );
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(
            !outside.path().join("planted.txt").exists(),
            "a write went outside"
        );
        assert_eq!(leaked, 0, "reads returned the outside file");
    }
}
