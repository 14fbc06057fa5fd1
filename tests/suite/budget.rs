//! Budgets, in process: a supervisor with a metering gateway on loopback in front of a scripted
//! provider, and the test making a run's model calls as its agent would (with the URL and token
//! the injected spawner saw the agent get). Each step waits for the event that says it
//! happened: the warning at 80% of a cap, the pause at 100% (reason `budget`) with the next call
//! held at the gateway, the resume refused while the cap is spent and let through once it is
//! raised; a global cap over several runs; what earlier attempts spent; unpriced models.
//! (`gateway::the_gateway_meters_calls_hides_the_key_and_enforces_the_budget` goes the same way
//! through the real binary.)

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use flightdeck::protocol::{Command, ErrorKind};
use flightdeck::run::{Phase, Status};
use flightdeck::supervisor::spawner::{Spawn, Spawner};
use serde_json::{json as j, Value};

use crate::common::git_repo;
use crate::common::inproc::{self, InProc, Injected};
use crate::common::provider::{json, post, Provider};

/// The gateway reads a provider's key from the server's environment as it forwards a call: in
/// process, the test binary's. Setting a variable here would race the other tests (setenv is
/// not thread-safe), and the scripted provider checks no key: any variable this process has
/// will do.
const KEY_VAR: &str = "HOME";

/// `budget` is the body of `[budget]`. `metered` costs $0.01 an input token, which makes it
/// the dearest Anthropic model of the price table too.
fn config(port: u16, budget: &str) -> String {
    format!(
        r#"
[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{port}"
api_key_env = "{KEY_VAR}"

[pricing.models.metered]
provider = "anthropic"
input = 10000.0
output = 0.0

[budget]
{budget}

[agents.waiter]
# Waits for the test to say done: the test makes the model calls with the agent's token.
command = ["sh", "-c", "while [ ! -f ../done-$FLIGHTDECK_RUN_ID ]; do sleep 0.1; done"]
"#
    )
}

/// A supervisor with a gateway, a provider that answers each call with the usage the call
/// asks for (its `spend` field, as input tokens, of the model it names), and a repository.
struct World {
    s: InProc,
    provider: Provider,
    seen: Arc<Mutex<Vec<Spawn>>>,
    repo: PathBuf,
}

/// A run's agent as the gateway knows it: its base URL for Anthropic and its run token.
struct Agent {
    url: String,
    token: String,
}

fn env_of<'a>(s: &'a Spawn, name: &str) -> Option<&'a str> {
    s.env
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.to_str())
}

