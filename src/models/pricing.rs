//! The price table (`assets/pricing.toml`, generated from LiteLLM's model price list by
//! `scripts/refresh-prices`; overridable in config): USD per million tokens. A model that is
//! not in it costs `None`, never a guess.

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
    /// The source's version (the litellm release the table was generated from).
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub models: BTreeMap<String, Price>,
}

/// How a model name found its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// The name is listed as it is.
    Exact,
    /// Listed once a `provider/` or `models/` prefix is taken off.
    Prefix,
    /// Listed once a date or version suffix is taken off (`-20250929`, `-latest`, `@001`).
    Suffix,
}

/// A lookup's answer: the entry's name in the table, its price, and how it was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found<'a> {
    pub entry: &'a str,
    pub price: &'a Price,
    pub how: Match,
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
        self.find(model).map(|f| f.price)
    }

    /// Like `lookup`, saying which entry answered and how it was found.
    pub fn find(&self, model: &str) -> Option<Found<'_>> {
        let model = model.trim();
        let name = model.rsplit('/').next().unwrap_or(model).trim();
        let how = if name == model {
            Match::Exact
        } else {
            Match::Prefix
        };
        if let Some((entry, price)) = self.models.get_key_value(name) {
            return Some(Found { entry, price, how });
        }
        let (entry, price) = self.models.get_key_value(strip_suffix(name))?;
        Some(Found {
            entry,
            price,
            how: Match::Suffix,
        })
    }

    /// The dearest listed model of `provider` by input + output price (ties: the first by
    /// name): what an unpriced model's tokens cost at worst.
    pub fn most_expensive(&self, provider: &str) -> Option<(&str, &Price)> {
        let mut best: Option<(&str, &Price)> = None;
        for (name, p) in &self.models {
            let total = p.input + p.output;
            if p.provider != provider || !total.is_finite() {
                continue;
            }
            if best.is_none_or(|(_, b)| total > b.input + b.output) {
                best = Some((name, p));
            }
        }
        best
    }

    pub fn cost(&self, model: &str, u: &Usage) -> Option<f64> {
        self.lookup(model).map(|p| p.cost(u))
    }
}

impl Price {
    /// What `u` costs at this price, in USD, rounded to 1e-8.
    pub fn cost(&self, u: &Usage) -> f64 {
        let usd = (u.input as f64 * self.input
            + u.output as f64 * self.output
            + u.cache_read as f64 * self.cache_read
            + u.cache_write as f64 * self.cache_write)
            / 1_000_000.0;
        (usd * 1e8).round() / 1e8
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
        assert!(!t.source.is_empty() && !t.version.is_empty());
        let d = t.date.as_bytes();
        assert!(
            d.len() == 10 && d[4] == b'-' && d[7] == b'-',
            "date {:?} is not YYYY-MM-DD",
            t.date
        );
        assert!(t.source.contains("model_prices_and_context_window.json"));
        assert!(BUILT_IN.contains("GENERATED by scripts/refresh-prices"));
        for provider in ["anthropic", "openai", "google"] {
            assert!(
                t.models.values().filter(|p| p.provider == provider).count() >= 3,
                "{provider} missing"
            );
        }
    }

    #[test]
    fn the_built_in_table_has_the_models_current_clis_default_to() {
        let t = PriceTable::built_in();
        for m in [
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "claude-opus-4-5",
            "gpt-5",
            "gpt-5-codex",
            "gpt-5.1-codex",
            "gpt-5.1-codex-max",
            "gpt-5-mini",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
        ] {
            let f = t.find(m).unwrap_or_else(|| panic!("{m} is not priced"));
            assert_eq!((f.entry, f.how), (m, Match::Exact));
        }
    }

    #[test]
    fn every_built_in_price_is_finite_and_not_negative() {
        let t = PriceTable::built_in();
        assert!(t.models.len() > 50, "only {} models", t.models.len());
        for (name, p) in &t.models {
            for (what, v) in [
                ("input", p.input),
                ("output", p.output),
                ("cache_read", p.cache_read),
                ("cache_write", p.cache_write),
            ] {
                assert!(v.is_finite() && v >= 0.0, "{name}: {what} = {v}");
            }
            assert!(!p.provider.is_empty(), "{name} has no provider");
            assert!(!name.contains('/') && !name.starts_with("ft:"), "{name}");
        }
    }

    #[test]
    fn lookup_strips_dates_and_costs_add_up() {
        let t = PriceTable::built_in();
        let f = t.find("claude-sonnet-4-5-20250929").expect("dated sonnet");
        assert_eq!(f.entry, "claude-sonnet-4-5-20250929");
        let f = t.find("gpt-5-codex-2025-09-15").expect("dated codex");
        assert_eq!((f.entry, f.how), ("gpt-5-codex", Match::Suffix));
        let f = t
            .find("claude-haiku-4-5-20991231")
            .expect("a future haiku date");
        assert_eq!((f.entry, f.how), ("claude-haiku-4-5", Match::Suffix));
        let f = t.find("gemini/gemini-2.5-pro").expect("prefixed gemini");
        assert_eq!((f.entry, f.how), ("gemini-2.5-pro", Match::Prefix));
        assert_eq!(
            t.find("gpt-5-latest").map(|f| (f.entry, f.how)),
            Some(("gpt-5", Match::Suffix))
        );
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

    fn price(provider: &str, input: f64, output: f64) -> Price {
        Price {
            provider: provider.into(),
            input,
            output,
            cache_read: 0.0,
            cache_write: 0.0,
        }
    }

    #[test]
    fn most_expensive_is_the_dearest_by_input_plus_output() {
        let mut t = PriceTable::default();
        assert_eq!(t.most_expensive("openai"), None);
        t.models.insert("cheap".into(), price("openai", 1.0, 2.0));
        // Dear input, cheap output: 20 in all, less than 10 + 15.
        t.models
            .insert("in-heavy".into(), price("openai", 18.0, 2.0));
        t.models.insert("dear".into(), price("openai", 10.0, 15.0));
        t.models
            .insert("other".into(), price("anthropic", 100.0, 100.0));
        t.models
            .insert("broken".into(), price("openai", f64::NAN, 1.0));
        assert_eq!(t.most_expensive("openai").map(|(n, _)| n), Some("dear"));
        assert_eq!(t.most_expensive("anthropic").map(|(n, _)| n), Some("other"));
        assert_eq!(t.most_expensive("nobody"), None);
        // A tie goes to the first name.
        t.models
            .insert("also-dear".into(), price("openai", 15.0, 10.0));
        assert_eq!(
            t.most_expensive("openai").map(|(n, _)| n),
            Some("also-dear")
        );
    }

    #[test]
    fn most_expensive_of_the_built_in_table_bounds_every_model_of_its_provider() {
        let t = PriceTable::built_in();
        for provider in ["anthropic", "openai", "google"] {
            let (name, top) = t.most_expensive(provider).expect(provider);
            assert_eq!(t.models[name].provider, provider);
            for p in t.models.values().filter(|p| p.provider == provider) {
                assert!(p.input + p.output <= top.input + top.output);
            }
        }
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
