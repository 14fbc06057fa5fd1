//! Visiting one page: load it, run its steps, collect what went wrong (console errors and
//! warnings, uncaught exceptions, failed requests, HTTP ≥ 400), and take a screenshot with
//! stable settings (viewport and scale fixed, animations off, fonts loaded).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::network::{
    self, EventLoadingFailed, EventResponseReceived,
};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::{
    self, ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown, RemoteObject,
};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, Page};
use futures_util::StreamExt;

use super::report::{Finding, Kind};
use crate::config::browser::{PageConfig, Step};

const SETTLE: Duration = Duration::from_millis(400);
const WAIT_FOR: Duration = Duration::from_secs(5);
const STABLE_CSS: &str = "*,*::before,*::after{animation:none!important;transition:none!important;caret-color:transparent!important}";

pub struct Visit {
    pub findings: Vec<Finding>,
    pub screenshot: Option<Vec<u8>>,
    pub duration_ms: u64,
}

pub async fn visit(browser: &Browser, base: &str, cfg: &PageConfig, (w, h): (u32, u32)) -> Visit {
    let started = Instant::now();
    let found: Arc<Mutex<Vec<Finding>>> = Arc::new(Mutex::new(Vec::new()));
    let step: Arc<Mutex<String>> = Arc::new(Mutex::new("load".into()));
    let push = {
        let (found, step, page_name) = (found.clone(), step.clone(), cfg.name.clone());
        move |kind: Kind, message: String, stack: Option<String>| {
            let at = step.lock().map(|s| s.clone()).unwrap_or_default();
            if let Ok(mut f) = found.lock() {
                f.push(Finding::new(kind, &page_name, &at, message, stack));
            }
        }
    };
    let page = match browser.new_page("about:blank").await {
        Ok(p) => p,
        Err(e) => {
            push(Kind::Step, format!("cannot open a page: {e}"), None);
            return done(found, None, started);
        }
    };
    let listeners = listen(&page, push.clone()).await;
    let _ = page
        .execute(SetDeviceMetricsOverrideParams::new(w, h, 1.0, false))
        .await;
    let url = format!("{base}{}", cfg.path);
    if let Err(e) = page.goto(url.clone()).await {
        push(Kind::Network, format!("cannot load {url}: {e}"), None);
    }
    tokio::time::sleep(SETTLE).await;
    for s in &cfg.steps {
        let name = describe(s);
        if let Ok(mut cur) = step.lock() {
            *cur = name.clone();
        }
        if let Err(e) = run_step(&page, s).await {
            push(Kind::Step, format!("{name}: {e}"), None);
        }
        tokio::time::sleep(SETTLE).await;
    }
    let shot = screenshot(&page).await;
    if shot.is_none() {
        push(Kind::Step, "cannot take a screenshot".into(), None);
    }
    for l in listeners {
        l.abort();
    }
    let _ = page.close().await;
    done(found, shot, started)
}

fn done(found: Arc<Mutex<Vec<Finding>>>, shot: Option<Vec<u8>>, started: Instant) -> Visit {
    Visit {
        findings: found.lock().map(|f| f.clone()).unwrap_or_default(),
        screenshot: shot,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

async fn listen(
    page: &Page,
    push: impl Fn(Kind, String, Option<String>) + Clone + Send + 'static,
) -> Vec<tokio::task::JoinHandle<()>> {
    let _ = page.execute(runtime::EnableParams::default()).await;
    let _ = page.execute(network::EnableParams::default()).await;
    let mut tasks = Vec::new();
    if let Ok(mut console) = page.event_listener::<EventConsoleApiCalled>().await {
        let push = push.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(e) = console.next().await {
                let kind = match e.r#type {
                    ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert => {
                        Kind::ConsoleError
                    }
                    ConsoleApiCalledType::Warning => Kind::ConsoleWarning,
                    _ => continue,
                };
                let text: Vec<String> = e.args.iter().map(shown).collect();
                push(kind, text.join(" "), None);
            }
        }));
    }
    if let Ok(mut thrown) = page.event_listener::<EventExceptionThrown>().await {
        let push = push.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(e) = thrown.next().await {
                let d = &e.exception_details;
                let message = d
                    .exception
                    .as_ref()
                    .and_then(|x| x.description.clone())
                    .unwrap_or_else(|| d.text.clone());
                let (first, stack) = match message.split_once('\n') {
                    Some((f, rest)) => (f.to_string(), Some(rest.to_string())),
                    None => (message, None),
                };
                push(Kind::Exception, first, stack);
            }
        }));
    }
    if let Ok(mut responses) = page.event_listener::<EventResponseReceived>().await {
        let push = push.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(e) = responses.next().await {
                // The browser asks for a favicon by itself; a page without one is no error.
                if e.response.status >= 400 && !e.response.url.ends_with("/favicon.ico") {
                    push(
                        Kind::Network,
                        format!("HTTP {} for {}", e.response.status, e.response.url),
                        None,
                    );
                }
            }
        }));
    }
    if let Ok(mut failed) = page.event_listener::<EventLoadingFailed>().await {
        tasks.push(tokio::spawn(async move {
            while let Some(e) = failed.next().await {
                if e.canceled == Some(true) {
                    continue;
                }
                push(
                    Kind::Network,
                    format!("request failed: {}", e.error_text),
                    None,
                );
            }
        }));
    }
    tasks
}

fn shown(o: &RemoteObject) -> String {
    match (&o.value, &o.description) {
        (Some(serde_json::Value::String(s)), _) => s.clone(),
        (Some(v), _) => v.to_string(),
        (None, Some(d)) => d.clone(),
        _ => String::new(),
    }
}

fn describe(s: &Step) -> String {
    match (&s.click, &s.type_into, &s.wait_for) {
        (Some(sel), _, _) => format!("click {sel}"),
        (_, Some(sel), _) => format!("type into {sel}"),
        (_, _, Some(sel)) => format!("wait for {sel}"),
        _ => "step".into(),
    }
}

async fn run_step(page: &Page, s: &Step) -> Result<(), String> {
    if let Some(sel) = &s.click {
        let el = page
            .find_element(sel.as_str())
            .await
            .map_err(|_| format!("no element matches `{sel}`"))?;
        el.click().await.map_err(|e| e.to_string())?;
    } else if let (Some(sel), Some(text)) = (&s.type_into, &s.text) {
        let el = page
            .find_element(sel.as_str())
            .await
            .map_err(|_| format!("no element matches `{sel}`"))?;
        el.click().await.map_err(|e| e.to_string())?;
        el.type_str(text).await.map_err(|e| e.to_string())?;
    } else if let Some(sel) = &s.wait_for {
        let deadline = Instant::now() + WAIT_FOR;
        while page.find_element(sel.as_str()).await.is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "`{sel}` did not appear within {} s",
                    WAIT_FOR.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn screenshot(page: &Page) -> Option<Vec<u8>> {
    let css = serde_json::to_string(STABLE_CSS).ok()?;
    let _ = page
        .evaluate(format!(
            "(() => {{ const s = document.createElement('style'); s.textContent = {css}; (document.head || document.documentElement).appendChild(s); return document.fonts ? document.fonts.ready.then(() => true) : true; }})()"
        ))
        .await;
    page.screenshot(
        ScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .build(),
    )
    .await
    .ok()
}
