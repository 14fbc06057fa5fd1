//! What the browser found, folded for people and for the agent: repeats become "[N times]",
//! errors come first with their page and step, stacks are cut short.

use serde::{Deserialize, Serialize};

pub use super::diff::Region;

/// Longest stack kept per finding.
const MAX_STACK: usize = 600;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An uncaught exception.
    Exception,
    /// `console.error`.
    ConsoleError,
    /// A request that failed, or answered with HTTP status 400 or more.
    Network,
    /// A step that could not be done (no such element, a wait that timed out).
    Step,
    /// A page changed more than `max_diff_ratio` against its baseline.
    Visual,
    /// `console.warn`.
    ConsoleWarning,
    /// The dev tool's own message (`[browser] noise`): kept, never a problem.
    Noise,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: Kind,
    pub page: String,
    /// The step it happened after (`load`, `click #save`, …).
    pub step: String,
    pub message: String,
    pub stack: Option<String>,
    /// How many times the same thing happened on the same page.
    pub count: u32,
}

impl Finding {
    pub fn new(kind: Kind, page: &str, step: &str, message: String, stack: Option<String>) -> Self {
        Self {
            kind,
            page: page.into(),
            step: step.into(),
            message,
            stack: stack.map(|s| cut(&s, MAX_STACK)),
            count: 1,
        }
    }

    /// Warnings are reported but do not call for another iteration.
    pub fn is_error(&self) -> bool {
        !matches!(self.kind, Kind::ConsoleWarning | Kind::Noise)
    }

    /// Call it noise when one of `patterns` matches its message.
    pub fn classify(&mut self, patterns: &[regex::Regex]) {
        if matches!(
            self.kind,
            Kind::ConsoleError | Kind::ConsoleWarning | Kind::Network
        ) && patterns.iter().any(|p| p.is_match(&self.message))
        {
            self.kind = Kind::Noise;
        }
    }
}

/// Fold repeats (same kind, page and message) into one finding with a count; errors first.
pub fn fold(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for f in findings {
        match out
            .iter_mut()
            .find(|o| o.kind == f.kind && o.page == f.page && o.message == f.message)
        {
            Some(o) => o.count += 1,
            None => out.push(f),
        }
    }
    out.sort_by(|a, b| a.kind.cmp(&b.kind));
    out
}

/// One page's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageResult {
    pub name: String,
    pub url: String,
    pub screenshot: Option<String>,
    pub duration_ms: u64,
    /// Changed pixels against the baseline, when there was one.
    pub diff_ratio: Option<f64>,
    /// Where those pixels are: the smallest rectangle holding them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_region: Option<Region>,
    /// Problems found on this page.
    pub errors: usize,
}

/// `browser/summary.json`: every iteration's problems in brief, and the last check's pages;
/// what the score and PR.md read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub iterations: Vec<Iteration>,
    pub pages: Vec<PageResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iteration {
    pub iteration: u32,
    pub errors: usize,
    /// One line per problem (at most 10).
    pub problems: Vec<String>,
}

impl Summary {
    pub const FILE: &'static str = "browser/summary.json";

