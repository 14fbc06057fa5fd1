//! Agent adapters on recorded output (fixtures written from the tools' documented formats, and
//! aider's analytics log as aider 0.86.2 wrote it): Claude Code stream-json, Codex `exec --json`.
//! And a real run whose agent replays the Claude fixture: model_calls.jsonl, the record's
//! totals, PR.md.

use flightdeck::agents::adapters::{analytics_calls, for_kind, Parsed, Sources};
use flightdeck::config::AgentKind;
use flightdeck::models::pricing::Usage;

use crate::common::*;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/agents/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(kind: AgentKind, model: Option<&str>, text: &str) -> Vec<Parsed> {
    let mut a = for_kind(kind, model, Default::default());
    text.lines().flat_map(|l| a.line(l)).collect()
}

/// The kinds of line the adapter made, by name.
fn kinds(parsed: &[Parsed]) -> Vec<&'static str> {
    parsed
        .iter()
        .filter_map(|p| match p {
            Parsed::Event { kind, .. } => Some(kind.as_str()),
            _ => None,
        })
        .collect()
}

fn calls(parsed: &[Parsed]) -> Vec<(String, Usage)> {
    parsed
        .iter()
        .filter_map(|p| match p {
            Parsed::Call { model, usage, .. } => Some((model.clone(), *usage)),
            _ => None,
        })
        .collect()
}

#[test]
fn claude_stream_json() {
    let p = parse(AgentKind::ClaudeCode, None, &fixture("claude-stream.jsonl"));
    assert_eq!(
        kinds(&p),
        vec![
            "agent.session",
            "agent.message",
            "tool.call",
            "tool.result",
            "tool.call",
            "tool.result",
            "agent.message",
            "agent.result",
            "agent.output"
        ]
    );
    // Usage comes from the result's modelUsage: the session's final figures.
    let c = calls(&p);
    assert_eq!(
        c,
        vec![(
            "claude-sonnet-4-5-20250929".to_string(),
            Usage {
                input: 1310,
                output: 180,
                cache_read: 8600,
                cache_write: 3000
            }
        )]
    );
    assert!(p.contains(&Parsed::Session(
        "5f0c2a9e-1b7d-4c3e-9a61-2d8f0e7b4c10".into()
    )));
    assert!(p.contains(&Parsed::ReportedCost(0.02354)));
    let tool = p
        .iter()
        .find_map(|x| match x {
            Parsed::Event {
                kind: flightdeck::proof::kind::TimelineKind::ToolCall,
                fields,
            } => Some(fields.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(tool["name"], "Read");
    assert!(tool["input"].as_str().unwrap().contains("src/lib.rs"));
}

/// Output of the real Claude Code (2.1.332) against a scripted provider: its `assistant` lines
/// carry output_tokens 1 (the snapshot when streaming began); only `result` has the truth.
#[test]
fn claude_code_usage_is_the_results_not_the_early_snapshot() {
    let text = fixture("claude-2.1.332.jsonl");
    assert!(
        text.contains("\"output_tokens\":1,"),
        "the fixture shows the snapshot"
    );
    let p = parse(AgentKind::ClaudeCode, None, &text);
    assert_eq!(
        calls(&p),
        vec![(
            "claude-sonnet-4-5".to_string(),
            Usage {
                input: 2000,
                output: 80,
                cache_read: 600,
                cache_write: 100
            }
        )]
    );
    assert!(p.contains(&Parsed::ReportedCost(0.007755)));
    // Without modelUsage, the result's usage under the session's model.
    let no_model_usage: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(o) = v.as_object_mut() {
                o.remove("modelUsage");
            }
            v.to_string() + "\n"
        })
        .collect();
    let p = parse(AgentKind::ClaudeCode, None, &no_model_usage);
    assert_eq!(calls(&p)[0].0, "claude-sonnet-4-5");
    assert_eq!(calls(&p)[0].1.output, 80);
}

/// Output of the real Codex (0.171.0): `--json` never names the model; it is read from the
/// session file Codex writes under its home, or `unknown` — never a guessed default.
#[test]
fn codex_reports_its_model_through_its_session_file() {
    let text = fixture("codex-0.171.0.jsonl");
    let p = parse(AgentKind::Codex, None, &text);
    let c = calls(&p);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].0, "unknown");
    assert_eq!(
        c[0].1,
        Usage {
            input: 2300,
            output: 60,
            cache_read: 400,
            cache_write: 0
        }
    );

    let home = tempfile::tempdir().unwrap();
    let thread = "01a229fe-1ff3-7460-9486-2b1f6cdc7906";
    let day = home.path().join("codex/sessions/2026/11/30");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(
        day.join(format!("rollout-2026-11-30T01-07-29-{thread}.jsonl")),
        format!(
            "{}\n{}\n",
            serde_json::json!({"type":"session_meta","payload":{"id": thread}}),
            serde_json::json!({"type":"turn_context","payload":{"model":"gpt-5.1-codex-max","cwd":"/w"}})
        ),
    )
    .unwrap();
    let sources = Sources {
        agent_home: Some(home.path().to_path_buf()),
        ..Default::default()
    };
    let mut a = for_kind(AgentKind::Codex, None, sources);
    let p: Vec<Parsed> = text.lines().flat_map(|l| a.line(l)).collect();
    assert_eq!(calls(&p)[0].0, "gpt-5.1-codex-max");
}

