//! Accepting the gateway's connections. Open connections are capped (at the cap the oldest
//! idle one makes room), request headers must come within `HEADER_WAIT` (which also closes a
//! keep-alive connection idle that long), and only the server's own user is served: the
//! gateway listens on loopback TCP, which every local user can reach, and a run token alone
//! must not be enough to spend the run's keys.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OnceCell;

use super::{admit, in_flight, json_error, route, Body, Inner};
use crate::conn_cap::{Conn, ConnCap};

/// How long a client may take to send a request's headers, and how long a connection may
/// sit idle between requests.
const HEADER_WAIT: Duration = Duration::from_secs(30);

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
enum Caller {
    /// The user the server runs as.
    Owner,
    Other(u32),
    /// The lookup failed: refused, since it could be anyone.
    Unknown(String),
}

pub(super) async fn serve(listener: TcpListener, inner: Arc<Inner>, max_conns: usize) {
    let conns = ConnCap::new(max_conns);
    let mut backoff = crate::backoff::AcceptBackoff::new();
    let mut turned_away: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                if let Some(line) = backoff.succeeded("gateway") {
                    tracing::info!("{line}");
                }
                accepted
            }
            Err(e) => {
                // Out of descriptors, accept fails at once: never spin on it.
                let (wait, line) = backoff.failed("gateway", &e, std::time::Instant::now());
                if let Some(line) = line {
                    tracing::warn!("{line}");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let Some(conn) = conns.open() else {
            // Every connection has a call in flight: this one is closed unanswered.
            turned_away += 1;
            if turned_away == 1 || turned_away.is_multiple_of(1000) {
                tracing::warn!(
                    "gateway: all {} connections have calls in flight; turned away {turned_away} so far",
                    conns.cap()
                );
            }
            continue;
        };
        tokio::spawn(connection(stream, peer, Arc::new(conn), inner.clone()));
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, conn: Arc<Conn>, inner: Arc<Inner>) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    // Looked up at the first request, not on accept: idle connections cost no lookup.
    let caller = Arc::new(OnceCell::<Caller>::new());
    let on_request = conn.clone();
    let svc = hyper::service::service_fn(move |req| {
        let (inner, conn, caller) = (inner.clone(), on_request.clone(), caller.clone());
        async move {
            let busy = conn.busy();
            let caller = caller.get_or_init(|| who_calls(peer, local)).await;
            let response = match caller.refusal() {
                None => super::handle(inner, req).await,
                Some(message) => refuse(&inner, &req, message),
            };
            Ok::<_, Infallible>(in_flight::hold(response, busy))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_WAIT);
    let serving = http.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(serving);
    tokio::select! {
        _ = serving.as_mut() => return,
        _ = conn.closed() => {}
    }
    // Closed to make room. An idle connection just goes; one whose request raced in is
    // answered first.
    if conn.is_busy() {
        serving.as_mut().graceful_shutdown();
        let _ = serving.await;
    }
}

async fn who_calls(peer: SocketAddr, local: SocketAddr) -> Caller {
    let me = nix::unistd::geteuid().as_raw();
    match tokio::task::spawn_blocking(move || crate::peer_uid::owner(peer, local)).await {
        Ok(Ok(Some(uid))) if uid == me => Caller::Owner,
        Ok(Ok(Some(uid))) => Caller::Other(uid),
        Ok(Ok(None)) => Caller::Unknown("its socket is not listed in /proc/net/tcp".into()),
        Ok(Err(e)) => Caller::Unknown(format!("reading /proc/net/tcp failed: {e}")),
        Err(e) => Caller::Unknown(e.to_string()),
    }
}

/// Refusals of other users' calls logged: the first, then one in a hundred.
static REFUSED: AtomicU64 = AtomicU64::new(0);

impl Caller {
    /// Why this caller is refused; None for the server's own user.
    fn refusal(&self) -> Option<String> {
        let me = nix::unistd::geteuid().as_raw();
        match self {
            Caller::Owner => None,
            Caller::Other(uid) => Some(format!(
                "flightdeck's gateway serves only the user running it (uid {me}); this call came from another user (uid {uid}) and was refused"
            )),
            Caller::Unknown(why) => Some(format!(
                "flightdeck's gateway serves only the user running it (uid {me}) and could not tell who made this call ({why}); refused"
            )),
        }
    }
}

/// The answer to a caller that is not the server's user; the run's timeline says so too
/// when the token is a run's (someone has it who should not).
fn refuse(inner: &Inner, req: &Request<Incoming>, message: String) -> Response<Body> {
    let n = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    if n == 1 || n.is_multiple_of(100) {
        tracing::warn!("gateway: {message} ({n} such refusals so far)");
    }
    let refusal = route::Refusal {
        status: StatusCode::FORBIDDEN.as_u16(),
        kind: "permission_error",
        reason: "other_user",
        message,
    };
    let mut response = match route::target(req.uri().path()) {
        Some(target) => admit::refuse_unadmitted(inner, &target, req.method(), refusal),
        None => json_error(StatusCode::FORBIDDEN, refusal.kind, &refusal.message),
    };
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}
