//! Whether an agent can start on this machine: its program found on PATH (or at the path its
//! command names). The cockpit's `n` marks the ones that cannot, with why, instead of making a
//! worktree and a run that fails at once.

use std::path::{Path, PathBuf};

use crate::config::{AgentConfig, AgentKind};

/// Why `agent` cannot start here, or None when its program is found (or cannot be known
/// before a run: a placeholder, a path relative to the worktree, the built-in agent).
/// Blocking: looks at PATH's directories.
pub fn unavailable(name: &str, agent: &AgentConfig) -> Option<String> {
    let program = match agent.command.first() {
        Some(p) => p.clone(),
        None => match agent.kind {
            AgentKind::ClaudeCode => "claude".into(),
            AgentKind::Codex => "codex".into(),
            AgentKind::Aider => "aider".into(),
            AgentKind::Builtin => return None,
            AgentKind::Command => {
                return Some(format!(
                    "it has no command: set [agents.{name}].command = [\"program\", \"{{task}}\"]"
                ))
            }
        },
    };
    if program.contains('{') || (program.contains('/') && !Path::new(&program).is_absolute()) {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if found(&program, std::env::split_paths(&path)) {
        return None;
    }
    let install = match (agent.command.is_empty(), agent.kind) {
        (true, AgentKind::ClaudeCode) => "install it (npm install -g @anthropic-ai/claude-code)",
        (true, AgentKind::Codex) => "install it (npm install -g @openai/codex)",
        (true, AgentKind::Aider) => "install it (python3 -m pip install aider-chat)",
        _ => "install it",
    };
    Some(if program.contains('/') {
        format!("`{program}` does not exist or is not executable: {install} or fix [agents.{name}].command")
    } else {
        format!("`{program}` is not on PATH: {install} or set [agents.{name}].command")
    })
}

/// Whether `program` is an executable file: itself when it is a path, else in one of `dirs`.
fn found(program: &str, dirs: impl Iterator<Item = PathBuf>) -> bool {
    if program.contains('/') {
        return executable(Path::new(program));
    }
    dirs.into_iter()
        .any(|d| !d.as_os_str().is_empty() && executable(&d.join(program)))
}

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(kind: AgentKind, command: &[&str]) -> AgentConfig {
        AgentConfig {
            kind,
            command: command.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_program_on_path_is_available_and_one_that_is_not_says_how_to_install_it() {
        assert_eq!(
            unavailable("shell", &agent(AgentKind::Command, &["sh", "-c", "x"])),
            None
        );
        let why = unavailable("claude", &agent(AgentKind::ClaudeCode, &[]));
        if !found(
            "claude",
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ) {
            let why = why.unwrap_or_default();
            assert!(why.contains("`claude` is not on PATH"), "{why}");
            assert!(
                why.contains("npm install -g @anthropic-ai/claude-code"),
                "{why}"
            );
        }
        let why = unavailable("x", &agent(AgentKind::Command, &["no-such-agent-7f3a"])).unwrap();
        assert_eq!(
            why,
            "`no-such-agent-7f3a` is not on PATH: install it or set [agents.x].command"
        );
        let why = unavailable("x", &agent(AgentKind::Command, &["/nonexistent/agent"])).unwrap();
        assert!(why.contains("does not exist or is not executable"), "{why}");
        assert!(unavailable("x", &agent(AgentKind::Command, &[]))
            .unwrap()
            .contains("no command"));
    }

    #[test]
    fn what_only_a_run_can_tell_is_not_judged() {
        assert_eq!(unavailable("b", &agent(AgentKind::Builtin, &[])), None);
        assert_eq!(
            unavailable("r", &agent(AgentKind::Command, &["./run-agent.sh"])),
            None
        );
        assert_eq!(
            unavailable("p", &agent(AgentKind::Command, &["{worktree}/a"])),
            None
        );
    }

    #[test]
    fn only_executable_files_count() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        assert!(!found("tool", [dir.path().to_path_buf()].into_iter()));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(found("tool", [dir.path().to_path_buf()].into_iter()));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(!found("sub", [dir.path().to_path_buf()].into_iter()));
    }
}
