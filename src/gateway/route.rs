//! Which requests the gateway forwards. A run's base URL is `/r/<token>/<provider>`; what
//! follows is normalised first (percent-decoded once, `//` and `.` dropped, `..` refused, the
//! query string kept apart) and then must be one of the model endpoints of the provider's kind.
//! Only the canonical segments are forwarded, never the raw path. Pure, so every trick is
//! tested on its own.

use hyper::Method;

use crate::config::ProviderKind;

/// The run and provider a request names, and the rest of its path as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub token: &'a str,
    /// `/h/<token>/…`: another host's gateway calling through its tunnel, not a run.
    pub host: bool,
    pub provider: String,
    /// The path after the provider, raw (percent-encoded as sent), starting with `/` or empty.
    pub rest: &'a str,
}

/// Split `/r/<token>/<provider>/<rest>` (a run's) or `/h/<token>/<provider>/<rest>` (another
/// host's gateway, for its runs); None when the path is neither.
pub fn target(path: &str) -> Option<Target<'_>> {
    let (host, after) = match path.strip_prefix("/r/") {
        Some(after) => (false, after),
        None => (true, path.strip_prefix("/h/")?),
    };
    let (token, after) = after.split_once('/')?;
    let (provider, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    let provider = String::from_utf8(decode(provider).ok()?).ok()?;
    if provider.is_empty() {
        return None;
    }
    Some(Target {
        token,
        host,
        provider,
        rest,
    })
}

/// Why a request was not forwarded: the HTTP status, the error type the client sees, and a
/// sentence for the client and the run's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub kind: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// The path segments to forward (relative to the provider's base URL), or a refusal.
pub fn allow(kind: ProviderKind, method: &Method, rest: &str) -> Result<Vec<String>, Refusal> {
    let shown = shown(rest);
    let segments = normalise(rest).map_err(|why| Refusal {
        status: 403,
        kind: "permission_error",
        reason: "bad_path",
        message: format!(
            "flightdeck's gateway refused `{shown}`: {why}; it forwards only model endpoints ({})",
            listing(kind)
        ),
    })?;
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let Some(wanted) = endpoint(kind, &parts) else {
        return Err(Refusal {
            status: 403,
            kind: "permission_error",
            reason: "not_a_model_endpoint",
            message: format!(
                "flightdeck's gateway forwards only model calls, and {method} {shown} is not one; a {} provider allows {}",
                kind_name(kind),
                listing(kind)
            ),
        });
    };
    if *method != wanted {
        return Err(Refusal {
            status: 405,
            kind: "invalid_request_error",
            reason: "method_not_allowed",
            message: format!(
                "flightdeck's gateway forwards {shown} only as {wanted}, not {method}"
            ),
        });
    }
    Ok(segments)
}

/// The path for messages and the timeline: raw, cut to a readable length.
pub fn shown(rest: &str) -> String {
    let rest = if rest.is_empty() { "/" } else { rest };
    let cut: String = rest
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if cut.len() < rest.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Percent-decode once, then split into segments: empty and `.` segments dropped; `..`, NUL,
/// control characters, backslashes and bad escapes refused.
pub fn normalise(rest: &str) -> Result<Vec<String>, &'static str> {
    let bytes = decode(rest).map_err(|_| "it has a malformed %-escape")?;
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 once decoded")?;
    if text.chars().any(char::is_control) {
        return Err("it holds control characters");
    }
    if text.contains('\\') {
        return Err("it holds a backslash");
    }
    let mut out = Vec::new();
    for seg in text.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err("it climbs with `..`"),
            s => out.push(s.to_string()),
        }
    }
    Ok(out)
}

fn decode(s: &str) -> Result<Vec<u8>, ()> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(())?;
            let hex = std::str::from_utf8(hex).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The method an endpoint takes, when `parts` is a model endpoint of this kind.
fn endpoint(kind: ProviderKind, parts: &[&str]) -> Option<Method> {
    match kind {
        // The Anthropic SDKs' base URL has no version; they add `/v1/...`.
        ProviderKind::Anthropic | ProviderKind::Demo => match parts {
            ["v1", "messages"] | ["v1", "messages", "count_tokens"] => Some(Method::POST),
            ["v1", "models"] => Some(Method::GET),
            ["v1", "models", id] if model_id(id) => Some(Method::GET),
            _ => None,
        },
        // The OpenAI SDKs' base URL ends in `/v1`; they add the endpoint.
        ProviderKind::Openai => match parts {
            ["chat", "completions"]
            | ["responses"]
            | ["responses", "compact"]
            | ["responses", "input_tokens"] => Some(Method::POST),
            ["models"] => Some(Method::GET),
            ["models", id] if model_id(id) => Some(Method::GET),
            _ => None,
        },
    }
}

fn model_id(id: &str) -> bool {
    id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
}

fn kind_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Openai => "openai",
        ProviderKind::Demo => "demo",
    }
}

fn listing(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic | ProviderKind::Demo => {
            "POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models[/MODEL]"
        }
        ProviderKind::Openai => {
            "POST /chat/completions, POST /responses, POST /responses/compact, POST /responses/input_tokens, GET /models[/MODEL]"
        }
    }
}

