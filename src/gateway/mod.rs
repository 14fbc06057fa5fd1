//! The metering gateway: a loopback HTTP proxy between agents and model providers. Each run
//! gets its own base URL with a token in it (`http://127.0.0.1:PORT/r/<token>/<provider>`);
//! the gateway forwards to the provider with the key the server holds (agents never see it),
//! passes responses through unchanged as they stream, reads each call's usage on the way, and
//! records it; it refuses a run's calls once its budget is spent, while the run is paused, and
//! for any path that is not one of the provider's model endpoints (`route`).

mod admit;
mod body;
pub mod budget;
pub mod hosts;
mod in_flight;
mod listen;
mod recorder;
pub mod route;
pub mod usage;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::config::{BudgetConfig, ProviderConfig, ProviderKind};
use crate::models::calls::ModelCall;
use crate::models::pricing::PriceTable;
use admit::{admit, Admit, HOLD_RECHECK};
use body::BodyError;
use budget::{Spent, Verdict};
use in_flight::InFlight;
use recorder::Recorder;

/// Where a run's calls are recorded and its budget enforced.
pub trait Meter: Send + Sync {
    fn record(&self, call: ModelCall);
    /// What the call counted towards the global budget.
    fn spent(&self, _tokens: u64, _usd: f64) {}
    fn warn(&self, message: String);
    /// The budget is spent: pause the run.
    fn stop(&self, message: String);
    /// A request was not forwarded: say so in the run's timeline (`gateway.refused`).
    fn refused(&self, refusal: Refused);
    /// The run is paused: its calls wait until it resumes.
    fn paused(&self) -> bool;
    /// A call is held (the run is paused or its budget spent): say so in the timeline.
    fn held(&self, _reason: &'static str, _message: String) {}
    /// A held call went on after waiting this long.
    fn released(&self, _waited: std::time::Duration) {}
    /// Done once what `record` was given is on disk: the answer's last bytes wait for it, so
    /// a server killed in between cannot lose a call the agent was answered.
    fn recorded(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(std::future::ready(()))
    }
}

/// A request the gateway did not forward, as the run's timeline records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub method: String,
    /// The path after the run's base URL, as the agent sent it (cut, never the token).
    pub path: String,
    pub provider: String,
    /// Short and stable: `not_a_model_endpoint`, `bad_path`, `method_not_allowed`, `paused`.
    pub reason: &'static str,
    pub status: u16,
    pub message: String,
}

/// The key the gateway sends a `kind = "demo"` provider (flightdeck's own scripted model):
/// not a secret, it only shows the call came through the gateway.
pub const DEMO_KEY: &str = "flightdeck-demo-key";

/// Refusals a run's timeline records one by one; past this only every hundredth is.
const REFUSALS_RECORDED: u64 = 20;

pub struct RunLink {
    pub run_id: String,
    pub meter: Arc<dyn Meter>,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub prices: Arc<PriceTable>,
    pub caps: BudgetConfig,
    /// The run's agent's own cap, if it has one.
    pub agent_cap: Option<budget::AgentCap>,
    /// What the run had spent before (earlier attempts), plus what passes through.
    pub spent: Spent,
    /// Another host's link (`/h/`), not a run's: that host's name.
    host: Option<String>,
    warned: bool,
    refusals: u64,
    /// Unpriced models already counted at a worst-case price (said once each).
    estimated: std::collections::HashSet<String>,
}

impl RunLink {
    pub fn new(
        run_id: String,
        meter: Arc<dyn Meter>,
        providers: BTreeMap<String, ProviderConfig>,
        prices: Arc<PriceTable>,
        caps: BudgetConfig,
        agent_cap: Option<budget::AgentCap>,
        spent: Spent,
    ) -> Self {
        Self {
            run_id,
            meter,
            providers,
            prices,
            caps,
            agent_cap,
            spent,
            host: None,
            warned: false,
            refusals: 0,
            estimated: Default::default(),
        }
    }
}

pub struct Gateway {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

struct Inner {
    links: Mutex<HashMap<String, RunLink>>,
    global: Mutex<Spent>,
    client: reqwest::Client,
    /// Bumped whenever a held call may go on (a run resumed, caps changed, a run ended).
    wake: tokio::sync::watch::Sender<u64>,
    /// Each run's calls in flight.
    in_flight: Arc<InFlight>,
}

type Body = BoxBody<Bytes, std::io::Error>;

/// Largest request body forwarded; a response body is kept up to this for reading usage.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// A request body that stops arriving for this long is given up on.
const BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Gateway {
    /// Listen on loopback: on `port` when it is free (a restarted server takes its
    /// predecessor's port, so adopted agents keep their base URLs), else on any free port.
    /// `global` is what all runs had spent before; at most `max_conns` connections are kept.
    pub async fn start(
        global: Spent,
        port: Option<u16>,
        max_conns: usize,
    ) -> std::io::Result<Arc<Gateway>> {
        let listener = match port {
            Some(p) => match TcpListener::bind(("127.0.0.1", p)).await {
                Ok(l) => l,
                Err(_) => TcpListener::bind(("127.0.0.1", 0)).await?,
            },
            None => TcpListener::bind(("127.0.0.1", 0)).await?,
        };
        let addr = listener.local_addr()?;
        // Redirects go back to the agent as they are: followed here, one could lead the key to
        // a path (or host) the route check never saw.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let inner = Arc::new(Inner {
            links: Mutex::new(HashMap::new()),
            global: Mutex::new(global),
            client,
            wake: tokio::sync::watch::Sender::new(0),
            in_flight: Arc::new(InFlight::default()),
        });
        tokio::spawn(listen::serve(listener, inner.clone(), max_conns));
        Ok(Arc::new(Gateway { addr, inner }))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The run's base URL (add `/<provider>`).
    pub fn base_url(&self, token: &str) -> String {
        format!("http://{}/r/{token}", self.addr)
    }

