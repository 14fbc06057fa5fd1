//! Whether a run's call may go to its provider now: forwarded, held (the run is paused or
//! its budget spent) or refused (not a model endpoint, unknown run or provider).

use std::sync::Arc;

use hyper::{Response, StatusCode};

use super::budget::{self, Verdict};
use super::{json_error, route, Body, Inner, Meter, Refused, RunLink, REFUSALS_RECORDED};
use crate::config::ProviderConfig;
use crate::models::pricing::PriceTable;

/// How often a held call looks again without being woken.
pub(super) const HOLD_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) enum Admit {
    Go {
        provider: ProviderConfig,
        meter: Arc<dyn Meter>,
        prices: Arc<PriceTable>,
        segments: Vec<String>,
    },
    /// Wait: the run is paused (`reason` "paused") or its budget is spent ("budget"; `stop`:
    /// the run must be paused for it).
    Hold {
        meter: Arc<dyn Meter>,
        reason: &'static str,
        message: String,
        stop: bool,
    },
}

/// Whether a run's call may go to its provider now.
pub(super) fn admit(
    inner: &Inner,
    target: &route::Target,
    method: &hyper::Method,
) -> Result<Admit, Box<Response<Body>>> {
    let mut links = inner.links.lock().map_err(|_| {
        Box::new(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "gateway state poisoned",
        ))
    })?;
    // A run's token works only as a run's (`/r/`), a host's only as a host's (`/h/`).
    let link = links
        .get_mut(target.token)
        .filter(|l| l.host.is_some() == target.host);
    let Some(link) = link else {
        return Err(Box::new(json_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "unknown or finished flightdeck run",
        )));
    };
    let Some(provider) = link.providers.get(&target.provider).cloned() else {
        return Err(Box::new(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!(
                "no provider `{}` is configured for this run",
                target.provider
            ),
        )));
    };
    let segments = match route::allow(provider.kind, method, target.rest) {
        Ok(s) => s,
        Err(r) => {
            let (response, note) = refuse(link, method, target, r);
            // The timeline is written after the lock is let go: no file I/O under it.
            drop(links);
            note.record();
            return Err(Box::new(response));
        }
    };
    let global = inner.global.lock().map(|g| *g).unwrap_or_default();
    if let Verdict::Stop(message) =
        budget::check(&link.caps, link.agent_cap.as_ref(), link.spent, global)
    {
        return Ok(Admit::Hold {
            meter: link.meter.clone(),
            reason: "budget",
            message,
            stop: true,
        });
    }
    if link.meter.paused() {
        return Ok(Admit::Hold {
            meter: link.meter.clone(),
            reason: "paused",
            message: format!(
                "run {} is paused; its model calls wait until it resumes",
                link.run_id
            ),
            stop: false,
        });
    }
    Ok(Admit::Go {
        provider,
        meter: link.meter.clone(),
        prices: link.prices.clone(),
        segments,
    })
}

/// Refuse a request before admitting it (its caller is another user): the run's timeline
/// says so when the token is a run's.
pub(super) fn refuse_unadmitted(
    inner: &Inner,
    target: &route::Target,
    method: &hyper::Method,
    r: route::Refusal,
) -> Response<Body> {
    let refused = match inner.links.lock() {
        Ok(mut links) => links
            .get_mut(target.token)
            .map(|link| refuse(link, method, target, r.clone())),
        Err(_) => None,
    };
    if let Some((response, note)) = refused {
        note.record();
        return response;
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
    json_error(status, r.kind, &r.message)
}

/// What the run's timeline is to say of a refusal (the first few times), once the gateway's
/// lock is let go.
pub(super) struct Note(Option<(std::sync::Arc<dyn super::Meter>, Refused)>);

impl Note {
    pub(super) fn record(self) {
        if let Some((meter, refused)) = self.0 {
            meter.refused(refused);
        }
    }
}

/// The client's answer to a refused request, and what the run's timeline is to say.
fn refuse(
    link: &mut RunLink,
    method: &hyper::Method,
    target: &route::Target,
    r: route::Refusal,
) -> (Response<Body>, Note) {
    link.refusals += 1;
    let n = link.refusals;
    let mut note = Note(None);
    if n <= REFUSALS_RECORDED || n.is_multiple_of(100) {
        let mut message = r.message.clone();
        if n == REFUSALS_RECORDED {
            message.push_str(" (further refusals of this run are recorded one in a hundred)");
        }
        note = Note(Some((
            link.meter.clone(),
            Refused {
                method: method.to_string(),
                path: route::shown(target.rest),
                provider: target.provider.clone(),
                reason: r.reason,
                status: r.status,
                message,
            },
        )));
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
    (json_error(status, r.kind, &r.message), note)
}
