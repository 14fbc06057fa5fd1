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
    /// Where a repository of this machine is on the host: local path → path there, or a
    /// URL the host keeps its own clone of.
    #[serde(default)]
    pub repos: BTreeMap<PathBuf, String>,
    /// The variables holding your providers' keys (from `[providers]`, never from this
    /// section): kept out of ssh's environment, so that no `SendEnv` carries a key there.
    #[serde(skip)]
    pub key_vars: Vec<String>,
    /// Where a run of this host lands: in the host's copy (`host`, through the host's merge
    /// queue, and its forge when it has one), or there and then here too (`fetch`: this
    /// machine fetches the landed target from the host's copy and fast-forwards its own), or
    /// there and then on the copy's origin (`push`, from the host, never forced).
    #[serde(default)]
    pub land: Land,
}

/// Where a repository of this machine is on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoThere {
    /// A path there: the user's own copy.
    Path(String),
    /// The host's own clone of `url` (under its FLIGHTDECK_HOME, made and fetched by
    /// flightdeck), and the path under the repository.
    Clone { url: String, rest: PathBuf },
}

/// The directory of a host's FLIGHTDECK_HOME its clones are in.
pub const CLONES: &str = "clones";

/// Whether a `repos` value is a URL git clones (else it is a path on the host).
pub fn is_clone_url(s: &str) -> bool {
    if s.chars().any(char::is_control) {
        return false;
    }
    const SCHEMES: [&str; 5] = ["https://", "http://", "ssh://", "git://", "file://"];
    if let Some(rest) = SCHEMES.iter().find_map(|p| s.strip_prefix(p)) {
        return !rest.is_empty();
    }
    // scp-like `user@host:path`, as git reads it: no slash before the colon.
    let Some((left, path)) = s.split_once(':') else {
        return false;
    };
    let Some((user, host)) = left.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && !user.starts_with('-')
        && !host.is_empty()
        && !path.is_empty()
        && !left.contains('/')
}

/// Whether a URL carries a secret in its user part (`https://user:token@…`).
fn has_secret(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(user, _)| user.contains(':'))
}