    /// Let a run's calls through; returns its token.
    pub fn register(&self, link: RunLink) -> String {
        let token = format!(
            "fd-{}{}",
            crate::run::id::generate(),
            crate::run::id::generate()
        );
        if let Ok(mut links) = self.inner.links.lock() {
            links.insert(token.clone(), link);
        }
        token
    }

    /// Let a run's calls through under a token it already has (a run adopted after a server
    /// restart: its agent keeps the token it was given).
    pub fn register_as(&self, token: &str, link: RunLink) {
        if let Ok(mut links) = self.inner.links.lock() {
            links.insert(token.to_string(), link);
        }
    }

    pub fn unregister(&self, token: &str) {
        if let Ok(mut links) = self.inner.links.lock() {
            links.remove(token);
        }
        self.wake();
    }

    /// Let held calls look again (a run resumed).
    pub fn wake(&self) {
        self.inner.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Why the run may not call its models now, if its budget (or the global one) is spent.
    pub fn budget_spent(&self, run_id: &str) -> Option<String> {
        let global = self.inner.global.lock().map(|g| *g).unwrap_or_default();
        let links = self.inner.links.lock().ok()?;
        links.values().filter(|l| l.run_id == run_id).find_map(|l| {
            match budget::check(&l.caps, l.agent_cap.as_ref(), l.spent, global) {
                Verdict::Stop(m) => Some(m),
                _ => None,
            }
        })
    }

    /// New caps for a run (raised in config before resuming).
    pub fn set_caps(&self, run_id: &str, caps: BudgetConfig, agent_cap: Option<budget::AgentCap>) {
        if let Ok(mut links) = self.inner.links.lock() {
            for link in links.values_mut().filter(|l| l.run_id == run_id) {
                link.caps = caps;
                link.agent_cap = agent_cap.clone();
                link.warned = false;
            }
            Gateway::set_host_caps(&mut links, caps);
        }
        self.wake();
    }
}

fn json_error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({"type": "error", "error": {"type": kind, "message": message}});
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Headers not passed on: hop-by-hop ones, credentials (replaced), encodings we could not read.
const DROP_REQUEST: [&str; 10] = [
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
    "authorization",
    "x-api-key",
    "accept-encoding",
];
const DROP_RESPONSE: [&str; 4] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
];

/// A request from the server's own user.
async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Response<Body> {
    let slot = match route::target(req.uri().path()) {
        Some(target) => {
            let cap = if target.host {
                in_flight::PER_HOST
            } else {
                in_flight::PER_RUN
            };
            match inner.in_flight.enter(target.token, cap) {
                Some(slot) => Some(slot),
                None if target.host => {
                    return json_error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limit_error",
                        &format!(
                            "the runs of the host this call comes from already have {cap} model calls in flight through the gateway of the machine that sent them, the most one host may have at once; retry when one has finished"
                        ),
                    )
                }
                None => {
                    return json_error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limit_error",
                        &format!(
                            "this run already has {cap} model calls in flight through flightdeck's gateway, the most one run may have at once; retry when one has finished"
                        ),
                    )
                }
            }
        }
        None => None,
    };
    let response = forward(inner, req).await.unwrap_or_else(|r| r);
    in_flight::hold(response, slot)
}

/// The answer to a body that was not read whole.
fn body_refused(e: BodyError) -> Response<Body> {
    let mut r = match e {
        BodyError::TooLarge => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            &format!(
                "the request body is larger than {} MiB, the most flightdeck's gateway forwards",
                MAX_BODY / (1024 * 1024)
            ),
        ),
        BodyError::Stalled(wait) => json_error(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            &format!(
                "the request body stopped arriving (nothing for {} s)",
                wait.as_secs()
            ),
        ),
        BodyError::Broken(e) => json_error(StatusCode::BAD_REQUEST, "invalid_request_error", &e),
    };
    // The rest of the body is never read: the connection cannot carry another request.
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

