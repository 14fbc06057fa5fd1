//! Budgets, pure: how much of a cap is used, and what to do about it.

use crate::config::BudgetConfig;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spent {
    pub tokens: u64,
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Fine,
    /// 80% or more of a cap: say so once.
    Warn(String),
    /// A cap is reached: refuse further calls, pause the run.
    Stop(String),
}

/// A cap of the run's agent alone (`[agents.NAME] budget_usd`): the config key, in USD.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentCap {
    pub key: String,
    pub usd: f64,
}

/// The most pressing verdict over the run's, its agent's and the global caps.
pub fn check(caps: &BudgetConfig, agent: Option<&AgentCap>, run: Spent, global: Spent) -> Verdict {
    let mut worst = Verdict::Fine;
    let checks = [
        (
            "the run's",
            agent.map_or("", |a| a.key.as_str()),
            agent.map(|a| a.usd),
            run.usd,
            true,
        ),
        ("the run's", "budget.run_usd", caps.run_usd, run.usd, true),
        (
            "the run's",
            "budget.run_tokens",
            caps.run_tokens.map(|t| t as f64),
            run.tokens as f64,
            false,
        ),
        (
            "the global",
            "budget.global_usd",
            caps.global_usd,
            global.usd,
            true,
        ),
        (
            "the global",
            "budget.global_tokens",
            caps.global_tokens.map(|t| t as f64),
            global.tokens as f64,
            false,
        ),
    ];
    for (whose, key, cap, used, usd) in checks {
        let Some(cap) = cap else { continue };
        let fmt = |x: f64| {
            if usd {
                format!("${x:.4}")
            } else {
                format!("{x:.0} tokens")
            }
        };
        if used >= cap {
            return Verdict::Stop(format!(
                "{whose} budget is spent: {} of {} ({key}); raise it in config and resume the run",
                fmt(used),
                fmt(cap)
            ));
        }
        if used >= 0.8 * cap && worst == Verdict::Fine {
            worst = Verdict::Warn(format!(
                "{whose} budget is {:.0}% used: {} of {} ({key})",
                100.0 * used / cap,
                fmt(used),
                fmt(cap)
            ));
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let caps = BudgetConfig {
            run_usd: Some(1.0),
            global_tokens: Some(1000),
            ..Default::default()
        };
        let s = |usd, tokens| Spent { usd, tokens };
        assert_eq!(check(&caps, None, s(0.5, 0), s(0.0, 100)), Verdict::Fine);
        assert!(
            matches!(check(&caps, None, s(0.85, 0), s(0.0, 0)), Verdict::Warn(m) if m.contains("85%"))
        );
        assert!(
            matches!(check(&caps, None, s(1.0, 0), s(0.0, 0)), Verdict::Stop(m) if m.contains("budget.run_usd"))
        );
        assert!(
            matches!(check(&caps, None, s(0.1, 0), s(0.0, 1000)), Verdict::Stop(m) if m.contains("global"))
        );
        assert_eq!(
            check(&BudgetConfig::default(), None, s(99.0, 99), s(99.0, 99)),
            Verdict::Fine
        );
        let agent = AgentCap {
            key: "agents.a.budget_usd".into(),
            usd: 0.5,
        };
        assert!(
            matches!(check(&caps, Some(&agent), s(0.5, 0), s(0.0, 0)), Verdict::Stop(m) if m.contains("agents.a.budget_usd"))
        );
    }
}
