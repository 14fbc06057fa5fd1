//! What a run's shim leaves in the run directory, so that any server (this one, the next one
//! after a crash or an upgrade) can find the agent and learn how it ended:
//! - `shim.json`: the shim's and the agent's pid, the agent's process group, and each one's
//!   start time (field 22 of `/proc/PID/stat`), which tells a live process from a reused pid;
//! - `exit.json`: how the agent ended (code or signal, or why it never started), written
//!   atomically once it has.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const SHIM: &str = "shim.json";
pub const EXIT: &str = "exit.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShimFile {
    pub shim_pid: i32,
    pub shim_start: u64,
    pub agent_pid: i32,
    pub pgid: i32,
    pub agent_start: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitFile {
    /// The exit code, when the agent exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Why the agent never started (errno of the failed exec), when it did not.
    pub spawn_errno: Option<i32>,
    pub spawn_error: Option<String>,
    pub at: String,
}

impl ExitFile {
    /// As a wait status, for the code that describes exits.
    pub fn status(&self) -> std::process::ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        match (self.code, self.signal) {
            (Some(code), _) => ExitStatus::from_raw((code & 0xff) << 8),
            (None, Some(sig)) => ExitStatus::from_raw(sig & 0x7f),
            _ => ExitStatus::from_raw(127 << 8),
        }
    }
}

use std::process::ExitStatus;

pub fn shim_path(dir: &Path) -> PathBuf {
    dir.join(SHIM)
}

pub fn exit_path(dir: &Path) -> PathBuf {
    dir.join(EXIT)
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    crate::proof::store::write_atomic(path, &bytes)
}

pub fn read_shim(dir: &Path) -> Option<ShimFile> {
    read_json(&shim_path(dir))
}

