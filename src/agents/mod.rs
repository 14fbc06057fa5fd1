//! Agents: turning an `[agents.NAME]` entry into a process to start. The task text goes in as
//! one argument or an environment variable, never through a shell.

pub mod adapters;
pub mod availability;
pub mod output;
pub mod output_batch;

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
    /// The run's proof pack directory (aider's analytics log goes there).
    pub run_dir: &'a Path,
    /// A private directory for the agent's own state (Codex's CODEX_HOME); outside the proof
    /// pack, since agents keep credentials there.
    pub agent_home: &'a Path,
    /// A session to resume (claude-code, on retry).
    pub resume: Option<&'a str>,
    /// The flightdeck program (the built-in agent is `flightdeck agent-builtin`).
    pub exe: &'a crate::self_exe::SelfExe,
}

/// Where aider writes its analytics (usage) log.
pub const AIDER_ANALYTICS: &str = "aider-analytics.jsonl";

pub fn build(name: &str, agent: &AgentConfig, vars: &Vars) -> Result<Launch, String> {
    let defaults = default_command(agent, vars);
    let argv = if agent.command.is_empty() {
        &defaults
    } else {
        &agent.command
    };
    let Some((program, args)) = argv.split_first() else {
        return Err(format!(
            "agent `{name}` has no command; set [agents.{name}].command = [\"program\", \"{{task}}\"]"
        ));
    };
    let worktree = vars.worktree.to_string_lossy();
    let task_file = vars
        .run_dir
        .join(crate::supervisor::child_env::TASK_FILE)
        .to_string_lossy()
        .into_owned();
    let fill_one = |s: &str| {
        fill(
            s,
            &Placeholders {
                task: vars.task,
                task_file: &task_file,
                worktree: &worktree,
                run_id: vars.run_id,
            },
        )
    };
    // FLIGHTDECK_TASK and the other run variables are set by supervisor::child_env, like
    // for every process of a run.
    let mut env: Vec<(String, String)> = agent
        .env
        .iter()
        .map(|(k, v)| (k.clone(), fill_one(v)))
        .collect();
    if agent.kind == AgentKind::Codex {
        env.push((
            "CODEX_HOME".into(),
            vars.agent_home.join("codex").to_string_lossy().into_owned(),
        ));
    }
    // Without it Claude Code calls its vendor directly (telemetry, updates) whatever its base
    // URL says. Config may still set it otherwise.
    if agent.kind == AgentKind::ClaudeCode
        && !agent
            .env
            .contains_key("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC")
    {
        env.push((
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
            "1".into(),
        ));
    }
    Ok(Launch {
        program: fill_one(program),
        args: args.iter().map(|a| fill_one(a)).collect(),
        env,
        cwd: vars.worktree.to_path_buf(),
    })
}

/// The argv an adapter kind runs when config gives no `command`: the CLI run unattended with
/// machine-readable output.
fn default_command(agent: &AgentConfig, vars: &Vars) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let model = |v: &mut Vec<String>| {
        if let Some(m) = &agent.model {
            v.extend(["--model".into(), m.clone()]);
        }
    };
    match agent.kind {
        AgentKind::ClaudeCode => {
            v.extend(
                [
                    "claude",
                    "-p",
                    "{task}",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                ]
                .map(String::from),
            );
            model(&mut v);
            let mode = agent
                .permission_mode
                .clone()
                .unwrap_or_else(|| "acceptEdits".into());
            v.extend(["--permission-mode".into(), mode]);
            if !agent.allowed_tools.is_empty() {
                v.extend(["--allowedTools".into(), agent.allowed_tools.join(",")]);
            }
            if let Some(session) = vars.resume {
                v.extend(["--resume".into(), session.to_string()]);
            }
        }
        AgentKind::Codex => {
            v.extend(
                [
                    "codex",
                    "exec",
                    "--json",
                    // Unattended: `exec` asks no approvals; edits and commands stay in the
                    // worktree (`--full-auto` is gone from current Codex).
                    "--sandbox",
                    "workspace-write",
                    "--skip-git-repo-check",
                ]
                .map(String::from),
            );
            model(&mut v);
            v.push("{task}".into());
        }
        AgentKind::Aider => {
            v.extend(
                [
                    "aider",
                    "--message",
                    "{task}",
                    "--yes-always",
                    "--no-stream",
                    "--no-check-update",
                    // The task's files only: aider would add `.aider*` to .gitignore, and
                    // commit each edit itself (with an extra weak-model call for the message);
                    // flightdeck makes one checkpoint per iteration, as for every agent.
                    "--no-gitignore",
                    "--no-auto-commits",
                    // For this session only: without it --yes-always would answer yes when
                    // aider asks a user to opt in to sending analytics.
                    "--no-analytics",
                ]
                .map(String::from),
            );
            let path = |dir: &Path, file: &str| dir.join(file).to_string_lossy().into_owned();
            // Its histories would land in the worktree (and in the run's commits).
            v.extend([
                "--analytics-log".into(),
                path(vars.run_dir, AIDER_ANALYTICS),
                "--chat-history-file".into(),
                path(vars.agent_home, "aider.chat.history.md"),
                "--input-history-file".into(),
                path(vars.agent_home, "aider.input.history"),
            ]);
            model(&mut v);
        }
        AgentKind::Builtin => {
            // flightdeck itself, as a supervised process like any agent.
            v.extend([vars.exe.for_argv(), "agent-builtin".into()]);
        }
        AgentKind::Command => {}
    }
    v
}

