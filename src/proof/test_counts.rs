//! Test counts from a check's output: the summary the common runners print (cargo test, pytest,
//! python's unittest, go test -v / -json, jest, vitest, node --test), so a reviewer reads
//! "12 passed, 1 failed" rather than an exit code. Output no runner here recognises gives no
//! counts: the exit code alone then says how the check went.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runner {
    Cargo,
    Pytest,
    Unittest,
    Go,
    Jest,
    Vitest,
    Node,
}

impl Runner {
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::Cargo => "cargo test",
            Runner::Pytest => "pytest",
            Runner::Unittest => "unittest",
            Runner::Go => "go test",
            Runner::Jest => "jest",
            Runner::Vitest => "vitest",
            Runner::Node => "node --test",
        }
    }
}

/// How many tests passed, failed and were skipped, as the runner counted them. Errors (a test
/// that could not run: pytest's and unittest's errors, node's cancelled) count as failed;
/// ignored, pending, todo and expected failures as skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    pub runner: Runner,
    pub passed: u64,
    pub failed: u64,
    #[serde(default)]
    pub skipped: u64,
}

impl fmt::Display for TestCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// The counts in `output`, if a runner we know printed its summary there. The first runner
/// found wins (a check that runs two runners gets the first one's figures).
pub fn parse(output: &[u8]) -> Option<TestCounts> {
    let text = plain(&String::from_utf8_lossy(output));
    let parsers: [fn(&str) -> Option<TestCounts>; 7] =
        [cargo, unittest, pytest, jest, vitest, node, go];
    parsers.iter().find_map(|p| p(&text))
}

/// The text without colour and cursor sequences (vitest and jest colour even into a pipe
/// when told to) and carriage returns.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A pattern compiled once (they are literals below, which the tests exercise).
fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// `N word, N word ...` (pytest, jest) or `N word | N word` (vitest): each word's number.
fn items(list: &str) -> Vec<(u64, &str)> {
    list.split([',', '|'])
        .filter_map(|item| {
            let (n, word) = item.trim().split_once(' ')?;
            Some((n.parse().ok()?, word.trim()))
        })
        .collect()
}

/// `test result: FAILED. 1 passed; 1 failed; 1 ignored; ...`, once per test binary: summed.
fn cargo(text: &str) -> Option<TestCounts> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = re(
        &RE,
        r"(?m)^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored;",
    )?;
    let mut counts: Option<TestCounts> = None;
    for c in re.captures_iter(text) {
        let t = counts.get_or_insert(TestCounts {
            runner: Runner::Cargo,
            passed: 0,
            failed: 0,
            skipped: 0,
        });
        t.passed += num(&c[1]);
        t.failed += num(&c[2]);
        t.skipped += num(&c[3]);
    }
    counts
}

/// `Ran 5 tests in 0.001s`, then `OK`, `OK (skipped=1)` or
/// `FAILED (failures=1, errors=1, skipped=1)`.
fn unittest(text: &str) -> Option<TestCounts> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = re(
        &RE,
        r"(?m)^Ran (\d+) tests? in [0-9.]+s\n\n(?:OK|FAILED)(?: \(([^)]*)\))?\s*$",
    )?;
    let mut counts: Option<TestCounts> = None;
    for c in re.captures_iter(text) {
        let ran = num(&c[1]);
        let (mut failed, mut skipped) = (0, 0);
        for kv in c.get(2).map_or("", |m| m.as_str()).split(',') {
            let Some((k, v)) = kv.trim().split_once('=') else {
                continue;
            };
            match k {
                "failures" | "errors" | "unexpected successes" => failed += num(v),
                "skipped" | "expected failures" => skipped += num(v),
                _ => {}
            }
        }
        let t = counts.get_or_insert(TestCounts {
            runner: Runner::Unittest,
            passed: 0,
            failed: 0,
            skipped: 0,
        });
        t.passed += ran.saturating_sub(failed + skipped);
        t.failed += failed;
        t.skipped += skipped;
    }
    counts
}

