//! Configuration: built-in defaults (assets/), the user's file, the repository's
//! `.flightdeck.toml`, then `--config FILE` / `FLIGHTDECK_CONFIG`; later layers win.

pub mod browser;
pub mod duration;
mod file;
pub mod forge;
pub mod hosts;
mod layers;
pub mod pinned;
pub mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use duration::ConfigDuration;
pub use layers::{
    check_repo_file, layer_commands, load, ConfigError, OnUntrusted, Sources, UserConfig, REPO_FILE,
};
pub use trust::TrustStore;

/// The built-in defaults, shipped in the binary.
pub const DEFAULTS: &str = include_str!("../../assets/default-config.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Runs beyond this wait as queued.
    pub max_parallel: usize,
    /// Where worktrees go; empty means `<FLIGHTDECK_HOME>/worktrees`.
    pub worktree_root: String,
    /// Worktrees kept checked out per repository, ready for the next run (0: none).
    pub pool: usize,
    /// The agent used when `run` is given no `--agent`.
    pub default_agent: String,
    /// How long a killed run's processes get between SIGTERM and SIGKILL.
    pub kill_grace: ConfigDuration,
    pub agents: BTreeMap<String, AgentConfig>,
    pub smoke: Vec<SmokeCheck>,
    /// `[smoke_feedback]`: failing required checks send the agent round again with their
    /// output. (Not `[smoke]`: TOML cannot have that table beside the `[[smoke]]` list.)
    pub smoke_feedback: SmokeFeedbackConfig,
    pub setup: SetupConfig,
    pub gate: GateConfig,
    /// Mission Control key bindings: action name → key or keys (see config.example.toml).
    pub keys: BTreeMap<String, KeyBinding>,
    /// Prices added to or replacing the built-in table (assets/pricing.toml).
    pub pricing: PricingConfig,
    /// Model providers the metering gateway forwards to.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Spending caps; at 80% a warning, at 100% the gateway refuses and the run pauses.
    pub budget: BudgetConfig,
    /// The browser-to-code loop.
    pub browser: browser::BrowserConfig,
    /// Mission Control: how it tells you a run needs you.
    pub cockpit: CockpitConfig,
    /// Variables of the server's environment passed on to every process of a run, beyond the
    /// allow-list (PATH, HOME, USER, LANG, LC_*, TERM, TZ, SHELL, TMPDIR). User config only.
    pub env_passthrough: Vec<String>,
    /// Where runs' pull requests go (none: delivery stops at PR.md and a local merge).
    /// User config only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forge: Option<forge::ForgeConfig>,
    /// Other machines runs can be made on, over SSH. User config only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, hosts::HostConfig>,
}

/// `[cockpit]`: when a run fails, conflicts, pauses for its budget or becomes ready to merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CockpitConfig {
    /// Ring the terminal bell.
    pub bell: bool,
    /// Send a desktop notification (OSC 9; terminals without it ignore it).
    pub notify: bool,
}