/// Adds to `excludes` what an agent keeps in the worktree for itself: aider's repo-map cache
/// (`.aider.tags.cache.v4/`, with no option to put it elsewhere). Kept out of the run's
/// commits, and left for its next iteration. Blocking.
pub fn own_files(
    kind: AgentKind,
    worktree: &Path,
    excludes: &mut Vec<String>,
) -> Result<(), crate::workspace::WorkspaceError> {
    if kind != AgentKind::Aider {
        return Ok(());
    }
    for entry in crate::workspace::new_entries(worktree)? {
        if entry.starts_with(".aider.tags.cache.v") && !excludes.contains(&entry) {
            excludes.push(entry);
            excludes.sort();
        }
    }
    Ok(())
}

/// What `{names}` in an agent's command stand for.
pub struct Placeholders<'a> {
    pub task: &'a str,
    /// The path of a file holding the task, for tasks too long for an argument.
    pub task_file: &'a str,
    pub worktree: &'a str,
    pub run_id: &'a str,
}

/// Fill `{task}`, `{task_file}`, `{worktree}` and `{run_id}` in one pass, so braces inside the
/// task text are left alone. Unknown `{names}` stay as written.
pub fn fill(template: &str, p: &Placeholders) -> String {
    let mut out = String::with_capacity(template.len() + p.task.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let (value, used) = [
            ("{task}", p.task),
            ("{task_file}", p.task_file),
            ("{worktree}", p.worktree),
            ("{run_id}", p.run_id),
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
        let p = Placeholders {
            task,
            task_file: "/runs/r1/task.txt",
            worktree: "/w",
            run_id: "r1",
        };
        assert_eq!(fill("{task}", &p), task);
        assert_eq!(fill("--dir={worktree}/{run_id}", &p), "--dir=/w/r1");
        assert_eq!(fill("@{task_file}", &p), "@/runs/r1/task.txt");
        assert_eq!(fill("{other} {", &p), "{other} {");
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
                run_dir: Path::new("/runs/r1"),
                agent_home: Path::new("/homes/r1"),
                resume: None,
                exe: &crate::self_exe::SelfExe::this(),
            },
        )
        .unwrap();
        assert_eq!(l.argv(), vec!["prog", "-p", "do it"]);
        assert!(l.env.contains(&("X".into(), "r1".into())));
        assert_eq!(l.cwd, Path::new("/w"));
    }

    #[test]
    fn adapter_kinds_get_their_unattended_argv() {
        let vars = Vars {
            task: "fix it",
            worktree: Path::new("/w"),
            run_id: "r",
            run_dir: Path::new("/runs/r"),
            agent_home: Path::new("/homes/r"),
            resume: Some("sess-1"),
            exe: &crate::self_exe::SelfExe::this(),
        };
        let claude = AgentConfig {
            kind: AgentKind::ClaudeCode,
            model: Some("claude-sonnet-4-5".into()),
            allowed_tools: vec!["Read".into(), "Edit".into()],
            ..Default::default()
        };
        let l = build("c", &claude, &vars).unwrap();
        assert!(l.env.contains(&(
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
            "1".into()
        )));
        assert_eq!(
            l.argv(),
            vec![
                "claude",
                "-p",
                "fix it",
                "--output-format",
                "stream-json",
                "--verbose",
                "--model",
                "claude-sonnet-4-5",
                "--permission-mode",
                "acceptEdits",
                "--allowedTools",
                "Read,Edit",
                "--resume",
                "sess-1"
            ]
        );
        let codex = AgentConfig {
            kind: AgentKind::Codex,
            ..Default::default()
        };
        let l = build("x", &codex, &vars).unwrap();
        // What `codex exec --help` of the pinned version takes (tests/real_agents.rs runs it).
        assert_eq!(
            l.argv(),
            vec![
                "codex",
                "exec",
                "--json",
                "--sandbox",
                "workspace-write",
                "--skip-git-repo-check",
                "fix it"
            ]
        );
        assert!(l
            .env
            .contains(&("CODEX_HOME".into(), "/homes/r/codex".into())));
        let aider = AgentConfig {
            kind: AgentKind::Aider,
            ..Default::default()
        };
        let l = build("a", &aider, &vars).unwrap();
        // What `aider --help` of the pinned version takes (tests/real_agents_aider.rs runs it).
        assert_eq!(
            l.argv(),
            vec![
                "aider",
                "--message",
                "fix it",
                "--yes-always",
                "--no-stream",
                "--no-check-update",
                "--no-gitignore",
                "--no-auto-commits",
                "--no-analytics",
                "--analytics-log",
                "/runs/r/aider-analytics.jsonl",
                "--chat-history-file",
                "/homes/r/aider.chat.history.md",
                "--input-history-file",
                "/homes/r/aider.input.history",
            ]
        );
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
                run_dir: Path::new("/runs/r"),
                agent_home: Path::new("/homes/r"),
                resume: None,
                exe: &crate::self_exe::SelfExe::this(),
            },
        )
        .unwrap_err();
        assert!(err.contains("no command"), "{err}");
    }
}
