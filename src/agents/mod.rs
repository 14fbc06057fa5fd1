//! Agents: turning an `[agents.NAME]` entry into a process to start. The task text goes in as
//! one argument or an environment variable, never through a shell.

pub mod output;

use std::path::{Path, PathBuf};

use crate::config::{AgentConfig, AgentKind};

/// Everything needed to start an agent process.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

impl Launch {
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

pub struct Vars<'a> {
    pub task: &'a str,
    pub worktree: &'a Path,
    pub run_id: &'a str,
}

pub fn build(name: &str, agent: &AgentConfig, vars: &Vars) -> Result<Launch, String> {
    match agent.kind {
        AgentKind::Command | AgentKind::ClaudeCode | AgentKind::Codex | AgentKind::Aider => {}
        AgentKind::Builtin => {
            return Err(format!(
                "agent `{name}` has kind \"builtin\", which this version cannot run yet; use kind = \"command\""
            ))
        }
    }
    let Some((program, args)) = agent.command.split_first() else {
        return Err(format!(
            "agent `{name}` has no command; set [agents.{name}].command = [\"program\", \"{{task}}\"]"
        ));
    };
    let worktree = vars.worktree.to_string_lossy();
    let fill_one = |s: &str| fill(s, vars.task, &worktree, vars.run_id);
    let mut env: Vec<(String, String)> = agent
        .env
        .iter()
        .map(|(k, v)| (k.clone(), fill_one(v)))
        .collect();
    env.push(("FLIGHTDECK_TASK".into(), vars.task.to_string()));
    env.push(("FLIGHTDECK_RUN_ID".into(), vars.run_id.to_string()));
    env.push(("FLIGHTDECK_WORKTREE".into(), worktree.to_string()));
    Ok(Launch {
        program: fill_one(program),
        args: args.iter().map(|a| fill_one(a)).collect(),
        env,
        cwd: vars.worktree.to_path_buf(),
    })
}

/// Fill `{task}`, `{worktree}` and `{run_id}` in one pass, so braces inside the task text are
/// left alone. Unknown `{names}` stay as written.
pub fn fill(template: &str, task: &str, worktree: &str, run_id: &str) -> String {
    let mut out = String::with_capacity(template.len() + task.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let (value, used) = [
            ("{task}", task),
            ("{worktree}", worktree),
            ("{run_id}", run_id),
        ]
        .iter()
        .find(|(key, _)| after.starts_with(key))
        .map(|(key, value)| (*value, key.len()))
        .unwrap_or(("{", 1));
        out.push_str(value);
        rest = &after[used..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_each_argument_once() {
        let task = "say {worktree} and $(rm -rf /) `x` \"q\"\né";
        assert_eq!(fill("{task}", task, "/w", "r1"), task);
        assert_eq!(
            fill("--dir={worktree}/{run_id}", task, "/w", "r1"),
            "--dir=/w/r1"
        );
        assert_eq!(fill("{other} {", task, "/w", "r1"), "{other} {");
    }

    #[test]
    fn builds_argv_and_env() {
        let agent = AgentConfig {
            command: vec!["prog".into(), "-p".into(), "{task}".into()],
            env: [("X".to_string(), "{run_id}".to_string())].into(),
            ..Default::default()
        };
        let l = build(
            "a",
            &agent,
            &Vars {
                task: "do it",
                worktree: Path::new("/w"),
                run_id: "r1",
            },
        )
        .unwrap();
        assert_eq!(l.argv(), vec!["prog", "-p", "do it"]);
        assert!(l.env.contains(&("X".into(), "r1".into())));
        assert!(l.env.contains(&("FLIGHTDECK_TASK".into(), "do it".into())));
        assert!(l.env.contains(&("FLIGHTDECK_WORKTREE".into(), "/w".into())));
        assert_eq!(l.cwd, Path::new("/w"));
    }

    #[test]
    fn empty_command_is_an_error() {
        let err = build(
            "a",
            &AgentConfig::default(),
            &Vars {
                task: "t",
                worktree: Path::new("/w"),
                run_id: "r",
            },
        )
        .unwrap_err();
        assert!(err.contains("no command"), "{err}");
    }
}
