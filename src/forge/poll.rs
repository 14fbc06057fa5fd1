//! One poll of a forge repository, the part both forges share: one list of its pull requests
//! (conditional), then for each PR asked about only the details that may have changed: checks
//! when its head moved or they are still running (or, with none, every fifth poll), reviews when
//! it was updated. At most `DETAIL_BUDGET` detail requests a poll; the rest wait for the next.

use std::collections::HashMap;

use serde_json::Value;

use super::{ForgeError, Known, Seen, DETAIL_BUDGET};
use crate::run::{PrChecks, PrNote, PrReview};

/// What a forge answers a poll with.
pub trait Api {
    /// The repository's pull requests, newest updated first (one request).
    async fn list(&self) -> Result<Value, ForgeError>;
    /// One pull request, for one the list left out.
    async fn one(&self, n: u64) -> Result<Value, ForgeError>;
    fn seen(&self, item: &Value) -> Seen;
    /// The checks on PR `n` at `head`; takes what it asks for from `budget`.
    async fn checks(
        &self,
        n: u64,
        head: &str,
        budget: &mut usize,
    ) -> Result<(PrChecks, Vec<PrNote>), ForgeError>;
    /// The review verdict, the id of the change request, its notes.
    async fn reviews(
        &self,
        n: u64,
        item: &Value,
        budget: &mut usize,
    ) -> Result<(PrReview, Option<String>, Vec<PrNote>), ForgeError>;
}

/// What one poll saw: the pull requests it could read, and those it could not (a PR deleted
/// on the forge answers 404; the others are still reported).
#[derive(Debug, Default)]
pub struct Polled {
    pub seen: Vec<Seen>,
    pub errors: Vec<(u64, ForgeError)>,
}

/// Whether an error is one pull request's (the forge answered about it) rather than the
/// whole poll's (the network, the token, the rate limit).
fn one_prs(e: &ForgeError) -> bool {
    matches!(e, ForgeError::Api { .. })
}

pub async fn poll<A: Api>(
    api: &A,
    numbers: &[u64],
    known: &mut HashMap<u64, Known>,
) -> Result<Polled, ForgeError> {
    let list = api.list().await?;
    let listed: HashMap<u64, &Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["number"].as_u64().or_else(|| p["iid"].as_u64())?, p)))
        .collect();
    let mut budget = DETAIL_BUDGET;
    let mut out = Polled::default();
    for &n in numbers {
        match poll_one(api, n, listed.get(&n).copied(), known, &mut budget).await {
            Ok(Some(seen)) => out.seen.push(seen),
            Ok(None) => {}
            Err(e) if one_prs(&e) => out.errors.push((n, e)),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One pull request of the poll: None when the budget left no room for it this time.
async fn poll_one<A: Api>(
    api: &A,
    n: u64,
    listed: Option<&Value>,
    known: &mut HashMap<u64, Known>,
    budget: &mut usize,
) -> Result<Option<Seen>, ForgeError> {
    let fetched;
    let item = match listed {
        Some(p) => p,
        None if *budget > 0 => {
            *budget -= 1;
            fetched = api.one(n).await?;
            &fetched
        }
        None => return Ok(None),
    };
    let mut seen = api.seen(item);
    let k = known.entry(n).or_default();
    let updated = item["updated_at"].as_str().unwrap_or_default().to_string();
    let head_moved = k.head != seen.pr.head;
    let look_at_checks = head_moved
        || k.checks == PrChecks::Pending
        || (k.checks == PrChecks::None && k.polls_since_checks >= 5);
    if look_at_checks && *budget > 0 && !seen.pr.head.is_empty() {
        let (checks, failing) = api.checks(n, &seen.pr.head, budget).await?;
        k.checks = checks;
        k.failing = failing;
        k.polls_since_checks = 0;
        k.head = seen.pr.head.clone();
    } else {
        k.polls_since_checks += 1;
    }
    if (k.updated_at != updated || head_moved) && *budget > 0 {
        let (review, id, requested) = api.reviews(n, item, budget).await?;
        k.review = review;
        k.review_id = id;
        k.requested = requested;
        k.updated_at = updated;
    }
    seen.pr.checks = k.checks;
    seen.pr.failing = k.failing.clone();
    seen.pr.review = k.review;
    seen.pr.requested = k.requested.clone();
    seen.review_id = k.review_id.clone();
    Ok(Some(seen))
}

/// Take one request from the budget (saturating: the caller checked there was room).
pub fn spend(budget: &mut usize) {
    *budget = budget.saturating_sub(1);
}
