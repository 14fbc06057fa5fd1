//! Other hosts' gateways calling this one through their tunnels (`/h/<token>/<provider>/…`).
//! A run sent to another host has its model calls metered into its record by that host's
//! gateway, which forwards them here with the host's token instead of a key; here the real key
//! is put in (the keys never leave this machine) and each call counts towards the global
//! budget, so a global cap is global across hosts. Each host has one link, with this server's
//! providers and prices and the global caps only (a run's own caps are enforced there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::budget::Spent;
use super::{Gateway, Meter, Refused, RunLink};
use crate::config::{BudgetConfig, ProviderConfig};
use crate::models::calls::ModelCall;
use crate::models::pricing::PriceTable;

/// What a host's calls tell this server: nothing to record here (the host's run records the
/// call; the global ledger counts it), the budget said in the server's log.
struct HostMeter {
    host: String,
    /// Where the hosts' spending is kept for the next server (`LEDGER` in its home).
    ledger: Option<PathBuf>,
}

/// The file of a home where what other hosts' calls spent is kept, a line a call: the next
/// server counts it towards the global budget, as it counts this machine's runs' records.
pub const LEDGER: &str = "host-spend.jsonl";

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    host: String,
    tokens: u64,
    usd: f64,
}

/// Lines past which the ledger is rewritten at start-up as one line per host (its totals).
const COMPACT_PAST: usize = 1000;

/// What the hosts' calls spent, as `LEDGER` in `home` says (lines that do not read are
/// skipped). A long ledger is rewritten as one line per host first, so it never grows past a
/// few thousand lines however many calls are made. Blocking; at start-up, before the gateway
/// appends to it.
pub fn ledger_spent(home: &Path) -> Spent {
    let path = home.join(LEDGER);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut hosts: BTreeMap<String, Spent> = BTreeMap::new();
    let mut lines = 0;
    for l in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
    {
        lines += 1;
        let s = hosts.entry(l.host).or_default();
        s.tokens += l.tokens;
        s.usd += l.usd;
    }
    if lines > COMPACT_PAST {
        let compact: String = hosts
            .iter()
            .filter_map(|(host, s)| {
                serde_json::to_string(&Line {
                    host: host.clone(),
                    tokens: s.tokens,
                    usd: if s.usd.is_finite() { s.usd } else { f64::MAX },
                })
                .ok()
            })
            .map(|l| l + "\n")
            .collect();
        if let Err(e) = crate::proof::store::write_atomic(&path, compact.as_bytes()) {
            tracing::warn!("cannot compact {}: {e}", path.display());
        }
    }
    hosts.values().fold(Spent::default(), |s, h| Spent {
        tokens: s.tokens + h.tokens,
        usd: s.usd + h.usd,
    })
}

impl Meter for HostMeter {
    fn record(&self, _call: ModelCall) {}

    fn spent(&self, tokens: u64, usd: f64) {
        let Some(path) = self.ledger.clone() else {
            return;
        };
        let line = Line {
            host: self.host.clone(),
            tokens,
            // An unpriced call with no price to count it at counts as spent (JSON has no ∞).
            usd: if usd.is_finite() { usd } else { f64::MAX },
        };
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // Off the runtime: one short append.
        rt.spawn_blocking(move || {
            use std::io::Write;
            let written = crate::owner_only::options()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if let Err(e) = written {
                tracing::warn!("cannot keep a host's spending in {}: {e}", path.display());
            }
        });
    }

    fn warn(&self, message: String) {
        tracing::warn!("host {}: {message}", self.host);
    }

    fn stop(&self, message: String) {
        tracing::warn!(
            "host {}: {message}; its runs' model calls are refused (and those runs paused there) until the cap is raised",
            self.host
        );
    }

    fn refused(&self, r: Refused) {
        tracing::warn!(
            "host {}: refused {} {} ({}): {}",
            self.host,
            r.method,
            r.path,
            r.reason,
            r.message
        );
    }

    fn paused(&self) -> bool {
        false
    }
}

/// The header of a refusal for a spent global budget, for the host's gateway to pause the
/// run (its calls are not held here: the run there is paused instead).
pub(super) const BUDGET_SPENT: &str = "x-flightdeck-budget-spent";

/// Why the host's gateway paused its run.
pub(super) const SPENT_THERE: &str = "the global budget of the machine this run was sent from is spent (budget.global_usd or budget.global_tokens there); raise it there, then resume the run";

/// The answer to another host's call once the global budget is spent.
pub(super) fn budget_spent(message: &str) -> hyper::Response<super::Body> {
    let mut r = super::json_error(
        hyper::StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        message,
    );
    r.headers_mut().insert(
        BUDGET_SPENT,
        hyper::header::HeaderValue::from_static("global"),
    );
    r
}

