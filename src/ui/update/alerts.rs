//! Telling the person when a run starts to need them: a run that fails, gets a merge conflict,
//! pauses for its budget or becomes ready to merge rings the bell and sends a notification.
//! Pure: the old and new snapshots in, an effect out; the runtime writes to the terminal.

use crate::protocol::RunSnapshot;
use crate::run::{MergeState, Status};

use super::super::app::App;
use super::Effect;

/// The states worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alert {
    Failed,
    Conflict,
    Budget,
    Ready,
}

fn alert_state(r: &RunSnapshot) -> Option<Alert> {
    if r.cleaned {
        return None;
    }
    match (r.status, r.merge) {
        (Status::Failed, _) => Some(Alert::Failed),
        (_, MergeState::Conflict) => Some(Alert::Conflict),
        (Status::Paused, _) if r.pause_reason.is_some() => Some(Alert::Budget),
        (_, MergeState::Ready) => Some(Alert::Ready),
        _ => None,
    }
}

fn sentence(r: &RunSnapshot, alert: Alert) -> String {
    let why = super::super::attention::reason(r);
    let what = match alert {
        Alert::Failed => "failed",
        Alert::Conflict => "has a merge conflict",
        Alert::Budget => "paused: budget spent",
        Alert::Ready => "is ready to merge",
    };
    match (alert, why) {
        (Alert::Failed | Alert::Conflict, Some(why)) => format!("run {} {what}: {why}", r.id),
        _ => format!("run {} {what}", r.id),
    }
}

/// Compare the runs before and after a snapshot: one alert effect for the runs that newly
/// need a person. `only`: the one run that changed (else every run is compared). The first
/// snapshot the cockpit gets is only remembered (what was already so when the cockpit opened
/// is no news).
pub(super) fn detect(
    app: &mut App,
    before: &[RunSnapshot],
    only: Option<&str>,
    fx: &mut Vec<Effect>,
) {
    if !app.seen_runs {
        app.seen_runs = true;
        return;
    }
    let mut news = Vec::new();
    for r in app.runs.iter().filter(|r| only.is_none_or(|id| r.id == id)) {
        let Some(now) = alert_state(r) else { continue };
        let was = before.iter().find(|b| b.id == r.id).and_then(alert_state);
        if was != Some(now) {
            news.push((sentence(r, now), now == Alert::Failed));
        }
    }
    // What happened to the runs joins `M`'s messages beside what the person did, whatever
    // the alert settings, without taking the status line; so does each new radar finding
    // (the radar row above the footer may not hold them all).
    let mut found = Vec::new();
    for r in app.runs.iter().filter(|r| only.is_none_or(|id| r.id == id)) {
        let old = before.iter().find(|b| b.id == r.id).map(|b| &b.conflicts);
        for c in &r.conflicts {
            if !old.is_some_and(|o| o.contains(c)) {
                found.push(format!("radar: run {} {}", r.id, c.describe()));
            }
        }
    }
    for said in found {
        app.remember(said, false);
    }
    for (said, failed) in &news {
        app.remember(said.clone(), *failed);
    }
    if news.is_empty() || (!app.alerts.bell && !app.alerts.notify) {
        return;
    }
    let news: Vec<String> = news.into_iter().map(|(s, _)| s).collect();
    fx.push(Effect::Alert {
        bell: app.alerts.bell,
        notify: app
            .alerts
            .notify
            .then(|| format!("flightdeck: {}", news.join("; "))),
    });
}
