//! Coalescing an agent's output for the timeline: many lines become one `agent.output` event
//! (at most [`MAX_EVENT`] bytes, flushed at least every poll), each naming its byte range in
//! agent.log; past a per-attempt cap the timeline gets one `agent.output.truncated` event and
//! agent.log alone keeps the rest. Pure: the caller writes what it returns.

use crate::proof::kind::TimelineKind;
use std::ops::Range;

use serde_json::{Map, Value};

/// One event's text at most.
pub const MAX_EVENT: usize = 64 * 1024;
/// One line's text at most, within an event.
pub const MAX_LINE_TEXT: usize = 8 * 1024;
/// The agent's share of the timeline per attempt (JSON-encoded bytes of output and events).
pub const CAP: u64 = 2 * 1024 * 1024;

pub type Event = (TimelineKind, Map<String, Value>);

#[derive(Debug)]
pub struct OutputBatch {
    cap: u64,
    used: u64,
    pending: Option<Pending>,
    truncated: bool,
}

#[derive(Debug)]
struct Pending {
    text: String,
    range: Range<u64>,
    lines: u64,
}

impl OutputBatch {
    pub fn new(cap: u64) -> Self {
        Self {
            cap,
            used: 0,
            pending: None,
            truncated: false,
        }
    }

    /// Past the cap: nothing more goes to the timeline.
    pub fn capped(&self) -> bool {
        self.truncated
    }

    /// One line of output at `range` in agent.log. Returns the events now ready, in order.
    pub fn push(&mut self, text: &str, range: Range<u64>) -> Vec<Event> {
        let mut out = Vec::new();
        if self.truncated {
            return out;
        }
        let text = clip(text);
        let cost = encoded_len(&text) + 1;
        if self.used + cost > self.cap {
            out.extend(self.flush());
            out.push(self.truncate(range.start, "the timeline's share for agent output is full"));
            return out;
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.text.len() + text.len() + 1 > MAX_EVENT)
        {
            out.extend(self.flush());
        }
        self.used += cost;
        match &mut self.pending {
            Some(p) => {
                p.text.push('\n');
                p.text.push_str(&text);
                p.range.end = range.end;
                p.lines += 1;
            }
            None => {
                self.pending = Some(Pending {
                    text: text.into_owned(),
                    range,
                    lines: 1,
                })
            }
        }
        out
    }

    /// Any other event the agent's output made (a tool call, a message): whether it may be
    /// written, counted against the same cap. Flush first, to keep the order.
    pub fn admit(&mut self, fields: &Map<String, Value>, at: u64) -> (Vec<Event>, bool) {
        let mut out: Vec<Event> = self.flush().into_iter().collect();
        if self.truncated {
            return (out, false);
        }
        let cost = serde_json::to_string(fields).map_or(0, |s| s.len() as u64);
        if self.used + cost > self.cap {
            out.push(self.truncate(at, "the timeline's share for agent output is full"));
            return (out, false);
        }
        self.used += cost;
        (out, true)
    }

    /// What is pending, as one event.
    pub fn flush(&mut self) -> Option<Event> {
        let p = self.pending.take()?;
        let mut m = Map::new();
        m.insert("text".into(), p.text.into());
        m.insert("offset".into(), p.range.start.into());
        m.insert("len".into(), (p.range.end - p.range.start).into());
        m.insert("lines".into(), p.lines.into());
        Some((TimelineKind::AgentOutput, m))
    }

    /// The follower stopped early (the agent ended with a backlog): say where, once.
    pub fn unread(&mut self, range: Range<u64>) -> Vec<Event> {
        let mut out: Vec<Event> = self.flush().into_iter().collect();
        if !self.truncated && range.end > range.start {
            out.push(self.truncate(
                range.start,
                "the agent ended with more output than could be read in time",
            ));
        }
        out
    }

    fn truncate(&mut self, from: u64, why: &str) -> Event {
        self.truncated = true;
        let mut m = Map::new();
        m.insert("offset".into(), from.into());
        m.insert("file".into(), "agent.log".into());
        m.insert(
            "message".into(),
            format!("{why}: the output from byte {from} on is in agent.log only").into(),
        );
        (TimelineKind::AgentOutputTruncated, m)
    }
}

fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_LINE_TEXT {
        return s.into();
    }
    let cut = s.floor_char_boundary(MAX_LINE_TEXT);
    format!("{}… ({} bytes)", &s[..cut], s.len()).into()
}

/// How many bytes `s` takes inside a JSON string.
fn encoded_len(s: &str) -> u64 {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' => 2,
            b if b < 0x20 => 6,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_coalesce_with_their_range_until_an_event_is_full() {
        let mut b = OutputBatch::new(CAP);
        assert!(b.push("one", 0..4).is_empty());
        assert!(b.push("two", 4..8).is_empty());
        let (kind, m) = b.flush().unwrap();
        assert_eq!(kind, TimelineKind::AgentOutput);
        assert_eq!(m["text"], "one\ntwo");
        assert_eq!(
            (m["offset"].as_u64(), m["len"].as_u64()),
            (Some(0), Some(8))
        );
        assert_eq!(m["lines"], 2);
        assert!(b.flush().is_none());

        let line = "y".repeat(1000);
        let mut events = Vec::new();
        for i in 0..200u64 {
            events.extend(b.push(&line, i * 1001..(i + 1) * 1001));
        }
        assert!(!events.is_empty());
        assert!(events
            .iter()
            .all(|(_, m)| m["text"].as_str().unwrap().len() <= MAX_EVENT));
        // Ranges follow on from each other.
        let first_end =
            events[0].1["offset"].as_u64().unwrap() + events[0].1["len"].as_u64().unwrap();
        assert_eq!(events[1].1["offset"].as_u64().unwrap(), first_end);
    }

    #[test]
    fn past_the_cap_one_truncation_event_then_nothing() {
        let mut b = OutputBatch::new(10_000);
        let mut events = Vec::new();
        for i in 0..100u64 {
            events.extend(b.push(&"z".repeat(500), i * 501..(i + 1) * 501));
        }
        events.extend(b.unread(50_100..60_000));
        let truncated: Vec<_> = events
            .iter()
            .filter(|(k, _)| *k == TimelineKind::AgentOutputTruncated)
            .collect();
        assert_eq!(truncated.len(), 1);
        assert!(b.capped());
        let from = truncated[0].1["offset"].as_u64().unwrap();
        assert!(from > 9000 && from < 10_600, "{from}");
        let (_, allowed) = b.admit(&Map::new(), 0);
        assert!(!allowed);
    }

    #[test]
    fn an_early_stop_is_said_once() {
        let mut b = OutputBatch::new(CAP);
        b.push("a", 0..2);
        let events = b.unread(2..1000);
        assert_eq!(events[0].0, TimelineKind::AgentOutput);
        assert_eq!(events[1].0, TimelineKind::AgentOutputTruncated);
        assert_eq!(events[1].1["offset"], 2);
        assert!(b.unread(2..1000).is_empty());
    }

    #[test]
    fn control_bytes_count_as_json_escapes() {
        assert_eq!(encoded_len("a\u{1b}\"b"), 1 + 6 + 2 + 1);
    }
}
