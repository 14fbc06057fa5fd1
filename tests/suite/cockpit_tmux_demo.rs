//! `flightdeck demo` in tmux, the way a new user watches it (issue 25): the scripted agents
//! call the demo's model through the metering gateway, so TOKENS and COST tick in the cockpit;
//! one run pauses on its budget, and the demo raises the cap and resumes it.

use crate::common::tmux::Tmux;
use crate::common::*;

#[test]
fn the_demo_shows_spend_and_a_run_paused_on_its_budget_that_the_demo_resumes() {
    let env = Env::new("");
    let tmux = Tmux::new();
    // No browser loop: this test is about spend, and a suite's machine is busy enough.
    tmux.demo(
        &env,
        "FLIGHTDECK_DEMO_STEP=0.05 FLIGHTDECK_DEMO_RESUME_AFTER=20 FLIGHTDECK_DEMO_BROWSER=off",
    );
    // The marathon agent spends its budget: the cockpit shows it paused, with the reason.
    let screen = tmux.wait_long("a run paused on its budget", |s| {
        s.contains("paused (budget)")
    });
    assert!(screen.contains("scripted-marathon"), "{screen}");
    let runs = env.json(&["ls", "--json"]);
    let runs = runs.as_array().expect("ls --json is a list").clone();
    assert_eq!(runs.len(), 7, "{runs:#?}");
    let paused: Vec<&serde_json::Value> = runs.iter().filter(|r| r["status"] == "paused").collect();
    assert_eq!(paused.len(), 1, "{runs:#?}");
    let marathon = paused[0]["id"].as_str().unwrap().to_string();
    assert_eq!(paused[0]["agent"], "scripted-marathon");
    assert_eq!(paused[0]["pause_reason"], "budget");
    let shown = env.record(&marathon);
    assert!(
        shown["warning"]
            .as_str()
            .is_some_and(|r| r.contains("budget is spent")),
        "{shown:#}"
    );

    // Every run finishes, the paused one too: the demo raised its cap and resumed it.
    for r in &runs {
        let id = r["id"].as_str().unwrap();
        env.wait_for(id, "finished", |r| {
            matches!(r["status"].as_str(), Some("succeeded" | "failed"))
        });
    }
    let types: Vec<String> = env
        .timeline(&marathon)
        .iter()
        .filter_map(|l| l["type"].as_str().map(String::from))
        .filter(|t| t == "run.paused" || t == "run.resumed")
        .collect();
    assert_eq!(types, ["run.paused", "run.resumed"]);
    let paused_line = &env.events_of(&marathon, "run.paused")[0];
    assert_eq!(paused_line["reason"], "budget");

    // Every run called the model through the gateway: tokens and cost in its record, each
    // call in model_calls.jsonl.
    for r in &runs {
        let id = r["id"].as_str().unwrap();
        let rec = env.record(id);
        let tokens = &rec["tokens"];
        assert!(tokens["input"].as_u64().unwrap() > 0, "{rec:#}");
        assert!(tokens["output"].as_u64().unwrap() > 0, "{rec:#}");
        assert!(rec["cost_usd"].as_f64().unwrap() > 0.0, "{rec:#}");
        let calls = env.model_calls(id);
        assert!(!calls.is_empty(), "{id}");
        assert!(
            calls
                .iter()
                .all(|c| c["source"] == "gateway" && c["cost_usd"].as_f64().unwrap() > 0.0),
            "{calls:#?}"
        );
    }

    // The cockpit's header and columns show the spend.
    let screen = tmux.wait_for("the spend in the header", |s| {
        s.contains("tokens ") && !s.contains("tokens -") && s.contains("cost $")
    });
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains("scripted-")).collect();
    assert_eq!(rows.len(), 7, "{screen}");
    for row in rows {
        assert!(row.contains('$'), "a cost in every row: {row}");
    }
    tmux.keys(&["q"]);
}
