//! The price table (`assets/pricing.toml`, overridable in config): USD per million tokens. A
//! model that is not in it costs `None`, never a guess.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const BUILT_IN: &str = include_str!("../../assets/pricing.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(default)]
    pub provider: String,
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: f64,
    #[serde(default)]
    pub cache_write: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub models: BTreeMap<String, Price>,
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl PriceTable {
    pub fn built_in() -> Self {
        toml::from_str(BUILT_IN).unwrap_or_default()
    }

    /// The built-in table with config's models added or replaced.
    pub fn with_overrides(overrides: &BTreeMap<String, Price>) -> Self {
        let mut t = Self::built_in();
        for (name, p) in overrides {
            t.models.insert(name.clone(), p.clone());
        }
        t
    }

    /// The price of `model`: exact, or with a date or version suffix taken off
    /// (`claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`, `models/gemini-2.5-pro`).
    pub fn lookup(&self, model: &str) -> Option<&Price> {
        let name = model.rsplit('/').next().unwrap_or(model).trim();
        if let Some(p) = self.models.get(name) {
            return Some(p);
        }
        let trimmed = strip_suffix(name);
        self.models.get(trimmed)
    }

    pub fn cost(&self, model: &str, u: &Usage) -> Option<f64> {
        let p = self.lookup(model)?;
        let usd = (u.input as f64 * p.input
            + u.output as f64 * p.output
            + u.cache_read as f64 * p.cache_read
            + u.cache_write as f64 * p.cache_write)
            / 1_000_000.0;
        Some((usd * 1e8).round() / 1e8)
    }
}

/// `name-20250929`, `name-2024-08-06`, `name-latest`, `name@001` → `name`.
fn strip_suffix(name: &str) -> &str {
    let name = name.split('@').next().unwrap_or(name);
    if let Some(rest) = name.strip_suffix("-latest") {
        return rest;
    }
    let parts: Vec<&str> = name.rsplitn(2, '-').collect();
    if parts.len() == 2 && parts[0].len() == 8 && parts[0].chars().all(|c| c.is_ascii_digit()) {
        return parts[1];
    }
    // -YYYY-MM-DD
    if name.len() > 11 {
        let (head, tail) = name.split_at(name.len() - 11);
        let t = tail.as_bytes();
        if t[0] == b'-'
            && t[5] == b'-'
            && t[8] == b'-'
            && tail[1..]
                .replace('-', "")
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return head;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_is_dated() {
        let t: PriceTable = toml::from_str(BUILT_IN).expect("assets/pricing.toml parses");
        assert!(!t.date.is_empty() && !t.source.is_empty());
        for provider in ["anthropic", "openai", "google"] {
            assert!(
                t.models.values().any(|p| p.provider == provider),
                "{provider} missing"
            );
        }
    }

    #[test]
    fn lookup_strips_dates_and_costs_add_up() {
        let t = PriceTable::built_in();
        assert!(t.lookup("claude-sonnet-4-5-20250929").is_some());
        assert!(t.lookup("gpt-4o-2024-08-06").is_some());
        assert!(t.lookup("claude-3-5-haiku-latest").is_some());
        assert!(t.lookup("no-such-model").is_none());
        let u = Usage {
            input: 1_000_000,
            output: 100_000,
            cache_read: 200_000,
            cache_write: 10_000,
        };
        // 3 + 1.5 + 0.06 + 0.0375
        assert_eq!(t.cost("claude-sonnet-4-5", &u), Some(4.5975));
        assert_eq!(t.cost("mystery-1", &u), None);
    }

    #[test]
    fn config_overrides_and_adds() {
        let mut o = BTreeMap::new();
        o.insert(
            "my-local".to_string(),
            Price {
                provider: "local".into(),
                input: 0.0,
                output: 0.0,
                cache_read: 0.0,
                cache_write: 0.0,
            },
        );
        o.insert(
            "gpt-5".to_string(),
            Price {
                provider: "openai".into(),
                input: 1.0,
                output: 1.0,
                cache_read: 0.0,
                cache_write: 0.0,
            },
        );
        let t = PriceTable::with_overrides(&o);
        assert_eq!(
            t.cost(
                "my-local",
                &Usage {
                    input: 5,
                    ..Default::default()
                }
            ),
            Some(0.0)
        );
        assert_eq!(t.lookup("gpt-5").unwrap().input, 1.0);
    }
}