async fn forward(
    inner: Arc<Inner>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let Some(target) = route::target(&path) else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "use the base URL flightdeck gave the run",
        ));
    };
    let method = req.method().clone();
    // Refused before anything else when its Content-Length alone is too much.
    if body::declared_too_large(req.body(), MAX_BODY) {
        return Err(body_refused(BodyError::TooLarge));
    }

    // The run, its provider, the endpoint, its state, its budget. A call the run may not make
    // now (paused, or its budget spent) is held, not refused: agents give up on errors, and a
    // raised cap then resume should carry on where the run stopped.
    let mut wake = inner.wake.subscribe();
    let mut held: Option<(Instant, Arc<dyn Meter>)> = None;
    let (provider, meter, prices, segments) = loop {
        match admit(&inner, &target, &method).map_err(|r| *r)? {
            Admit::Go {
                provider,
                meter,
                prices,
                segments,
            } => break (provider, meter, prices, segments),
            Admit::Hold {
                meter,
                reason,
                message,
                stop,
            } => {
                // Another host's call is answered at once: its gateway pauses the run there.
                if target.host {
                    meter.stop(message.clone());
                    return Err(hosts::budget_spent(&message));
                }
                if held.is_none() {
                    if stop {
                        meter.stop(message.clone());
                    }
                    meter.held(reason, message);
                    held = Some((Instant::now(), meter));
                }
                // Woken by resume, new caps or the run's end; a slow poll in case a wake
                // was missed.
                let _ = tokio::time::timeout(HOLD_RECHECK, wake.changed()).await;
            }
        }
    };
    if let Some((since, meter)) = held {
        meter.released(since.elapsed());
    }
    // A run sent here by another machine: its gateway takes the host's token, not a key.
    let key = match (&provider.host_token, provider.kind) {
        (Some(token), _) => Ok(token.clone()),
        (None, ProviderKind::Demo) => Ok(DEMO_KEY.to_string()),
        (None, _) => std::env::var(&provider.api_key_env),
    };
    let Ok(key) = key else {
        return Err(json_error(
            StatusCode::BAD_GATEWAY,
            "api_error",
            &format!(
                "the flightdeck server has no key in ${}; set it where the server starts",
                provider.api_key_env
            ),
        ));
    };

    let headers = req.headers().clone();
    let body = body::read(req.into_body(), MAX_BODY, BODY_WAIT)
        .await
        .map_err(body_refused)?;
    let (body, requested_model) = body::prepare(provider.kind, &segments, body);
    let url = route::upstream_url(&provider.base_url, &segments, query.as_deref()).map_err(|e| {
        json_error(
            StatusCode::BAD_GATEWAY,
            "api_error",
            &format!(
                "provider `{}` has a base_url flightdeck cannot use ({e}); fix [providers.{}].base_url",
                target.provider, target.provider
            ),
        )
    })?;
    let mut up = inner.client.request(method, url).body(body);
    for (name, value) in headers.iter() {
        if !DROP_REQUEST.contains(&name.as_str()) {
            up = up.header(name, value);
        }
    }
    up = match provider.kind {
        ProviderKind::Anthropic | ProviderKind::Demo => up.header("x-api-key", key),
        ProviderKind::Openai => up.bearer_auth(key),
    };
    let started = Instant::now();
    let upstream = up.send().await.map_err(|e| {
        json_error(
            StatusCode::BAD_GATEWAY,
            "api_error",
            &format!("the provider could not be reached: {e}"),
        )
    })?;

    let status = upstream.status();
    if provider.host_token.is_some() && upstream.headers().contains_key(hosts::BUDGET_SPENT) {
        meter.stop(hosts::SPENT_THERE.to_string());
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in upstream.headers() {
        if !DROP_RESPONSE.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    // Pass the body through as it comes, keeping a copy to read the usage from at the end.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let record = Recorder {
        inner: inner.clone(),
        token: target.token.to_string(),
        provider: target.provider.clone(),
        requested_model,
        status: status.as_u16(),
        started,
        meter,
        prices,
        kind: provider.kind,
    };
    tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut stream = upstream.bytes_stream();
        let mut copy: Vec<u8> = Vec::new();
        // One chunk is held back: the answer ends only once its call is recorded.
        let mut held: Option<Bytes> = None;
        let mut agent_gone = false;
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            if copy.len() < MAX_BODY {
                copy.extend_from_slice(&chunk);
            }
            if let Some(prev) = held.replace(chunk) {
                if tx.send(prev).await.is_err() {
                    agent_gone = true;
                    break; // the agent went away; still record what was used
                }
            }
        }
        let meter = record.meter.clone();
        record.finish(&copy);
        meter.recorded().await;
        if let (Some(last), false) = (held, agent_gone) {
            let _ = tx.send(last).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(Frame::data(chunk)), rx))
    });
    response
        .body(StreamBody::new(stream).boxed())
        .map_err(|e| json_error(StatusCode::BAD_GATEWAY, "api_error", &e.to_string()))
}
