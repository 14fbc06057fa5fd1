//! The environment of every process flightdeck starts for a run (agents, setup steps, smoke
//! checks, dev servers, Chromium): built from an allow-list of the server's variables (plus what the
//! user's config names in `env_passthrough`), never the server's environment less a deny-list,
//! so a secret nobody thought of (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, ...) stays home; then the
//! run's variables. One place, so no kind of process can be forgotten.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{Config, ProviderKind};

/// The task file in the run's directory: the task whole, whatever its length.
pub const TASK_FILE: &str = "task.txt";

/// Linux takes at most 128 KiB (MAX_ARG_STRLEN, with its NUL) for one argument or one
/// `NAME=value` string; a longer task cannot go into either.
pub const MAX_ONE_STRING: usize = 128 * 1024 - 1;

/// Variables flightdeck sets per process; inherited values of these are never passed on.
const OWN: [&str; 4] = [
    "FLIGHTDECK_TASK",
    "FLIGHTDECK_TASK_FILE",
    "FLIGHTDECK_RUN_ID",
    "FLIGHTDECK_WORKTREE",
];

/// The run's variables for a process.
pub struct RunVars<'a> {
    pub task: &'a str,
    pub run_id: &'a str,
    pub worktree: &'a Path,
    /// The run's directory (the task file is there).
    pub run_dir: &'a Path,
}

impl RunVars<'_> {
    pub fn task_file(&self) -> PathBuf {
        self.run_dir.join(TASK_FILE)
    }

    /// Whether `FLIGHTDECK_TASK` can hold the task.
    pub fn task_fits_env(&self) -> bool {
        "FLIGHTDECK_TASK=".len() + self.task.len() <= MAX_ONE_STRING
    }
}

/// Names to take out of the inherited environment: every configured provider key, and any
/// `FLIGHTDECK_*` variable that is a secret (gateway token, keys) or one of the run's own.
pub fn removed(config: &Config) -> Vec<OsString> {
    let mut out: Vec<OsString> = config
        .providers
        .values()
        .map(|p| OsString::from(&p.api_key_env))
        .filter(|k| !k.is_empty())
        .collect();
    // The forge's token is the server's alone, even when a passthrough names it.
    if let Some(forge) = &config.forge {
        out.push(OsString::from(forge.token_var()));
    }
    for (name, _) in std::env::vars_os() {
        let Some(n) = name.to_str() else { continue };
        if is_flightdeck_secret(n) || OWN.contains(&n) {
            out.push(name);
        }
    }
    out
}

/// The variables that point an SDK at the gateway for a provider kind: base URLs and the key
/// variable, which holds the run token. None for the demo's model, which no SDK is pointed at.
pub fn gateway_vars(kind: ProviderKind) -> Option<(&'static [&'static str], &'static str)> {
    match kind {
        ProviderKind::Anthropic => Some((
            &["ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE"],
            "ANTHROPIC_API_KEY",
        )),
        ProviderKind::Openai => Some((&["OPENAI_BASE_URL", "OPENAI_API_BASE"], "OPENAI_API_KEY")),
        ProviderKind::Demo => None,
    }
}

/// Key variables a model SDK reads, whether or not flightdeck set them.
const SDK_KEYS: [&str; 2] = ["ANTHROPIC_AUTH_TOKEN", "CODEX_API_KEY"];

/// The environment for a command an agent runs on the model's behalf (the built-in agent's
/// `run_command`): the agent's own, less what would let it call a model or spend the run's
/// budget — flightdeck's secrets, the gateway variables, SDK key variables, and any variable
/// whose value holds the run token.
pub fn for_tool_commands(
    env: impl IntoIterator<Item = (OsString, OsString)>,
    token: Option<&str>,
) -> Vec<(OsString, OsString)> {
    let token = token.filter(|t| !t.is_empty());
    env.into_iter()
        .filter(|(name, value)| {
            let Some(n) = name.to_str() else { return true };
            let gateway = [ProviderKind::Anthropic, ProviderKind::Openai]
                .into_iter()
                .filter_map(gateway_vars)
                .any(|(bases, key)| bases.contains(&n) || key == n);
            let holds_token = token.is_some_and(|t| value.to_string_lossy().contains(t));
            !(is_flightdeck_secret(n) || gateway || SDK_KEYS.contains(&n) || holds_token)
        })
        .collect()
}

