//! Agents print whatever they like; the user's terminal only ever gets text. An agent that
//! writes a title change, a clear screen, colours and an OSC 52 clipboard write shows as plain
//! words in `flightdeck logs` and in the cockpit's timeline pane.

use crate::common::tmux::Tmux;
use crate::common::*;

const CONFIG: &str = r#"
[agents.loud]
command = ["sh", "-c", "printf '\\033]2;pwned\\007\\033[2J\\033[32mgreen words\\033[0m \\033]52;c;ZXZpbA==\\007end\\n'; while :; do sleep 0.2; done"]
"#;

fn has_control(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| (*b < 0x20 && *b != b'\n') || *b == 0x7f)
}

#[test]
fn logs_print_no_escape_sequences() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "loud", "be loud");
    wait_until("the output in the timeline", || {
        env.events_of(&id, "agent.output")
            .iter()
            .any(|l| l["text"].as_str().unwrap_or("").contains("green"))
    });
    let out = env.output(&["logs", &id]);
    assert!(out.status.success());
    if let Some(b) = has_control(&out.stdout) {
        panic!(
            "logs wrote control byte {b:#04x} to the terminal:\n{}",
            String::from_utf8_lossy(&out.stdout).escape_debug()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // (The agent's argv, quoted in `agent.started`, holds the escapes as text; fine.)
    let output = text
        .lines()
        .find(|l| l.contains("agent.output"))
        .unwrap_or_else(|| panic!("no output line:\n{text}"));
    assert!(output.ends_with("green words end"), "{output}");
    // The proof keeps what the agent really wrote.
    let raw = std::fs::read(env.run_dir(&id).join("agent.log")).unwrap();
    assert!(raw.windows(5).any(|w| w == b"\x1b[32m"));
    env.ok(&["kill", &id]);
}

#[test]
fn the_cockpit_pane_shows_words_not_escapes() {
    let env = Env::new(CONFIG);
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "loud", "be loud");
    wait_until("the output in the timeline", || {
        !env.events_of(&id, "agent.output").is_empty()
    });
    let tmux = Tmux::new();
    tmux.cockpit(&env, &repo);
    tmux.wait_for("the run", |s| s.contains(&id));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the pane with the agent's words", |s| {
        s.contains(&format!("timeline {id}")) && s.contains("green words")
    });
    let output = screen
        .lines()
        .find(|l| l.contains("agent.output"))
        .unwrap_or_default();
    assert!(output.contains("green words end"), "{screen}");
    assert!(
        !output.contains("[32m") && !output.contains("52;c") && !output.contains("]2;"),
        "{screen}"
    );
    let title = tmux.cmd(&["display-message", "-p", "-t", "fd", "#{pane_title}"]);
    let title = String::from_utf8_lossy(&title.stdout);
    assert!(
        !title.contains("pwned"),
        "the agent set the terminal title: {title}"
    );
    tmux.keys(&["q"]);
    env.ok(&["kill", &id]);
}

/// A task and a file name that would set the title, hide words and reorder text if printed.
const HOSTILE_TASK: &str = "fix \u{1b}]2;PWNED\u{7} the \u{1b}[8mhidden\u{1b}[0m \u{202e}gnp.exe";

/// Bytes that must never reach the terminal: C0 controls but newline, DEL, and the UTF-8 of
/// the bidi override U+202E.
fn unsafe_bytes(bytes: &[u8]) -> Option<String> {
    if let Some(b) = has_control(bytes) {
        return Some(format!("control byte {b:#04x}"));
    }
    let rlo = "\u{202e}".as_bytes();
    bytes
        .windows(rlo.len())
        .any(|w| w == rlo)
        .then(|| "a bidi override".to_string())
}

#[test]
fn ls_show_and_the_cockpit_show_a_hostile_task_and_file_name_escaped() {
    let env = Env::new(
        "[agents.namer]\ncommand = [\"sh\", \"-c\", \"printf x > \\\"$(printf 'a\\\\033[8mb\\\\342\\\\200\\\\256c.txt')\\\"\"]\n",
    );
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "namer", HOSTILE_TASK);
    env.wait_status(&id, "succeeded");
    for args in [vec!["ls"], vec!["show", &id]] {
        let out = env.output(&args);
        assert!(out.status.success());
        if let Some(what) = unsafe_bytes(&out.stdout) {
            panic!(
                "{args:?} wrote {what}:\n{}",
                String::from_utf8_lossy(&out.stdout).escape_debug()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // Shown for what it is, so nothing is hidden from the reader.
        assert!(text.contains("\\e]2;PWNED"), "{args:?}: {text}");
        assert!(text.contains("\\u{202e}gnp.exe"), "{args:?}: {text}");
        if args[0] == "show" {
            assert!(text.contains("a\\e[8mb\\u{202e}c.txt"), "{text}");
        }
    }
    let tmux = Tmux::new();
    tmux.cockpit(&env, &repo);
    let screen = tmux.wait_for("the run", |s| s.contains(&id));
    assert!(screen.contains("\\e]2;PWNED"), "{screen}");
    let title = tmux.cmd(&["display-message", "-p", "-t", "fd", "#{pane_title}"]);
    assert!(!String::from_utf8_lossy(&title.stdout).contains("PWNED"));
    assert!(!screen.contains('\u{202e}'), "{screen}");
    tmux.keys(&["q"]);
}
