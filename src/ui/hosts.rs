//! The hosts of `[hosts]` the cockpit follows beside this machine: how each one's feed is
//! doing, and which host each run is on. Plain data, changed by `update`.

use std::collections::HashMap;

use crate::config::hosts::LOCAL;
use crate::protocol::RunSnapshot;

use super::app::App;

/// One remote host's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLink {
    pub name: String,
    pub link: Link,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// No run list from it yet.
    Connecting,
    Up,
    /// Its feed ended at `since` (the cockpit's clock, `App::clock`); its runs are shown as
    /// last seen.
    Lost {
        since: u64,
        why: String,
        /// Whether it ever answered: a host that never did is unreachable, not stale.
        answered: bool,
    },
}

/// A host whose feed is lost, as the table's title says it.
#[derive(Debug, Clone, PartialEq)]
pub struct LostHost<'a> {
    pub name: &'a str,
    pub secs: u64,
    pub answered: bool,
}

impl std::fmt::Display for LostHost<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = crate::time::human_duration(self.secs as i64);
        if self.answered {
            write!(f, "{} stale {since}", self.name)
        } else {
            write!(f, "{} unreachable", self.name)
        }
    }
}

/// Which host each remote run is on (a run not here is this machine's).
pub type RunHosts = HashMap<String, String>;

impl App {
    /// Follow host `name` too: its runs get a HOST column.
    pub fn add_host(&mut self, name: &str) {
        if !self.hosts.iter().any(|h| h.name == name) {
            self.hosts.push(HostLink {
                name: name.into(),
                link: Link::Connecting,
            });
        }
    }

    /// The host run `id` is on (`local` for this machine).
    pub fn host_of(&self, id: &str) -> &str {
        self.run_hosts.get(id).map_or(LOCAL, String::as_str)
    }

    pub fn host_link(&self, name: &str) -> Option<&HostLink> {
        self.hosts.iter().find(|h| h.name == name)
    }

    fn host_link_mut(&mut self, name: &str) -> Option<&mut HostLink> {
        self.hosts.iter_mut().find(|h| h.name == name)
    }

    /// The run is on a host whose feed is lost: what is shown is what it last said.
    pub fn run_is_stale(&self, id: &str) -> bool {
        self.host_link(self.host_of(id))
            .is_some_and(|h| matches!(h.link, Link::Lost { .. }))
    }

    /// Hosts whose feed is lost (or never came), and seconds since.
    pub fn stale_hosts(&self) -> Vec<LostHost<'_>> {
        self.hosts
            .iter()
            .filter_map(|h| match h.link {
                Link::Lost {
                    since, answered, ..
                } => Some(LostHost {
                    name: h.name.as_str(),
                    secs: self.clock.saturating_sub(since),
                    answered,
                }),
                _ => None,
            })
            .collect()
    }

    /// Every run of `host` (None: this machine) is now `runs`; the other hosts' stay. Returns
    /// the runs as they were.
    pub fn replace_runs(&mut self, host: Option<&str>, runs: Vec<RunSnapshot>) -> Vec<RunSnapshot> {
        let before = self.runs.clone();
        let name = host.unwrap_or(LOCAL);
        let hosts = &self.run_hosts;
        self.runs
            .retain(|r| hosts.get(&r.id).map_or(LOCAL, String::as_str) != name);
        self.run_hosts.retain(|_, h| h != name);
        for r in runs {
            if let Some(h) = host {
                self.run_hosts.insert(r.id.clone(), h.to_string());
            }
            self.runs.push(r);
        }
        before
    }

    /// A run of `host` changed or appeared.
    pub fn upsert_on(&mut self, host: &str, run: RunSnapshot) {
        self.run_hosts.insert(run.id.clone(), host.to_string());
        self.upsert(run);
    }

    /// Host `name`'s feed answered with its run list. Returns what it was before.
    pub fn host_up(&mut self, name: &str) -> Option<Link> {
        let h = self.host_link_mut(name)?;
        Some(std::mem::replace(&mut h.link, Link::Up))
    }

    /// Host `name`'s feed ended. A host already lost keeps the time it was first lost.
    /// True when anything shown changed.
    pub fn host_down(&mut self, name: &str, why: String) -> bool {
        let clock = self.clock;
        let Some(h) = self.host_link_mut(name) else {
            return false;
        };
        match &mut h.link {
            Link::Lost { why: old, .. } => {
                *old = why;
                false
            }
            link => {
                let answered = *link != Link::Connecting;
                *link = Link::Lost {
                    since: clock,
                    why,
                    answered,
                };
                true
            }
        }
    }
}
