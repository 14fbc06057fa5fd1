//! What an agent's process is given to reach its model through the gateway: the environment
//! (base URLs and the run token), Codex's config file, and the built-in agent's secrets pipe.

use std::process::Stdio;

use crate::config::{ProviderConfig, ProviderKind};
use crate::supervisor::child_env;

/// The environment that points an agent at the gateway: a base URL per provider kind (the
/// agent's own provider wins) and the run token where SDKs expect a key.
pub(super) fn env_for_gateway(
    base: &str,
    token: &str,
    providers: &std::collections::BTreeMap<String, ProviderConfig>,
    preferred: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("FLIGHTDECK_GATEWAY_URL".to_string(), base.to_string()),
        ("FLIGHTDECK_GATEWAY_TOKEN".to_string(), token.to_string()),
    ];
    let mut ordered: Vec<(&String, &ProviderConfig)> = providers.iter().collect();
    ordered.sort_by_key(|(name, _)| Some(name.as_str()) == preferred);
    for (name, p) in ordered {
        let url = format!("{base}/{name}");
        let Some((bases, key)) = child_env::gateway_vars(p.kind) else {
            continue;
        };
        for v in bases {
            env.push((v.to_string(), url.clone()));
        }
        env.push((key.to_string(), token.to_string()));
    }
    env
}

/// Codex reads its provider from `$CODEX_HOME/config.toml`: the text that points it at the
/// gateway, with the run token (from the environment) as its key; None without an OpenAI
/// provider.
pub(super) fn codex_config(
    base: &str,
    providers: &std::collections::BTreeMap<String, ProviderConfig>,
    preferred: Option<&str>,
) -> Option<String> {
    let openai = providers
        .iter()
        .filter(|(_, p)| p.kind == ProviderKind::Openai)
        .max_by_key(|(name, _)| Some(name.as_str()) == preferred);
    let (name, _) = openai?;
    let url = toml::Value::String(format!("{base}/{name}"));
    Some(format!(
        "model_provider = \"flightdeck\"\n\n[model_providers.flightdeck]\nname = \"flightdeck gateway\"\nbase_url = {url}\nwire_api = \"responses\"\nenv_key = \"FLIGHTDECK_GATEWAY_TOKEN\"\n"
    ))
}

/// A pipe holding `secrets` then its end, for a child's stdin (small: it fits the pipe).
pub(super) fn secrets_pipe(secrets: &crate::builtin::Secrets) -> std::io::Result<Stdio> {
    use std::io::Write;
    let (read, mut write) = std::io::pipe()?;
    let text = serde_json::to_vec(secrets).map_err(std::io::Error::other)?;
    write.write_all(&text)?;
    Ok(Stdio::from(read))
}

/// The built-in agent talks to its provider through the gateway: which one, how, which model
/// (in its environment), and the URL and token (on its stdin: both hold the token).
pub(super) fn builtin_env(
    name: &str,
    agent: &crate::config::AgentConfig,
    providers: &std::collections::BTreeMap<String, ProviderConfig>,
    gateway: Option<&crate::gateway::Gateway>,
    token: Option<&str>,
) -> Result<(Vec<(String, String)>, crate::builtin::Secrets), String> {
    let provider_name = agent.provider.as_deref().ok_or_else(|| {
        format!("agent `{name}` is built in and needs a provider: set [agents.{name}].provider to one of [providers]")
    })?;
    let provider = providers.get(provider_name).ok_or_else(|| {
        format!("agent `{name}` names provider `{provider_name}`, which is not configured; add [providers.{provider_name}]")
    })?;
    let model = agent.model.clone().ok_or_else(|| {
        format!("agent `{name}` is built in and needs a model: set [agents.{name}].model")
    })?;
    let (Some(gw), Some(token)) = (gateway, token) else {
        return Err("the built-in agent needs the metering gateway, which did not start; see the server log".into());
    };
    let kind = match provider.kind {
        // The demo's model speaks the Anthropic Messages API.
        ProviderKind::Anthropic | ProviderKind::Demo => "anthropic",
        ProviderKind::Openai => "openai",
    };
    let mut env = vec![
        ("FLIGHTDECK_PROVIDER_KIND".to_string(), kind.to_string()),
        ("FLIGHTDECK_MODEL".to_string(), model),
    ];
    let secrets = crate::builtin::Secrets {
        provider_url: format!("{}/{provider_name}", gw.base_url(token)),
        token: token.to_string(),
    };
    if let Some(t) = agent.max_turns {
        env.push(("FLIGHTDECK_MAX_TURNS".into(), t.to_string()));
    }
    if let Some(t) = agent.command_timeout {
        env.push((
            "FLIGHTDECK_COMMAND_TIMEOUT_SECS".into(),
            t.0.as_secs().max(1).to_string(),
        ));
    }
    Ok((env, secrets))
}
