//! A cap on a run's model calls in flight at once, and keeping such marks until a response
//! has been sent whole. A connection with a call in flight is never closed to make room for
//! another (`conn_cap`), so without a cap per run one token could hold every place the
//! gateway has.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper::Response;

use super::Body;

/// Calls one run may have in flight; agents that fan out use a handful.
pub(super) const PER_RUN: usize = 64;
/// Calls another host's runs may have in flight together through its tunnel (each of its runs
/// is held to `PER_RUN` by the host's own gateway).
pub(super) const PER_HOST: usize = 256;

#[derive(Default)]
pub(super) struct InFlight {
    by_token: Mutex<HashMap<String, usize>>,
}

/// One call's place among its run's; dropping it frees the place.
pub(super) struct Slot {
    of: Arc<InFlight>,
    token: String,
}

impl InFlight {
    /// A place for a call under `token`; None when `cap` calls are in flight under it.
    pub(super) fn enter(self: &Arc<Self>, token: &str, cap: usize) -> Option<Slot> {
        let mut counts = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(token.to_string()).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            of: self.clone(),
            token: token.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.of.by_token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.token);
            }
        }
    }
}

/// The response, keeping `mark` alive until its body has been sent (or dropped).
pub(super) fn hold<M: Send + Sync + Unpin + 'static>(r: Response<Body>, mark: M) -> Response<Body> {
    r.map(|body| Holding { body, _mark: mark }.boxed())
}

struct Holding<M> {
    body: Body,
    _mark: M,
}

impl<M: Unpin> hyper::body::Body for Holding<M> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_has_at_most_per_run_calls_in_flight() {
        let f = Arc::new(InFlight::default());
        let slots: Vec<Slot> = (0..PER_RUN)
            .map(|_| f.enter("fd-a", PER_RUN).unwrap())
            .collect();
        assert!(f.enter("fd-a", PER_RUN).is_none());
        assert!(
            f.enter("fd-b", PER_RUN).is_some(),
            "other runs are not held up"
        );
        drop(slots);
        assert!(f.enter("fd-a", PER_RUN).is_some());
        assert!(f.by_token.lock().unwrap().is_empty(), "nothing left behind");
        // A host's runs together get the larger cap.
        let host: Vec<Slot> = (0..PER_HOST)
            .map(|_| f.enter("fdh-a", PER_HOST).unwrap())
            .collect();
        assert!(f.enter("fdh-a", PER_HOST).is_none());
        drop(host);
    }
}
