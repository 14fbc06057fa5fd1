//! `timeline.jsonl`: one JSON object a line, append-only. Each line goes out in one `write`
//! (O_APPEND), so readers see whole lines; only a crash mid-write can leave a torn last line,
//! which readers skip and the next writer seals off with a newline. A line that cannot be
//! written (a full disk) is cut back off the file and kept, in order, until it can.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde_json::{Map, Value};

use crate::run::Phase;

pub const VERSION: u64 = 1;

pub struct TimelineWriter {
    run: String,
    file: File,
    next_seq: u64,
    /// Where the file ends after the last line written whole.
    len: u64,
    /// Lines not on disk yet, oldest first (a full disk); bounded by `MAX_PENDING`.
    pending: Vec<u8>,
    /// The same lines as values, to hand out once written.
    pending_lines: Vec<Value>,
    /// Lines given up on since the bound was reached.
    dropped: u64,
}

/// The most kept in memory for a timeline that cannot be written.
const MAX_PENDING: usize = 4 * 1024 * 1024;

impl TimelineWriter {
    /// Open for appending, carrying on from the last sequence number already written.
    pub fn open(path: &Path, run: &str) -> io::Result<Self> {
        let mut file = crate::owner_only::options()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let (last_seq, ends_clean) = last_seq(&mut file)?;
        if !ends_clean {
            // Seal a torn line so the next one starts on a line of its own.
            file.write_all(b"\n")?;
        }
        let len = file.seek(SeekFrom::End(0))?;
        Ok(Self {
            run: run.to_string(),
            file,
            next_seq: last_seq.map_or(1, |s| s + 1),
            len,
            pending: Vec::new(),
            pending_lines: Vec::new(),
            dropped: 0,
        })
    }

    /// Whether lines wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Write what waits; on failure cut the file back to its last whole line and keep it.
    /// Returns the lines written, oldest first.
    pub fn flush_pending(&mut self) -> io::Result<Vec<Value>> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.len += self.pending.len() as u64;
                self.pending.clear();
                Ok(std::mem::take(&mut self.pending_lines))
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Append one line; returns it as written.
    pub fn append(
        &mut self,
        phase: Phase,
        kind: &str,
        fields: Map<String, Value>,
    ) -> io::Result<Value> {
        let mut written = self.append_all(phase, kind, fields)?;
        written
            .pop()
            .ok_or_else(|| io::Error::other("the line was not written"))
    }

    /// Append one line; returns every line this wrote: any that waited for a full disk, then
    /// this one.
    pub fn append_all(
        &mut self,
        phase: Phase,
        kind: &str,
        fields: Map<String, Value>,
    ) -> io::Result<Vec<Value>> {
        let mut obj = Map::new();
        obj.insert("v".into(), VERSION.into());
        obj.insert("seq".into(), self.next_seq.into());
        obj.insert("ts".into(), crate::time::now_rfc3339().into());
        obj.insert("run".into(), self.run.clone().into());
        obj.insert("phase".into(), phase.as_str().into());
        obj.insert("type".into(), kind.into());
        for (k, v) in fields {
            if !obj.contains_key(&k) {
                obj.insert(k, v);
            }
        }
        let value = Value::Object(obj);
        let mut line = serde_json::to_vec(&value).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.pending.len() + line.len() > MAX_PENDING {
            self.dropped += 1;
            return Err(io::Error::other(format!(
                "{} line(s) could not be kept for the timeline",
                self.dropped
            )));
        }
        self.next_seq += 1;
        self.pending.extend_from_slice(&line);
        self.pending_lines.push(value);
        self.flush_pending()
    }

    /// Make what was written durable (called at phase boundaries).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// The last complete line's `seq`, and whether the file ends with a newline.
fn last_seq(file: &mut File) -> io::Result<(Option<u64>, bool)> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((None, true));
    }
    let lines = read_tail_lines(file, len, 8)?;
    let mut ends_clean = true;
    let mut buf = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut buf)?;
    if buf[0] != b'\n' {
        ends_clean = false;
    }
    let seq = lines
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("seq").and_then(Value::as_u64));
    Ok((seq, ends_clean))
}

