//! What a run's config may not change of the server's: the providers (and so where the keys
//! go) as the server started with them, and the budgets and prices of the server's own config
//! files. A client's `--config` naming another file (or an agent that talks to the server)
//! must not point the keys at another host or lift a cap: that is refused, saying how to
//! restart the server with that file. Your own files' budgets and prices follow your edits
//! (raise a cap, then resume); a change of providers needs `flightdeck serve --replace`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{load, BudgetConfig, Config, PricingConfig, ProviderConfig, Sources, UserConfig};

#[derive(Debug, Clone, Default)]
pub struct Pinned {
    providers: BTreeMap<String, ProviderConfig>,
    /// The server's own `--config` (or `FLIGHTDECK_CONFIG`) file.
    own: Option<PathBuf>,
    /// The user's own file.
    user: UserConfig,
}

/// The sections that decide spending, as the server's own files say now.
struct Spending {
    budget: BudgetConfig,
    pricing: PricingConfig,
}

fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
    matches!(
        (serde_json::to_value(a), serde_json::to_value(b)),
        (Ok(a), Ok(b)) if a == b
    )
}

impl Pinned {
    pub fn of(server: &Config, own: Option<PathBuf>, user: UserConfig) -> Self {
        Self {
            providers: server.providers.clone(),
            // Runs name their file by its absolute path.
            own: own.map(|p| std::path::absolute(&p).unwrap_or(p)),
            user,
        }
    }

    /// Blocking (reads the server's own config files).
    fn own_spending(&self, fallback: &Config) -> Spending {
        let own = load(&Sources {
            explicit: self.own.clone(),
            user: self.user.clone(),
            ..Default::default()
        });
        let c = own.as_ref().unwrap_or(fallback);
        Spending {
            budget: c.budget,
            pricing: c.pricing.clone(),
        }
    }

    /// Make `config` (a run's, loaded with `explicit`) use the server's providers, budgets and
    /// prices. A differing `explicit` file is refused; the returned note says when the
    /// providers in your own files changed since the server started (the server's are kept).
    /// Blocking.
    pub fn apply(
        &self,
        config: &mut Config,
        explicit: Option<&Path>,
    ) -> Result<Option<String>, String> {
        let own_file = explicit == self.own.as_deref();
        let spending = if own_file {
            Spending {
                budget: config.budget,
                pricing: config.pricing.clone(),
            }
        } else {
            self.own_spending(config)
        };
        if let Some(file) = explicit.filter(|_| !own_file) {
            let mut differ = Vec::new();
            if !same(&self.providers, &config.providers) {
                differ.push("[providers]");
            }
            if spending.budget != config.budget {
                differ.push("[budget]");
            }
            if !same(&spending.pricing, &config.pricing) {
                differ.push("[pricing]");
            }
            if !differ.is_empty() {
                let sections = differ.join(", ");
                return Err(format!(
                    "this run's config (with {}) sets {sections} other than the running server's; a server keeps its own providers, budgets and prices: restart it with `flightdeck serve --replace --config {}` to use these, or leave {sections} out of that file",
                    file.display(),
                    file.display()
                ));
            }
        }
        let note = (!same(&self.providers, &config.providers)).then(|| {
            "your config's [providers] changed since the server started; the server keeps the ones it started with until `flightdeck serve --replace`".to_string()
        });
        config.providers = self.providers.clone();
        config.budget = spending.budget;
        config.pricing = spending.pricing;
        Ok(note)
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
    fn another_file_that_moves_the_keys_is_refused_and_your_own_file_cannot_move_them() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("own.toml");
        std::fs::write(&own, "").unwrap();
        let pinned = Pinned::of(
            &with_provider("https://api.anthropic.com"),
            Some(own.clone()),
            UserConfig::Without,
        );

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

        // Your own file: its budget follows your edit, its providers do not.
        let mut edited = with_provider("http://elsewhere/v1");
        edited.budget.run_usd = Some(1000.0);
        let note = pinned.apply(&mut edited, Some(&own)).unwrap().unwrap();
        assert!(note.contains("[providers]"), "{note}");
        assert_eq!(
            edited.providers["anthropic"].base_url,
            "https://api.anthropic.com"
        );
        assert_eq!(edited.budget.run_usd, Some(1000.0));

        // Another file may not lift a cap.
        let mut lifted = with_provider("https://api.anthropic.com");
        lifted.budget.run_usd = Some(1000.0);
        let e = pinned
            .apply(&mut lifted, Some(Path::new("/tmp/mine.toml")))
            .unwrap_err();
        assert!(e.contains("[budget]"), "{e}");
    }
}
