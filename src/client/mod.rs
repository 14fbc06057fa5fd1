//! The client side of the socket: connect (starting a server when none answers), send one
//! command, read the reply or the stream that follows.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;

use crate::paths::Home;
use crate::protocol::{Command, ProtocolError, Reply};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server said no; its message says why.
    #[error(transparent)]
    Server(#[from] ProtocolError),
    #[error("{0}")]
    Connect(String),
    #[error("lost the connection to the server")]
    Io(#[from] std::io::Error),
    #[error("the server sent something this client does not understand ({0}); are client and server the same version?")]
    Protocol(String),
}

#[derive(Clone)]
pub struct Client {
    home: Home,
    /// Passed to a server this client starts.
    config: Option<PathBuf>,
    /// The host whose server this client speaks to, over SSH; None: this machine's.
    remote: Option<Arc<Remote>>,
}

/// A host of `[hosts]`, reached through `flightdeck bridge` run there over ssh.
pub struct Remote {
    pub name: String,
    pub host: crate::config::hosts::HostConfig,
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A reply stream: one reply per line until `End` or the connection closes.
pub struct ReplyStream {
    lines: Lines<BufReader<Reader>>,
    _write: Writer,
    /// The ssh process a remote command goes through (killed when the stream is dropped).
    _ssh: Option<tokio::process::Child>,
    /// The first line, read ahead to know the server is there (None: not read yet).
    first: Option<Option<String>>,
}

impl ReplyStream {
    /// Read the first line ahead.
    pub(crate) async fn prime(&mut self) -> std::io::Result<()> {
        let line = self.lines.next_line().await?;
        if line.is_none() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.first = Some(line);
        Ok(())
    }

    pub async fn next(&mut self) -> Result<Option<Reply>, ClientError> {
        let line = match self.first.take() {
            Some(line) => line,
            None => self.lines.next_line().await?,
        };
        match line {
            None => Ok(None),
            Some(line) => match Reply::decode(&line) {
                Ok(Reply::End) => Ok(None),
                Ok(Reply::Error { error }) => Err(ClientError::Server(error)),
                Ok(r) => Ok(Some(r)),
                Err(e) => Err(ClientError::Protocol(e.to_string())),
            },
        }
    }
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    pub fn new(home: Home, config: Option<PathBuf>) -> Self {
        Self {
            home,
            config,
            remote: None,
        }
    }

    /// A client of the server on host `name`, reached over ssh.
    pub fn for_host(home: Home, name: &str, host: crate::config::hosts::HostConfig) -> Self {
        Self {
            home,
            config: None,
            remote: Some(Arc::new(Remote {
                name: name.into(),
                host,
            })),
        }
    }

    /// The host this client speaks to, when it is not this machine.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_deref()
    }

    /// The host this client speaks to (`local` for this machine).
    pub fn host_name(&self) -> &str {
        self.remote
            .as_ref()
            .map_or(crate::config::hosts::LOCAL, |r| r.name.as_str())
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Connect, starting a detached server when none answers.
    pub async fn connect(&self) -> Result<UnixStream, ClientError> {
        if let Ok(s) = UnixStream::connect(self.home.socket()).await {
            return Ok(s);
        }
        // A server started from inside a run would be a child of the run, without the keys.
        if crate::server::caller::inside_run(&self.home) {
            return Err(ClientError::Connect(
                "no flightdeck server answers, and a process inside a run may not start one; the user's next command will".into(),
            ));
        }
        let mut child = crate::server::spawn::spawn_detached(&self.home, self.config.as_deref())
            .map_err(|e| ClientError::Connect(format!("{e:#}")))?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut delay = Duration::from_millis(20);
        loop {
            if let Ok(s) = UnixStream::connect(self.home.socket()).await {
                reap_later(child);
                return Ok(s);
            }
            // Exit 0 means another server won the race; anything else is a failure to report.
            if let Ok(Some(status)) = child.try_wait() {
                if !status.success() {
                    return Err(ClientError::Connect(format!(
                        "the flightdeck server could not start: {}",
                        last_log_line(&self.home)
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(ClientError::Connect(format!(
                    "the flightdeck server did not start within {}s; its log {} says: {}",
                    START_TIMEOUT.as_secs(),
                    self.home.server_log().display(),
                    last_log_line(&self.home)
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }

    /// Connect only if a server is already there (no autostart).
    pub async fn connect_existing(&self) -> Option<UnixStream> {
        UnixStream::connect(self.home.socket()).await.ok()
    }

    /// Send `cmd` and wait for the first line of the answer. A server that went away before
    /// answering (killed, its last connections reset as it died) is connected to again, or
    /// started, for a command that only reads; for one that acts that is said, since whether
    /// it was carried out cannot be known.
    pub async fn stream(&self, cmd: &Command) -> Result<ReplyStream, ClientError> {
        if let Some(remote) = &self.remote {
            return crate::hosts::bridge::stream(&self.home, remote, cmd).await;
        }
        let again = crate::server::caller::reads_only(cmd);
        let mut tries = 0u64;
        loop {
            let stream = self.connect().await?;
            let gone = match Self::send_on(stream, cmd).await {
                Ok(mut s) => match s.prime().await {
                    Ok(()) => return Ok(s),
                    Err(e) => e,
                },
                Err(ClientError::Io(e)) => e,
                Err(e) => return Err(e),
            };
            let lost = matches!(
                gone.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
            if !lost {
                return Err(ClientError::Io(gone));
            }
            if !again {
                return Err(ClientError::Connect(format!(
                    "the server went away before answering ({gone}); whether the command was carried out is not known: see `flightdeck ls`"
                )));
            }
            tries += 1;
            if tries > 5 {
                return Err(ClientError::Io(gone));
            }
            tokio::time::sleep(Duration::from_millis(20 * tries)).await;
        }
    }

    pub async fn send_on(stream: UnixStream, cmd: &Command) -> Result<ReplyStream, ClientError> {
        let (read, write) = stream.into_split();
        Self::send_over(Box::new(read), Box::new(write), None, cmd).await
    }

    /// Send `cmd` on a connection already open (a socket, or an ssh process's pipes).
    pub async fn send_over(
        read: Reader,
        mut write: Writer,
        ssh: Option<tokio::process::Child>,
        cmd: &Command,
    ) -> Result<ReplyStream, ClientError> {
        let mut line = serde_json::to_vec(cmd).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        write.write_all(&line).await?;
        write.flush().await?;
        Ok(ReplyStream {
            // A list of hundreds of runs is a line of several hundred kB.
            lines: BufReader::with_capacity(64 * 1024, read).lines(),
            _write: write,
            _ssh: ssh,
            first: None,
        })
    }

    /// Stop this machine's server on `stream` (a connection to it), killing its runs or not,
    /// and wait for its socket to go, so the next command starts a fresh server (a stopping
    /// server may first finish a pool refill and remove its pools). What the server said.
    pub async fn stop_server_on(
        &self,
        stream: UnixStream,
        kill_runs: bool,
    ) -> Result<String, ClientError> {
        let mut s = Client::send_on(stream, &Command::Shutdown { kill_runs }).await?;
        let said = match s.next().await? {
            Some(Reply::Done { message }) => message,
            _ => "server stopped".to_string(),
        };
        for _ in 0..750 {
            if !tokio::fs::try_exists(self.home.socket())
                .await
                .unwrap_or(false)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(said)
    }

    /// One command, one reply.
    pub async fn request(&self, cmd: &Command) -> Result<Reply, ClientError> {
        let mut s = self.stream(cmd).await?;
        s.next().await?.ok_or_else(|| {
            ClientError::Protocol("the server closed the connection without answering".into())
        })
    }
}

/// A server we started lives on after us; reap it if it ends while we still run.
fn reap_later(mut child: std::process::Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

fn last_log_line(home: &Home) -> String {
    std::fs::read_to_string(home.server_log())
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "nothing".into())
}
