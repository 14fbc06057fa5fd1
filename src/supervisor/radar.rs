//! Running the conflict radar, off the runtime, one scan at a time; findings land in the run
//! records and the timeline. Event-driven: every couple of seconds it looks at what changed —
//! the set of runs to compare, or (radar_watch) a repository's refs or a live worktree — and
//! scans only the repositories concerned; when nothing changed it does nothing. The same
//! events bring a repository's warm pool forward when its base moved (pool::follow).

use crate::proof::kind::TimelineKind;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::fields;
use crate::run::{ConflictFinding, MergeState, Phase, Status, WorkspaceKind};
use crate::workspace::pool;
use crate::workspace::radar::{self, RadarRun};

use crate::protocol::Event;

use super::jobs::JobFailed;
use super::merge_gate::GateInput;
use super::{Internal, Msg, Supervisor};

pub const EVERY: Duration = Duration::from_secs(2);

pub(super) fn start_ticker(tx: mpsc::UnboundedSender<Msg>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        loop {
            every.tick().await;
            if tx.send(Msg::Internal(Internal::RadarTick)).is_err() {
                return;
            }
        }
    });
}

impl Supervisor {
    pub(super) fn radar_tick(&mut self) {
        self.forge_tick();
        if std::time::Instant::now() < self.radar_next || !self.radar_flight.ask() {
            return;
        }
        if !self.radar_scan() {
            self.radar_flight.done();
        }
    }

    /// Start a scan if anything changed since the last: whether one started.
    fn radar_scan(&mut self) -> bool {
        let inputs: Vec<RadarRun> = self
            .runs
            .values()
            .filter_map(|e| {
                let r = &e.record;
                let active = r.status.is_active() && r.phase >= Phase::Agent;
                let waiting = r.status == Status::Succeeded && r.merge != MergeState::Merged;
                if r.workspace != WorkspaceKind::Worktree
                    || r.cleaned
                    || r.base.is_empty()
                    || !(active || waiting)
                {
                    return None;
                }
                Some(RadarRun {
                    id: r.id.clone(),
                    repo: r.repo.clone(),
                    worktree: r.worktree.clone(),
                    base: r.base.clone(),
                    branch: r.branch.clone(),
                    target: r.target.clone(),
                    live: active && r.phase == Phase::Agent,
                    pairwise: active,
                    waiting,
                    excludes: r.setup_excludes.clone(),
                })
            })
            .collect();
        // Which runs are compared, and how: when that changes, everything is scanned again.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for r in &inputs {
            (&r.id, &r.base, &r.target, r.live, r.pairwise, r.waiting).hash(&mut h);
        }
        let signature = h.finish();
        let full = signature != self.radar_inputs;
        self.radar_inputs = signature;
        if inputs.is_empty() {
            return false;
        }
        let dirty = if full {
            HashSet::new()
        } else {
            let dirty = self
                .radar_watch
                .lock()
                .map(|mut w| w.take_dirty())
                .unwrap_or_default();
            if dirty.is_empty() {
                return false; // nothing moved: nothing to do
            }
            dirty
        };
        // Each repository's warm pool, brought forward below when its base moved.
        let pool_size = self.global.pool;
        let pools: HashMap<std::path::PathBuf, std::path::PathBuf> = inputs
            .iter()
            .filter_map(|r| Some((r.repo.clone(), pool::dir_for(&r.worktree)?)))
            .collect();
        self.radar_started = std::time::Instant::now();
        let watch = self.radar_watch.clone();
        let keeper = self.pools.clone();
        self.jobs.blocking(
            move || {
                if full {
                    // Watch first, so that a change during the scan is seen by the next tick.
                    let repos: HashSet<_> = inputs.iter().map(|r| r.repo.clone()).collect();
                    let live: HashMap<_, _> = inputs
                        .iter()
                        .filter(|r| r.live)
                        .map(|r| (r.id.clone(), (r.repo.clone(), r.worktree.clone())))
                        .collect();
                    if let Ok(mut w) = watch.lock() {
                        w.follow(&repos, &live);
                        w.watch_made();
                        w.take_dirty();
                    }
                    for (repo, dir) in &pools {
                        keeper.follow(repo, dir, pool_size);
                    }
                    radar::scan(&inputs)
                } else {
                    if let Ok(mut w) = watch.lock() {
                        w.watch_made();
                    }
                    for (repo, dir) in pools.iter().filter(|(repo, _)| dirty.contains(*repo)) {
                        keeper.follow(repo, dir, pool_size);
                    }
                    let chosen: Vec<RadarRun> = inputs
                        .into_iter()
                        .filter(|r| dirty.contains(&r.repo))
                        .collect();
                    radar::scan(&chosen)
                }
            },
            |findings| Internal::RadarDone { findings }.into(),
        );
        true
    }

    pub(super) fn radar_done(
        &mut self,
        findings: Result<HashMap<String, Vec<ConflictFinding>>, JobFailed>,
    ) {
        let again = self.radar_flight.done();
        let took = self.radar_started.elapsed();
        self.radar_next = std::time::Instant::now() + took * 3;
        // What the scan freed goes back to the OS, off the supervisor task (it walks the heap).
        self.jobs
            .detached("giving memory back", crate::memory::trim);
        // A scan that broke found nothing out: every run keeps what the last scan said
        // (clearing them would call conflicts gone that nobody looked at).
        let findings = match findings {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("the conflict radar's scan failed: {e}; the next tick scans again");
                self.radar_inputs = 0;
                return;
            }
        };
        let scanned: Vec<String> = findings.keys().cloned().collect();
        for (id, found) in findings {
            let Some(succeeded) = self
                .runs
                .get(&id)
                .map(|e| e.record.status == Status::Succeeded)
            else {
                continue;
            };
            let input = GateInput::Radar {
                found: found.clone(),
                succeeded,
            };
            if !self.gate(&id, input) {
                continue;
            }
            let e = &self.runs[&id];
            let phase = e.record.phase;
            if found.is_empty() {
                e.ctx.emit(
                    phase,
                    TimelineKind::RadarClear,
                    fields! {"message" => "no conflict predicted any more"},
                );
            } else {
                e.ctx.emit(
                    phase,
                    TimelineKind::RadarConflict,
                    fields! {"message" => super::merging::conflict_text(&found), "conflicts" => found},
                );
            }
            self.persist(&id);
            self.refresh_pr(&id);
        }
        let _ = self.events.send(Event::RadarScanned { runs: scanned });
        if again {
            self.radar_tick();
        }
    }
}