/// The most a tail read holds, whatever the lines' sizes.
const TAIL_BYTES: usize = 8 * 1024 * 1024;
/// A line longer than this is not a timeline line we wrote; readers skip it.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// Read whole lines from the end of a file, at most `max` of them, without reading the rest:
/// opening a million-line timeline must not cost a million lines (nor one huge line).
fn read_tail_lines(file: &mut File, len: u64, max: usize) -> io::Result<Vec<String>> {
    const CHUNK: u64 = 64 * 1024;
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
        pos = start;
        let newlines = buf.iter().filter(|b| **b == b'\n').count();
        if pos == 0 || newlines > max || buf.len() >= TAIL_BYTES {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if pos > 0 && !lines.is_empty() {
        lines.remove(0); // cut at an arbitrary byte: not a whole line
    }
    let lines: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let skip = lines.len().saturating_sub(max);
    Ok(lines.into_iter().skip(skip).collect())
}

/// Every whole, parseable line, in order, handed to `each` one at a time (which returns false
/// to stop): memory stays bounded by one line however long the timeline. A torn, garbled or
/// overlong line is skipped, never an error.
pub fn for_each(path: &Path, mut each: impl FnMut(Value) -> bool) -> io::Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let (n, whole) = read_line_bounded(&mut reader, &mut line, MAX_LINE)?;
        if n == 0 {
            return Ok(());
        }
        if !whole {
            continue;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&line) {
            if !each(v) {
                return Ok(());
            }
        }
    }
}

/// Read one line into `buf` keeping at most `max` bytes; returns the bytes consumed and
/// whether the line fit.
fn read_line_bounded(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut fits = true;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok((consumed, fits));
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if fits && buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else {
            fits = false;
            buf.clear();
        }
        let used = done.unwrap_or(available.len());
        r.consume(used);
        consumed += used;
        if done.is_some() {
            return Ok((consumed, fits));
        }
    }
}

/// Every whole, parseable line, in memory: for small timelines (tests, tools).
pub fn read_all(path: &Path) -> io::Result<Vec<Value>> {
    let mut out = Vec::new();
    for_each(path, |v| {
        out.push(v);
        true
    })?;
    Ok(out)
}

/// The last `n` parseable lines, read from the end of the file.
pub fn read_tail(path: &Path, n: usize) -> io::Result<Vec<Value>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.seek(SeekFrom::End(0))?;
    let lines = read_tail_lines(&mut file, len, n)?;
    Ok(lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect())
}

/// A line as rows for people: coalesced `agent.output` (many lines of text in one event)
/// becomes one row per line of text; anything else stays one row.
pub fn rows(mut line: Value) -> Vec<Value> {
    if super::kind::of(&line) != Some(super::kind::TimelineKind::AgentOutput) {
        return vec![line];
    }
    if let Some(obj) = line.as_object_mut() {
        // Where the bytes sit in agent.log is for tools, not for reading.
        for k in ["offset", "len", "lines"] {
            obj.remove(k);
        }
    }
    let text = line.get("text").and_then(Value::as_str).unwrap_or_default();
    if !text.contains('\n') {
        return vec![line];
    }
    text.split('\n')
        .map(|t| {
            let mut row = line.clone();
            row["text"] = t.into();
            row
        })
        .collect()
}

/// One line for people: `12:03:04  agent   agent.output  text`. Everything in it is
/// printable: agents' escape sequences never reach the user's terminal.
pub fn format_human(line: &Value) -> String {
    use crate::text::printable;
    let ts = line.get("ts").and_then(Value::as_str).unwrap_or("");
    let time = ts.get(11..19).unwrap_or(ts);
    let phase = line.get("phase").and_then(Value::as_str).unwrap_or("?");
    let kind = line.get("type").and_then(Value::as_str).unwrap_or("?");
    format!(
        "{}  {:<7} {:<22} {}",
        printable(time),
        printable(phase),
        printable(kind),
        printable(&summary(line))
    )
}

/// Where `format_human` starts a line's summary: the column continuation lines align to.
const SUMMARY_COLUMN: usize = 8 + 2 + 7 + 1 + 22 + 1;

/// A line for people as `format_human` has it, with its multi-line text kept as lines (a
/// traceback in an agent's message, a failing check's output): the text's first line in the
/// summary, the rest beneath it, aligned; any other multi-line field beneath, after its name.
pub fn format_human_lines(line: &Value) -> Vec<String> {
    let (head, more) = split_multi_line(line);
    let pad = " ".repeat(SUMMARY_COLUMN);
    let mut out = vec![format_human(&head)];
    out.extend(more.into_iter().map(|l| format!("{pad}{l}")));
    out
}

