//! `run.json`: written whole to a temporary file and renamed, so a reader never sees half a
//! record. And the readers of the pack's other JSON files, for whoever needs their contents.

use std::io::Write;
use std::path::Path;

use crate::paths::{pack, Home};
use crate::run::RunRecord;

pub fn write_record(dir: &Path, record: &RunRecord) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    text.push(b'\n');
    write_atomic(&dir.join(pack::RUN), &text)
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let written = (|| {
        let mut f = crate::owner_only::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    // A full disk leaves no half-written file behind.
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

pub fn read_record(dir: &Path) -> Result<RunRecord, String> {
    let path = dir.join(pack::RUN);
    let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every run record under `runs/`; unreadable ones are reported and skipped, never fatal.
pub fn load_all(home: &Home) -> (Vec<RunRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(home.runs_dir()) else {
        return (records, problems);
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.join(pack::RUN).exists() {
            continue;
        }
        match read_record(&dir) {
            Ok(r) => records.push(r),
            Err(e) => problems.push(e),
        }
    }
    (records, problems)
}

/// `smoke.json`, or no checks.
pub fn read_checks(dir: &Path) -> Option<Vec<crate::proof::smoke::CheckResult>> {
    read_json(&dir.join(pack::SMOKE))
}

/// `smoke.json` for the gate, which fails closed: the smoke phase always writes it (`[]` when
/// no checks are configured), so a missing or unreadable file is evidence lost, said with the
/// file and what to do, never "no required checks".
pub fn checks_for_gate(dir: &Path) -> Result<Vec<crate::proof::smoke::CheckResult>, String> {
    evidence_for_gate(
        &dir.join(pack::SMOKE),
        "the smoke evidence",
        "retry --phase smoke to check again",
    )
}

/// The two halves of `checks_for_gate`'s answer: the checks, and why they are lost (then
/// there are none), as the score and PR.md take them.
pub fn checks_or_lost(
    read: &Result<Vec<crate::proof::smoke::CheckResult>, String>,
) -> (&[crate::proof::smoke::CheckResult], Option<&str>) {
    match read {
        Ok(checks) => (checks, None),
        Err(why) => (&[], Some(why)),
    }
}

/// `score.json` for the gate, which fails closed the same way: the proof phase always writes
/// it, so a missing or unreadable one is said with the file and what to do.
pub fn score_for_gate(dir: &Path) -> Result<crate::proof::score::Score, String> {
    evidence_for_gate(
        &dir.join(pack::SCORE),
        "the score",
        "retry --phase proof to score again",
    )
}

/// A piece of evidence the gate reads: missing or unreadable is a sentence naming the file.
fn evidence_for_gate<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    again: &str,
) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{what} {} is missing; {again}", path.display())
        } else {
            format!("cannot read {what} {} ({e}); {again}", path.display())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{what} {} is unreadable ({e}); {again}", path.display()))
}

/// `score.json`, if the run was scored.
pub fn read_score(dir: &Path) -> Option<crate::proof::score::Score> {
    read_json(&dir.join(pack::SCORE))
}

/// `model_calls.jsonl`; a torn or garbled line is skipped.
pub fn read_calls(dir: &Path) -> Vec<crate::models::calls::ModelCall> {
    std::fs::read_to_string(dir.join(pack::MODEL_CALLS))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}