/// The last `== 2 failed, 2 passed, 1 skipped in 0.04s ==` (the `==` gone with `-q`).
fn pytest(text: &str) -> Option<TestCounts> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = re(
        &RE,
        r"(?m)^=*\s*((?:\d+ [a-z]+(?:, )?)+) in [0-9.]+s(?: \([^)]*\))?\s*=*$",
    )?;
    let c = re.captures_iter(text).last()?;
    let mut t = TestCounts {
        runner: Runner::Pytest,
        passed: 0,
        failed: 0,
        skipped: 0,
    };
    let mut known = false;
    for (n, word) in items(&c[1]) {
        known = true;
        match word {
            "passed" | "xpassed" => t.passed += n,
            "failed" | "error" | "errors" => t.failed += n,
            "skipped" | "xfailed" => t.skipped += n,
            // deselected, warnings, rerun: not tests that ran.
            _ => {}
        }
    }
    known.then_some(t)
}

/// `Tests:       1 failed, 1 skipped, 2 passed, 4 total`.
fn jest(text: &str) -> Option<TestCounts> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = re(&RE, r"(?m)^Tests:\s+(.*), \d+ total\s*$")?;
    let c = re.captures_iter(text).last()?;
    Some(words(Runner::Jest, &c[1]))
}

/// ` Tests  1 failed | 2 passed | 1 skipped (4)`.
fn vitest(text: &str) -> Option<TestCounts> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = re(
        &RE,
        r"(?m)^\s*Tests\s+(\d+ [a-z]+(?: \| \d+ [a-z]+)*) \(\d+\)\s*$",
    )?;
    let c = re.captures_iter(text).last()?;
    Some(words(Runner::Vitest, &c[1]))
}

fn words(runner: Runner, list: &str) -> TestCounts {
    let mut t = TestCounts {
        runner,
        passed: 0,
        failed: 0,
        skipped: 0,
    };
    for (n, word) in items(list) {
        match word {
            "passed" => t.passed += n,
            "failed" => t.failed += n,
            "skipped" | "todo" | "pending" => t.skipped += n,
            _ => {}
        }
    }
    t
}

/// node's summary, `# pass 2` (TAP, the default into a pipe) or `ℹ pass 2` (spec): the last
/// figure of each.
fn node(text: &str) -> Option<TestCounts> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = re(
        &RE,
        r"(?m)^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$",
    )?;
    let mut seen = [None::<u64>; 6];
    for c in re.captures_iter(text) {
        let i = ["tests", "pass", "fail", "cancelled", "skipped", "todo"]
            .iter()
            .position(|k| *k == &c[1])?;
        seen[i] = Some(num(&c[2]));
    }
    let [Some(_), Some(pass), fail, cancelled, skipped, todo] = seen else {
        return None;
    };
    Some(TestCounts {
        runner: Runner::Node,
        passed: pass,
        failed: fail.unwrap_or(0) + cancelled.unwrap_or(0),
        skipped: skipped.unwrap_or(0) + todo.unwrap_or(0),
    })
}

