//! Following `agent.log` as the agent writes it, turning complete lines into timeline events.
//! The agent writes to the file directly (not to a pipe the server holds), so its output keeps
//! being recorded whatever happens to the server.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

/// Longest line kept whole in one event; longer ones are cut (agent.log keeps them whole).
const MAX_LINE: usize = 8 * 1024;
const POLL: Duration = Duration::from_millis(100);

/// Read new lines from `path`, starting at `offset`, and hand each to `emit`, until `done` turns
/// true; then read what is left, including a last line without a newline.
pub async fn follow(
    path: PathBuf,
    offset: u64,
    mut done: watch::Receiver<bool>,
    mut emit: impl FnMut(&str) + Send,
) {
    let mut pos = offset;
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let finished = *done.borrow();
        let path2 = path.clone();
        let chunk = tokio::task::spawn_blocking(move || read_from(&path2, pos))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let got = chunk.len();
        pos += got as u64;
        pending.extend_from_slice(&chunk);
        while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            emit_line(&line[..line.len() - 1], &mut emit);
        }
        if finished && got > 0 {
            continue; // drain everything before the final flush
        }
        if finished {
            if !pending.is_empty() {
                emit_line(&pending, &mut emit);
            }
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = done.changed() => {}
        }
    }
}

fn emit_line(bytes: &[u8], emit: &mut impl FnMut(&str)) {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    if text.len() > MAX_LINE {
        let cut = text.floor_char_boundary(MAX_LINE);
        emit(&format!("{}… ({} bytes, cut)", &text[..cut], text.len()));
    } else {
        emit(&text);
    }
}

fn read_from(path: &std::path::Path, pos: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(pos))?;
    let mut buf = Vec::new();
    // Bounded per poll so a flood of output cannot stall the follower.
    f.take(4 * 1024 * 1024).read_to_end(&mut buf)?;
    Ok(buf)
}