impl World {
    async fn start(budget: &str) -> Self {
        let provider = Provider::answering(|req| {
            let v: Value = serde_json::from_str(&req.body).unwrap_or_default();
            json(j!({
                "id": "msg", "type": "message", "model": v["model"],
                "usage": {"input_tokens": v["spend"].as_u64().unwrap_or(0), "output_tokens": 0},
            }))
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        let s = InProc::with(
            &config(provider.port, budget),
            Injected {
                spawner: Spawner::observed(move |s: &Spawn| keep.lock().unwrap().push(s.clone())),
                gateway: Some(inproc::gateway().await),
                ..Default::default()
            },
        )
        .await;
        let repo = git_repo(s.path(), "repo");
        World {
            s,
            provider,
            seen,
            repo,
        }
    }

    /// The config file with another `[budget]` (a run paused for its budget reads it again
    /// when resumed).
    fn set_budget(&self, budget: &str) {
        std::fs::write(&self.s.config, config(self.provider.port, budget)).unwrap();
    }

    /// The run's agent, once it has started (its latest start: a retry's agent has a new
    /// token).
    async fn agent(&mut self, id: &str) -> Agent {
        self.s.line(id, "agent.started").await;
        let seen = self.seen.lock().unwrap();
        let shim = seen
            .iter()
            .rev()
            .find(|sp| {
                sp.args.first().is_some_and(|a| a == "shim")
                    && env_of(sp, "FLIGHTDECK_RUN_ID") == Some(id)
            })
            .unwrap_or_else(|| panic!("no agent started for {id}: {seen:#?}"));
        Agent {
            url: env_of(shim, "ANTHROPIC_BASE_URL")
                .expect("a base URL")
                .into(),
            token: env_of(shim, "FLIGHTDECK_GATEWAY_TOKEN")
                .expect("a run token")
                .into(),
        }
    }

    /// The run's agent is done (it exits; the run goes on to its end).
    async fn done(&self, id: &str) {
        let wt = self.s.record(id).await.worktree;
        std::fs::write(wt.parent().unwrap().join(format!("done-{id}")), "").unwrap();
    }

    fn timeline(&self, id: &str, kind: &str) -> Vec<Value> {
        flightdeck::proof::timeline::read_all(
            &self
                .s
                .home
                .run_dir(id)
                .join(flightdeck::paths::pack::TIMELINE),
        )
        .unwrap()
        .into_iter()
        .filter(|l| l["type"] == kind)
        .collect()
    }
}

impl Agent {
    /// A call of `model` for which the provider reports `tokens` input tokens, made now; its
    /// answer once it comes.
    fn start_call_of(&self, model: &str, tokens: u64) -> tokio::task::JoinHandle<(u16, String)> {
        let (url, token) = (format!("{}/v1/messages", self.url), self.token.clone());
        let body =
            j!({"model": model, "max_tokens": 1, "messages": [], "spend": tokens}).to_string();
        tokio::task::spawn_blocking(move || post(&url, &[("x-api-key", &token)], &body))
    }

    /// A call of `metered` ($0.01 a token) for `tokens` tokens, answered.
    async fn call(&self, tokens: u64) {
        let (status, body) = self.start_call_of("metered", tokens).await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
}

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_warned_at_80_percent_paused_at_its_cap_and_goes_on_once_it_is_raised() {
    let mut w = World::start("run_usd = 1.0").await;
    let id = w.s.run(&w.repo, "waiter", "spend").await;
    let agent = w.agent(&id).await;

    // $0.40, then $0.85: the first warning is at 85% (none at 40%), and the run goes on.
    agent.call(40).await;
    agent.call(45).await;
    let warned = w.s.line(&id, "budget.warning").await;
    assert!(
        message(&warned).contains("85% used") && message(&warned).contains("budget.run_usd"),
        "{warned}"
    );
    let r =
        w.s.until_run(&id, "the warning on the record", |r| r.warning.is_some())
            .await;
    assert_eq!(r.status, Status::Running);
    assert!(r.warning.as_deref().unwrap().contains("85% used"), "{r:?}");

    // $0.90: said once is enough. $1.05: the call that passes the cap is answered, and the
    // run is paused for its budget.
    agent.call(5).await;
    agent.call(15).await;
    let paused = w.s.line(&id, "run.paused").await;
    assert_eq!(paused["reason"], "budget");
    assert!(message(&paused).contains("budget.run_usd"), "{paused}");
    let r =
        w.s.until_run(&id, "paused for its budget", |r| r.status == Status::Paused)
            .await;
    assert_eq!(r.pause_reason.as_deref(), Some("budget"));
    assert_eq!(r.phase, Phase::Agent);
    assert_eq!(r.cost_usd, Some(1.05));
    assert!(
        r.warning.as_deref().unwrap().contains("budget is spent"),
        "{r:?}"
    );

    // The next call is held at the gateway: it never reaches the provider meanwhile.
    let held = agent.start_call_of("metered", 5);
    let line = w.s.line(&id, "gateway.held").await;
    assert_eq!(line["reason"], "budget");
    assert!(!held.is_finished(), "a call past the cap was answered");
    assert_eq!(w.provider.requests().len(), 4);

    // Resuming with the cap still spent says so and leaves the run paused, its call held.
    let err =
        w.s.call(Command::Resume { run: id.clone() })
            .await
            .expect_err("resumed with the budget spent");
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(
        err.message.contains("stays paused") && err.message.contains("budget.run_usd"),
        "{err:?}"
    );
    assert_eq!(w.s.record(&id).await.status, Status::Paused);
    assert!(!held.is_finished(), "a call past the cap was answered");
    assert_eq!(w.provider.requests().len(), 4);

    // Raised in config, resumed: the run goes on and the held call goes through.
    w.set_budget("run_usd = 10.0");
    w.s.call(Command::Resume { run: id.clone() })
        .await
        .expect("resumed once the cap was raised");
    let r = w.s.record(&id).await;
    assert_eq!(r.status, Status::Running);
    assert_eq!(r.pause_reason, None);
    let (status, body) = held.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.provider.requests().len(), 5);
    w.s.line(&id, "gateway.released").await;

    w.done(&id).await;
    // (A call's lines are all sent before its answer ends: once the run's end is on disk,
    // so is every line of its calls.)
    let end = w.s.line(&id, "run.finished").await;
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(w.s.record(&id).await.cost_usd, Some(1.1));
    // Warned once, paused once.
    assert_eq!(w.timeline(&id, "budget.warning").len(), 1);
    assert_eq!(w.timeline(&id, "run.paused").len(), 1);
    w.s.stop().await;
}

/// A global cap counts every run's calls: the call that spends it pauses its run, and any other
/// run's next call is held and pauses that run too. Each is resumed once the cap is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_cap_spent_by_one_run_pauses_every_run_that_calls_after() {
    let mut w = World::start("global_tokens = 1000").await;
    let a = w.s.run(&w.repo, "waiter", "spend first").await;
    let agent_a = w.agent(&a).await;
    let b = w.s.run(&w.repo, "waiter", "spend second").await;
    let agent_b = w.agent(&b).await;

    // 600 by a, 300 by b: b's call takes the global spend to 90%, and b is told.
    agent_a.call(600).await;
    agent_b.call(300).await;
    let warned = w.s.line(&b, "budget.warning").await;
    assert!(
        message(&warned).contains("global budget is 90% used")
            && message(&warned).contains("budget.global_tokens"),
        "{warned}"
    );
    // 200 more by b: 1100 of 1000, b is paused.
    agent_b.call(200).await;
    let rb =
        w.s.until_run(&b, "b paused for the global budget", |r| {
            r.status == Status::Paused
        })
        .await;
    assert_eq!(rb.pause_reason.as_deref(), Some("budget"));
    assert_eq!(w.s.record(&a).await.status, Status::Running);

    // a's own spend is 600, but the global cap is spent: its next call is held, and a paused.
    let held = agent_a.start_call_of("metered", 10);
    let line = w.s.line(&a, "gateway.held").await;
    assert_eq!(line["reason"], "budget");
    assert!(
        message(&line).contains("global budget is spent")
            && message(&line).contains("budget.global_tokens"),
        "{line}"
    );
    let ra =
        w.s.until_run(&a, "a paused for the global budget", |r| {
            r.status == Status::Paused
        })
        .await;
    assert_eq!(ra.pause_reason.as_deref(), Some("budget"));
    assert!(
        !held.is_finished(),
        "a call past the global cap was answered"
    );
    assert_eq!(w.provider.requests().len(), 3);
    let err =
        w.s.call(Command::Resume { run: a.clone() })
            .await
            .expect_err("resumed with the global budget spent");
    assert!(
        err.message.contains("stays paused") && err.message.contains("budget.global_tokens"),
        "{err:?}"
    );

    // Raised: both resume, a's held call goes through.
    w.set_budget("global_tokens = 5000");
    for id in [&a, &b] {
        w.s.call(Command::Resume { run: id.clone() })
            .await
            .expect("resumed once the global cap was raised");
    }
    let (status, body) = held.await.unwrap();
    assert_eq!(status, 200, "{body}");
    agent_b.call(10).await;
    assert_eq!(w.provider.requests().len(), 5);
    for id in [&a, &b] {
        w.done(id).await;
        let r = w.s.finished(id).await;
        assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
    }
    w.s.stop().await;
}

/// What a run spent before counts: a retry's agent starts with the earlier attempts' spend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_run_starts_with_what_its_earlier_attempts_spent() {
    let mut w = World::start("run_usd = 1.0").await;
    let id = w.s.run(&w.repo, "waiter", "spend twice").await;
    let agent = w.agent(&id).await;
    agent.call(90).await;
    w.done(&id).await;
    let r = w.s.finished(&id).await;
    assert_eq!(r.status, Status::Succeeded, "{:?}", r.reason);
    assert_eq!(r.cost_usd, Some(0.9));

