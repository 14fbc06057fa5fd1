//! `flightdeck prices`: the price table, its source and date; or one model's price and where it
//! comes from. Client-only: reads the built-in table and the config, needs no server.

use std::fmt::Write;
use std::path::PathBuf;

use color_eyre::eyre::{eyre, Result};
use serde::Serialize;
use serde_json::json;

use crate::models::pricing::{Match, Price, PriceTable};

pub struct Args {
    pub config: Option<PathBuf>,
    pub json: bool,
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// Where a price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Origin {
    BuiltIn,
    Config,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::BuiltIn => "built-in",
            Origin::Config => "config",
        }
    }
}

#[derive(Serialize)]
struct Row<'a> {
    model: &'a str,
    provider: &'a str,
    input: f64,
    output: f64,
    cache_read: f64,
    cache_write: f64,
    origin: Origin,
}

impl<'a> Row<'a> {
    fn new(model: &'a str, p: &'a Price, origin: Origin) -> Self {
        Row {
            model,
            provider: &p.provider,
            input: p.input,
            output: p.output,
            cache_read: p.cache_read,
            cache_write: p.cache_write,
            origin,
        }
    }
}

pub fn prices(args: Args) -> Result<i32> {
    // The user's file and --config / FLIGHTDECK_CONFIG: a repository file may not set pricing.
    let config = crate::config::load(&crate::config::Sources {
        explicit: args.config,
        ..Default::default()
    })
    .map_err(|e| eyre!("{e}"))?;
    let overrides = &config.pricing.models;
    let table = PriceTable::with_overrides(overrides);
    let origin = |name: &str| {
        if overrides.contains_key(name) {
            Origin::Config
        } else {
            Origin::BuiltIn
        }
    };
    match args.model {
        Some(model) => one(&table, &model, args.json, origin),
        None => {
            if let Some(want) = args.provider.as_deref() {
                let mut known: Vec<&str> =
                    table.models.values().map(|p| p.provider.as_str()).collect();
                known.sort_unstable();
                known.dedup();
                if !known.contains(&want) {
                    eprintln!(
                        "flightdeck: the price table ({}) has no provider `{want}`; its providers are {}",
                        provenance(&table),
                        known.join(", ")
                    );
                    return Ok(1);
                }
            }
            let rows: Vec<Row> = sorted(&table, args.provider.as_deref())
                .into_iter()
                .map(|(name, p)| Row::new(name, p, origin(name)))
                .collect();
            if args.json {
                let out = json!({
                    "date": table.date,
                    "source": table.source,
                    "version": table.version,
                    "models": rows,
                });
                emit(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
            } else {
                emit(&render_table(&table, &rows, overrides.len()))?;
            }
            Ok(0)
        }
    }
}

/// The table's models by provider, then name; only `provider`'s when given.
fn sorted<'a>(table: &'a PriceTable, provider: Option<&str>) -> Vec<(&'a str, &'a Price)> {
    let mut v: Vec<(&str, &Price)> = table
        .models
        .iter()
        .filter(|(_, p)| provider.is_none_or(|want| p.provider == want))
        .map(|(n, p)| (n.as_str(), p))
        .collect();
    v.sort_by(|a, b| (a.1.provider.as_str(), a.0).cmp(&(b.1.provider.as_str(), b.0)));
    v
}

/// "LiteLLM model_prices_and_context_window.json, version 1.110.2, dated 2026-11-30".
fn provenance(t: &PriceTable) -> String {
    let mut s = if t.source.is_empty() {
        "unknown source".to_string()
    } else {
        t.source.clone()
    };
    if !t.version.is_empty() {
        let _ = write!(s, ", version {}", t.version);
    }
    if !t.date.is_empty() {
        let _ = write!(s, ", dated {}", t.date);
    }
    s
}

