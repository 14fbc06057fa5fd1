//! Agents print whatever they like; the user's terminal only ever gets text. An agent that
//! writes a title change, a clear screen, colours and an OSC 52 clipboard write shows as plain
//! words in `flightdeck logs` and in the cockpit's timeline pane.

mod common;

use common::tmux::Tmux;
use common::*;

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
