//! `flightdeck demo`: the sample repository, seven scripted runs, one failing its smoke check,
//! one fixing the page from the browser's report, one whose colour change the screenshot diff
//! shows; every run's model calls metered, one run paused on its budget until the cap is
//! raised. (`--no-ui` starts the runs without the cockpit, which would resume that run itself;
//! FLIGHTDECK_DEMO_STEP makes them quick.)

use crate::common::*;

#[test]
fn the_demo_runs_seven_scripted_agents_one_fails_and_the_browser_loop_shows() {
    let env = Env::new("");
    // The browser loop's dev servers lease from this test's own range.
    let ports = [44000, 44099];
    let out = env
        .cmd(&["demo", "--no-ui"])
        .env("FLIGHTDECK_DEMO_STEP", "0.02")
        .env(
            "FLIGHTDECK_DEMO_PORTS",
            format!("{}-{}", ports[0], ports[1]),
        )
        .env_remove("FLIGHTDECK_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 7);
    // scripted-marathon's runs have a budget of their own; its run pauses on it, and resumes
    // once the cap is raised, as the reason says.
    let marathon = ids
        .iter()
        .find(|id| env.record(id)["agent"] == "scripted-marathon")
        .unwrap()
        .clone();
    let r = env.wait_for(&marathon, "paused on its budget", |r| {
        r["status"] == "paused"
    });
    assert_eq!(r["pause_reason"], "budget", "{r:#}");
    let warning = r["warning"].as_str().unwrap();
    assert!(
        warning.contains("agents.scripted-marathon.budget_usd"),
        "{warning}"
    );
    let refused = env.fails(&["resume", &marathon]);
    assert!(refused.contains("stays paused"), "{refused}");
    let config = env.home.join("demo/flightdeck.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("budget_usd = 0.05"), "{text}");
    std::fs::write(
        &config,
        text.replace("budget_usd = 0.05", "budget_usd = 0.25"),
    )
    .unwrap();
    env.ok(&["resume", &marathon]);
    let mut failed = vec![];
    for id in &ids {
        let r = env.wait_for(id, "finished", |r| {
            matches!(r["status"].as_str(), Some("succeeded" | "failed"))
        });
        assert!(
            r["agent"].as_str().unwrap().starts_with("scripted-"),
            "demo agents say they are scripted"
        );
        let agent_lines: Vec<String> = env
            .events_of(id, "agent.output")
            .iter()
            .map(|l| l["text"].as_str().unwrap().to_string())
            .collect();
        assert!(
            agent_lines
                .iter()
                .all(|l| l.starts_with("[scripted agent]")),
            "{agent_lines:?}"
        );
        let patch = std::fs::read_to_string(env.run_dir(id).join("patch.diff")).unwrap();
        assert!(
            patch.contains("diff --git"),
            "every demo agent really edits files"
        );
        // Its model calls went through the gateway, priced.
        assert!(r["tokens"]["input"].as_u64().unwrap() > 0, "{r:#}");
        assert!(r["cost_usd"].as_f64().unwrap() > 0.0, "{r:#}");
        let calls = env.model_calls(id);
        assert!(
            calls
                .iter()
                .all(|c| c["provider"] == "demo" && c["model"] == "flightdeck-demo"),
            "{calls:#?}"
        );
        if r["status"] == "failed" {
            failed.push(r);
        }
    }
    assert_eq!(failed.len(), 1, "exactly one run fails");
    assert_eq!(failed[0]["agent"], "scripted-sloppy");
    assert_eq!(failed[0]["phase"], "smoke");
    let smoke = std::fs::read_to_string(
        env.run_dir(failed[0]["id"].as_str().unwrap())
            .join("smoke.json"),
    )
    .unwrap();
    assert!(smoke.contains("TODO markers left"), "{smoke}");
    // Retried from the agent (what its reason, and the cockpit's `r`, propose), it reads the
    // check's output and leaves no TODO.
    let sloppy = failed[0]["id"].as_str().unwrap();
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("to send the agent round again with it: `retry --phase agent`"),
        "{reason}"
    );
    env.ok(&["retry", sloppy, "--phase", "agent"]);
    let r = env.wait_for(sloppy, "retried", |r| {
        r["attempt"] == 2 && matches!(r["status"].as_str(), Some("succeeded" | "failed"))
    });
    assert_eq!(r["status"], "succeeded", "{r:#}");
    // The browser loop (CI installs Chromium and python3, so it runs there).
    let of = |agent: &str| {
        ids.iter()
            .find(|id| env.record(id)["agent"] == agent)
            .unwrap()
            .clone()
    };
    let bug = of("scripted-web-bug");
    assert_eq!(env.record(&bug)["status"], "succeeded");
    let iterations = env.events_of(&bug, "browser.iteration");
    assert_eq!(
        iterations.len(),
        1,
        "the first version throws in the browser"
    );
    let first = std::fs::read_to_string(env.run_dir(&bug).join("browser/report-1-1.md")).unwrap();
    assert!(first.contains("footr is not defined"), "{first}");
    let colour = of("scripted-web-colour");
    let page = &env.events_of(&colour, "browser.page")[0];
    assert!(page["diff_ratio"].as_f64().unwrap() > 0.0, "{page}");
    assert!(env
        .run_dir(&colour)
        .join("browser/greeter.diff.png")
        .exists());

    // The sample repository itself is untouched.
    let repo = env.home.join("demo/greeter");
    assert_eq!(git(&repo, &["status", "--porcelain"]).trim(), "");
}
