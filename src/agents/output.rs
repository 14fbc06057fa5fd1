//! Following `agent.log` as the agent writes it, handing complete lines (with their byte range
//! in the file) to a sink. The agent writes to the file directly (not to a pipe the server
//! holds), so its output keeps being recorded whatever happens to the server.
//!
//! Memory stays bounded whatever the agent prints: the file is read in bounded chunks, a line
//! longer than [`MAX_LINE`] is handed over cut (and the rest of it skipped, not buffered), and
//! once the agent has ended the follower drains for at most [`DRAIN`] before it gives up and
//! says where it stopped. The run ends when the agent ends, not when a backlog is parsed.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Longest line handed over whole (adapters parse JSON lines up to this size); agent.log keeps
/// longer ones whole.
pub const MAX_LINE: usize = 1024 * 1024;
/// How long the follower keeps reading a backlog after the agent ended.
pub const DRAIN: Duration = Duration::from_secs(2);
/// How often a file with new output is read again; a quiet one is looked at less and less
/// often, down to [`POLL_QUIET`] (a hundred quiet agents cost next to nothing).
const POLL: Duration = Duration::from_millis(100);
const POLL_QUIET: Duration = Duration::from_millis(800);
const CHUNK: u64 = 1024 * 1024;

pub trait Sink {
    /// One line of output (without its newline), cut to [`MAX_LINE`]; `range` is where the
    /// whole line sits in agent.log.
    fn line(&mut self, text: &str, range: Range<u64>);
    /// Everything available has been handed over; a good moment to flush.
    fn idle(&mut self);
    /// Whether lines are still worth reading. When not, the follower skips to the end of
    /// the file instead of reading it.
    fn wants_lines(&self) -> bool {
        true
    }
    /// The follower stopped before the end: bytes `range` of agent.log were not read.
    fn unread(&mut self, range: Range<u64>);
}

/// Follow `path` from `offset` until `done` fires (or its sender is dropped); then read what is
/// left for at most [`DRAIN`]. Blocking: run it off the async runtime.
pub fn follow(path: &Path, offset: u64, done: Receiver<()>, sink: &mut impl Sink) {
    let mut reader = LineReader::new(offset);
    let mut drain_until: Option<Instant> = None;
    let mut file: Option<std::fs::File> = None;
    let mut wait = POLL;
    loop {
        if file.is_none() {
            file = std::fs::File::open(path).ok();
        }
        let len = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
            .unwrap_or(0);
        let before = reader.pos;
        if !sink.wants_lines() && reader.pos < len {
            // Nothing more will be kept: skip instead of reading.
            reader.skip_to(len);
        }
        // Read all that is there now, chunk by chunk, checking the deadline between chunks.
        while reader.pos < len {
            if drain_until.is_some_and(|t| Instant::now() >= t) {
                sink.idle();
                sink.unread(reader.pos..len.max(reader.pos));
                return;
            }
            let Some(f) = file.as_mut() else { break };
            match read_chunk(f, reader.pos) {
                Ok(chunk) if !chunk.is_empty() => reader.feed(&chunk, sink),
                _ => break,
            }
            if !sink.wants_lines() {
                break;
            }
        }
        let moved = reader.pos != before;
        if moved || drain_until.is_some() {
            sink.idle();
        }
        if drain_until.is_some() {
            // Drained everything within the deadline: the last line may lack its newline.
            reader.finish(sink);
            sink.idle();
            return;
        }
        wait = if moved {
            POLL
        } else {
            (wait * 2).min(POLL_QUIET)
        };
        match done.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            // Done (or the run went away): one more pass, bounded by the drain deadline.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                drain_until = Some(Instant::now() + DRAIN)
            }
        }
    }
}

fn read_chunk(f: &mut std::fs::File, pos: u64) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(pos))?;
    let mut buf = Vec::with_capacity(CHUNK as usize);
    f.take(CHUNK).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Splits bytes into lines with their offsets, holding at most [`MAX_LINE`] of a line.
struct LineReader {
    /// The next byte of the file to read.
    pos: u64,
    /// Where the line being gathered started, and what of it is kept.
    start: u64,
    pending: Vec<u8>,
    /// The line being gathered is over MAX_LINE: the rest is skipped.
    overlong: bool,
}

impl LineReader {
    fn new(offset: u64) -> Self {
        Self {
            pos: offset,
            start: offset,
            pending: Vec::new(),
            overlong: false,
        }
    }

    fn feed(&mut self, mut bytes: &[u8], sink: &mut impl Sink) {
        while !bytes.is_empty() {
            match bytes.iter().position(|b| *b == b'\n') {
                Some(nl) => {
                    self.keep(&bytes[..nl]);
                    self.pos += nl as u64 + 1;
                    self.emit(sink, 1);
                    self.start = self.pos;
                    bytes = &bytes[nl + 1..];
                }
                None => {
                    self.keep(bytes);
                    self.pos += bytes.len() as u64;
                    bytes = &[];
                }
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.pending.len());
        if bytes.len() > room {
            self.overlong = true;
        }
        self.pending
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Hand over the gathered line, which ends at `pos` (with a `newline` of 1 or 0 bytes):
    /// its range covers the newline, so ranges of consecutive lines follow on.
    fn emit(&mut self, sink: &mut impl Sink, newline: u64) {
        let bytes = self.pending.strip_suffix(b"\r").unwrap_or(&self.pending);
        let text = String::from_utf8_lossy(bytes);
        let range = self.start..self.pos;
        if self.overlong {
            let total = range.end - range.start - newline;
            sink.line(&format!("{text}… ({total} bytes, cut)"), range);
        } else {
            sink.line(&text, range);
        }
        self.pending.clear();
        self.overlong = false;
    }

    /// A last line without a newline.
    fn finish(&mut self, sink: &mut impl Sink) {
        if self.pos > self.start {
            self.emit(sink, 0);
            self.start = self.pos;
        }
    }

    fn skip_to(&mut self, pos: u64) {
        self.pending.clear();
        self.overlong = false;
        self.pos = pos;
        self.start = pos;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        lines: Vec<(String, Range<u64>)>,
        unread: Option<Range<u64>>,
    }

    impl Sink for Collect {
        fn line(&mut self, text: &str, range: Range<u64>) {
            self.lines.push((text.to_string(), range));
        }
        fn idle(&mut self) {}
        fn unread(&mut self, range: Range<u64>) {
            self.unread = Some(range);
        }
    }

    #[test]
    fn lines_carry_their_byte_ranges_and_long_ones_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.log");
        let long = "x".repeat(MAX_LINE + 10);
        std::fs::write(&path, format!("skip\none\r\n{long}\nlast")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(()).unwrap();
        let mut sink = Collect::default();
        follow(&path, 5, rx, &mut sink);
        assert_eq!(sink.lines[0], ("one".to_string(), 5..10));
        let (text, range) = &sink.lines[1];
        assert!(text.ends_with(&format!("… ({} bytes, cut)", MAX_LINE + 10)));
        assert_eq!(*range, 10..10 + MAX_LINE as u64 + 11);
        assert_eq!(sink.lines[2].0, "last");
        assert_eq!(sink.lines[2].1.end, std::fs::metadata(&path).unwrap().len());
        assert_eq!(sink.lines.len(), 3);
        assert!(sink.unread.is_none());
    }
}
