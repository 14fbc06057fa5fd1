//! Recording a call once its answer has passed: its usage read from the body, its cost, the
//! run's and the global spending, and what the budget says of them.

use std::sync::Arc;
use std::time::Instant;

use super::budget::{self, Spent, Verdict};
use super::{usage, Inner, Meter};
use crate::config::ProviderKind;
use crate::models::calls::ModelCall;
use crate::models::pricing::PriceTable;

pub(super) struct Recorder {
    pub(super) inner: Arc<Inner>,
    pub(super) token: String,
    pub(super) provider: String,
    pub(super) requested_model: Option<String>,
    pub(super) status: u16,
    pub(super) started: Instant,
    pub(super) meter: Arc<dyn Meter>,
    pub(super) prices: Arc<PriceTable>,
    pub(super) kind: ProviderKind,
}

impl Recorder {
    pub(super) fn finish(self, body: &[u8]) {
        let seen = usage::from_body(body);
        let Some(u) = seen.usage else { return };
        let model = seen
            .model
            .or(self.requested_model)
            .unwrap_or_else(|| "unknown".into());
        let mut call = ModelCall::new(&self.provider, &model, u, "gateway", &self.prices);
        call.latency_ms = Some(self.started.elapsed().as_millis() as u64);
        call.http_status = Some(self.status);
        call.call_id = seen.id;
        let tokens = u.input + u.output + u.cache_read + u.cache_write;
        // A model the table does not know counts against USD caps at its provider's dearest
        // listed price: a budget must never take it for free.
        let (cost, estimated) = match call.cost_usd {
            Some(c) => (c, None),
            None => {
                let provider = match self.kind {
                    ProviderKind::Anthropic => "anthropic",
                    ProviderKind::Openai => "openai",
                    ProviderKind::Demo => "demo",
                };
                match self.prices.most_expensive(provider) {
                    Some((dearest, p)) => (
                        p.cost(&u),
                        Some(format!(
                            "{model} is not in the price table: budgets count its calls at the dearest {provider} price ({dearest}: ${} in, ${} out per million tokens); add it under [pricing.models] for its real cost",
                            p.input, p.output
                        )),
                    ),
                    None => (
                        f64::INFINITY,
                        Some(format!(
                            "{model} is not in the price table and no {provider} model is: a USD budget cannot count it, so it counts as spent; add it under [pricing.models]"
                        )),
                    ),
                }
            }
        };
        let global = match self.inner.global.lock() {
            Ok(mut g) => {
                g.tokens += tokens;
                g.usd += cost;
                *g
            }
            Err(_) => Spent::default(),
        };
        let mut notes = Vec::new();
        let verdict = match self.inner.links.lock() {
            Ok(mut links) => match links.get_mut(&self.token) {
                Some(link) => {
                    link.spent.tokens += tokens;
                    link.spent.usd += cost;
                    let usd_capped = link.caps.run_usd.is_some()
                        || link.caps.global_usd.is_some()
                        || link.agent_cap.is_some();
                    if let (Some(note), true) = (&estimated, usd_capped) {
                        if link.estimated.insert(model.clone()) {
                            notes.push(note.clone());
                        }
                    }
                    let v = budget::check(&link.caps, link.agent_cap.as_ref(), link.spent, global);
                    match v {
                        Verdict::Warn(_) if link.warned => Verdict::Fine,
                        Verdict::Warn(_) => {
                            link.warned = true;
                            v
                        }
                        other => other,
                    }
                }
                None => Verdict::Fine,
            },
            Err(_) => Verdict::Fine,
        };
        self.meter.record(call);
        self.meter.spent(tokens, cost);
        for note in notes {
            self.meter.warn(note);
        }
        match verdict {
            Verdict::Fine => {}
            Verdict::Warn(m) => self.meter.warn(m),
            Verdict::Stop(m) => self.meter.stop(m),
        }
    }
}