/// The directory name of a host's clone of `url`: the URL's last word (letters, digits and
/// `-_.` only, not leading with `.` or `-`) and a digest of the whole URL, so that two URLs
/// ending alike get two clones and nothing in a URL can name a path.
pub fn clone_dir_name(url: &str) -> String {
    use sha2::Digest;
    let tail = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("");
    let tail = tail.strip_suffix(".git").unwrap_or(tail);
    let safe: String = tail
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let stem = safe.trim_start_matches(['.', '-']);
    let stem = if stem.is_empty() { "repo" } else { stem };
    let digest = sha2::Sha256::digest(url.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}-{hex}")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Land {
    #[default]
    Host,
    Fetch,
    /// There, and then the host pushes the landed branch to its copy's `origin` (a clone
    /// URL's, or whatever the copy's origin is): for a team whose branches live on a remote.
    Push,
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
    pub fn repo_there(&self, repo: &Path) -> Option<RepoThere> {
        self.repos
            .iter()
            .filter_map(|(local, there)| {
                repo.strip_prefix(local)
                    .ok()
                    .map(|rest| (local, there, rest))
            })
            .max_by_key(|(local, _, _)| local.components().count())
            .map(|(_, there, rest)| {
                if is_clone_url(there) {
                    RepoThere::Clone {
                        url: there.clone(),
                        rest: rest.to_path_buf(),
                    }
                } else if rest.as_os_str().is_empty() {
                    RepoThere::Path(there.clone())
                } else {
                    RepoThere::Path(format!(
                        "{}/{}",
                        there.trim_end_matches('/'),
                        rest.display()
                    ))
                }
            })
    }

    /// The repository of this machine that `there` (a path on the host) is the copy of, and
    /// the path under it: the reverse of `repo_there`.
    pub fn local_repo(&self, there: &str) -> Option<PathBuf> {
        let there = Path::new(there);
        self.repos
            .iter()
            .filter_map(|(local, copy)| {
                if is_clone_url(copy) {
                    self.under_clone(there, copy)
                        .map(|(len, rest)| (local, len, rest))
                } else {
                    there
                        .strip_prefix(copy)
                        .ok()
                        .map(|rest| (local, copy.len(), rest))
                }
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

    /// Whether `there` is in the host's clone of `url` (`HOME/clones/NAME`): the length of
    /// the clone's path, and the path under it.
    fn under_clone<'a>(&self, there: &'a Path, url: &str) -> Option<(usize, &'a Path)> {
        let name = clone_dir_name(url);
        let dir = match &self.home {
            Some(home) => Path::new(home).join(CLONES).join(&name),
            None => {
                // The host's default home is known only there; the clone's name, with its
                // URL's digest, is specific enough on its own.
                let parts: Vec<_> = there.components().collect();
                let at = parts.windows(2).position(|w| {
                    w[0].as_os_str() == CLONES && w[1].as_os_str() == name.as_str()
                })?;
                parts[..at + 2].iter().collect()
            }
        };
        let rest = there.strip_prefix(&dir).ok()?;
        Some((dir.as_os_str().len(), rest))
    }

    /// What is wrong with it, as one sentence; None when nothing is.
    pub fn problem(&self, name: &str) -> Option<String> {
        if name == LOCAL {
            return Some(format!(
                "[hosts.{LOCAL}] names this machine itself; give the other host another name"
            ));
        }
        if name == "auto" {
            return Some(
                "[hosts.auto] could never be named: `--host auto` places a run on the host with the most free slots; give the host another name".into(),
            );
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
        if let Some((local, there)) = self
            .repos
            .iter()
            .find(|(_, there)| !there.starts_with('/') && !is_clone_url(there))
        {
            return Some(format!(
                "[hosts.{name}.repos] maps \"{}\" to \"{there}\", which is neither an absolute path on the host nor a clone URL; write the path there (e.g. \"/srv/src/app\") or a URL the host can clone (https://…, ssh://…, git://…, file://… or user@host:path)",
                local.display()
            ));
        }
        // A password or token in the URL would be on command lines (ps) and in messages.
        if let Some((local, _)) = self.repos.iter().find(|(_, there)| has_secret(there)) {
            return Some(format!(
                "[hosts.{name}.repos] maps \"{}\" to a URL with a password or token in it; take it out of the URL and let the host's git credential helper (or an ssh key there) give it",
                local.display()
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
            h.repo_there(Path::new("/home/me/src/app")),
            Some(RepoThere::Path("/data/app".into()))
        );
        assert_eq!(
            h.repo_there(Path::new("/home/me/src/site/www")),
            Some(RepoThere::Path("/srv/src/site/www".into()))
        );
        assert_eq!(h.repo_there(Path::new("/elsewhere")), None);
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
    fn clone_urls_are_told_from_paths() {
        for url in [
            "https://github.com/me/app.git",
            "http://git.internal/app",
            "ssh://git@host:2222/srv/app.git",
            "git://host/app.git",
            "file:///srv/git/app.git",
            "git@github.com:me/app.git",
            "me@build1:src/app",
        ] {
            assert!(is_clone_url(url), "{url}");
        }
        for not in [
            "/srv/src/app",
            "src/app",
            "~/src/app",
            "",
            "https://",
            "file://",
            "build1:/srv/app",
            "-oProxyCommand=x@h:p",
            "me@a/b:c",
            "@host:path",
            "me@:path",
            "me@host:",
            "https://host/a\nb",
        ] {
            assert!(!is_clone_url(not), "{not:?}");
        }
    }

    #[test]
    fn a_clone_is_named_safely_after_its_url() {
        let a = clone_dir_name("https://github.com/me/app.git");
        assert!(a.starts_with("app-"), "{a}");
        assert_eq!(a.len(), "app-".len() + 12, "{a}");
        // The same URL, the same clone; another URL ending alike, another clone.
        assert_eq!(a, clone_dir_name("https://github.com/me/app.git"));
        assert_ne!(a, clone_dir_name("https://github.com/you/app.git"));
        assert!(clone_dir_name("git@github.com:me/app.git").starts_with("app-"));
        assert!(clone_dir_name("file:///srv/app.git/").starts_with("app-"));
        for odd in [
            "file:///srv/../..",
            "https://host/-rf",
            "https://host/a b;$(x)'\"",
            "https://host/",
        ] {
            let name = clone_dir_name(odd);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{odd}: {name}"
            );
            assert!(!name.starts_with(['.', '-']), "{odd}: {name}");
            assert!(name != "." && name != "..", "{odd}: {name}");
        }
        assert!(clone_dir_name(&format!("https://h/{}", "x".repeat(300))).len() < 64);
    }

    #[test]
    fn a_repository_mapped_to_a_url_is_the_hosts_clone_of_it() {
        let url = "https://git.example/me/app.git";
        let h = host(&format!(
            "ssh = \"b\"\nhome = \"/srv/fd\"\n[repos]\n\"/home/me/app\" = \"{url}\"\n\"/home/me/site\" = \"/srv/site\"\n"
        ));
        assert_eq!(
            h.repo_there(Path::new("/home/me/app")),
            Some(RepoThere::Clone {
                url: url.into(),
                rest: PathBuf::new()
            })
        );
        assert_eq!(
            h.repo_there(Path::new("/home/me/app/web")),
            Some(RepoThere::Clone {
                url: url.into(),
                rest: PathBuf::from("web")
            })
        );
        assert_eq!(
            h.repo_there(Path::new("/home/me/site")),
            Some(RepoThere::Path("/srv/site".into()))
        );
        // And back, for `land = "fetch"`: the clone under the host's home is this repository.
        let clone = format!("/srv/fd/clones/{}", clone_dir_name(url));
        assert_eq!(h.local_repo(&clone), Some(PathBuf::from("/home/me/app")));
        assert_eq!(
            h.local_repo(&format!("{clone}/web")),
            Some(PathBuf::from("/home/me/app/web"))
        );
        assert_eq!(h.local_repo("/elsewhere/clones/app"), None);
        assert_eq!(
            h.local_repo(&format!("/elsewhere/clones/{}", clone_dir_name(url))),
            None,
            "under the configured home only"
        );
        // With the host's default home (known only there), the clone's own name says it.
        let h = host(&format!(
            "ssh = \"b\"\n[repos]\n\"/home/me/app\" = \"{url}\"\n"
        ));
        assert_eq!(
            h.local_repo(&format!(
                "/home/me/.local/share/flightdeck/clones/{}",
                clone_dir_name(url)
            )),
            Some(PathBuf::from("/home/me/app"))
        );
        assert_eq!(h.problem("b"), None);
    }

    #[test]
    fn problems_are_said() {
        let bad = host("ssh = \"b\"\n[repos]\n\"/home/me/app\" = \"src/app\"\n")
            .problem("b")
            .unwrap();
        assert!(
            bad.contains("[hosts.b.repos]")
                && bad.contains("/home/me/app")
                && bad.contains("src/app")
                && bad.contains("absolute path")
                && bad.contains("URL"),
            "{bad}"
        );
        assert!(host("ssh = \"\"")
            .problem("b")
            .unwrap()
            .contains("ssh is empty"));
        assert!(host("ssh = \"b\"")
            .problem(LOCAL)
            .unwrap()
            .contains("this machine"));
        assert!(host("ssh = \"b\"")
            .problem("auto")
            .unwrap()
            .contains("another name"));
        assert_eq!(host("ssh = \"b\"").problem("b"), None);
        let secret = host(
            "ssh = \"b\"\n[repos]\n\"/home/me/app\" = \"https://me:ghp_SECRET@github.com/me/app.git\"\n",
        )
        .problem("b")
        .unwrap();
        assert!(
            secret.contains("password or token") && !secret.contains("ghp_SECRET"),
            "{secret}"
        );
        // A user name alone is no secret (ssh://git@host/…, user@host:path).
        assert_eq!(
            host(
                "ssh = \"b\"\n[repos]\n\"/a\" = \"ssh://git@h/x.git\"\n\"/b\" = \"git@h:x.git\"\n"
            )
            .problem("b"),
            None
        );
    }
}