    pub fn read(run_dir: &std::path::Path) -> Option<Self> {
        std::fs::read(run_dir.join(Self::FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Add this check's outcome (a new attempt starts the list afresh).
    pub fn record(&mut self, iteration: u32, pages: Vec<PageResult>, found: &[Finding]) {
        if iteration == 1 {
            self.iterations.clear();
        }
        let errors: Vec<&Finding> = found.iter().filter(|f| f.is_error()).collect();
        self.iterations.push(Iteration {
            iteration,
            errors: errors.len(),
            problems: errors
                .iter()
                .take(10)
                .map(|f| {
                    format!(
                        "{} on `{}` after `{}`: {}",
                        label(&f.kind),
                        f.page,
                        f.step,
                        f.message
                    )
                })
                .collect(),
        });
        self.pages = pages;
    }

    /// (pages without problems, pages) of the last check.
    pub fn passed(&self) -> (usize, usize) {
        (
            self.pages.iter().filter(|p| p.errors == 0).count(),
            self.pages.len(),
        )
    }
}

/// The report: for `report.md`, and (with the task) the agent's next prompt.
pub fn markdown(iteration: u32, pages: &[PageResult], findings: &[Finding]) -> String {
    let mut s = format!("# Browser check, iteration {iteration}\n\n");
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.is_error()).collect();
    if errors.is_empty() {
        s.push_str("No errors.\n");
    } else {
        s.push_str(&format!("{} problem(s):\n\n", errors.len()));
    }
    for f in findings {
        let times = if f.count > 1 {
            format!(" [{} times]", f.count)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "- {} on page `{}` after `{}`: {}{times}\n",
            label(&f.kind),
            f.page,
            f.step,
            f.message
        ));
        if let Some(stack) = &f.stack {
            for l in stack.lines() {
                s.push_str(&format!("    {l}\n"));
            }
        }
    }
    s.push_str("\n## Pages\n\n");
    for p in pages {
        let shot = p
            .screenshot
            .as_deref()
            .map(|f| format!(", screenshot {f}"))
            .unwrap_or_default();
        let diff = p
            .diff_ratio
            .map(|r| {
                format!(
                    ", {} (browser/{}.diff.png)",
                    changed(r, p.diff_region.as_ref()),
                    p.name
                )
            })
            .unwrap_or_default();
        s.push_str(&format!(
            "- `{}` {} ({} ms{shot}{diff})\n",
            p.name, p.url, p.duration_ms
        ));
    }
    s
}

/// How much of a page changed and where: "0.11% of pixels changed, in a 320×48 region at
/// (40,120)" (the region left out when there is none, as for an unchanged page).
pub fn changed(ratio: f64, region: Option<&Region>) -> String {
    let mut s = format!("{:.2}% of pixels changed", ratio * 100.0);
    if let Some(r) = region {
        s.push_str(&format!(
            ", in a {}×{} region at ({},{})",
            r.width, r.height, r.x, r.y
        ));
    }
    s
}

fn label(k: &Kind) -> &'static str {
    match k {
        Kind::Exception => "uncaught exception",
        Kind::ConsoleError => "console error",
        Kind::Network => "failed request",
        Kind::Step => "step failed",
        Kind::Visual => "screenshot changed",
        Kind::ConsoleWarning => "console warning",
        Kind::Noise => "dev-server noise (ignored)",
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    format!("{}…", &s[..s.floor_char_boundary(max)])
}

/// The agent's next prompt: the task, then what the browser saw.
pub fn feedback_prompt(task: &str, report: &str) -> String {
    format!(
        "{task}\n\n---\nflightdeck ran your change in a headless browser and found problems. Fix them; the report follows.\n\n{report}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_server_noise_is_kept_as_noise_and_the_apps_errors_stay_errors() {
        let patterns: Vec<regex::Regex> = crate::config::browser::default_noise()
            .iter()
            .map(|p| regex::Regex::new(p).unwrap())
            .collect();
        let kind_of = |kind: Kind, message: &str| {
            let mut f = Finding::new(kind, "home", "load", message.into(), None);
            f.classify(&patterns);
            f.kind
        };
        for (kind, noise) in [
            (
                Kind::ConsoleError,
                "[vite] server connection lost. Polling for restart...",
            ),
            (
                Kind::ConsoleError,
                "WebSocket connection to 'ws://127.0.0.1:43100/?token=ab' failed: ",
            ),
            (
                Kind::ConsoleWarning,
                "[HMR] Waiting for update signal from WDS...",
            ),
            (Kind::ConsoleError, "[webpack-dev-server] Disconnected!"),
            (
                Kind::Network,
                "HTTP 404 for http://127.0.0.1:43100/node_modules/.vite/deps/x.js.map",
            ),
            (
                Kind::Network,
                "HTTP 404 for http://127.0.0.1:3000/_next/webpack-hmr?page=/",
            ),
            (
                Kind::ConsoleWarning,
                "Download the React DevTools for a better development experience",
            ),
        ] {
            assert_eq!(kind_of(kind, noise), Kind::Noise, "{noise}");
        }
        for (kind, real) in [
            (
                Kind::ConsoleError,
                "TypeError: cannot read properties of undefined",
            ),
            (
                Kind::Network,
                "HTTP 404 for http://127.0.0.1:43100/api/users",
            ),
            (
                Kind::Exception,
                "ReferenceError: undefinedFn is not defined",
            ),
        ] {
            assert_eq!(kind_of(kind.clone(), real), kind, "{real}");
        }
        let mut noise = Finding::new(Kind::ConsoleError, "home", "load", "[vite] x".into(), None);
        noise.classify(&patterns);
        assert!(!noise.is_error());
    }

    #[test]
    fn the_change_is_said_with_its_region_and_kept_beside_the_ratio() {
        let region = Region {
            x: 40,
            y: 120,
            width: 320,
            height: 48,
        };
        assert_eq!(
            changed(0.0011, Some(&region)),
            "0.11% of pixels changed, in a 320×48 region at (40,120)"
        );
        assert_eq!(changed(0.0, None), "0.00% of pixels changed");
        let page = PageResult {
            name: "home".into(),
            url: "http://127.0.0.1:1/".into(),
            screenshot: Some("browser/home.png".into()),
            duration_ms: 5,
            diff_ratio: Some(0.0011),
            diff_region: Some(region),
            errors: 0,
        };
        let md = markdown(1, std::slice::from_ref(&page), &[]);
        assert!(
            md.contains(
                "0.11% of pixels changed, in a 320×48 region at (40,120) (browser/home.diff.png)"
            ),
            "{md}"
        );
        // summary.json: the contract's fields as they were, the region beside them.
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["diff_ratio"], 0.0011);
        assert_eq!(
            json["diff_region"],
            serde_json::json!({"x": 40, "y": 120, "width": 320, "height": 48})
        );
        // A summary written before regions were kept still reads.
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("diff_region");
        let read: PageResult = serde_json::from_value(old).unwrap();
        assert_eq!(read.diff_region, None);
        let unchanged = PageResult {
            diff_region: None,
            ..page
        };
        assert!(serde_json::to_value(&unchanged)
            .unwrap()
            .get("diff_region")
            .is_none());
    }

    #[test]
    fn repeats_fold_and_errors_come_first() {
        let f = |k, m: &str| Finding::new(k, "home", "load", m.into(), None);
        let folded = fold(vec![
            f(Kind::ConsoleWarning, "slow"),
            f(Kind::ConsoleError, "boom"),
            f(Kind::ConsoleError, "boom"),
            f(Kind::Exception, "TypeError: x is undefined"),
        ]);
        assert_eq!(folded.len(), 3);
        assert_eq!(folded[0].kind, Kind::Exception);
        assert_eq!(folded[1].count, 2);
        let md = markdown(1, &[], &folded);
        assert!(
            md.contains("console error on page `home` after `load`: boom [2 times]"),
            "{md}"
        );
        assert!(md.contains("2 problem(s)"), "{md}");
        assert!(!folded[2].is_error());
    }
}
