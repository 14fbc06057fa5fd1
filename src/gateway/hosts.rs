//! Other hosts' gateways calling this one through their tunnels (`/h/<token>/<provider>/…`).
//! A run sent to another host has its model calls metered into its record by that host's
//! gateway, which forwards them here with the host's token instead of a key; here the real key
//! is put in (the keys never leave this machine) and each call counts towards the global
//! budget, so a global cap is global across hosts. Each host has one link, with this server's
//! providers and prices and the global caps only (a run's own caps are enforced there).

use std::collections::BTreeMap;
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
}

impl Meter for HostMeter {
    fn record(&self, _call: ModelCall) {}

    fn warn(&self, message: String) {
        tracing::warn!("host {}: {message}", self.host);
    }

    fn stop(&self, message: String) {
        tracing::warn!(
            "host {}: {message}; its runs' model calls wait here until the cap is raised",
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

/// Only the caps that span hosts.
fn global_only(caps: BudgetConfig) -> BudgetConfig {
    BudgetConfig {
        global_usd: caps.global_usd,
        global_tokens: caps.global_tokens,
        ..Default::default()
    }
}

impl Gateway {
    /// The token host `name`'s gateway calls this one with (`token` on first use, when a
    /// previous server gave it, else a new one; the same for as long as this server runs), its
    /// link given these providers, prices and global caps.
    pub fn host_link(
        &self,
        name: &str,
        token: Option<String>,
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
                let token = token
                    .filter(|t| {
                        t.len() > 20
                            && t.starts_with("fdh-")
                            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
                    .unwrap_or_else(|| {
                        format!(
                            "fdh-{}{}{}",
                            crate::run::id::generate(),
                            crate::run::id::generate(),
                            crate::run::id::generate()
                        )
                    });
                let mut link = RunLink::new(
                    format!("host {name}"),
                    Arc::new(HostMeter { host: name.into() }),
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