fn render_table(t: &PriceTable, rows: &[Row], from_config: usize) -> String {
    let mut o = String::new();
    let _ = write!(o, "prices: {}", provenance(t));
    if from_config > 0 {
        let _ = write!(o, "; {from_config} set in config");
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "USD per million tokens; a model not listed costs unknown (null), never a guess"
    );
    let width = rows.iter().map(|r| r.model.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(
        o,
        "{:<width$}  {:<10} {:>9} {:>9} {:>10} {:>11}  SOURCE",
        "MODEL", "PROVIDER", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE"
    );
    for r in rows {
        let _ = writeln!(
            o,
            "{:<width$}  {:<10} {:>9} {:>9} {:>10} {:>11}  {}",
            r.model,
            r.provider,
            usd(r.input),
            usd(r.output),
            usd(r.cache_read),
            usd(r.cache_write),
            r.origin.as_str()
        );
    }
    o
}

fn one(
    table: &PriceTable,
    model: &str,
    json: bool,
    origin: impl Fn(&str) -> Origin,
) -> Result<i32> {
    let Some(found) = table.find(model) else {
        let name = model.rsplit('/').next().unwrap_or(model).trim();
        eprintln!(
            "flightdeck: model `{model}` is not priced: the price table ({}) has no entry for it, so its cost will show as unknown (null); to price it, add to your config:\n[pricing.models.\"{name}\"]\nprovider = \"...\"\ninput = 0.0   # USD per million input tokens\noutput = 0.0  # USD per million output tokens",
            provenance(table)
        );
        return Ok(1);
    };
    let from = origin(found.entry);
    let p = found.price;
    if json {
        let out = json!({
            "model": model,
            "entry": found.entry,
            "match": found.how,
            "provider": p.provider,
            "input": p.input,
            "output": p.output,
            "cache_read": p.cache_read,
            "cache_write": p.cache_write,
            "origin": from,
            "date": table.date,
            "source": table.source,
            "version": table.version,
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
        return Ok(0);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{model}: {} — USD per million tokens: input {}, output {}, cache read {}, cache write {}",
        if p.provider.is_empty() {
            "no provider"
        } else {
            &p.provider
        },
        usd(p.input),
        usd(p.output),
        usd(p.cache_read),
        usd(p.cache_write)
    );
    let matched = match found.how {
        Match::Exact => "an exact match".to_string(),
        Match::Prefix => format!("matched `{}` once its prefix is taken off", found.entry),
        Match::Suffix => format!(
            "matched `{}` once its date or version suffix is taken off",
            found.entry
        ),
    };
    let source = match from {
        Origin::Config => {
            let built_in = PriceTable::built_in();
            match built_in.models.get(found.entry) {
                Some(b) => format!(
                    "from config [pricing.models.\"{}\"], overriding the built-in price (input {}, output {}; {})",
                    found.entry,
                    usd(b.input),
                    usd(b.output),
                    provenance(&built_in)
                ),
                None => format!(
                    "from config [pricing.models.\"{}\"] (not in the built-in table)",
                    found.entry
                ),
            }
        }
        Origin::BuiltIn => format!("from the built-in table ({})", provenance(table)),
    };
    let _ = writeln!(o, "{matched}; {source}");
    emit(&o)?;
    Ok(0)
}

/// Print to stdout; a reader that went away (`flightdeck prices | head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// 3 → "3.00", 0.0375 → "0.0375", 0.006 → "0.006".
fn usd(v: f64) -> String {
    let s = format!("{v:.6}");
    let trimmed = s.trim_end_matches('0');
    let decimals = trimmed.split('.').nth(1).map_or(0, str::len);
    if decimals < 2 {
        format!("{v:.2}")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::usd;

    #[test]
    fn usd_keeps_two_decimals_and_the_significant_ones() {
        assert_eq!(usd(3.0), "3.00");
        assert_eq!(usd(0.0375), "0.0375");
        assert_eq!(usd(0.006), "0.006");
        assert_eq!(usd(150.0), "150.00");
        assert_eq!(usd(0.3), "0.30");
        assert_eq!(usd(0.0), "0.00");
        assert_eq!(usd(0.00875), "0.00875");
    }
}
