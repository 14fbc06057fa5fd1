//! One model call, as `model_calls.jsonl` records it and the timeline's `llm.call` line says it
//! (with the OpenTelemetry GenAI attribute names).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::pricing::{PriceTable, Usage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    pub ts: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// From the price table; None for a model it does not know.
    pub cost_usd: Option<f64>,
    /// `gateway` (measured by flightdeck's proxy) or `agent` (from the agent's own output).
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The provider's id for the call (message id), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
}

impl ModelCall {
    pub fn new(
        provider: &str,
        model: &str,
        usage: Usage,
        source: &str,
        prices: &PriceTable,
    ) -> Self {
        Self {
            ts: crate::time::now_rfc3339(),
            provider: provider.into(),
            model: model.into(),
            input_tokens: usage.input,
            output_tokens: usage.output,
            cache_read_tokens: usage.cache_read,
            cache_write_tokens: usage.cache_write,
            cost_usd: prices.cost(model, &usage),
            source: source.into(),
            latency_ms: None,
            http_status: None,
            call_id: None,
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            input: self.input_tokens,
            output: self.output_tokens,
            cache_read: self.cache_read_tokens,
            cache_write: self.cache_write_tokens,
        }
    }

    /// The fields of the timeline's `llm.call` line.
    pub fn timeline_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("gen_ai.provider.name".into(), self.provider.clone().into());
        m.insert("gen_ai.request.model".into(), self.model.clone().into());
        m.insert("gen_ai.usage.input_tokens".into(), self.input_tokens.into());
        m.insert(
            "gen_ai.usage.output_tokens".into(),
            self.output_tokens.into(),
        );
        m.insert(
            "gen_ai.usage.cache_read.input_tokens".into(),
            self.cache_read_tokens.into(),
        );
        m.insert(
            "gen_ai.usage.cache_creation.input_tokens".into(),
            self.cache_write_tokens.into(),
        );
        m.insert("cost_usd".into(), self.cost_usd.into());
        m.insert("source".into(), self.source.clone().into());
        if let Some(l) = self.latency_ms {
            m.insert("latency_ms".into(), l.into());
        }
        if let Some(s) = self.http_status {
            m.insert("http.response.status_code".into(), s.into());
        }
        if let Some(id) = &self.call_id {
            m.insert("gen_ai.response.id".into(), id.clone().into());
        }
        m
    }
}
