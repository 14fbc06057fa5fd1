//! The forge's HTTP side: authenticated JSON requests, conditional GETs (an ETag answered with
//! 304 costs GitHub's rate limit nothing), and the rate limits the forge announces, honoured
//! before the next request rather than after a refusal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use super::ForgeError;
use crate::config::forge::ForgeKind;

pub struct Http {
    client: reqwest::Client,
    kind: ForgeKind,
    api: String,
    token: String,
    /// URL → (ETag, the body it stood for).
    etags: Mutex<HashMap<String, (String, Value)>>,
    /// No request before this (Retry-After, or the limit spent until its reset).
    hold: Mutex<Option<Instant>>,
}

/// One answer: its status and JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Http {
    pub fn new(kind: ForgeKind, api: String, token: String) -> Result<Self, ForgeError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("flightdeck/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ForgeError::Network(e.to_string()))?;
        Ok(Http {
            client,
            kind,
            api,
            token,
            etags: Mutex::new(HashMap::new()),
            hold: Mutex::new(None),
        })
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    /// How long requests are held back for, if they are.
    pub fn held_for(&self) -> Option<Duration> {
        let hold = *self.hold.lock().unwrap_or_else(|p| p.into_inner());
        hold.and_then(|t| t.checked_duration_since(Instant::now()))
    }

    /// GET `path` (relative to the API), conditionally when it was fetched before.
    pub async fn get(&self, path: &str) -> Result<Value, ForgeError> {
        let url = format!("{}{path}", self.api);
        let known = self
            .etags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&url)
            .cloned();
        let mut req = self.request(Method::GET, &url)?;
        if let Some((etag, _)) = &known {
            req = req.header(header::IF_NONE_MATCH, etag);
        }
        let resp = req.send().await.map_err(|e| net(&self.api, e))?;
        self.note_limits(&resp);
        if resp.status() == StatusCode::NOT_MODIFIED {
            if let Some((_, body)) = known {
                return Ok(body);
            }
        }
        let etag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let answer = self.read(resp).await?;
        if !answer.status.is_success() {
            return Err(self.refusal(&Method::GET, path, answer));
        }
        if let Some(etag) = etag {
            self.etags
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(url, (etag, answer.body.clone()));
        }
        Ok(answer.body)
    }

    /// GET `path` as text (a CI job's log), at most its last `keep` bytes.
    pub async fn get_text(&self, path: &str, keep: usize) -> Result<String, ForgeError> {
        let url = format!("{}{path}", self.api);
        let resp = self
            .request(Method::GET, &url)?
            .send()
            .await
            .map_err(|e| net(&self.api, e))?;
        self.note_limits(&resp);
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| net(&self.api, e))?;
        if !status.is_success() {
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(self.refusal(&Method::GET, path, Answer { status, body }));
        }
        let from = bytes.len().saturating_sub(keep);
        Ok(String::from_utf8_lossy(&bytes[from..]).into_owned())
    }

    /// A GraphQL request to the forge's GraphQL endpoint (GitHub: `/graphql`, or
    /// `/api/graphql` beside GitHub Enterprise's `/api/v3`): its `data`, or its errors said.
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value, ForgeError> {
        let url = match self.api.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{}/graphql", self.api),
        };
        let resp = self
            .request(Method::POST, &url)?
            .json(&serde_json::json!({"query": query, "variables": variables}))
            .send()
            .await
            .map_err(|e| net(&self.api, e))?;
        self.note_limits(&resp);
        let answer = self.read(resp).await?;
        if !answer.status.is_success() {
            return Err(self.refusal(&Method::POST, "/graphql", answer));
        }
        if let Some(errors) = answer.body["errors"].as_array().filter(|e| !e.is_empty()) {
            let said: Vec<&str> = errors
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect();
            return Err(ForgeError::Api {
                status: answer.status.as_u16(),
                message: format!("GraphQL: {}", crate::text::printable(&said.join("; "))),
            });
        }
        Ok(answer.body["data"].clone())
    }

    /// A request with a JSON body; the answer whatever its status (callers branch on it).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Answer, ForgeError> {
        let url = format!("{}{path}", self.api);
        let resp = self
            .request(method, &url)?
            .json(body)
            .send()
            .await
            .map_err(|e| net(&self.api, e))?;
        self.note_limits(&resp);
        self.read(resp).await
    }

    /// The same, failing on anything but success.
    pub async fn send_ok(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, ForgeError> {
        let answer = self.send(method.clone(), path, body).await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(self.refusal(&method, path, answer))
        }
    }

    fn request(&self, method: Method, url: &str) -> Result<reqwest::RequestBuilder, ForgeError> {
        if let Some(left) = self.held_for() {
            return Err(ForgeError::RateLimited {
                seconds: left.as_secs().max(1),
            });
        }
        let req = self.client.request(method, url);
        Ok(match self.kind {
            ForgeKind::Github => req
                .bearer_auth(&self.token)
                .header(header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            ForgeKind::Gitlab => req.header("PRIVATE-TOKEN", &self.token),
        })
    }

    async fn read(&self, resp: reqwest::Response) -> Result<Answer, ForgeError> {
        let status = resp.status();
        // Forge answers are small; a runaway one is cut rather than held whole.
        let bytes = resp.bytes().await.map_err(|e| net(&self.api, e))?;
        let body = if bytes.is_empty() || bytes.len() > 16 << 20 {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Answer { status, body })
    }

    /// Hold requests back as the forge asks: Retry-After, or its limit spent until the reset.
    fn note_limits(&self, resp: &reqwest::Response) {
        let h = resp.headers();
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let wait = if let Some(secs) = num("retry-after") {
            Some(Duration::from_secs(secs))
        } else if num("x-ratelimit-remaining") == Some(0) || num("ratelimit-remaining") == Some(0) {
            let reset = num("x-ratelimit-reset").or_else(|| num("ratelimit-reset"));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            Some(Duration::from_secs(
                reset.map_or(60, |r| r.saturating_sub(now)).clamp(1, 3600),
            ))
        } else if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            // A limit without a time: a minute, as GitHub advises.
            Some(Duration::from_secs(60))
        } else {
            None
        };
        if let Some(wait) = wait {
            *self.hold.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + wait);
        }
    }

    /// A refused request as a sentence: the status, the forge's own message, and what to do.
    pub fn refusal(&self, method: &Method, path: &str, a: Answer) -> ForgeError {
        let mut message = message_of(&a.body);
        if message.is_empty() {
            message = a.status.canonical_reason().unwrap_or("").to_string();
        }
        match a.status {
            StatusCode::UNAUTHORIZED => ForgeError::Auth(format!(
                "the forge refused the token ({message}): check the token in the variable [forge] token_env names"
            )),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND if !message.contains("rate limit") => {
                let scope = match self.kind {
                    ForgeKind::Github => "`repo` scope (classic) or Pull requests: write and Contents: write (fine-grained)",
                    ForgeKind::Gitlab => "`api` scope and at least Developer role",
                };
                ForgeError::Api {
                    status: a.status.as_u16(),
                    message: format!(
                        "{method} {path}: {message} (a token without rights to the repository gets this; it needs {scope})"
                    ),
                }
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN => {
                // GitHub's secondary limit is a 403 that says so, without a time: a minute.
                if self.held_for().is_none() {
                    *self.hold.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(Instant::now() + Duration::from_secs(60));
                }
                ForgeError::RateLimited {
                    seconds: self.held_for().map_or(60, |d| d.as_secs().max(1)),
                }
            }
            status => ForgeError::Api {
                status: status.as_u16(),
                message: format!("{method} {path}: {message}"),
            },
        }
    }
}

/// The forge's error message: GitHub's `message` and `errors[].message`, GitLab's `message`
/// (a string, a list or a map) or `error`.
pub fn message_of(body: &Value) -> String {
    let mut parts = Vec::new();
    match body.get("message") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(Value::Array(a)) => {
            parts.extend(a.iter().filter_map(|v| v.as_str()).map(String::from))
        }
        Some(Value::Object(o)) => {
            for (k, v) in o {
                parts.push(format!("{k}: {}", v.to_string().trim_matches('"')));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(errors)) = body.get("errors") {
        for e in errors {
            if let Some(m) = e.get("message").and_then(Value::as_str) {
                parts.push(m.to_string());
            }
        }
    }
    if let Some(Value::String(e)) = body.get("error") {
        parts.push(e.clone());
    }
    crate::text::printable(&parts.join("; ")).into_owned()
}

fn net(api: &str, e: reqwest::Error) -> ForgeError {
    ForgeError::Network(format!("cannot reach the forge at {api}: {e}"))
}
