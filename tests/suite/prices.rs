//! `flightdeck prices` with the real binary and no server: the table with its source and date,
//! one model's price and where it comes from (exact, date suffix, config), an unknown model's
//! refusal, JSON; and `scripts/refresh-prices` converting a small LiteLLM file offline.

use std::path::Path;
use std::process::Command;

use crate::common::Env;
use flightdeck::models::pricing::PriceTable;

const OVERRIDE: &str = r#"
[pricing.models."claude-sonnet-4-5"]
provider = "anthropic"
input = 1.5
output = 7.5

[pricing.models."my-local"]
provider = "local"
input = 0.0
output = 0.0
"#;

#[test]
fn the_table_shows_its_source_version_and_date() {
    let env = Env::new("");
    let out = env.ok(&["prices"]);
    let t = PriceTable::built_in();
    let head = out.lines().next().unwrap_or_default();
    assert!(head.contains(&t.date), "{head}");
    assert!(
        head.contains("model_prices_and_context_window.json"),
        "{head}"
    );
    assert!(head.contains(&format!("version {}", t.version)), "{head}");
    assert!(
        out.contains("CACHE WRITE") && out.contains("SOURCE"),
        "{out}"
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("claude-sonnet-4-5 "))
        .unwrap_or_else(|| panic!("no claude-sonnet-4-5 row:\n{out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "claude-sonnet-4-5",
            "anthropic",
            "3.00",
            "15.00",
            "0.30",
            "3.75",
            "built-in"
        ]
    );
    // No server was needed, and none was started.
    assert!(!env.home.join("flightdeck.sock").exists());
}

#[test]
fn the_table_marks_config_prices_and_filters_by_provider() {
    let env = Env::new(OVERRIDE);
    let out = env.ok(&["prices", "--provider", "anthropic"]);
    let row = out
        .lines()
        .find(|l| l.starts_with("claude-sonnet-4-5 "))
        .unwrap_or_else(|| panic!("no claude-sonnet-4-5 row:\n{out}"));
    assert!(row.ends_with("config") && row.contains("1.50"), "{row}");
    assert!(
        !out.contains("gpt-5"),
        "the openai rows are filtered out:\n{out}"
    );
    assert!(out
        .lines()
        .next()
        .unwrap_or_default()
        .contains("2 set in config"));
}

#[test]
fn a_model_listed_as_it_is_is_an_exact_built_in_match() {
    let env = Env::new("");
    let out = env.ok(&["prices", "gpt-5-codex"]);
    assert!(out.contains("gpt-5-codex: openai"), "{out}");
    assert!(out.contains("an exact match"), "{out}");
    assert!(out.contains("from the built-in table"), "{out}");
    let v = env.json(&["prices", "--json", "gpt-5-codex"]);
    assert_eq!(v["entry"], "gpt-5-codex");
    assert_eq!(v["match"], "exact");
    assert_eq!(v["origin"], "built-in");
    assert_eq!(v["provider"], "openai");
}

#[test]
fn a_dated_model_id_names_the_entry_it_matched() {
    let env = Env::new("");
    let out = env.ok(&["prices", "claude-haiku-4-5-20991231"]);
    assert!(
        out.contains("matched `claude-haiku-4-5` once its date or version suffix is taken off"),
        "{out}"
    );
    assert!(out.contains("input 1.00, output 5.00"), "{out}");
    let v = env.json(&["prices", "claude-haiku-4-5-20991231", "--json"]);
    assert_eq!(v["model"], "claude-haiku-4-5-20991231");
    assert_eq!(v["entry"], "claude-haiku-4-5");
    assert_eq!(v["match"], "suffix");
}

#[test]
fn a_config_price_says_what_it_overrides() {
    let env = Env::new(OVERRIDE);
    let out = env.ok(&["prices", "claude-sonnet-4-5-20250929"]);
    // The dated id is listed built-in, so config's undated entry does not answer for it...
    assert!(out.contains("from the built-in table"), "{out}");
    let out = env.ok(&["prices", "claude-sonnet-4-5"]);
    assert!(out.contains("input 1.50, output 7.50"), "{out}");
    assert!(
        out.contains("from config [pricing.models.\"claude-sonnet-4-5\"], overriding the built-in price (input 3.00, output 15.00"),
        "{out}"
    );
    let v = env.json(&["prices", "--json", "my-local"]);
    assert_eq!(v["origin"], "config");
    assert_eq!(v["provider"], "local");
    let out = env.ok(&["prices", "my-local"]);
    assert!(out.contains("not in the built-in table"), "{out}");
}

#[test]
fn an_unknown_model_is_refused_with_how_to_price_it() {
    let env = Env::new("");
    let err = env.fails(&["prices", "acme/mystery-9000"]);
    assert!(
        err.contains("model `acme/mystery-9000` is not priced"),
        "{err}"
    );
    assert!(err.contains("its cost will show as unknown"), "{err}");
    assert!(err.contains("[pricing.models.\"mystery-9000\"]"), "{err}");
    assert!(
        err.contains("input = ") && err.contains("output = "),
        "{err}"
    );
    env.fails(&["prices", "--json", "mystery-9000"]);
}

#[test]
fn an_unknown_provider_is_refused_naming_the_known_ones() {
    let env = Env::new("");
    for args in [
        &["prices", "--provider", "nosuch"][..],
        &["prices", "--json", "--provider", "nosuch"][..],
    ] {
        let err = env.fails(args);
        assert!(err.contains("no provider `nosuch`"), "{err}");
        assert!(
            err.contains("anthropic") && err.contains("openai") && err.contains("google"),
            "{err}"
        );
    }
    // A known one still lists its models only.
    let out = env.ok(&["prices", "--provider", "anthropic"]);
    assert!(
        out.contains("claude-sonnet-4-5") && !out.contains("gpt-4o"),
        "{out}"
    );
}

