//! The processes of a run: each agent or check runs in its own process group, so pause
//! (SIGSTOP), resume (SIGCONT) and kill (SIGTERM, then SIGKILL) reach grandchildren too.

use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::watch;

/// The process group a run is executing right now, and whether the run is paused or being
/// killed. A process registered while the run is paused is stopped at once; one registered
/// after a kill is killed at once, so no signal is lost to a race with a spawn.
pub struct ProcessSlot {
    state: Mutex<SlotState>,
    paused_tx: watch::Sender<bool>,
}

#[derive(Default)]
struct SlotState {
    pgid: Option<i32>,
    paused: bool,
    killing: bool,
}

impl Default for ProcessSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessSlot {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(SlotState::default()),
            paused_tx: watch::channel(false).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, pgid: i32) {
        let mut s = self.lock();
        s.pgid = Some(pgid);
        if s.killing {
            send(pgid, Signal::SIGKILL);
        } else if s.paused {
            send(pgid, Signal::SIGSTOP);
        }
    }

    /// Forget the group after its leader exited, killing whatever it left behind.
    pub fn unregister_and_reap(&self) {
        let mut s = self.lock();
        if let Some(pgid) = s.pgid.take() {
            send(pgid, Signal::SIGKILL);
        }
    }

    pub fn set_paused(&self, paused: bool) {
        let mut s = self.lock();
        s.paused = paused;
        if let Some(pgid) = s.pgid {
            send(
                pgid,
                if paused {
                    Signal::SIGSTOP
                } else {
                    Signal::SIGCONT
                },
            );
        }
        self.paused_tx.send_replace(paused);
    }

    /// Whether the run is paused now (the machine's last Stop/Cont).
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    pub fn paused(&self) -> watch::Receiver<bool> {
        self.paused_tx.subscribe()
    }

    /// SIGTERM (and SIGCONT, so a stopped group can act on it); later work sees `is_killing`.
    pub fn request_kill(&self) {
        self.signal_group(true, &[Signal::SIGTERM, Signal::SIGCONT]);
    }

    pub fn kill_now(&self) {
        self.signal_group(true, &[Signal::SIGKILL]);
    }

    /// Signal the current group; `killing` marks the run as being killed, so that a process
    /// registered later is killed at once (a timeout kills without that mark).
    fn signal_group(&self, killing: bool, signals: &[Signal]) {
        let mut s = self.lock();
        s.killing |= killing;
        if let Some(pgid) = s.pgid {
            for sig in signals {
                send(pgid, *sig);
            }
        }
    }

    pub fn is_killing(&self) -> bool {
        self.lock().killing
    }

    /// A fresh start (retry): no kill pending, not paused.
    pub fn reset(&self) {
        let mut s = self.lock();
        s.killing = false;
        s.paused = false;
        self.paused_tx.send_replace(false);
    }
}

pub(crate) fn send(pgid: i32, sig: Signal) {
    // 0 or less would mean our own group (or every process): never.
    if pgid <= 0 {
        return;
    }
    // ESRCH (the group is gone) is fine: there is nothing left to signal.
    let _ = killpg(Pid::from_raw(pgid), sig);
}

pub enum Exit {
    Exited(ExitStatus),
    TimedOut(Duration),
}

/// Something whose end can be awaited (cancel-safe): a child, or an agent under its shim.
pub trait Waitable {
    fn wait(&mut self) -> impl std::future::Future<Output = std::io::Result<ExitStatus>> + Send;
}

impl Waitable for Child {
    fn wait(&mut self) -> impl std::future::Future<Output = std::io::Result<ExitStatus>> + Send {
        Child::wait(self)
    }
}

/// Wait for the child; with a timeout, time spent paused does not count. On timeout the group
/// gets SIGTERM, then SIGKILL after `grace`.
pub async fn wait(
    child: &mut impl Waitable,
    slot: &ProcessSlot,
    timeout: Option<Duration>,
    grace: Duration,
) -> std::io::Result<Exit> {
    let Some(limit) = timeout else {
        return child.wait().await.map(Exit::Exited);
    };
    let mut paused = slot.paused();
    let mut remaining = limit;
    loop {
        if *paused.borrow_and_update() {
            tokio::select! {
                status = child.wait() => return status.map(Exit::Exited),
                _ = paused.changed() => continue,
            }
        }
        let started = Instant::now();
        tokio::select! {
            status = child.wait() => return status.map(Exit::Exited),
            _ = tokio::time::sleep(remaining) => {
                slot.signal_group(false, &[Signal::SIGTERM, Signal::SIGCONT]);
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    slot.signal_group(false, &[Signal::SIGKILL]);
                    let _ = child.wait().await;
                }
                return Ok(Exit::TimedOut(limit));
            }
            _ = paused.changed() => {
                remaining = remaining.saturating_sub(started.elapsed());
            }
        }
    }
}

/// "exited with code 3" / "was killed by signal SIGKILL".
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| sig.to_string());
            format!("was killed by signal {name}")
        }
        _ => "ended".into(),
    }
}

/// Whether a live process (not a zombie waiting for its parent) is left in group `pgid`: read
/// from /proc off the runtime.
pub async fn group_alive(pgid: i32) -> bool {
    tokio::task::spawn_blocking(move || group_alive_blocking(pgid))
        .await
        .unwrap_or(false)
}

/// `group_alive`, for a blocking thread. Blocking.
pub fn group_alive_blocking(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // After the command's closing parenthesis: state, ppid, pgrp.
        let mut rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace())
            .into_iter()
            .flatten();
        let state = rest.next();
        let _ppid = rest.next();
        let pgrp = rest.next().and_then(|g| g.parse::<i32>().ok());
        pgrp == Some(pgid) && state != Some("Z")
    })
}
