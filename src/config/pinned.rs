//! What a running server keeps from its own config at start, whatever a run's config says:
//! the providers (and so where keys go), the budgets and the prices. A client's `--config`
//! (or an agent that talks to the server) must not point the keys at another host or lift a
//! cap; a user who changed them restarts the server (`flightdeck serve --replace`).

use super::{BudgetConfig, Config, PricingConfig, ProviderConfig};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct Pinned {
    providers: BTreeMap<String, ProviderConfig>,
    budget: BudgetConfig,
    pricing: PricingConfig,
}

impl Pinned {
    pub fn of(server: &Config) -> Self {
        Self {
            providers: server.providers.clone(),
            budget: server.budget,
            pricing: server.pricing.clone(),
        }
    }

    /// The sections of `config` that differ from the server's, by name.
    pub fn differences(&self, config: &Config) -> Vec<&'static str> {
        let same = |a: serde_json::Result<serde_json::Value>,
                    b: serde_json::Result<serde_json::Value>| {
            matches!((a, b), (Ok(a), Ok(b)) if a == b)
        };
        let mut out = Vec::new();
        if !same(
            serde_json::to_value(&self.providers),
            serde_json::to_value(&config.providers),
        ) {
            out.push("[providers]");
        }
        if self.budget != config.budget {
            out.push("[budget]");
        }
        if !same(
            serde_json::to_value(&self.pricing),
            serde_json::to_value(&config.pricing),
        ) {
            out.push("[pricing]");
        }
        out
    }

    /// Put the server's providers, budgets and prices into a run's `config`. When the run's
    /// config came with an explicit file that sets them otherwise, that is refused (said so,
    /// with what to do); otherwise (the user's own file changed since the server started) the
    /// server's are kept and the returned note says so.
    pub fn apply(
        &self,
        config: &mut Config,
        explicit: Option<&Path>,
    ) -> Result<Option<String>, String> {
        let differ = self.differences(config);
        if differ.is_empty() {
            return Ok(None);
        }
        let sections = differ.join(", ");
        if let Some(file) = explicit {
            return Err(format!(
                "this run's config (with {}) sets {sections} other than the running server's; a server keeps the providers, budgets and prices it started with: restart it with `flightdeck serve --replace --config {}` to use these, or leave {sections} out of that file",
                file.display(),
                file.display()
            ));
        }
        config.providers = self.providers.clone();
        config.budget = self.budget;
        config.pricing = self.pricing.clone();
        Ok(Some(format!(
            "your config's {sections} changed since the server started; the server keeps the ones it started with until `flightdeck serve --replace`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_provider(url: &str) -> Config {
        let mut c = Config::default();
        c.providers.insert(
            "anthropic".into(),
            ProviderConfig {
                base_url: url.into(),
                ..Default::default()
            },
        );
        c
    }

    #[test]
    fn an_explicit_file_that_moves_the_keys_is_refused_and_a_changed_user_file_is_overridden() {
        let pinned = Pinned::of(&with_provider("https://api.anthropic.com"));
        let mut same = with_provider("https://api.anthropic.com");
        assert_eq!(
            pinned.apply(&mut same, Some(Path::new("/x.toml"))),
            Ok(None)
        );

        let mut evil = with_provider("http://evil.example/v1");
        let e = pinned
            .apply(&mut evil, Some(Path::new("/tmp/evil.toml")))
            .unwrap_err();
        assert!(
            e.contains("/tmp/evil.toml") && e.contains("[providers]"),
            "{e}"
        );
        assert!(e.contains("serve --replace"), "{e}");

        let mut edited = with_provider("http://elsewhere/v1");
        edited.budget.run_usd = Some(1000.0);
        let note = pinned.apply(&mut edited, None).unwrap().unwrap();
        assert!(note.contains("[providers], [budget]"), "{note}");
        assert_eq!(
            edited.providers["anthropic"].base_url,
            "https://api.anthropic.com"
        );
        assert!(pinned.differences(&edited).is_empty());
    }
}
