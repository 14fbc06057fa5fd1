//! The built-in agent's tools, confined to the worktree: paths are resolved inside it, `..`
//! and symlinks that lead out are refused; commands run in it with a timeout and their output
//! cut to a size a model can take.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const MAX_OUTPUT: usize = 16 * 1024;

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
    root: PathBuf,
    timeout: Duration,
}

impl Tools {
    pub fn new(root: &Path, timeout: Duration) -> std::io::Result<Self> {
        Ok(Self {
            root: std::fs::canonicalize(root)?,
            timeout,
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
            "read_file" => {
                let rel = arg("path")?;
                let p = self.resolve(rel)?;
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("cannot read {rel}: {e}"))?;
                Ok(cut(&text))
            }
            "write_file" => {
                let rel = arg("path")?;
                let p = self.resolve(rel)?;
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                let content = arg("content")?;
                std::fs::write(&p, content).map_err(|e| format!("cannot write {rel}: {e}"))?;
                Ok(format!("wrote {} bytes to {rel}", content.len()))
            }
            "list_dir" => {
                let rel = arg("path")?;
                let p = self.resolve(rel)?;
                let mut names: Vec<String> = std::fs::read_dir(&p)
                    .map_err(|e| format!("cannot list {rel}: {e}"))?
                    .flatten()
                    .filter(|e| e.file_name() != ".git")
                    .map(|e| {
                        let mut n = e.file_name().to_string_lossy().into_owned();
                        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            n.push('/');
                        }
                        n
                    })
                    .collect();
                names.sort();
                Ok(names.join("\n"))
            }
            "run_command" => self.command(arg("command")?),
            other => Err(format!("no tool named `{other}`")),
        }
    }

    /// A path inside the worktree, or a refusal. Relative paths only, no `..`; the nearest
    /// existing ancestor, symlinks resolved, must still lie inside.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, String> {
        let p = Path::new(rel);
        if p.is_absolute() {
            return Err(format!(
                "`{rel}` is absolute; give a path relative to the project root"
            ));
        }
        if p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("`{rel}` leaves the project (`..` is not allowed)"));
        }
        let full = self.root.join(p);
        let mut probe = full.as_path();
        let real = loop {
            match std::fs::canonicalize(probe) {
                Ok(r) => break r,
                Err(_) => match probe.parent() {
                    Some(parent) => probe = parent,
                    None => return Err(format!("`{rel}` cannot be resolved")),
                },
            }
        };
        if !real.starts_with(&self.root) {
            return Err(format!(
                "`{rel}` leads outside the project (through a symlink); refused"
            ));
        }
        // An existing final symlink pointing out is caught above; a dangling one is refused too.
        if full
            .symlink_metadata()
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
            && !full.exists()
        {
            return Err(format!("`{rel}` is a dangling symlink; refused"));
        }
        Ok(full)
    }

    fn command(&self, command: &str) -> Result<String, String> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run the command: {e}"))?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut buf);
            }
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut buf);
            }
            buf
        });
        let started = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break Some(s);
            }
            if started.elapsed() > self.timeout {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
        match status {
            None => Err(format!(
                "timed out after {}s\n{}",
                self.timeout.as_secs(),
                cut(&output)
            )),
            Some(s) => Ok(format!(
                "exit code {}\n{}",
                s.code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "none".into()),
                cut(&output)
            )),
        }
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_OUTPUT {
        return s.to_string();
    }
    let end = s.floor_char_boundary(MAX_OUTPUT);
    format!("{}\n… cut: {} more bytes", &s[..end], s.len() - end)
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
        let tools = Tools::new(wt.path(), Duration::from_secs(5)).unwrap();
        (wt, outside, tools)
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
        let quick = Tools::new(_wt.path(), Duration::from_millis(300)).unwrap();
        let e = quick
            .run("run_command", &json!({"command": "sleep 10"}))
            .unwrap_err();
        assert!(e.starts_with("timed out"), "{e}");
    }
}