/// Whether `t` is a token as this gateway makes them for hosts (`fdh-`, then letters, digits
/// and dashes).
pub fn is_host_token(t: &str) -> bool {
    t.len() > 20
        && t.starts_with("fdh-")
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Only the caps that span hosts.
fn global_only(caps: BudgetConfig) -> BudgetConfig {
    BudgetConfig {
        global_usd: caps.global_usd,
        global_tokens: caps.global_tokens,
        ..Default::default()
    }
}

impl Gateway {
    /// The token host `name` calls this gateway with, if it has a link.
    pub fn host_token(&self, name: &str) -> Option<String> {
        let links = self.inner.links.lock().ok()?;
        links
            .iter()
            .find(|(_, l)| l.host.as_deref() == Some(name))
            .map(|(token, _)| token.clone())
    }

    /// On a host: the runs whose providers call another machine's gateway with `token` now
    /// call `url` (add `/<provider>`); how many runs.
    pub fn repoint_host_calls(&self, token: &str, url: &str) -> usize {
        let Ok(mut links) = self.inner.links.lock() else {
            return 0;
        };
        let mut runs = 0;
        for link in links.values_mut() {
            let mut moved = false;
            for (name, p) in link.providers.iter_mut() {
                if p.host_token.as_deref() == Some(token) {
                    p.base_url = format!("{}/{name}", url.trim_end_matches('/'));
                    moved = true;
                }
            }
            runs += usize::from(moved);
        }
        runs
    }

    /// The token host `name`'s gateway calls this one with (`token` on first use, when a
    /// previous server gave it, else a new one; the same for as long as this server runs), its
    /// link given these providers, prices and global caps. `home`: where its spending is kept.
    pub fn host_link(
        &self,
        name: &str,
        token: Option<String>,
        home: Option<&Path>,
        providers: BTreeMap<String, ProviderConfig>,
        prices: Arc<PriceTable>,
        caps: BudgetConfig,
    ) -> Option<String> {
        let caps = global_only(caps);
        let token = {
            let mut links = self.inner.links.lock().ok()?;
            if let Some((token, link)) = links
                .iter_mut()
                .find(|(_, l)| l.host.as_deref() == Some(name))
            {
                link.providers = providers;
                link.prices = prices;
                link.caps = caps;
                token.clone()
            } else {
                // About 119 random bits: the tunnel's port on the host is open to its users.
                let token = token.filter(|t| is_host_token(t)).unwrap_or_else(|| {
                    format!(
                        "fdh-{}{}{}",
                        crate::run::id::generate(),
                        crate::run::id::generate(),
                        crate::run::id::generate()
                    )
                });
                let mut link = RunLink::new(
                    format!("host {name}"),
                    Arc::new(HostMeter {
                        host: name.into(),
                        ledger: home.map(|h| h.join(LEDGER)),
                    }),
                    providers,
                    prices,
                    caps,
                    None,
                    Spent::default(),
                );
                link.host = Some(name.to_string());
                links.insert(token.clone(), link);
                token
            }
        };
        self.wake();
        Some(token)
    }

    /// New global caps for every host's link (the user raised one and resumed a run).
    pub(super) fn set_host_caps(
        links: &mut std::collections::HashMap<String, RunLink>,
        caps: BudgetConfig,
    ) {
        for link in links.values_mut().filter(|l| l.host.is_some()) {
            link.caps = global_only(caps);
            link.warned = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_ledger_is_kept_as_one_line_per_host_with_the_same_totals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEDGER);
        let mut text = String::new();
        for i in 0..1500u64 {
            let host = if i % 3 == 0 { "b2" } else { "b1" };
            text.push_str(&format!(
                "{{\"host\":\"{host}\",\"tokens\":10,\"usd\":0.5}}\n"
            ));
        }
        text.push_str("not json\n");
        std::fs::write(&path, text).unwrap();
        let spent = ledger_spent(dir.path());
        assert_eq!(spent.tokens, 15_000);
        assert!((spent.usd - 750.0).abs() < 1e-6);
        let kept = std::fs::read_to_string(&path).unwrap();
        assert_eq!(kept.lines().count(), 2, "{kept}");
        assert!(
            kept.contains(r#"{"host":"b1","tokens":10000,"usd":500.0}"#),
            "{kept}"
        );
        // Read again: the same.
        let again = ledger_spent(dir.path());
        assert_eq!(again.tokens, 15_000);
        assert!((again.usd - 750.0).abs() < 1e-6);
        // A short one is left as it is.
        std::fs::write(
            &path,
            "{\"host\":\"b1\",\"tokens\":1,\"usd\":0.0}\n".repeat(3),
        )
        .unwrap();
        assert_eq!(ledger_spent(dir.path()).tokens, 3);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn a_host_token_is_one_this_gateway_could_have_made() {
        assert!(is_host_token("fdh-aaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!is_host_token("fdh-short"));
        assert!(!is_host_token("fd-aaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!is_host_token("fdh-aaaaaaaaaaaaaaaaaaaa/../x"));
    }
}