#[test]
fn codex_json() {
    let p = parse(AgentKind::Codex, None, &fixture("codex.jsonl"));
    assert_eq!(
        kinds(&p),
        vec![
            "agent.session",
            "agent.reasoning",
            "tool.call",
            "file.changed",
            "agent.message",
            "agent.error"
        ]
    );
    let c = calls(&p);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].0, "unknown");
    assert_eq!(
        c[0].1,
        Usage {
            input: 315,
            output: 122,
            cache_read: 24448,
            cache_write: 0
        }
    );
    assert!(p.contains(&Parsed::Session(
        "0199a213-81c0-7800-8aa1-bbab2a035a53".into()
    )));
    // A configured model is the one priced.
    let p = parse(AgentKind::Codex, Some("gpt-5"), &fixture("codex.jsonl"));
    assert_eq!(calls(&p)[0].0, "gpt-5");
}

/// The log aider 0.86.2 wrote for `--model openai/gpt-4o` offline: it names the model
/// `openai/REDACTED`, so the name aider printed stands in.
#[test]
fn aider_analytics_log() {
    let log = fixture("aider-0.86.2-analytics.jsonl");
    let p = analytics_calls(&log, 0, Some("openai/gpt-4o"));
    assert_eq!(
        p,
        vec![
            Parsed::Call {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                usage: Usage {
                    input: 900,
                    output: 30,
                    cache_read: 0,
                    cache_write: 0
                },
                call_id: None,
            },
            Parsed::ReportedCost(0.00255)
        ]
    );
    // A later iteration counts only its own calls; aider's cost is the whole log's.
    let p = analytics_calls(&log, log.len(), Some("openai/gpt-4o"));
    assert_eq!(p, vec![Parsed::ReportedCost(0.00255)]);
    // Through the adapter: the model it printed, the log from where the attempt began.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analytics.jsonl");
    std::fs::write(&path, &log).unwrap();
    let sources = Sources {
        analytics: Some((path, 0)),
        ..Default::default()
    };
    let mut a = for_kind(AgentKind::Aider, None, sources);
    let printed = a.line("Main model: openai/gpt-4o with diff edit format");
    assert_eq!(kinds(&printed), vec!["agent.output", "agent.session"]);
    assert_eq!(calls(&a.finish())[0].0, "gpt-4o");
}

#[test]
fn output_that_does_not_parse_is_kept_never_a_crash() {
    for kind in [AgentKind::ClaudeCode, AgentKind::Codex] {
        let p = parse(
            kind,
            None,
            "plain text\n{\"type\":\n{\"unexpected\":true}\n\u{0}\u{1}binary",
        );
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(kinds(&p).iter().all(|k| *k == "agent.output"), "{p:?}");
    }
}

#[test]
fn a_run_records_its_model_calls_priced_and_beside_the_agents_own_cost() {
    let fixture_path = format!(
        "{}/tests/fixtures/agents/claude-stream.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let env = Env::new(&format!(
        r#"
[agents.claude-replay]
kind = "claude-code"
command = ["sh", "-c", "cat \"$1\"; echo 'pub fn answer() -> u32 {{ 42 }}' > src/lib.rs", "sh", "{fixture_path}"]

[agents.codex-replay]
kind = "codex"
model = "mystery-model-9"
command = ["sh", "-c", "cat \"$1\"", "sh", "{}"]
"#,
        fixture_path.replace("claude-stream", "codex")
    ));
    let repo = git_repo(env.path(), "repo");
    let id = env.start(&repo, "claude-replay", "make the answer 42");
    let r = env.wait_status(&id, "succeeded");
    let lines = env.model_calls(&id);
    assert_eq!(lines.len(), 1);
    let costs: Vec<f64> = lines
        .iter()
        .map(|l| l["cost_usd"].as_f64().unwrap())
        .collect();
    // claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write per million.
    assert_eq!(costs, vec![0.02046]);
    for l in &lines {
        assert_eq!(l["provider"], "anthropic");
        assert_eq!(l["source"], "agent");
        assert!(l["ts"].is_string());
    }
    assert_eq!(
        r["tokens"],
        serde_json::json!({"input": 1310, "output": 180, "cache_read": 8600, "cache_write": 3000})
    );
    assert_eq!(r["cost_usd"], 0.02046);
    assert_eq!(r["agent_reported_cost_usd"], 0.02354);
    assert_eq!(r["agent_session"], "5f0c2a9e-1b7d-4c3e-9a61-2d8f0e7b4c10");
    let llm = env.events_of(&id, "llm.call");
    assert_eq!(llm.len(), 1);
    assert_eq!(llm[0]["gen_ai.request.model"], "claude-sonnet-4-5-20250929");
    assert_eq!(llm[0]["gen_ai.usage.input_tokens"], 1310);
    assert_eq!(llm[0]["gen_ai.usage.cache_creation.input_tokens"], 3000);
    assert_eq!(llm[0]["gen_ai.usage.cache_read.input_tokens"], 8600);
    assert_eq!(env.events_of(&id, "tool.call").len(), 2);
    let pr = std::fs::read_to_string(env.run_dir(&id).join("PR.md")).unwrap();
    assert!(
        pr.contains("| claude-sonnet-4-5-20250929 | 1 | 1310 | 180 | 8600 | 3000 | $0.0205 |"),
        "{pr}"
    );
    assert!(pr.contains("Cost from the price table: $0.0205; reported by the agent: $0.0235; difference $+0.0031."), "{pr}");

    // An unknown model: cost null and a warning, never a made-up number.
    let id = env.start(&repo, "codex-replay", "codex");
    let r = env.wait_for(&id, "finished", |r| {
        r["status"] == "succeeded" || r["status"] == "failed"
    });
    let call = env.model_calls(&id)[0].clone();
    assert_eq!(call["model"], "mystery-model-9");
    assert!(call["cost_usd"].is_null());
    assert!(r["cost_usd"].is_null());
    assert_eq!(r["tokens"]["cache_read"], 24448);
    let warn = &env.events_of(&id, "llm.price_unknown")[0];
    assert!(warn["message"]
        .as_str()
        .unwrap()
        .contains("mystery-model-9"));
}
