//! Chromium's DevTools over a pipe (`--remote-debugging-pipe`: commands go in on the browser's
//! fd 3, answers and events come out on its fd 4, each message ending in a NUL byte), never a
//! TCP port another local user could find in `/proc/net/tcp` and drive.
//!
//! chromiumoxide speaks WebSocket only, so a bridge here stands between it and the pipe: it
//! listens on loopback for exactly one WebSocket connection, at a path holding a secret that
//! exists only in this process, and closes its listener as soon as that connection is made.
//! A connection to any other path is refused without reaching the browser.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::net::TcpListener;

/// The browser's fd numbers for the pipe, as Chromium expects them.
const CHROME_READS: RawFd = 3;
const CHROME_WRITES: RawFd = 4;

/// The largest message taken from the browser (a full-page screenshot is a few MB of base64).
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// How long chromiumoxide has to connect to the bridge.
const CONNECT_WITHIN: Duration = Duration::from_secs(30);

/// Both pipes: the browser's ends (to hand to the child) and ours.
pub struct Pipes {
    chrome_reads: OwnedFd,
    chrome_writes: OwnedFd,
    to_chrome: OwnedFd,
    from_chrome: OwnedFd,
}

impl Pipes {
    pub fn new() -> std::io::Result<Self> {
        let (from_us, to_chrome) = std::io::pipe()?;
        let (from_chrome, to_us) = std::io::pipe()?;
        Ok(Self {
            chrome_reads: from_us.into(),
            chrome_writes: to_us.into(),
            to_chrome: to_chrome.into(),
            from_chrome: from_chrome.into(),
        })
    }

    /// Put the browser's ends at fds 3 and 4 of `cmd`'s process (inherited by its children:
    /// the tether passes them on to Chromium).
    pub fn install(&self, cmd: &mut tokio::process::Command) {
        let (reads, writes) = (
            self.chrome_reads.as_raw_fd(),
            self.chrome_writes.as_raw_fd(),
        );
        // SAFETY: only fcntl, dup2 and close, which are async-signal-safe, run in the child.
        unsafe {
            cmd.pre_exec(move || {
                // Move both out of the way first: either may sit at 3 or 4 already.
                let r = cvt(nix::libc::fcntl(reads, nix::libc::F_DUPFD_CLOEXEC, 10))?;
                let w = cvt(nix::libc::fcntl(writes, nix::libc::F_DUPFD_CLOEXEC, 10))?;
                cvt(nix::libc::dup2(r, CHROME_READS))?;
                cvt(nix::libc::dup2(w, CHROME_WRITES))?;
                nix::libc::close(r);
                nix::libc::close(w);
                Ok(())
            });
        }
    }

    /// After the spawn: drop the browser's ends here (so its exit closes the pipe) and start
    /// the bridge, which also ends when `gone` turns true (the browser's process ended: a
    /// helper process may still hold the pipe open). Returns the WebSocket URL for
    /// chromiumoxide and the bridge's task.
    pub async fn bridge(
        self,
        gone: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
        drop(self.chrome_reads);
        drop(self.chrome_writes);
        let to_chrome = pipe::Sender::from_owned_fd(self.to_chrome)?;
        let from_chrome = pipe::Receiver::from_owned_fd(self.from_chrome)?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let path = format!("/devtools/browser/{}", secret());
        let url = format!("ws://{}{path}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let Some(ws) = accept_one(listener, path).await else {
                return;
            };
            pump(ws, to_chrome, from_chrome, gone).await;
        });
        Ok((url, task))
    }
}

fn cvt(r: i32) -> std::io::Result<i32> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// 160 bits from the OS's random source, as letters and digits.
fn secret() -> String {
    (0..4).map(|_| crate::run::id::generate()).collect()
}

type Ws = async_tungstenite::WebSocketStream<
    async_tungstenite::tokio::TokioAdapter<tokio::net::TcpStream>,
>;

/// The first connection that asks for `path`; the listener closes with it. Others get 404.
async fn accept_one(listener: TcpListener, path: String) -> Option<Ws> {
    let (found_tx, mut found_rx) = tokio::sync::mpsc::channel::<Ws>(1);
    let accepting = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (path, found) = (path.clone(), found_tx.clone());
            // Each handshake on its own, with a deadline: a connection that says nothing
            // cannot hold the door shut for ours.
            tokio::spawn(async move {
                // The callback's types are tungstenite's.
                #[allow(clippy::result_large_err)]
                let check = move |req: &Request, resp: Response| {
                    if req.uri().path() == path {
                        Ok(resp)
                    } else {
                        let mut no = ErrorResponse::new(Some("not here".into()));
                        *no.status_mut() =
                            async_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
                        Err(no)
                    }
                };
                let config = WebSocketConfig::default()
                    .max_message_size(Some(MAX_MESSAGE))
                    .max_frame_size(Some(MAX_MESSAGE));
                let handshake = async_tungstenite::tokio::accept_hdr_async_with_config(
                    stream,
                    check,
                    Some(config),
                );
                if let Ok(Ok(ws)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                    let _ = found.send(ws).await;
                }
            });
        }
    };
    tokio::select! {
        _ = accepting => None,
        ws = found_rx.recv() => ws,
        _ = tokio::time::sleep(CONNECT_WITHIN) => None,
    }
    // The listener is dropped here: the port is closed.
}

/// Messages both ways until either side ends.
async fn pump(
    ws: Ws,
    mut to_chrome: pipe::Sender,
    mut from_chrome: pipe::Receiver,
    mut gone: tokio::sync::watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = ws.split();
    let outbound = async {
        while let Some(Ok(msg)) = stream.next().await {
            let bytes = match msg {
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Binary(b) => b.to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            if bytes.contains(&0) {
                continue;
            }
            if to_chrome.write_all(&bytes).await.is_err()
                || to_chrome.write_all(&[0]).await.is_err()
            {
                break;
            }
        }
    };
    let inbound = async {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_chrome.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Only the new bytes can hold a message's end.
            let mut from = pending.len();
            pending.extend_from_slice(&buf[..n]);
            while let Some(at) = pending[from..].iter().position(|b| *b == 0) {
                let end = from + at;
                let mut msg: Vec<u8> = pending.drain(..=end).collect();
                msg.pop();
                from = 0;
                let Ok(text) = String::from_utf8(msg) else {
                    continue;
                };
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
            if pending.len() > MAX_MESSAGE {
                break;
            }
        }
        let _ = sink.close(None).await;
    };
    tokio::select! {
        _ = outbound => {}
        _ = inbound => {}
        _ = gone.wait_for(|g| *g) => {}
    }
}