/// `go test -json` (`"Action":"pass"` per test) or `go test -v` (`--- PASS: TestX`); subtests
/// count as go counts them. Without `-v` go names only the failures, which is no count.
fn go(text: &str) -> Option<TestCounts> {
    let mut t = TestCounts {
        runner: Runner::Go,
        passed: 0,
        failed: 0,
        skipped: 0,
    };
    let mut json = false;
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v.get("Test").and_then(|t| t.as_str()).is_none() {
            continue;
        }
        match v.get("Action").and_then(|a| a.as_str()) {
            Some("pass") => t.passed += 1,
            Some("fail") => t.failed += 1,
            Some("skip") => t.skipped += 1,
            Some(_) => {}
            None => continue,
        }
        json = true;
    }
    if json {
        return Some(t);
    }
    if !text.lines().any(|l| l.starts_with("=== RUN ")) {
        return None;
    }
    for line in text.lines().map(str::trim_start) {
        if line.starts_with("--- PASS: ") {
            t.passed += 1;
        } else if line.starts_with("--- FAIL: ") {
            t.failed += 1;
        } else if line.starts_with("--- SKIP: ") {
            t.skipped += 1;
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Output captured from the real tools (tests/fixtures/test_output/README.md says which
    // versions and how).
    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/test_output/", $name))
        };
    }

    fn counts(text: &str) -> Option<(Runner, u64, u64, u64)> {
        parse(text.as_bytes()).map(|t| (t.runner, t.passed, t.failed, t.skipped))
    }

    #[test]
    fn cargo_test_sums_every_test_binary() {
        use Runner::Cargo;
        // lib: 1 passed 1 failed 1 ignored; tests/it.rs: 2; doc tests: 1.
        assert_eq!(counts(fixture!("cargo_failed.txt")), Some((Cargo, 4, 1, 1)));
        assert_eq!(counts(fixture!("cargo_ok.txt")), Some((Cargo, 5, 0, 1)));
    }

    #[test]
    fn unittest_counts_failures_errors_and_skips() {
        use Runner::Unittest;
        assert_eq!(
            counts(fixture!("unittest_failed.txt")),
            Some((Unittest, 2, 2, 1))
        );
        assert_eq!(
            counts(fixture!("unittest_ok.txt")),
            Some((Unittest, 2, 0, 0))
        );
        assert_eq!(
            counts(fixture!("unittest_skipped.txt")),
            Some((Unittest, 1, 0, 1))
        );
    }

    #[test]
    fn pytest_reads_its_last_summary_line() {
        use Runner::Pytest;
        assert_eq!(
            counts(fixture!("pytest_failed.txt")),
            Some((Pytest, 2, 2, 1))
        );
        assert_eq!(
            counts(fixture!("pytest_q_failed.txt")),
            Some((Pytest, 2, 2, 1))
        );
        assert_eq!(counts(fixture!("pytest_ok.txt")), Some((Pytest, 1, 0, 1)));
        // A test that could not run (a missing fixture) is an error: counted as failed.
        assert_eq!(
            counts(fixture!("pytest_error.txt")),
            Some((Pytest, 1, 1, 0))
        );
    }

    #[test]
    fn node_test_in_tap_and_spec() {
        use Runner::Node;
        assert_eq!(
            counts(fixture!("node_tap_failed.txt")),
            Some((Node, 2, 1, 1))
        );
        assert_eq!(
            counts(fixture!("node_spec_failed.txt")),
            Some((Node, 2, 1, 1))
        );
    }

    #[test]
    fn jest_and_vitest() {
        assert_eq!(
            counts(fixture!("jest_failed.txt")),
            Some((Runner::Jest, 2, 1, 1))
        );
        assert_eq!(
            counts(fixture!("jest_ok.txt")),
            Some((Runner::Jest, 3, 0, 1))
        );
        // In colour, as vitest prints it.
        assert_eq!(
            counts(fixture!("vitest_failed.txt")),
            Some((Runner::Vitest, 2, 1, 1))
        );
    }

    #[test]
    fn go_test_verbose_or_json_but_not_plain() {
        use Runner::Go;
        // TestAdd, TestTable and its two subtests pass; TestAddWrong fails; TestLater skips.
        assert_eq!(counts(fixture!("go_v_failed.txt")), Some((Go, 4, 1, 1)));
        assert_eq!(counts(fixture!("go_json_failed.txt")), Some((Go, 4, 1, 1)));
        // Without -v go names only the failures: no count rather than a wrong one.
        assert_eq!(counts(fixture!("go_plain_failed.txt")), None);
    }

    #[test]
    fn unknown_output_has_no_counts() {
        assert_eq!(counts("style nit\n"), None);
        assert_eq!(counts(""), None);
        assert_eq!(counts("TODO left in app.js\nexit 1\n"), None);
        assert_eq!(
            parse(fixture!("unittest_failed.txt").as_bytes())
                .map(|t| t.to_string())
                .as_deref(),
            Some("2 passed, 2 failed, 1 skipped")
        );
    }
}