fn is_flightdeck_secret(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("FLIGHTDECK_") else {
        return false;
    };
    rest.starts_with("GATEWAY_")
        || rest.starts_with("PROVIDER_")
        || ["TOKEN", "KEY", "SECRET", "PASSWORD"]
            .iter()
            .any(|s| rest.contains(s))
}

/// What every process of a run gets from the server's environment: what programs need to run
/// and to speak the user's language, nothing that could be a credential.
const ALLOWED: [&str; 10] = [
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TZ", "SHELL", "TMPDIR",
];

/// Whether the server's variable `name` passes to a run's processes given `passthrough`.
pub fn allowed(name: &str, passthrough: &[String]) -> bool {
    ALLOWED.contains(&name) || name.starts_with("LC_") || passthrough.iter().any(|p| p == name)
}

/// The server's variables a run's process gets: the allow-list and `passthrough`, never a
/// provider key (even when named) or a flightdeck secret.
pub fn inherited(config: &Config, passthrough: &[String]) -> Vec<(OsString, OsString)> {
    let removed = removed(config);
    let mut names: Vec<String> = config.env_passthrough.clone();
    names.extend(passthrough.iter().cloned());
    std::env::vars_os()
        .filter(|(name, _)| {
            name.to_str().is_some_and(|n| allowed(n, &names)) && !removed.contains(name)
        })
        .collect()
}

/// Set up `cmd`'s environment for a process of the run.
pub fn apply(cmd: &mut tokio::process::Command, config: &Config, vars: &RunVars) {
    apply_with(cmd, config, vars, &[]);
}

/// `apply`, with variables the user passes to this process only (an agent's `env_passthrough`).
pub fn apply_with(
    cmd: &mut tokio::process::Command,
    config: &Config,
    vars: &RunVars,
    passthrough: &[String],
) {
    cmd.env_clear();
    cmd.envs(whole(config, vars, passthrough));
}

/// The whole environment of a process of the run (what `apply_with` sets).
pub fn whole(config: &Config, vars: &RunVars, passthrough: &[String]) -> Vec<(OsString, OsString)> {
    let mut env = inherited(config, passthrough);
    if vars.task_fits_env() {
        env.push(("FLIGHTDECK_TASK".into(), vars.task.into()));
    }
    env.extend([
        ("FLIGHTDECK_TASK_FILE".into(), vars.task_file().into()),
        ("FLIGHTDECK_RUN_ID".into(), vars.run_id.into()),
        ("FLIGHTDECK_WORKTREE".into(), vars.worktree.into()),
    ]);
    env
}