pub fn read_exit(dir: &Path) -> Option<ExitFile> {
    read_json(&exit_path(dir))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`), or None
/// when there is no such process (or it is a zombie: it has ended).
pub fn start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = read_stat(pid)?;
    let mut fields = after_comm(&stat)?;
    let state = fields.next()?; // field 3
    if state == "Z" || state == "X" {
        return None;
    }
    // Field 22 is the 19th after the state.
    fields.nth(18)?.parse().ok()
}

/// `/proc/PID/stat`, if there is such a process.
pub fn read_stat(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
}

/// The fields of a stat line from field 3 (the state) on: the command name (field 2) may hold
/// spaces and parentheses, so they start after the last ')'.
pub fn after_comm(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// The parent of `pid` (field 4), if there is such a process.
pub fn parent_of(pid: i32) -> Option<i32> {
    after_comm(&read_stat(pid)?)?.nth(1)?.parse().ok()
}

/// How long ago a process that started at `start` (clock ticks since boot) started.
pub fn age(start: u64) -> Option<std::time::Duration> {
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)? as f64;
    let ago = uptime - start as f64 / ticks;
    (ago >= 0.0).then(|| std::time::Duration::from_secs_f64(ago))
}

/// Whether `pid` is still the process that started at `start`.
pub fn alive(pid: i32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// What a server finds of a run's agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The shim is alive: the agent runs (or is stopped) under it.
    Live(ShimFile),
    /// The agent ended; here is how.
    Exited(ExitFile),
    /// Neither a live shim nor an exit file.
    Gone(Option<ShimFile>),
}

pub fn probe(dir: &Path) -> Found {
    if let Some(exit) = read_exit(dir) {
        return Found::Exited(exit);
    }
    match read_shim(dir) {
        Some(s) if alive(s.shim_pid, s.shim_start) => Found::Live(s),
        other => {
            // The shim may have finished between the two reads.
            match read_exit(dir) {
                Some(exit) => Found::Exited(exit),
                None => Found::Gone(other),
            }
        }
    }
}

/// How long a new server waits for a live shim to write its record (it does so moments after
/// it starts, unless the machine is badly loaded).
pub const RECORD_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// `probe`, for a server taking over from one that died: a shim that is alive but has not yet
/// written its record (the last server died between starting it and its first write) is
/// waited for, up to `within`, instead of being taken for an agent that never started, which
/// would start it a second time. Blocking.
pub fn probe_after_restart(dir: &Path, within: std::time::Duration) -> Found {
    let deadline = std::time::Instant::now() + within;
    loop {
        let found = probe(dir);
        let Found::Gone(None) = found else {
            return found;
        };
        let Some((pid, start)) = shim_process_settled(dir) else {
            // One more look: the shim may have written its record and ended in between.
            return probe(dir);
        };
        if std::time::Instant::now() > deadline {
            // Alive and silent: not started twice; a record with no agent makes it interrupted.
            return Found::Gone(Some(ShimFile {
                shim_pid: pid,
                shim_start: start,
                agent_pid: 0,
                pgid: 0,
                agent_start: 0,
            }));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `shim_process`, looked for three times 100 ms apart before saying there is none: a process
/// in the middle of an exec (the shim just forked off a server that then died) shows an empty
/// command line for that moment. Blocking.
fn shim_process_settled(dir: &Path) -> Option<(i32, u64)> {
    for look in 0..3 {
        if look > 0 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if let Some(found) = shim_process(dir) {
            return Some(found);
        }
    }
    None
}

/// A live `flightdeck shim --dir DIR` process for this run directory: its pid and start time.
/// Blocking (reads `/proc`).
pub fn shim_process(dir: &Path) -> Option<(i32, u64)> {
    let want = dir.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        // `… shim --dir DIR -- agent…`: the three before the first `--` (the agent's own
        // arguments after it are not looked at).
        let end = args.iter().position(|a| *a == b"--")?;
        (end >= 3 && args[end - 3..end] == [&b"shim"[..], b"--dir", want]).then_some(())?;
        Some((pid, start_time(pid)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a shim: a process whose command line is a shim's for `dir`, which
    /// writes its record after `delay_ms`, then lives on a while.
    fn slow_shim(dir: &Path, delay_ms: u64) -> std::process::Child {
        let script = format!(
            "import json, os, sys, time\ntime.sleep({d})\nst = open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19]\nrec = dict(shim_pid=os.getpid(), shim_start=int(st), agent_pid=os.getpid(), pgid=os.getpid(), agent_start=int(st))\nopen(sys.argv[3] + '/shim.json.tmp', 'w').write(json.dumps(rec))\nos.rename(sys.argv[3] + '/shim.json.tmp', sys.argv[3] + '/shim.json')\ntime.sleep(30)\n",
            d = delay_ms as f64 / 1000.0
        );
        // The interpreter itself, not a wrapper (pyenv's) that execs it: the stand-in's command
        // line is then the same from the start, as the real shim's is once spawned.
        let python = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3");
        let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
        // argv[0] is python's; the shim's arguments follow, as `flightdeck shim` has them.
        std::process::Command::new(python)
            .arg("-c")
            .arg(script)
            .args(["shim", "--dir"])
            .arg(dir)
            .args(["--", "sleep", "30"])
            .spawn()
            .expect("python3")
    }

    #[test]
    fn a_live_shim_without_its_record_yet_is_waited_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = slow_shim(dir.path(), 700);
        let found = probe_after_restart(dir.path(), std::time::Duration::from_secs(20));
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(found, Found::Live(_)), "{found:?}");
    }

    #[test]
    fn no_shim_and_no_record_is_an_agent_that_never_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        let found = probe_after_restart(dir.path(), std::time::Duration::from_secs(20));
        assert_eq!(found, Found::Gone(None));
    }

    #[test]
    fn start_time_tells_this_process_from_others() {
        let me = std::process::id() as i32;
        let t = start_time(me).expect("own start time");
        assert!(alive(me, t));
        assert!(!alive(me, t + 1));
        assert!(start_time(0).is_none());
        assert!(start_time(i32::MAX).is_none());
    }

    #[test]
    fn exit_files_become_wait_statuses() {
        let f = |code, signal| ExitFile {
            code,
            signal,
            spawn_errno: None,
            spawn_error: None,
            at: String::new(),
        };
        assert_eq!(f(Some(3), None).status().code(), Some(3));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(f(None, Some(9)).status().signal(), Some(9));
    }
}