    // Again from the agent: $0.20 more is $1.10 of the run's $1.00, not $0.20.
    let wt = r.worktree.parent().unwrap().join(format!("done-{id}"));
    std::fs::remove_file(wt).unwrap();
    w.s.call(Command::Retry {
        run: id.clone(),
        phase: Some(Phase::Agent),
    })
    .await
    .expect("retried");
    let again = w.agent(&id).await;
    assert_ne!(again.token, agent.token, "a new attempt has a new token");
    again.call(20).await;
    let r =
        w.s.until_run(&id, "the retry paused for its budget", |r| {
            r.status == Status::Paused
        })
        .await;
    assert_eq!(r.attempt, 2);
    assert_eq!(r.pause_reason.as_deref(), Some("budget"));
    assert!(
        r.warning.as_deref().unwrap().contains("$1.1000 of $1.0000"),
        "{r:?}"
    );
    w.s.stop().await;
}

/// A model the price table does not know has no cost of its own, but a USD cap counts its calls
/// at the provider's dearest price (here `metered`'s $0.01 a token), and says so once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpriced_model_counts_at_its_providers_dearest_price_under_a_usd_cap() {
    let mut w = World::start("run_usd = 1.0").await;
    let id =
        w.s.run(&w.repo, "waiter", "call a model the table does not know")
            .await;
    let agent = w.agent(&id).await;
    let (status, _) = agent.start_call_of("mystery-model-9", 60).await.unwrap();
    assert_eq!(status, 200);
    let call = w.s.line(&id, "llm.call").await;
    assert_eq!(call["gen_ai.request.model"], "mystery-model-9");
    assert!(call["cost_usd"].is_null(), "{call}");
    let note = w.s.line(&id, "budget.warning").await;
    assert!(
        message(&note).contains("mystery-model-9 is not in the price table")
            && message(&note).contains("metered"),
        "{note}"
    );
    // 60 + 50 tokens at $0.01: $1.10 of the $1.00 cap.
    let (status, _) = agent.start_call_of("mystery-model-9", 50).await.unwrap();
    assert_eq!(status, 200);
    let r =
        w.s.until_run(&id, "paused for its budget", |r| r.status == Status::Paused)
            .await;
    assert_eq!(r.pause_reason.as_deref(), Some("budget"));
    assert!(
        r.warning.as_deref().unwrap().contains("$1.1000 of $1.0000"),
        "{r:?}"
    );
    // The run's own cost knows no price for it.
    assert_eq!(r.cost_usd, None);
    w.s.stop().await;
}
