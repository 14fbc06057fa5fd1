//! `run_command` for the built-in agent: `sh -c` in the worktree, with the environment it is
//! given (scrubbed by the caller), a timeout, and output cut to a size a model can take.
//!
//! The command stays in the agent's own process group, so the supervisor's pause (SIGSTOP),
//! resume and kill (SIGTERM, then SIGKILL) of the agent reach it and whatever it started. On
//! a timeout the command's process tree is frozen and killed here.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Output kept for the model; more is counted, not kept.
pub const MAX_OUTPUT: usize = 16 * 1024;

/// How long the output may stay open after the command ended (a background process of its
/// own holds it): then the model gets what came so far.
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    total: u64,
    done: bool,
}

pub fn run(
    command: &str,
    cwd: &Path,
    env: &[(OsString, OsString)],
    timeout: Duration,
) -> Result<String, String> {
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| format!("cannot make a pipe: {e}"))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PWD", cwd)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run the command: {e}"))?;
    drop(cmd); // our copies of the pipe's write end: EOF comes when the command's are closed

    let captured = Arc::new(Mutex::new(Captured::default()));
    {
        let captured = captured.clone();
        let mut reader = reader;
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let mut c = captured.lock().unwrap_or_else(|p| p.into_inner());
                if n == 0 {
                    c.done = true;
                    return;
                }
                let room = (MAX_OUTPUT + 4).saturating_sub(c.kept.len());
                c.kept.extend_from_slice(&buf[..n.min(room)]);
                c.total += n as u64;
            }
        });
    }

    // Time counts while the agent runs: a pause of the run (SIGSTOP to the whole group) stops
    // this loop too, and a tick that took far longer than it should is not counted whole.
    let tick = Duration::from_millis(20);
    let mut active = Duration::ZERO;
    let status = loop {
        let before = Instant::now();
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(e) => return Err(format!("lost track of the command: {e}")),
        }
        if active > timeout {
            kill_tree(child.id() as i32);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(tick);
        active += before.elapsed().min(tick * 10);
    };

    let drain_until = Instant::now() + DRAIN;
    let (kept, total, done) = loop {
        {
            let c = captured.lock().unwrap_or_else(|p| p.into_inner());
            if c.done || Instant::now() >= drain_until {
                break (c.kept.clone(), c.total, c.done);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut output = cut(&kept, total);
    if !done {
        output.push_str("\n(a background process the command started still holds its output open; not waited for)");
    }
    match status {
        None => Err(format!("timed out after {}s\n{output}", timeout.as_secs())),
        Some(s) => Ok(format!(
            "exit code {}\n{output}",
            s.code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into())
        )),
    }
}

/// The text for the model: the first `MAX_OUTPUT` bytes and how much more there was.
fn cut(kept: &[u8], total: u64) -> String {
    let text = String::from_utf8_lossy(kept);
    if total as usize <= MAX_OUTPUT && kept.len() as u64 == total {
        return text.into_owned();
    }
    let end = text.floor_char_boundary(MAX_OUTPUT.min(text.len()));
    let more = total.saturating_sub(end as u64);
    format!("{}\n… cut: {more} more bytes", &text[..end])
}

/// Stop `root` and every process under it, then kill them all (stopped first, so none can
/// fork or be reparented away between the look and the kill).
fn kill_tree(root: i32) {
    let mut seen = vec![root];
    let _ = kill(Pid::from_raw(root), Signal::SIGSTOP);
    loop {
        let found: Vec<i32> = children_of(&seen)
            .into_iter()
            .filter(|p| !seen.contains(p))
            .collect();
        if found.is_empty() {
            break;
        }
        for p in &found {
            let _ = kill(Pid::from_raw(*p), Signal::SIGSTOP);
        }
        seen.extend(found);
    }
    for p in &seen {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
}

/// Processes whose parent is one of `parents` (from /proc).
fn children_of(parents: &[i32]) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| crate::shim::files::parent_of(*pid).is_some_and(|p| parents.contains(&p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(OsString, OsString)> {
        vec![("PATH".into(), std::env::var_os("PATH").unwrap_or_default())]
    }

    #[test]
    fn runs_in_the_directory_with_only_the_given_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            "pwd; env; echo to-stderr >&2",
            dir.path(),
            &env(),
            Duration::from_secs(5),
        )
        .unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert!(out.starts_with("exit code 0\n"), "{out}");
        assert!(out.contains(&real.display().to_string()), "{out}");
        assert!(out.contains("to-stderr"), "{out}");
        assert!(!out.contains("HOME="), "{out}");
    }

    #[test]
    fn output_is_cut_and_a_timeout_kills_the_whole_tree() {
        let dir = tempfile::tempdir().unwrap();
        let big = run(
            "head -c 100000 /dev/zero | tr '\\0' a; echo done >&2",
            dir.path(),
            &env(),
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(big.len() < MAX_OUTPUT + 200, "{}", big.len());
        assert!(
            big.contains("cut: 83621 more bytes"),
            "{}",
            &big[big.len() - 60..]
        );

        let pid_file = dir.path().join("pid");
        let started = Instant::now();
        let e = run(
            &format!(
                "sh -c 'echo $$ > {}; exec sleep 30' ; true",
                pid_file.display()
            ),
            dir.path(),
            &env(),
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert!(e.starts_with("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let grandchild: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let gone = std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
            .map(|s| s.contains(") Z ") || s.contains(") X "))
            .unwrap_or(true);
        assert!(gone, "the command's sleep outlived its timeout");
    }

    #[test]
    fn a_background_process_does_not_hold_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let out = run(
            "echo started; sleep 30 & echo $! > bg.pid",
            dir.path(),
            &env(),
            Duration::from_secs(10),
        )
        .unwrap();
        let bg: i32 = std::fs::read_to_string(dir.path().join("bg.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = kill(Pid::from_raw(bg), Signal::SIGKILL);
        assert!(
            out.contains("started") && out.contains("background"),
            "{out}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
