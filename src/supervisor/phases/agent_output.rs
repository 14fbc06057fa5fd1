//! What the agent phase makes of the agent's output as it is read from agent.log: the
//! adapter's events and model calls, with plain output coalesced and capped for the timeline
//! (see `agents::output_batch`). Runs on the follower's blocking thread.

use crate::proof::kind::TimelineKind;
use std::ops::Range;
use std::sync::Arc;

use crate::agents::adapters::{Adapter, Parsed};
use crate::agents::output::Sink;
use crate::agents::output_batch::{self, Event, OutputBatch};
use crate::models::calls::ModelCall;
use crate::models::pricing::PriceTable;
use crate::run::Phase;
use crate::supervisor::context::RunCtx;

/// What the agent said about itself, kept for the run record.
#[derive(Debug, Clone, Default)]
pub struct Reported {
    pub session: Option<String>,
    pub cost: Option<f64>,
}

pub struct AgentSink {
    ctx: Arc<RunCtx>,
    prices: Arc<PriceTable>,
    adapter: Box<dyn Adapter>,
    /// With the gateway measuring, the agent's own usage lines would count calls twice.
    count_calls: bool,
    batch: OutputBatch,
    pub reported: Reported,
}

impl AgentSink {
    pub fn new(
        ctx: Arc<RunCtx>,
        prices: Arc<PriceTable>,
        adapter: Box<dyn Adapter>,
        count_calls: bool,
    ) -> Self {
        Self {
            ctx,
            prices,
            adapter,
            count_calls,
            batch: OutputBatch::new(output_batch::CAP),
            reported: Reported::default(),
        }
    }

    fn write(&self, events: Vec<Event>) {
        for (kind, fields) in events {
            self.ctx.emit(Phase::Agent, kind, fields);
        }
    }

    /// Once the agent has ended: what its adapter reads beside the output (aider's analytics
    /// log). Blocking.
    pub fn finish(&mut self) {
        let parsed = self.adapter.finish();
        self.apply(parsed, 0..0);
    }

    /// Carry out what an adapter made of a line.
    fn apply(&mut self, parsed: Vec<Parsed>, range: Range<u64>) {
        for p in parsed {
            match p {
                Parsed::Event {
                    kind: TimelineKind::AgentOutput,
                    mut fields,
                } => {
                    let text = match fields.remove("text") {
                        Some(serde_json::Value::String(s)) => s,
                        _ => String::new(),
                    };
                    let ready = self.batch.push(&text, range.clone());
                    self.write(ready);
                }
                Parsed::Event { kind, fields } => {
                    let (ready, admitted) = self.batch.admit(&fields, range.start);
                    self.write(ready);
                    if admitted {
                        self.ctx.emit(Phase::Agent, kind, fields);
                    }
                }
                Parsed::Call { .. } if !self.count_calls => {}
                Parsed::Call {
                    provider,
                    model,
                    usage,
                    call_id,
                } => {
                    // An agent that names no provider (aider, for `gpt-4o`): the price table's.
                    let provider = match self.prices.lookup(&model) {
                        Some(p) if provider == "unknown" && !p.provider.is_empty() => {
                            p.provider.clone()
                        }
                        _ => provider,
                    };
                    let mut call = ModelCall::new(&provider, &model, usage, "agent", &self.prices);
                    call.call_id = call_id;
                    self.ctx.record_call(Phase::Agent, call);
                }
                Parsed::Session(s) => self.reported.session = Some(s),
                Parsed::ReportedCost(c) => self.reported.cost = Some(c),
            }
        }
    }
}

impl Sink for AgentSink {
    fn line(&mut self, text: &str, range: Range<u64>) {
        let parsed = self.adapter.line(text);
        self.apply(parsed, range);
    }

    fn idle(&mut self) {
        let ready = self.batch.flush().into_iter().collect();
        self.write(ready);
    }

    fn wants_lines(&self) -> bool {
        !self.batch.capped() || self.adapter.needs_every_line()
    }

    fn unread(&mut self, range: Range<u64>) {
        let ready = self.batch.unread(range);
        self.write(ready);
    }
}
