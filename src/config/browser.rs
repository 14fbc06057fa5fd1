//! `[browser]`: the browser-to-code loop. A dev server (`serve`, on the run's own leased port)
//! serves the worktree; headless Chromium visits `pages`, runs their `steps`, and what goes
//! wrong (console errors, uncaught exceptions, failed requests, HTTP errors) is fed back to the
//! agent for up to `max_iterations` more tries.

use serde::{Deserialize, Serialize};

use super::duration::ConfigDuration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    /// The dev server's argv; `{port}` is the run's port (also in PORT and FLIGHTDECK_PORT).
    /// Empty: no browser phase.
    pub serve: Vec<String>,
    /// When the server is ready: a URL path polled until it answers (`/`), or `log:REGEX`,
    /// a pattern its output must match once its colours are taken out (`log:ready in` for
    /// Vite, `log:Ready in` for Next.js).
    pub ready: String,
    /// How long the server may take to answer.
    pub ready_timeout: ConfigDuration,
    /// The ports runs lease from, inclusive: parallel runs never share one.
    pub ports: [u16; 2],
    pub pages: Vec<PageConfig>,
    /// `WIDTHxHEIGHT`.
    pub viewport: String,
    /// Extra agent iterations with the browser's report, at most.
    pub max_iterations: u32,
    /// A failing browser check fails the run (and so blocks the gate).
    pub required: bool,
    /// The Chromium binary; empty: `chromium`, `chromium-browser` or `google-chrome` on PATH.
    pub chromium: String,
    /// How different a pixel's colour must be to count as changed (0..1, YIQ distance).
    pub threshold: f64,
    /// A page whose changed-pixel ratio is above this is a problem (unset: diffs are evidence
    /// only, since a UI change is meant to change pixels).
    pub max_diff_ratio: Option<f64>,
    /// Committed baseline images (`<dir>/<page>.png` in the worktree); empty: the same pages
    /// rendered from the run's base commit (cached per base commit).
    pub baseline_dir: String,
    /// The dev tool's own messages, not the app's problems: console lines and failed requests
    /// matching one of these patterns (regular expressions) are kept in the report as noise
    /// and send no one round. The default knows Vite, webpack-dev-server and Next.js.
    pub noise: Vec<String>,
}