/// A line with its multi-line fields taken out, for people: the line itself (a multi-line
/// `text` or `message` cut to its first line) and the rows below it: the rest of that text,
/// then each other multi-line field's name and its lines, indented by two. Printable.
pub fn split_multi_line(line: &Value) -> (Value, Vec<String>) {
    const FIXED: [&str; 6] = ["v", "seq", "ts", "run", "phase", "type"];
    let multi = |v: &Value| v.as_str().is_some_and(|s| s.trim_end().contains('\n'));
    let Some(obj) = line.as_object().filter(|o| o.values().any(multi)) else {
        return (line.clone(), Vec::new());
    };
    // Every field but the other multi-line ones, in order.
    let mut head: Map<String, Value> = obj
        .iter()
        .filter(|(k, v)| {
            FIXED.contains(&k.as_str()) || *k == "text" || *k == "message" || !multi(v)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut more: Vec<String> = Vec::new();
    let lines_of = |s: &str| {
        s.trim_end()
            .split('\n')
            .map(|l| crate::text::printable(l.trim_end_matches('\r')).into_owned())
            .collect::<Vec<_>>()
    };
    // The summary's own text: its first line stays in place.
    if let Some(key) = ["text", "message"]
        .into_iter()
        .find(|k| obj.contains_key(*k))
    {
        if let Some(text) = obj.get(key).filter(|v| multi(v)).and_then(Value::as_str) {
            let mut lines = lines_of(text).into_iter();
            head.insert(key.into(), lines.next().unwrap_or_default().into());
            more.extend(lines);
        }
    }
    for (k, v) in obj {
        if FIXED.contains(&k.as_str()) || k == "text" || k == "message" || !multi(v) {
            continue;
        }
        more.push(format!("{}:", crate::text::printable(k)));
        let text = v.as_str().unwrap_or_default();
        more.extend(lines_of(text).into_iter().map(|l| format!("  {l}")));
    }
    (Value::Object(head), more)
}

/// The interesting part of a line: `text` or `message` if present, else its other fields.
pub fn summary(line: &Value) -> String {
    const FIXED: [&str; 6] = ["v", "seq", "ts", "run", "phase", "type"];
    let Some(obj) = line.as_object() else {
        return String::new();
    };
    for key in ["text", "message"] {
        if let Some(text) = obj.get(key).and_then(Value::as_str) {
            let rest = fields_text(obj, &FIXED, key);
            return if rest.is_empty() {
                text.to_string()
            } else {
                format!("{text}  ({rest})")
            };
        }
    }
    fields_text(obj, &FIXED, "")
}

fn fields_text(obj: &Map<String, Value>, skip: &[&str], also: &str) -> String {
    obj.iter()
        .filter(|(k, v)| !skip.contains(&k.as_str()) && k.as_str() != also && !v.is_null())
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Build the fields of a line: `fields!{"text" => s, "code" => 3}`.
#[macro_export]
macro_rules! fields {
    () => { serde_json::Map::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( m.insert(($k).to_string(), serde_json::json!($v)); )+
        m
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_that_meet_a_full_disk_wait_in_order_and_are_handed_out_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeline.jsonl");
        let mut w = TimelineWriter::open(&path, "r1").unwrap();
        w.append(Phase::Prepare, "run.created", fields! {}).unwrap();
        // The disk fills up: /dev/full answers every write with ENOSPC.
        let real = std::mem::replace(
            &mut w.file,
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        );
        let e = w.append(Phase::Agent, "a", fields! {}).unwrap_err();
        assert!(crate::disk::is_full(&e), "{e}");
        assert!(w.append(Phase::Agent, "b", fields! {}).is_err());
        assert!(w.has_pending());
        // Space comes back.
        w.file = real;
        let written = w.append_all(Phase::Agent, "c", fields! {}).unwrap();
        let kinds: Vec<&str> = written.iter().filter_map(|l| l["type"].as_str()).collect();
        assert_eq!(kinds, ["a", "b", "c"]);
        assert!(!w.has_pending());
        let seqs: Vec<u64> = read_all(&path)
            .unwrap()
            .iter()
            .filter_map(|l| l["seq"].as_u64())
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
    }

    #[test]
    fn lines_are_numbered_and_survive_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeline.jsonl");
        let mut w = TimelineWriter::open(&path, "r1").unwrap();
        w.append(Phase::Prepare, "run.created", fields! {"task" => "x"})
            .unwrap();
        let line = w
            .append(Phase::Agent, "agent.output", fields! {"text" => "hi"})
            .unwrap();
        assert_eq!(line["seq"], 2);
        assert_eq!(line["type"], "agent.output");
        drop(w);

        // A crash mid-write leaves half a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"v":1,"seq":3,"ts":"2026"#).unwrap();
        drop(f);
        assert_eq!(read_all(&path).unwrap().len(), 2);
        assert_eq!(read_tail(&path, 10).unwrap().len(), 2);

        let mut w = TimelineWriter::open(&path, "r1").unwrap();
        let line = w
            .append(Phase::Agent, "agent.output", fields! {"text" => "again"})
            .unwrap();
        assert_eq!(line["seq"], 3);
        let all = read_all(&path).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2]["text"], "again");
    }

    #[test]
    fn an_overlong_line_is_skipped_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let huge = format!("{{\"seq\":2,\"text\":\"{}\"}}\n", "x".repeat(MAX_LINE));
        std::fs::write(&path, format!("{{\"seq\":1}}\n{huge}{{\"seq\":3}}\n")).unwrap();
        let seqs: Vec<u64> = read_all(&path)
            .unwrap()
            .iter()
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 3]);
        // A tail read stops at its byte bound rather than reading a huge line whole.
        let tail = read_tail(&path, 2).unwrap();
        assert_eq!(tail.last().unwrap()["seq"], 3);
    }

    #[test]
    fn tail_reads_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut w = TimelineWriter::open(&path, "r").unwrap();
        for i in 0..5000 {
            w.append(
                Phase::Agent,
                "agent.output",
                fields! {"text" => format!("line {i}")},
            )
            .unwrap();
        }
        let tail = read_tail(&path, 3).unwrap();
        assert_eq!(tail.len(), 3);
        assert_eq!(tail[2]["text"], "line 4999");
        assert_eq!(tail[0]["seq"], 4998);
    }

    #[test]
    fn coalesced_output_is_one_row_per_line() {
        let v = serde_json::json!({"seq":3,"type":"agent.output","text":"a\nb","offset":0,"len":4,"lines":2});
        let split = rows(v);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0]["text"], "a");
        assert!(split[0].get("offset").is_none());
        assert!(format_human(&split[1]).ends_with("agent.output           b"));
        let one = rows(serde_json::json!({"type":"phase.started","text":"x\ny"}));
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn multi_line_text_and_fields_stay_lines_for_people() {
        let v = serde_json::json!({"v":1,"seq":1,"ts":"2026-11-24T10:11:12Z","run":"r","phase":"agent","type":"agent.message",
            "text":"Traceback (most recent call last):\n  File \"calc.py\", line 2\nAssertionError: 7 != 12\n"});
        let rows = format_human_lines(&v);
        assert_eq!(rows.len(), 3, "{rows:#?}");
        assert!(
            rows[0].ends_with("agent.message          Traceback (most recent call last):"),
            "{rows:#?}"
        );
        assert_eq!(
            rows[1],
            format!("{}  File \"calc.py\", line 2", " ".repeat(41))
        );
        assert_eq!(
            rows[2],
            format!("{}AssertionError: 7 != 12", " ".repeat(41))
        );
        let v = serde_json::json!({"ts":"2026-11-24T10:11:12Z","phase":"smoke","type":"check.finished",
            "name":"unit","exit_code":1,"output_tail":"F\nFAILED (failures=1)\u{1b}[2J"});
        let rows = format_human_lines(&v);
        assert!(rows[0].ends_with("name=unit exit_code=1"), "{rows:#?}");
        assert!(!rows[0].contains("FAILED"), "{rows:#?}");
        assert_eq!(rows[1].trim(), "output_tail:");
        assert_eq!(rows[3], format!("{}  FAILED (failures=1)", " ".repeat(41)));
        // A one-line line is format_human's.
        let v = serde_json::json!({"ts":"2026-11-24T10:11:12Z","phase":"agent","type":"agent.output","text":"hi"});
        assert_eq!(format_human_lines(&v), vec![format_human(&v)]);
    }

    #[test]
    fn human_format_shows_text() {
        let v = serde_json::json!({"v":1,"seq":1,"ts":"2026-11-24T10:11:12Z","run":"r","phase":"agent","type":"agent.output","text":"hello"});
        let s = format_human(&v);
        assert!(s.starts_with("10:11:12  agent"), "{s}");
        assert!(s.ends_with("hello"), "{s}");
    }
}
