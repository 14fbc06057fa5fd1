//! The demo's budget pause, seen through as a person would: once the budgeted agent's run
//! has paused for its budget, leave it paused a while (the cockpit shows it, and why), raise
//! that agent's cap in the demo's config, and resume the run. Someone quicker can do the
//! same with `p` once the cap is raised: the demo raises it as soon as it sees the pause.

use std::path::PathBuf;
use std::time::Duration;

use crate::client::Client;
use crate::protocol::Command;
use crate::run::Status;

use super::{config_text, ConfigParts, RAISED_USD};

/// How long the run stays paused before the demo resumes it:
/// `FLIGHTDECK_DEMO_RESUME_AFTER` seconds (tests), else 10.
fn resume_after() -> Duration {
    let secs = std::env::var("FLIGHTDECK_DEMO_RESUME_AFTER")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(10.0);
    Duration::from_secs_f64(secs)
}

/// Watch run `id`; when it pauses for its budget, raise the cap and resume it. Ends when the
/// run ends, or after that one resume.
pub async fn when_paused(client: Client, id: String, config: PathBuf, parts: ConfigParts) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(reply) = client.request(&Command::Show { run: id.clone() }).await else {
            continue;
        };
        let Ok(run) = crate::cli::expect_run(reply) else {
            return;
        };
        if run.status.is_terminal() {
            return;
        }
        if run.status == Status::Paused && run.pause_reason.as_deref() == Some("budget") {
            break;
        }
    }
    let text = config_text(&parts, RAISED_USD);
    let written = tokio::task::spawn_blocking(move || super::write(&config, &text)).await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    tokio::time::sleep(resume_after()).await;
    // A person may have resumed it already; then this is refused, and that is fine.
    let _ = client.request(&Command::Resume { run: id }).await;
}
