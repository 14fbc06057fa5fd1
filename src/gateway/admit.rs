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
    let Some(link) = links.get_mut(target.token) else {
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
        Err(r) => return Err(Box::new(refuse(link, method, target, r))),
    };
    let global = inner.global.lock().map(|g| *g).unwrap_or_default();
    if let Verdict::Stop(message) = budget::check(&link.caps, link.spent, global) {
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
    if let Ok(mut links) = inner.links.lock() {
        if let Some(link) = links.get_mut(target.token) {
            return refuse(link, method, target, r);
        }
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
    json_error(status, r.kind, &r.message)
}

/// Tell the run's timeline (the first few times) and the client why a request was refused.
fn refuse(
    link: &mut RunLink,
    method: &hyper::Method,
    target: &route::Target,
    r: route::Refusal,
) -> Response<Body> {
    link.refusals += 1;
    let n = link.refusals;
    if n <= REFUSALS_RECORDED || n.is_multiple_of(100) {
        let mut message = r.message.clone();
        if n == REFUSALS_RECORDED {
            message.push_str(" (further refusals of this run are recorded one in a hundred)");
        }
        link.meter.refused(Refused {
            method: method.to_string(),
            path: route::shown(target.rest),
            provider: target.provider.clone(),
            reason: r.reason,
            status: r.status,
            message,
        });
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
    json_error(status, r.kind, &r.message)
}
