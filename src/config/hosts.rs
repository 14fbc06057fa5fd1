//! `[hosts.NAME]`: other machines runs can be made on, over SSH (user config only: a
//! repository's file may not say where its runs go or which commands run there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The implicit host of the machine flightdeck runs on.
pub const LOCAL: &str = "local";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// What follows `ssh`: any options (`-p 2222`, `-i KEY`) and, last, the destination
    /// (`me@build1`, a Host of your ssh config), as one string split at spaces or as a list.
    pub ssh: SshArgs,
    /// FLIGHTDECK_HOME on the host (default: the host's own default).
    #[serde(default)]
    pub home: Option<String>,
    /// The flightdeck program on the host.
    #[serde(default = "default_binary")]
    pub binary: String,
    /// The config file flightdeck reads on the host (its `--config`), beside the host's own.
    #[serde(default)]
    pub config: Option<String>,
    /// Environment for flightdeck on the host (and so for its server), e.g. a PATH.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Runs at once on the host (the host's own config decides when unset).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// Where a repository of this machine is on the host: local path → path there.
    #[serde(default)]
    pub repos: BTreeMap<PathBuf, String>,
    /// The variables holding your providers' keys (from `[providers]`, never from this
    /// section): kept out of ssh's environment, so that no `SendEnv` carries a key there.
    #[serde(skip)]
    pub key_vars: Vec<String>,
    /// Where a run of this host lands: in the host's copy (`host`, through the host's merge
    /// queue, and its forge when it has one), or there and then here too (`fetch`: this
    /// machine fetches the landed target from the host's copy and fast-forwards its own).
    #[serde(default)]
    pub land: Land,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Land {
    #[default]
    Host,
    Fetch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SshArgs {
    Line(String),
    List(Vec<String>),
}

fn default_binary() -> String {
    "flightdeck".into()
}

impl HostConfig {
    /// The words after `ssh`, in order.
    pub fn ssh_words(&self) -> Vec<String> {
        match &self.ssh {
            SshArgs::Line(l) => l.split_whitespace().map(str::to_string).collect(),
            SshArgs::List(l) => l.clone(),
        }
    }

    /// Where `repo` (a path on this machine) is on the host: its own entry, or the entry of
    /// a directory it is under (the rest of the path kept).
    pub fn repo_path(&self, repo: &Path) -> Option<String> {
        self.repos
            .iter()
            .filter_map(|(local, there)| {
                repo.strip_prefix(local)
                    .ok()
                    .map(|rest| (local, there, rest))
            })
            .max_by_key(|(local, _, _)| local.components().count())
            .map(|(_, there, rest)| {
                if rest.as_os_str().is_empty() {
                    there.clone()
                } else {
                    format!("{}/{}", there.trim_end_matches('/'), rest.display())
                }
            })
    }

    /// The repository of this machine that `there` (a path on the host) is the copy of, and
    /// the path under it: the reverse of `repo_path`.
    pub fn local_repo(&self, there: &str) -> Option<PathBuf> {
        let there = Path::new(there);
        self.repos
            .iter()
            .filter_map(|(local, copy)| {
                there
                    .strip_prefix(copy)
                    .ok()
                    .map(|rest| (local, copy.len(), rest))
            })
            .max_by_key(|(_, len, _)| *len)
            .map(|(local, _, rest)| {
                if rest.as_os_str().is_empty() {
                    local.clone()
                } else {
                    local.join(rest)
                }
            })
    }

    /// What is wrong with it, as one sentence; None when nothing is.
    pub fn problem(&self, name: &str) -> Option<String> {
        if name == LOCAL {
            return Some(format!(
                "[hosts.{LOCAL}] names this machine itself; give the other host another name"
            ));
        }
        match self.ssh_words().last() {
            None => {
                return Some(format!(
                    "[hosts.{name}].ssh is empty; give the destination ssh connects to, e.g. ssh = \"me@build1\""
                ))
            }
            Some(last) if last.starts_with('-') => {
                return Some(format!(
                    "[hosts.{name}].ssh ends with the option `{last}`; the destination comes last, e.g. ssh = \"-p 2222 me@build1\""
                ))
            }
            Some(_) => {}
        }
        if let Some(bad) = self.env.keys().find(|k| {
            k.is_empty()
                || k.starts_with(|c: char| c.is_ascii_digit())
                || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }) {
            return Some(format!(
                "[hosts.{name}].env has `{bad}`, which is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"
            ));
        }
        if self.binary.trim().is_empty() {
            return Some(format!(
                "[hosts.{name}].binary is empty; give the flightdeck program on the host"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(toml_text: &str) -> HostConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn ssh_as_a_line_or_a_list() {
        let h = host("ssh = \"-p 2222 me@build1\"");
        assert_eq!(h.ssh_words(), ["-p", "2222", "me@build1"]);
        assert_eq!(h.binary, "flightdeck");
        let h = host("ssh = [\"-i\", \"/keys/my key\", \"me@build1\"]");
        assert_eq!(h.ssh_words(), ["-i", "/keys/my key", "me@build1"]);
    }

    #[test]
    fn a_repository_is_found_by_its_own_entry_or_a_parent_directory() {
        let h = host(
            "ssh = \"b\"\n[repos]\n\"/home/me/src\" = \"/srv/src\"\n\"/home/me/src/app\" = \"/data/app\"\n",
        );
        assert_eq!(
            h.repo_path(Path::new("/home/me/src/app")).as_deref(),
            Some("/data/app")
        );
        assert_eq!(
            h.repo_path(Path::new("/home/me/src/site/www")).as_deref(),
            Some("/srv/src/site/www")
        );
        assert_eq!(h.repo_path(Path::new("/elsewhere")), None);
        // And back: the copy there names the repository here.
        assert_eq!(
            h.local_repo("/data/app"),
            Some(PathBuf::from("/home/me/src/app"))
        );
        assert_eq!(
            h.local_repo("/srv/src/site/www"),
            Some(PathBuf::from("/home/me/src/site/www"))
        );
        assert_eq!(h.local_repo("/srv/srcx"), None);
        assert_eq!(h.land, Land::Host);
        assert_eq!(host("ssh = \"b\"\nland = \"fetch\"").land, Land::Fetch);
    }

    #[test]
    fn problems_are_said() {
        assert!(host("ssh = \"\"")
            .problem("b")
            .unwrap()
            .contains("ssh is empty"));
        assert!(host("ssh = \"b\"")
            .problem(LOCAL)
            .unwrap()
            .contains("this machine"));
        assert_eq!(host("ssh = \"b\"").problem("b"), None);
    }
}