/// The provider's base URL with the canonical endpoint segments and the query string added.
pub(super) fn upstream_url(
    base: &str,
    segments: &[String],
    query: Option<&str>,
) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| e.to_string())?;
    url.path_segments_mut()
        .map_err(|_| "it cannot have a path".to_string())?
        .pop_if_empty()
        .extend(segments);
    url.set_query(query.filter(|q| !q.is_empty()));
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ProviderKind = ProviderKind::Anthropic;
    const O: ProviderKind = ProviderKind::Openai;

    fn ok(kind: ProviderKind, method: Method, rest: &str) -> Vec<String> {
        allow(kind, &method, rest).unwrap_or_else(|r| panic!("{rest}: {}", r.message))
    }

    fn refused(kind: ProviderKind, method: Method, rest: &str) -> Refusal {
        match allow(kind, &method, rest) {
            Ok(s) => panic!("{rest} was allowed as {s:?}"),
            Err(r) => r,
        }
    }

    #[test]
    fn splits_the_base_url() {
        let t = target("/r/fd-abc123/anthropic/v1/messages").unwrap();
        assert_eq!(
            (t.token, t.provider.as_str(), t.rest),
            ("fd-abc123", "anthropic", "/v1/messages")
        );
        assert!(!t.host);
        let h = target("/h/fdh-abc/anthropic/v1/messages").unwrap();
        assert!(h.host && h.token == "fdh-abc" && h.rest == "/v1/messages");
        assert_eq!(target("/r/fd-x/openai").unwrap().rest, "");
        assert_eq!(
            target("/r/fd-x/open%61i/models").unwrap().provider,
            "openai"
        );
        for bad in [
            "/",
            "/v1/messages",
            "/r/fd-x",
            "/r//anthropic/v1",
            "/r/fd%2Fx/a/b",
            "/h/fd-x",
            "/x/fd-x/anthropic/v1",
        ] {
            assert_eq!(target(bad), None, "{bad}");
        }
    }

    #[test]
    fn model_endpoints_pass_as_canonical_segments() {
        assert_eq!(ok(A, Method::POST, "/v1/messages"), ["v1", "messages"]);
        assert_eq!(
            ok(A, Method::POST, "//v1/./messages/count_tokens"),
            ["v1", "messages", "count_tokens"]
        );
        assert_eq!(ok(A, Method::GET, "/v1/models"), ["v1", "models"]);
        assert_eq!(
            ok(A, Method::GET, "/v1/models/claude-haiku-4-5"),
            ["v1", "models", "claude-haiku-4-5"]
        );
        assert_eq!(ok(A, Method::POST, "/v1/%6Dessages"), ["v1", "messages"]);
        assert_eq!(
            ok(O, Method::POST, "/chat/completions"),
            ["chat", "completions"]
        );
        assert_eq!(ok(O, Method::POST, "/responses"), ["responses"]);
        assert_eq!(
            ok(O, Method::POST, "/responses/compact"),
            ["responses", "compact"]
        );
        assert_eq!(
            ok(O, Method::GET, "/models/ft:gpt-4o:org:x"),
            ["models", "ft:gpt-4o:org:x"]
        );
    }

    #[test]
    fn everything_else_is_refused() {
        let r = refused(A, Method::POST, "/v1/files");
        assert_eq!((r.status, r.reason), (403, "not_a_model_endpoint"));
        assert!(r.message.contains("/v1/files") && r.message.contains("POST /v1/messages"));
        for rest in [
            "",
            "/",
            "/v1/messages/batches",
            "/v1/messages/../files",
            "/v1/messages/%2e%2e/files",
            "/v1/messages/%2E%2E%2Ffiles",
            "/v1/messages%2f..%2ffiles",
            "/v1/../../etc/passwd",
            "/v1/messages/%252e%252e/files",
            "/v1/messages%00",
            "/v1/messages%",
            "/v1/messages%zz",
            "/v1\\messages",
            "/v1/models/..",
            "/v1/models/a%2Fb/c",
            "/v1/models/%25",
            "/chat/completions",
        ] {
            let r = refused(A, Method::POST, rest);
            assert_eq!(r.status, 403, "{rest}");
        }
        assert_eq!(refused(A, Method::POST, "/v1/%2e%2e/x").reason, "bad_path");
        for rest in [
            "/files",
            "/v1/chat/completions",
            "/chat/completions/../../files",
            "/responses/resp_1/cancel",
            "/v1/messages",
        ] {
            assert_eq!(refused(O, Method::POST, rest).status, 403, "{rest}");
        }
        let r = refused(A, Method::DELETE, "/v1/models/x");
        assert_eq!((r.status, r.reason), (405, "method_not_allowed"));
        assert_eq!(refused(O, Method::GET, "/chat/completions").status, 405);
    }

    #[test]
    fn shown_paths_are_cut_and_printable() {
        let long = format!("/{}", "a".repeat(500));
        let r = refused(A, Method::POST, &long);
        assert!(r.message.len() < 600, "{}", r.message.len());
        let r = refused(A, Method::POST, "/x\u{1b}]52;c;");
        assert!(!r.message.contains('\u{1b}'));
    }
}