impl Default for CockpitConfig {
    fn default() -> Self {
        Self {
            bell: true,
            notify: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    #[default]
    Anthropic,
    Openai,
    /// `flightdeck demo`'s scripted model (the Anthropic Messages API on loopback, priced in
    /// the demo's config). No key: the gateway sends a fixed one. No SDK variable points at
    /// it: agents reach it only through `$FLIGHTDECK_GATEWAY_URL/<provider>`, so it never
    /// stands in for a real model.
    Demo,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// What a client's base URL would be: `https://api.anthropic.com`,
    /// `https://api.openai.com/v1`.
    pub base_url: String,
    /// The server's environment variable holding the key; agents never see it.
    pub api_key_env: String,
    /// A run sent here by another machine: the token its gateway takes instead of a key
    /// (`base_url` is that gateway, through a tunnel). Never read from a file.
    #[serde(skip)]
    pub host_token: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    pub run_usd: Option<f64>,
    pub run_tokens: Option<u64>,
    pub global_usd: Option<f64>,
    pub global_tokens: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingConfig {
    /// Model name → USD per million tokens (input, output, cache_read, cache_write).
    pub models: BTreeMap<String, crate::models::pricing::Price>,
}

impl Config {
    /// The cap of `agent`'s own (`[agents.NAME] budget_usd`), for the gateway.
    pub fn agent_cap(&self, agent: &str) -> Option<crate::gateway::budget::AgentCap> {
        let usd = self.agents.get(agent)?.budget_usd?;
        Some(crate::gateway::budget::AgentCap {
            key: format!("agents.{agent}.budget_usd"),
            usd,
        })
    }

    /// The price table for this config.
    pub fn prices(&self) -> crate::models::pricing::PriceTable {
        crate::models::pricing::PriceTable::with_overrides(&self.pricing.models)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyBinding {
    One(String),
    Many(Vec<String>),
}

impl KeyBinding {
    pub fn keys(&self) -> Vec<String> {
        match self {
            KeyBinding::One(k) => vec![k.clone()],
            KeyBinding::Many(ks) => ks.clone(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_parallel: 4,
            worktree_root: String::new(),
            pool: 2,
            default_agent: String::new(),
            kill_grace: ConfigDuration::secs(5),
            agents: BTreeMap::new(),
            smoke: Vec::new(),
            smoke_feedback: SmokeFeedbackConfig::default(),
            browser: browser::BrowserConfig::default(),
            setup: SetupConfig::default(),
            gate: GateConfig::default(),
            keys: BTreeMap::new(),
            pricing: PricingConfig::default(),
            providers: BTreeMap::new(),
            budget: BudgetConfig::default(),
            cockpit: CockpitConfig::default(),
            env_passthrough: Vec::new(),
            forge: None,
            hosts: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    #[default]
    Command,
    ClaudeCode,
    Codex,
    Aider,
    Builtin,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    pub kind: AgentKind,
    /// argv; `{task}`, `{worktree}` and `{run_id}` are filled in per argument, never via a shell.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// The agent phase fails when the agent runs longer than this (paused time not counted).
    pub timeout: Option<ConfigDuration>,
    /// A line shown beside the agent's name, e.g. "scripted demo agent".
    pub label: Option<String>,
    /// The model to ask for (adapters pass it on; pricing uses it where the agent's output
    /// does not name one).
    pub model: Option<String>,
    /// The provider entry (`[providers.NAME]`) this agent's model traffic goes to.
    pub provider: Option<String>,
    /// claude-code: `--permission-mode` (default acceptEdits).
    pub permission_mode: Option<String>,
    /// claude-code: `--allowedTools`.
    pub allowed_tools: Vec<String>,
    /// claude-code: retrying the agent phase resumes the recorded session.
    pub resume_on_retry: bool,
    /// builtin: model turns before giving up.
    pub max_turns: Option<u32>,
    /// builtin: how long one `run_command` may take.
    pub command_timeout: Option<ConfigDuration>,
    /// Variables of the server's environment passed on to this agent only (user config only).
    pub env_passthrough: Vec<String>,
    /// USD each run of this agent may spend on model calls through the gateway: a cap of its
    /// own beside `budget.run_usd` (the lower one stops the run first).
    pub budget_usd: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeCheck {
    pub name: String,
    pub command: Vec<String>,
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    #[serde(default = "yes")]
    pub required: bool,
}

/// `[smoke_feedback]`: what a failing required check does after the agent phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmokeFeedbackConfig {
    /// Send the agent round again with the failing checks' output (else the run fails).
    pub enabled: bool,
    /// Extra agent rounds per attempt, at most; then the run fails.
    pub max_iterations: u32,
}

impl Default for SmokeFeedbackConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_iterations: 2,
        }
    }
}

/// Whether `name` is an environment variable name a process can be given: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_env_name(name: &str, place: &str) -> Result<(), String> {
    if is_env_name(name) {
        Ok(())
    } else {
        Err(format!(
            "{place}: `{}` is not an environment variable name (letters, digits and _, not starting with a digit); fix or remove it",
            crate::text::printable(name)
        ))
    }
}

fn yes() -> bool {
    true
}

/// Steps for a new worktree, before the agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SetupConfig {
    /// Files copied from the repository's own checkout when they exist (`.env`, local config);
    /// never committed on the run's branch.
    pub copy: Vec<String>,
    /// Commands run in the worktree, in order; one failing fails the run in `prepare`.
    pub commands: Vec<Vec<String>>,
    /// Per command.
    pub timeout: Option<ConfigDuration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// The acceptance score a run needs to merge.
    pub min_score: f64,
    /// Merge runs that turn green by themselves, one at a time.
    pub auto_merge: bool,
    /// Diffs larger than these lower the score (see README: the score).
    pub max_changed_lines: u64,
    pub max_changed_files: u64,
    /// Glob patterns of paths a run may not touch (unless `allow_protected`).
    pub protected: Vec<String>,
    pub allow_protected: bool,
    /// The branch runs merge into; empty: the branch the run's base commit came from.
    pub target: String,
    /// How a run lands: one squashed commit, or a merge commit; never a bare fast-forward.
    pub merge_style: MergeStyle,
    /// Queued runs whose landing is tested at once, each on top of the runs ahead of it.
    pub queue_depth: usize,
    /// Remove a run's worktree and branch once it landed (its proof pack stays).
    pub clean_merged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeStyle {
    /// One commit per run on the target, message from the task, trailers naming the run.
    #[default]
    Squash,
    /// Always a merge commit whose second parent is the run's branch.
    Merge,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            min_score: 0.8,
            auto_merge: false,
            max_changed_lines: 500,
            max_changed_files: 20,
            protected: Vec::new(),
            allow_protected: false,
            target: String::new(),
            merge_style: MergeStyle::Squash,
            queue_depth: 2,
            clean_merged: false,
        }
    }
}

impl Config {
    /// The worktree root, with `~` expanded; relative paths are taken from `home`.
    pub fn worktree_root(&self, home: &crate::paths::Home) -> PathBuf {
        let raw = self.worktree_root.trim();
        if raw.is_empty() {
            return home.default_worktree_root();
        }
        let expanded = expand_tilde(raw);
        if expanded.is_absolute() {
            expanded
        } else {
            home.root().join(expanded)
        }
    }

    /// The agent a run asked for (or the default), or an error naming the ones that exist.
    pub fn agent(&self, name: Option<&str>) -> Result<(String, &AgentConfig), String> {
        let name = match name {
            Some(n) => n.to_string(),
            None if !self.default_agent.is_empty() => self.default_agent.clone(),
            None => {
                return Err(
                    "no agent given and no default_agent configured; pass --agent NAME".into(),
                )
            }
        };
        match self.agents.get(&name) {
            Some(a) => Ok((name, a)),
            None => {
                let known: Vec<&str> = self.agents.keys().map(String::as_str).collect();
                Err(format!(
                    "unknown agent `{name}`; configured agents: {} (add [agents.{name}] to your config)",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            }
        }
    }

    /// Checks that serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        self.browser.validate()?;
        if let Some(problem) = self.hosts.iter().find_map(|(n, h)| h.problem(n)) {
            return Err(problem);
        }
        if let Some(problem) = self.forge.as_ref().and_then(forge::ForgeConfig::problem) {
            return Err(problem);
        }
        for name in &self.env_passthrough {
            check_env_name(name, "env_passthrough")?;
        }
        for (agent, a) in &self.agents {
            for name in a.env.keys() {
                check_env_name(name, &format!("[agents.{agent}].env"))?;
            }
            for name in &a.env_passthrough {
                check_env_name(name, &format!("[agents.{agent}].env_passthrough"))?;
            }
        }
        // [keys]: every action named, every key known, no key for two actions.
        crate::ui::keymap::Keymap::new(&self.keys)?;
        if self.max_parallel == 0 {
            return Err("max_parallel must be at least 1".into());
        }
        for check in &self.smoke {
            if check.command.is_empty() {
                return Err(format!(
                    "smoke check `{}` has an empty command; give it a program to run",
                    check.name
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.gate.min_score) {
            return Err("gate.min_score must be between 0 and 1".into());
        }
        for pattern in &self.gate.protected {
            glob::Pattern::new(pattern).map_err(|e| {
                format!("gate.protected: `{pattern}` is not a valid glob pattern ({e})")
            })?;
        }
        for (name, p) in &self.providers {
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return Err(format!(
                    "providers.{name}.base_url must start with http:// or https://"
                ));
            }
            if p.api_key_env.is_empty() && p.kind != ProviderKind::Demo {
                return Err(format!(
                    "providers.{name}.api_key_env is empty; name the environment variable that holds the key"
                ));
            }
        }
        for (i, cmd) in self.setup.commands.iter().enumerate() {
            if cmd.is_empty() {
                return Err(format!(
                    "setup.commands[{i}] is empty; give it a program to run"
                ));
            }
        }
        for path in &self.setup.copy {
            if std::path::Path::new(path).is_absolute() || path.split('/').any(|c| c == "..") {
                return Err(format!(
                    "setup.copy: `{path}` must be a path inside the repository (relative, no `..`)"
                ));
            }
        }
        Ok(())
    }
}

pub fn expand_tilde(raw: &str) -> PathBuf {
    if let Some(rest) = raw.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    PathBuf::from(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_name_an_existing_default_agent() {
        let cfg: Config = toml::from_str(DEFAULTS).expect("assets/default-config.toml parses");
        cfg.validate().unwrap();
        assert!(cfg.agent(None).is_ok(), "default_agent must be configured");
    }

    #[test]
    fn the_example_config_parses() {
        let cfg: Config = toml::from_str(include_str!("../../config.example.toml"))
            .expect("config.example.toml parses with every key it documents");
        cfg.validate().unwrap();
    }

    #[test]
    fn unknown_agent_lists_known_ones() {
        let cfg: Config = toml::from_str(DEFAULTS).unwrap();
        let err = cfg.agent(Some("nope")).unwrap_err();
        assert!(err.contains("unknown agent `nope`"), "{err}");
        assert!(err.contains("claude"), "{err}");
    }

    #[test]
    fn a_key_bound_to_two_actions_is_refused_at_load() {
        let mut cfg: Config = toml::from_str(DEFAULTS).unwrap();
        let keys: Config = toml::from_str("[keys]\nkill = \"d\"\ndiff = \"d\"\n").unwrap();
        cfg.keys = keys.keys;
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("`d` to both kill and diff"), "{err}");
    }
}
