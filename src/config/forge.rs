//! `[forge]`: where a run's branch is pushed and its pull request opened (user config only: a
//! repository's file may not say where the token goes or which API it talks to).

use serde::{Deserialize, Serialize};

use super::ConfigDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    #[default]
    Github,
    Gitlab,
}

impl ForgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Github => "github",
            ForgeKind::Gitlab => "gitlab",
        }
    }

    /// What the forge calls the thing it reviews.
    pub fn pr_word(self) -> &'static str {
        match self {
            ForgeKind::Github => "pull request",
            ForgeKind::Gitlab => "merge request",
        }
    }
}

/// When a run's pull request is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenWhen {
    /// Once flightdeck's gate is green.
    #[default]
    Ready,
    /// As a draft as soon as the run succeeds.
    Succeeded,
    /// Only on request (`flightdeck pr RUN`, `P` in the cockpit).
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForgeConfig {
    pub kind: ForgeKind,
    /// The API's base URL; empty: the public one (GitHub Enterprise, self-hosted GitLab by URL).
    pub api_url: String,
    /// The variable of the server's environment holding the token; empty: GITHUB_TOKEN (then
    /// `gh auth token`) or GITLAB_TOKEN. Read by the server only.
    pub token_env: String,
    /// The git remote the branch is pushed to.
    pub remote: String,
    /// `owner/name` (or GitLab's project path); empty: from the remote's URL.
    pub repo: String,
    pub open: OpenWhen,
    /// Open pull requests as drafts.
    pub draft: bool,
    /// How often open pull requests are looked at.
    pub poll: ConfigDuration,
    /// Failing checks on the pull request and change requests send the agent round again.
    pub feedback: bool,
    pub max_feedback: u32,
}

impl Default for ForgeConfig {
    fn default() -> Self {
        Self {
            kind: ForgeKind::Github,
            api_url: String::new(),
            token_env: String::new(),
            remote: "origin".into(),
            repo: String::new(),
            open: OpenWhen::Ready,
            draft: false,
            poll: ConfigDuration::secs(60),
            feedback: true,
            max_feedback: 2,
        }
    }
}

impl ForgeConfig {
    /// The API base URL, without a trailing slash.
    pub fn api(&self) -> String {
        let url = match (self.api_url.trim(), self.kind) {
            ("", ForgeKind::Github) => "https://api.github.com",
            ("", ForgeKind::Gitlab) => "https://gitlab.com/api/v4",
            (u, _) => u,
        };
        url.trim_end_matches('/').to_string()
    }

    /// The variable the token is read from.
    pub fn token_var(&self) -> &str {
        match (self.token_env.trim(), self.kind) {
            ("", ForgeKind::Github) => "GITHUB_TOKEN",
            ("", ForgeKind::Gitlab) => "GITLAB_TOKEN",
            (v, _) => v,
        }
    }

    /// What is wrong with it, as a sentence; None when it can be used.
    pub fn problem(&self) -> Option<String> {
        let api = self.api();
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            return Some(format!(
                "[forge] api_url `{}` is not an http(s) URL; write e.g. \"https://api.github.com\"",
                crate::text::printable(&api)
            ));
        }
        if !super::is_env_name(self.token_var()) {
            return Some(format!(
                "[forge] token_env `{}` is not an environment variable name",
                crate::text::printable(self.token_var())
            ));
        }
        if self.remote.trim().is_empty() {
            return Some("[forge] remote is empty; name a git remote such as \"origin\"".into());
        }
        if self.poll.0 < std::time::Duration::from_secs(1) {
            return Some(
                "[forge] poll is under 1s; forges rate-limit, poll every 30s or more".into(),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_the_public_apis_and_their_tokens() {
        let gh = ForgeConfig::default();
        assert_eq!(gh.api(), "https://api.github.com");
        assert_eq!(gh.token_var(), "GITHUB_TOKEN");
        let gl = ForgeConfig {
            kind: ForgeKind::Gitlab,
            api_url: "https://git.example/api/v4/".into(),
            ..Default::default()
        };
        assert_eq!(gl.api(), "https://git.example/api/v4");
        assert_eq!(gl.token_var(), "GITLAB_TOKEN");
        assert!(gl.problem().is_none());
        let bad = ForgeConfig {
            api_url: "ftp://x".into(),
            ..Default::default()
        };
        assert!(bad
            .problem()
            .unwrap_or_default()
            .contains("not an http(s) URL"));
    }
}
