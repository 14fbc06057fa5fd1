//! Dev-server port ranges of the tests: each test's servers lease from a range no other test
//! uses. Leases are per flightdeck server, so two tests sharing a range can both lease a port
//! that is free at that moment, and one run is then checked against the other's page.

use std::path::Path;

/// `(file, the function it is in, first, last)` for every `[4xxxx, 4xxxx]` in the tests.
fn ranges() -> Vec<(String, String, u32, u32)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    let re = regex::Regex::new(r"\[(4\d{4}), (4\d{4})\]").unwrap();
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    files.sort_by_key(|e| e.file_name());
    for e in files {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.ends_with(".rs") || name == "port_ranges.rs" {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        let mut function = String::from("(top)");
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("fn ").or_else(|| {
                line.trim_start()
                    .strip_prefix("async fn ")
                    .or_else(|| line.trim_start().strip_prefix("pub fn "))
            }) {
                function = rest.split('(').next().unwrap_or(rest).to_string();
            }
            for c in re.captures_iter(line) {
                let (a, b) = (c[1].parse().unwrap(), c[2].parse().unwrap());
                out.push((name.clone(), function.clone(), a, b));
            }
        }
    }
    out
}

#[test]
fn no_two_tests_share_a_port_range() {
    let all = ranges();
    assert!(all.len() > 5, "the scan found the ranges: {all:?}");
    let mut clashes = Vec::new();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            let same_test = a.0 == b.0 && a.1 == b.1;
            if !same_test && a.2 <= b.3 && b.2 <= a.3 {
                clashes.push(format!(
                    "{}::{} [{}, {}] and {}::{} [{}, {}]",
                    a.0, a.1, a.2, a.3, b.0, b.1, b.2, b.3
                ));
            }
        }
    }
    assert!(
        clashes.is_empty(),
        "tests share dev-server ports (give each its own range):\n{}",
        clashes.join("\n")
    );
}
