//! `smoke.json`: one entry per check run in the worktree after the agent.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub command: Vec<String>,
    /// None when the check could not start, timed out or was killed by a signal.
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub passed: bool,
    pub required: bool,
    /// The last lines of its output (all of it when short).
    pub output_tail: String,
    /// Why it failed when not by its exit code: `timed out after 30s`, a spawn error, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tests passed, failed and skipped, when the output is a test runner's we know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<crate::proof::test_counts::TestCounts>,
}

/// The last `max_lines` lines and at most `max_bytes` bytes of `output`.
pub fn tail(output: &[u8], max_lines: usize, max_bytes: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let trimmed = text.trim_end_matches('\n');
    let mut start = 0;
    let mut count = 0;
    for (i, c) in trimmed.char_indices().rev() {
        if c == '\n' {
            count += 1;
            if count == max_lines {
                start = i + 1;
                break;
            }
        }
    }
    let mut out = &trimmed[start..];
    if out.len() > max_bytes {
        out = &out[out.ceil_char_boundary(out.len() - max_bytes)..];
    }
    out.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        let out = b"a\nb\nc\nd\n";
        assert_eq!(tail(out, 2, 100), "c\nd");
        assert_eq!(tail(out, 10, 100), "a\nb\nc\nd");
        assert_eq!(tail("ééé".as_bytes(), 10, 3), "é");
    }
}