#[test]
fn the_json_table_has_every_model_with_its_origin() {
    let env = Env::new(OVERRIDE);
    let v = env.json(&["prices", "--json"]);
    let t = PriceTable::built_in();
    assert_eq!(v["date"], t.date.as_str());
    assert_eq!(v["source"], t.source.as_str());
    assert_eq!(v["version"], t.version.as_str());
    let models = v["models"].as_array().expect("models is an array");
    assert_eq!(models.len(), t.models.len() + 1, "built-in plus my-local");
    for m in models {
        for k in ["input", "output", "cache_read", "cache_write"] {
            assert!(m[k].as_f64().is_some_and(|x| x >= 0.0), "{m}");
        }
        assert!(m["model"].is_string() && m["provider"].is_string(), "{m}");
    }
    let find = |name: &str| {
        models
            .iter()
            .find(|m| m["model"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(find("claude-sonnet-4-5")["origin"], "config");
    assert_eq!(find("claude-sonnet-4-5")["input"], 1.5);
    assert_eq!(find("my-local")["origin"], "config");
    assert_eq!(find("gpt-5")["origin"], "built-in");
}

/// A LiteLLM file in miniature: each entry exercises one rule of the conversion.
const FIXTURE: &str = r#"{
  "sample_spec": {"litellm_provider": "one of ...", "mode": "one of ..."},
  "claude-sonnet-4-5": {"litellm_provider": "anthropic", "mode": "chat",
    "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
    "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
    "input_cost_per_token_above_200k_tokens": 6e-06},
  "gpt-5.1-codex": {"litellm_provider": "openai", "mode": "responses",
    "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 1.25e-07},
  "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat",
    "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05},
  "gemini-2.5-pro": {"litellm_provider": "vertex_ai-language-models", "mode": "chat",
    "input_cost_per_token": 9e-06, "output_cost_per_token": 9e-05},
  "gemini-2.5-flash": {"litellm_provider": "vertex_ai-language-models", "mode": "chat",
    "input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06},
  "ft:gpt-4o-2024-08-06": {"litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 3.75e-06, "output_cost_per_token": 1.5e-05},
  "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding",
    "input_cost_per_token": 2e-08, "output_cost_per_token": 0.0},
  "azure/eu/gpt-5": {"litellm_provider": "azure", "mode": "chat",
    "input_cost_per_token": 1.375e-06, "output_cost_per_token": 1.1e-05},
  "vertex_ai/claude-sonnet-4-5@20250929": {"litellm_provider": "vertex_ai-anthropic_models",
    "mode": "chat", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05},
  "vertex_ai/xai/grok-4": {"litellm_provider": "vertex_ai", "mode": "chat",
    "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05},
  "openai/container": {"litellm_provider": "openai", "mode": "chat"}
}"#;

fn refresh(args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/refresh-prices");
    Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs scripts/refresh-prices (python3 is needed for this test)")
}

#[test]
fn the_refresh_script_converts_a_litellm_file_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("model_prices_and_context_window.json");
    let out = dir.path().join("pricing.toml");
    std::fs::write(&input, FIXTURE).expect("write fixture");
    let run = refresh(&[
        "--from",
        input.to_str().expect("utf-8 path"),
        "--version",
        "9.9.9",
        "--date",
        "2001-02-03",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(
        run.status.success(),
        "refresh-prices failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("the table was written");
    assert!(
        text.contains("litellm 9.9.9, generated 2001-02-03"),
        "{text}"
    );
    assert!(text.contains("tiered prices (above 200k tokens"), "{text}");
    let t: PriceTable = toml::from_str(&text).expect("the generated table parses");
    assert_eq!(t.date, "2001-02-03");
    assert_eq!(t.version, "9.9.9");
    assert_eq!(t.source, "LiteLLM model_prices_and_context_window.json");

    let names: Vec<&str> = t.models.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "claude-sonnet-4-5",
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gpt-5.1-codex"
        ],
        "fine-tunes, embeddings, other providers, pins, partners and unpriced entries are left out"
    );
    let s = &t.models["claude-sonnet-4-5"];
    assert_eq!(
        (
            s.provider.as_str(),
            s.input,
            s.output,
            s.cache_read,
            s.cache_write
        ),
        ("anthropic", 3.0, 15.0, 0.3, 3.75)
    );
    let c = &t.models["gpt-5.1-codex"];
    assert_eq!(
        (
            c.provider.as_str(),
            c.input,
            c.output,
            c.cache_read,
            c.cache_write
        ),
        ("openai", 1.25, 10.0, 0.125, 0.0)
    );
    // Gemini's own API wins over Vertex AI's dearer entry of the same name.
    let g = &t.models["gemini-2.5-pro"];
    assert_eq!(
        (g.provider.as_str(), g.input, g.output),
        ("google", 1.25, 10.0)
    );
    assert_eq!(t.models["gemini-2.5-flash"].provider, "google");
}

#[test]
fn the_refresh_script_refuses_a_file_that_is_not_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("broken.json");
    let out = dir.path().join("pricing.toml");
    std::fs::write(&input, "{ not json").expect("write");
    let run = refresh(&[
        "--from",
        input.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("is not JSON"));
    assert!(!out.exists(), "nothing is written from a broken file");
}
