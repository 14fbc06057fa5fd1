//! The supervisor runs on the async runtime: file I/O there stalls every run and client. This
//! test reads the supervisor's source and fails on `std::fs` used outside a blocking job
//! (`blocking(...)`, `spawn_blocking(...)`, `jobs.detached(...)`) or a function documented as blocking (its doc
//! comment says "Blocking", and its callers run it off the runtime).

use crate::common::rust_files;
use std::path::Path;

/// Whether the `std::fs` at byte `at` sits inside the parentheses of a blocking job, within
/// the function starting at byte `fn_start`.
fn inside_blocking_job(text: &str, fn_start: usize, at: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut i = at;
    while i > fn_start {
        i -= 1;
        match bytes[i] {
            b')' => depth += 1,
            b'(' if depth > 0 => depth -= 1,
            b'(' => {
                let before = text[..i].trim_end();
                // `blocking(...)`, `spawn_blocking(...)`, and the job runner's
                // `jobs.blocking(...)` and `jobs.detached(...)`, which run on the blocking pool.
                if before.ends_with("blocking")
                    || before.ends_with(".detached")
                    || before.ends_with(".detached_after")
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[test]
fn the_supervisor_does_no_file_io_on_the_runtime() {
    let mut files = Vec::new();
    rust_files(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/supervisor")),
        &mut files,
    );
    let mut found = Vec::new();
    for file in files {
        let whole = std::fs::read_to_string(&file).unwrap();
        // Tests may do as they like.
        let text = whole.split("#[cfg(test)]").next().unwrap_or("");
        if file.ends_with("tests.rs") {
            continue;
        }
        let mut hits: Vec<usize> = Vec::new();
        for pattern in [
            "std::fs::",
            "fs::read",
            "fs::write",
            "fs::remove",
            "fs::rename",
            "fs::create_dir",
            "File::open",
            "File::create",
            // Our own file helpers are file I/O too.
            "owner_only::",
            "write_atomic(",
            "write_record(",
            // A stat is a system call on the file system too (a slow or hung mount).
            ".exists()",
            ".is_dir()",
            ".is_file()",
            ".metadata()",
            "read_dir(",
        ] {
            for (at, _) in text.match_indices(pattern) {
                // tokio's own are fine; `std::fs::read` is counted once.
                let before = &text[..at];
                if before.ends_with("tokio::")
                    || (pattern != "std::fs::" && before.ends_with("std::"))
                {
                    continue;
                }
                hits.push(at);
            }
        }
        hits.sort_unstable();
        hits.dedup();
        for at in hits {
            let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
            if text[line_start..at].trim_start().starts_with("//") {
                continue;
            }
            // The function around it, and its doc comment.
            let Some(fn_at) = text[..at].rfind("fn ") else {
                continue;
            };
            let fn_line = text[..fn_at].rfind('\n').map_or(0, |n| n + 1);
            let docs: Vec<&str> = text[..fn_line]
                .lines()
                .rev()
                .take_while(|l| {
                    let t = l.trim_start();
                    t.starts_with("///") || t.starts_with("#[") || t.starts_with("pub")
                })
                .collect();
            let documented = docs.iter().any(|l| l.contains("Blocking"));
            if documented || inside_blocking_job(text, fn_at, at) {
                continue;
            }
            let line = text[..at].matches('\n').count() + 1;
            found.push(format!("{}:{line}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "std::fs on the async runtime (move it into a blocking job, or document a function \
         its callers run off the runtime as Blocking):\n{}",
        found.join("\n")
    );
}