/// Write the task file if it is not there (runs made before it existed), off the runtime.
pub async fn ensure_task_file(vars: &RunVars<'_>) -> std::io::Result<()> {
    let (path, task) = (vars.task_file(), vars.task.to_string());
    tokio::task::spawn_blocking(move || {
        if path.exists() {
            return Ok(());
        }
        crate::owner_only::write(&path, task.as_bytes())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// An argument longer than the OS takes, as a sentence saying what to do; None when all fit.
pub fn too_long_argument(args: &[String], task: &str, agent: &str) -> Option<String> {
    let longest = args.iter().map(String::len).max().unwrap_or(0);
    if longest <= MAX_ONE_STRING {
        return None;
    }
    Some(format!(
        "the task is {} KiB, longer than one command-line argument may be ({} KiB); put `{{task_file}}` instead of `{{task}}` in [agents.{agent}].command (the agent gets the path of a file holding the task), or have the agent read $FLIGHTDECK_TASK_FILE",
        task.len() / 1024,
        (MAX_ONE_STRING + 1) / 1024
    ))
}

/// The sentence for a spawn that failed because argv and environment were too long.
pub fn spawn_error(e: &std::io::Error, task: &str, program: &str, agent: &str) -> String {
    if e.raw_os_error() == Some(nix::libc::E2BIG) {
        format!(
            "cannot start `{program}`: its command line and environment are longer than the OS allows (the task is {} KiB); put `{{task_file}}` instead of `{{task}}` in [agents.{agent}].command, or have the agent read $FLIGHTDECK_TASK_FILE",
            task.len() / 1024
        )
    } else {
        format!("cannot start agent `{agent}` ({program}): {e}; install it or fix [agents.{agent}].command")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_stale_run_variables_are_removed() {
        assert!(is_flightdeck_secret("FLIGHTDECK_GATEWAY_TOKEN"));
        assert!(is_flightdeck_secret("FLIGHTDECK_PROVIDER_URL"));
        assert!(is_flightdeck_secret("FLIGHTDECK_API_KEY"));
        assert!(!is_flightdeck_secret("FLIGHTDECK_DEMO_STEP"));
        assert!(!is_flightdeck_secret("ANTHROPIC_API_KEY"));
        let cfg: Config =
            toml::from_str("[providers.a]\nbase_url = \"https://x\"\napi_key_env = \"MY_KEY\"\n")
                .unwrap();
        assert!(removed(&cfg).contains(&OsString::from("MY_KEY")));
    }

    #[test]
    fn only_the_allow_list_and_what_the_user_names_pass() {
        for ok in ["PATH", "HOME", "LC_ALL", "LANG", "TMPDIR"] {
            assert!(allowed(ok, &[]), "{ok}");
        }
        for secret in [
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "MY_SECRET",
            "FLIGHTDECK_EXTRA",
            "FLIGHTDECK_HOME",
            "FLIGHTDECK_CONFIG",
            "OPENAI_API_KEY",
            "LD_PRELOAD",
        ] {
            assert!(!allowed(secret, &[]), "{secret}");
        }
        assert!(allowed("MY_SECRET", &["MY_SECRET".to_string()]));
    }

    #[test]
    fn tool_commands_get_no_token_and_no_gateway() {
        let os = |k: &str, v: &str| (OsString::from(k), OsString::from(v));
        let env = vec![
            os("PATH", "/usr/bin"),
            os("HOME", "/home/u"),
            os("FLIGHTDECK_RUN_ID", "r1"),
            os("FLIGHTDECK_GATEWAY_TOKEN", "fd-tok"),
            os("FLIGHTDECK_GATEWAY_URL", "http://127.0.0.1:1/r/fd-tok"),
            os("FLIGHTDECK_PROVIDER_URL", "http://127.0.0.1:1/r/fd-tok/a"),
            os("ANTHROPIC_API_KEY", "fd-tok"),
            os("ANTHROPIC_BASE_URL", "http://127.0.0.1:1/r/fd-tok/a"),
            os("OPENAI_API_BASE", "http://x"),
            os("ANTHROPIC_AUTH_TOKEN", "other"),
            os("SOMETHING_ELSE", "prefix-fd-tok-suffix"),
        ];
        let kept: Vec<String> = for_tool_commands(env, Some("fd-tok"))
            .into_iter()
            .map(|(k, _)| k.into_string().unwrap())
            .collect();
        assert_eq!(kept, ["PATH", "HOME", "FLIGHTDECK_RUN_ID"]);
    }

    #[test]
    fn long_tasks_get_a_true_sentence() {
        let task = "x".repeat(200 * 1024);
        let vars = RunVars {
            task: &task,
            run_id: "r",
            worktree: Path::new("/w"),
            run_dir: Path::new("/runs/r"),
        };
        assert!(!vars.task_fits_env());
        let msg = too_long_argument(std::slice::from_ref(&task), &task, "a").unwrap();
        assert!(
            msg.contains("{task_file}") && msg.contains("200 KiB"),
            "{msg}"
        );
        assert_eq!(too_long_argument(&["short".into()], "short", "a"), None);
        let e = std::io::Error::from_raw_os_error(nix::libc::E2BIG);
        assert!(spawn_error(&e, &task, "p", "a").contains("longer than the OS allows"));
    }
}