/// Dev-server noise: HMR clients connecting and losing their socket, the tools' own banners,
/// source maps the tool itself asks for.
pub fn default_noise() -> Vec<String> {
    [
        // Vite's client: "[vite] connecting...", "[vite] connected.", "[vite] server connection lost".
        r"^\[vite\] ",
        // webpack-dev-server and its HMR runtime.
        r"^\[webpack-dev-server\]",
        r"^\[HMR\]",
        // Next.js: Fast Refresh and the React DevTools hint.
        r"\[Fast Refresh\]",
        r"Download the React DevTools",
        // The HMR sockets of any of them, when the page goes before they connect.
        r"WebSocket connection to 'wss?://[^']*' failed",
        r"/_next/webpack-hmr",
        r"/__vite_ping",
        r"/sockjs-node/",
        // Source maps a tool fetches for its own code (a missing one breaks nothing).
        r"^HTTP 404 for \S+\.map(\?\S*)?$",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Default for BrowserConfig {
    fn default() -> Self {
        Self {
            serve: Vec::new(),
            ready: "/".into(),
            ready_timeout: ConfigDuration(std::time::Duration::from_secs(30)),
            ports: [41000, 41999],
            pages: Vec::new(),
            viewport: "1280x800".into(),
            max_iterations: 3,
            required: true,
            chromium: String::new(),
            threshold: 0.1,
            max_diff_ratio: None,
            baseline_dir: String::new(),
            noise: default_noise(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageConfig {
    pub name: String,
    pub path: String,
    pub steps: Vec<Step>,
}

/// One step on a page: `{ click = "#save" }`, `{ type = "#name", text = "Ada" }`,
/// `{ wait_for = ".done" }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Step {
    pub click: Option<String>,
    #[serde(rename = "type")]
    pub type_into: Option<String>,
    pub text: Option<String>,
    pub wait_for: Option<String>,
}

impl BrowserConfig {
    pub fn enabled(&self) -> bool {
        !self.serve.is_empty()
    }

    /// The viewport as (width, height).
    pub fn viewport(&self) -> Result<(u32, u32), String> {
        let bad = || {
            format!(
                "[browser] viewport `{}` is not WIDTHxHEIGHT (e.g. \"1280x800\")",
                self.viewport
            )
        };
        let (w, h) = self.viewport.split_once('x').ok_or_else(bad)?;
        let (w, h) = (
            w.trim().parse().map_err(|_| bad())?,
            h.trim().parse().map_err(|_| bad())?,
        );
        if w == 0 || h == 0 {
            return Err(bad());
        }
        Ok((w, h))
    }

    /// What is wrong with this section, said so that the user can fix it.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        self.viewport()?;
        if let Some(pattern) = self.ready.strip_prefix("log:") {
            regex::Regex::new(pattern).map_err(|e| {
                format!(
                    "[browser] ready = \"{}\" is not a valid pattern: {e}",
                    self.ready
                )
            })?;
        } else if !self.ready.starts_with('/') {
            return Err(format!(
                "[browser] ready = \"{}\" must be a URL path (\"/\") or log:REGEX",
                self.ready
            ));
        }
        for pattern in &self.noise {
            regex::Regex::new(pattern)
                .map_err(|e| format!("[browser] noise: `{pattern}` is not a valid pattern: {e}"))?;
        }
        if self.ports[0] == 0 || self.ports[0] > self.ports[1] {
            return Err(format!(
                "[browser] ports = [{}, {}] is not a range; give [first, last], e.g. [41000, 41999]",
                self.ports[0], self.ports[1]
            ));
        }
        if self.pages.is_empty() {
            return Err(
                "[browser] has `serve` but no [[browser.pages]]; add one with name and path".into(),
            );
        }
        for p in &self.pages {
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "[[browser.pages]] name `{}` must be letters, digits, - or _ (it names files)",
                    p.name
                ));
            }
            if !p.path.starts_with('/') {
                return Err(format!(
                    "[[browser.pages]] `{}`: path `{}` must start with /",
                    p.name, p.path
                ));
            }
            for s in &p.steps {
                let n = [&s.click, &s.type_into, &s.wait_for]
                    .iter()
                    .filter(|x| x.is_some())
                    .count();
                if n != 1 || (s.type_into.is_some() != s.text.is_some()) {
                    return Err(format!(
                        "[[browser.pages]] `{}`: each step is one of {{ click = SEL }}, {{ type = SEL, text = T }}, {{ wait_for = SEL }}",
                        p.name
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_lists_the_default_noise() {
        // The commented-out `noise = [ … ]` of config.example.toml, uncommented, is the default.
        let example = include_str!("../../config.example.toml");
        let start = example.find("# noise = [").expect("the noise list");
        let block: String = example[start..]
            .lines()
            .map(|l| l.strip_prefix('#').unwrap_or(l))
            .take_while(|l| l.trim() != "]")
            .map(|l| format!("{l}\n"))
            .collect();
        let parsed: BrowserConfig = toml::from_str(&format!("{block}]\n")).unwrap();
        assert_eq!(parsed.noise, default_noise());
    }

    #[test]
    fn viewports_and_steps_are_checked() {
        let mut b = BrowserConfig {
            serve: vec!["x".into()],
            pages: vec![PageConfig {
                name: "home".into(),
                path: "/".into(),
                steps: vec![Step {
                    click: Some("#b".into()),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        assert_eq!(b.validate(), Ok(()));
        assert_eq!(b.viewport(), Ok((1280, 800)));
        b.viewport = "wide".into();
        assert!(b.validate().unwrap_err().contains("WIDTHxHEIGHT"));
        b.viewport = "800x600".into();
        b.pages[0].steps.push(Step {
            click: Some("#a".into()),
            wait_for: Some("#b".into()),
            ..Default::default()
        });
        assert!(b.validate().unwrap_err().contains("each step is one of"));
    }
}
