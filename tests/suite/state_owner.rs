//! A run's state (status, phase, merge, reasons, attempt, times...) has one writer: its
//! machine (`src/supervisor/machine.rs` and the gate it applies, `merge_gate.rs`). The record
//! only lends it out to read (`Deref`, no `DerefMut`), so `record.status = ...` does not
//! compile; this test reads the source and fails on the ways around that: assigning through
//! `.state`, mutating a state field in place, borrowing the state mutably, or building a
//! `RunState` by hand.

use crate::common::rust_files;
use std::path::Path;

const FIELDS: &[&str] = &[
    "phase",
    "status",
    "started_at",
    "finished_at",
    "merge",
    "reason",
    "attempt",
    "cleaned",
    "checked_commit",
    "gate_reasons",
    "conflicts",
    "merged_commit",
    "pause_reason",
    "warning",
    "queue",
    "paused_at",
    "paused_secs",
    "earlier_attempts_secs",
    "fails_once_merged",
    "pr",
    "allowed",
];

/// The machine's own files, and the state's definition.
const OWNERS: &[&str] = &[
    "src/supervisor/machine.rs",
    "src/supervisor/merge_gate.rs",
    "src/run/state.rs",
];

/// Every way of writing a state field or the state itself that `text` holds, as lines.
fn writes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut bad = code.contains("sync_record")
            || builds_state(code)
            || code.contains("&mut self.state")
            || code.contains(".state = ")
            || code.contains("mut state: RunState");
        for f in FIELDS {
            let field = format!(".state.{f}");
            if let Some(at) = code.find(&field) {
                let rest = code[at + field.len()..].trim_start();
                let assigns = (rest.starts_with('=') && !rest.starts_with("=="))
                    || rest.starts_with("+=")
                    || rest.starts_with("-=");
                let mutates = [
                    ".push(",
                    ".clear(",
                    ".insert(",
                    ".retain(",
                    ".take(",
                    ".get_or_insert",
                    ".as_mut(",
                    ".iter_mut(",
                ]
                .iter()
                .any(|m| rest.starts_with(m));
                let path_start = code[..at]
                    .trim_end_matches(|c: char| c.is_alphanumeric() || "_.[]".contains(c));
                let borrowed = path_start.trim_end().ends_with("&mut");
                bad |= assigns || mutates || borrowed;
            }
        }
        if bad {
            found.push(format!("{}: {}", n + 1, line.trim()));
        }
    }
    found
}

/// A `RunState { ... }` literal (not a type named in a signature or an impl).
fn builds_state(code: &str) -> bool {
    code.match_indices("RunState {").any(|(at, _)| {
        let before = code[..at].trim_end();
        before.is_empty() || before.ends_with(['=', '(', ',', '{', ':']) && !before.ends_with("::")
    })
}

#[test]
fn only_the_machine_writes_a_runs_state() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if OWNERS.contains(&rel.as_str()) || rel.starts_with("src/supervisor/machine/") {
            continue;
        }
        let whole = std::fs::read_to_string(&file).unwrap();
        // Unit tests may build whatever state they show.
        let text = whole.split("#[cfg(test)]").next().unwrap_or("");
        for w in writes(text) {
            found.push(format!("{rel}:{w}"));
        }
    }
    assert!(
        found.is_empty(),
        "a run's state is written outside its machine (feed the machine an input instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_each_way_around_the_machine() {
    for bad in [
        "e.record.state.status = Status::Failed;",
        "rec.state.attempt += 1;",
        "rec.state.gate_reasons.push(x);",
        "rec.state = other;",
        "let s = RunState { status, ..x };",
        "let s = &mut rec.state.conflicts;",
        "sync_record(entry);",
    ] {
        assert_eq!(writes(bad).len(), 1, "not found: {bad}");
    }
    for fine in [
        "if rec.state.status == Status::Failed {",
        "let n = rec.state.attempt + 1;",
        "rec.status.is_terminal()",
        "fn deref(&self) -> &RunState {",
        "impl Default for RunState {",
    ] {
        assert!(writes(fine).is_empty(), "wrongly found: {fine}");
    }
}
