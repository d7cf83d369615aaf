//! The checks: each one loads a page or runs a script in an allowed app's page and
//! asserts what the page itself observes (status, readable body, headers CORS lets it
//! see, which elements loaded), never what a raw client would see.
//!
//! Hosts (demo policy; the proxy resolves every name to the test origin):
//! `exam-leaks.test` is denied for every group, `school-app.example`,
//! `api-allowed.example` and `cdn-allowed.example` are uncategorised, so allowed.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::chrome::{Chrome, ViewLine};
use crate::BrowserError;

/// The allowed web app whose page the scripts run in.
pub const APP: &str = "http://school-app.example/page/app";
/// A blocked API host.
pub const BLOCKED_API: &str = "http://exam-leaks.test/api/grades";
/// An allowed cross-origin API (the origin's CORS endpoint).
pub const ALLOWED_API: &str = "http://api-allowed.example/api/cors";
/// Longest a blocked HTTPS site may take to fail: a refusal, not a timeout.
pub const FAST_FAILURE: Duration = Duration::from_secs(5);

/// One check's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseResult {
    /// Short name.
    pub name: &'static str,
    /// What it checks.
    pub what: &'static str,
    /// What the page's script saw (the figures the assertions read).
    pub saw: Value,
    /// Every assertion that did not hold; empty when the check passed.
    pub problems: Vec<String>,
    /// The browser's view: network log and console, printed when the check fails.
    pub view: Vec<ViewLine>,
}

impl CaseResult {
    /// Whether every assertion held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A script run in the app's page: `fetch` with `init`, reporting status, the body as
/// text and the response headers the page may read, or the error it got.
pub(crate) fn fetch_script(url: &str, init: &Value) -> String {
    format!(
        "async () => {{
            try {{
                const r = await fetch({url}, {init});
                const headers = {{}};
                r.headers.forEach((v, k) => headers[k] = v);
                return {{ status: r.status, body: await r.text(), headers }};
            }} catch (e) {{
                return {{ error: String(e) }};
            }}
        }}",
        url = json!(url),
    )
}

/// The same with XMLHttpRequest.
pub(crate) fn xhr_script(url: &str) -> String {
    format!(
        "() => new Promise(resolve => {{
            const x = new XMLHttpRequest();
            x.open('GET', {url});
            x.onload = () => resolve({{ status: x.status, body: x.responseText }});
            x.onerror = () => resolve({{ error: 'xhr error', status: x.status }});
            x.send();
        }})",
        url = json!(url),
    )
}

/// Runs `script` in a fresh tab on the app page.
pub(crate) async fn in_app(
    chrome: &Chrome,
    script: &str,
) -> Result<(Value, Vec<ViewLine>), BrowserError> {
    let tab = chrome.tab().await?;
    tab.page.goto(APP).await?;
    let saw: Value = tab.page.evaluate_function(script).await?.into_value()?;
    settle().await;
    let view = tab.view();
    tab.close().await;
    Ok((saw, view))
}

/// Lets the last network events of a script arrive before the view is read.
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// A blocked answer as a script must be able to read it: 403 and the JSON reason.
fn expect_readable_block(saw: &Value, problems: &mut Vec<String>) {
    if saw["status"] != json!(403) {
        problems.push(format!(
            "the script could not read a 403 (it saw {})",
            saw.get("error").unwrap_or(&saw["status"])
        ));
        return;
    }
    let body: Value = saw["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    if body["blocked"] != json!(true) || !body["category"].is_string() {
        problems.push(format!("the body is not the JSON reason: {}", saw["body"]));
    }
}

/// Statuses a proxy must never answer a browser's request with when identity is by
/// client address: an authentication challenge or, for a preflight, a redirect.
pub(crate) fn no_challenge_or_redirect(view: &[ViewLine], problems: &mut Vec<String>) {
    for line in view {
        if let ViewLine::Response { status, url, kind } = line {
            if *status == 407 {
                problems.push(format!("407 for {url}"));
            }
            if kind == "Preflight" && (300..400).contains(status) {
                problems.push(format!("a preflight got {status} ({url})"));
            }
        }
    }
}

/// Top-level navigation to a blocked site shows the block page; a screenshot is kept.
pub async fn navigation_blocked(chrome: &Chrome, out: &Path) -> Result<CaseResult, BrowserError> {
    let tab = chrome.tab().await?;
    tab.page.goto("http://exam-leaks.test/").await?;
    let saw: Value = tab
        .page
        .evaluate_function("() => ({ title: document.title, text: document.body.innerText })")
        .await?
        .into_value()?;
    let shot = tab
        .page
        .screenshot(chromiumoxide::page::ScreenshotParams::builder().build())
        .await?;
    let shot_path = out.join("navigation-blocked.png");
    std::fs::write(&shot_path, shot).map_err(|e| BrowserError::io("write the screenshot", e))?;
    settle().await;
    let view = tab.view();
    tab.close().await;
    let mut problems = Vec::new();
    if saw["title"] != json!("Blocked") {
        problems.push(format!(
            "title {} instead of the block page's",
            saw["title"]
        ));
    }
    if !saw["text"].as_str().unwrap_or("").contains("blocked") {
        problems.push("the page does not say the site is blocked".into());
    }
    let document_403 = view
        .iter()
        .any(|l| matches!(l, ViewLine::Response { status: 403, kind, .. } if kind == "Document"));
    if !document_403 {
        problems.push("the document's status was not 403".into());
    }
    no_challenge_or_redirect(&view, &mut problems);
    Ok(CaseResult {
        name: "navigation-blocked",
        what: "top-level navigation to a blocked site shows the block page",
        saw: json!({ "title": saw["title"], "screenshot": "navigation-blocked.png" }),
        problems,
        view,
    })
}

/// `fetch`, credentialed `fetch` and XHR from an allowed page to a blocked API.
pub async fn scripts_read_block(chrome: &Chrome) -> Result<Vec<CaseResult>, BrowserError> {
    let cases = [
        (
            "fetch-blocked",
            "fetch() to a blocked cross-origin API reads a 403 and the JSON reason",
            fetch_script(BLOCKED_API, &json!({})),
        ),
        (
            "fetch-blocked-credentialed",
            "credentialed fetch() (credentials: include) reads the 403 and the reason",
            fetch_script(BLOCKED_API, &json!({ "credentials": "include" })),
        ),
        (
            "xhr-blocked",
            "XMLHttpRequest to a blocked cross-origin API reads the 403 and the reason",
            xhr_script(BLOCKED_API),
        ),
        (
            "preflight-blocked",
            "a preflighted PUT (JSON body, custom header) to a blocked host: the preflight \
             passes and the script reads the 403 and the reason",
            fetch_script(
                BLOCKED_API,
                &json!({
                    "method": "PUT",
                    "credentials": "include",
                    "headers": { "Content-Type": "application/json", "X-School-App": "1" },
                    "body": "{\"grade\":\"A\"}",
                }),
            ),
        ),
    ];
    let mut results = Vec::new();
    for (name, what, script) in cases {
        let (saw, view) = in_app(chrome, &script).await?;
        let mut problems = Vec::new();
        expect_readable_block(&saw, &mut problems);
        no_challenge_or_redirect(&view, &mut problems);
        if name == "preflight-blocked" {
            let granted = view.iter().any(|l| {
                matches!(l, ViewLine::Response { status, kind, .. }
                    if kind == "Preflight" && (200..300).contains(status))
            });
            if !granted {
                problems.push("no preflight answered with a 2xx in the network log".into());
            }
        }
        results.push(CaseResult {
            name,
            what,
            saw,
            problems,
            view,
        });
    }
    Ok(results)
}

/// The same kinds of requests to an allowed API: through the proxy exactly as direct.
pub async fn allowed_unchanged(
    proxied: &Chrome,
    direct: &Chrome,
) -> Result<Vec<CaseResult>, BrowserError> {
    let cases = [
        ("allowed-fetch", fetch_script(ALLOWED_API, &json!({}))),
        (
            "allowed-fetch-credentialed",
            fetch_script(ALLOWED_API, &json!({ "credentials": "include" })),
        ),
        (
            "allowed-preflight",
            fetch_script(
                ALLOWED_API,
                &json!({
                    "method": "PUT",
                    "credentials": "include",
                    "headers": { "Content-Type": "application/json", "X-School-App": "1" },
                    "body": "{}",
                }),
            ),
        ),
        ("allowed-xhr", xhr_script(ALLOWED_API)),
    ];
    let mut results = Vec::new();
    for (name, script) in cases {
        let (via_proxy, mut view) = in_app(proxied, &script).await?;
        let (via_direct, direct_view) = in_app(direct, &script).await?;
        let mut problems = Vec::new();
        if via_proxy["status"] != json!(200) {
            problems.push(format!("through the proxy the script saw {via_proxy}"));
        }
        for key in ["status", "body", "headers", "error"] {
            if via_proxy.get(key) != via_direct.get(key) {
                problems.push(format!(
                    "{key} differs: proxy {} direct {}",
                    via_proxy.get(key).unwrap_or(&Value::Null),
                    via_direct.get(key).unwrap_or(&Value::Null)
                ));
            }
        }
        no_challenge_or_redirect(&view, &mut problems);
        if !problems.is_empty() {
            view.push(ViewLine::Log {
                text: "--- the direct browser's view ---".into(),
            });
            view.extend(direct_view);
        }
        results.push(CaseResult {
            name,
            what: "a request to an allowed API is the same through the proxy as direct \
                   (status, body, the headers the script can read)",
            saw: json!({ "proxy": via_proxy, "direct": via_direct }),
            problems,
            view,
        });
    }
    Ok(results)
}

/// A page with blocked `<img>`, `<script>` and `<iframe>`: they fail cleanly, the rest
/// of the page loads.
pub async fn subresources(chrome: &Chrome) -> Result<CaseResult, BrowserError> {
    let tab = chrome.tab().await?;
    tab.page
        .goto("http://school-app.example/page/subresources")
        .await?;
    let saw: Value = tab
        .page
        .evaluate_function(
            "() => new Promise(resolve => {
                const done = () => resolve({
                    results: window.results,
                    script_runs: window.scriptRuns || 0,
                    rest_of_page: !!document.getElementById('after'),
                    ready: document.readyState,
                });
                if (document.readyState === 'complete') done();
                else window.addEventListener('load', done);
            })",
        )
        .await?
        .into_value()?;
    settle().await;
    let view = tab.view();
    tab.close().await;
    let mut problems = Vec::new();
    let expected = [
        ("blocked_img", "error"),
        ("blocked_script", "error"),
        ("allowed_img", "loaded"),
        ("allowed_script", "loaded"),
        ("blocked_frame", "loaded"),
    ];
    for (element, outcome) in expected {
        if saw["results"][element] != json!(outcome) {
            problems.push(format!(
                "{element}: expected {outcome}, the page saw {}",
                saw["results"][element]
            ));
        }
    }
    if saw["script_runs"] != json!(1) {
        problems.push(format!(
            "the allowed script ran {} times, the blocked one must not run",
            saw["script_runs"]
        ));
    }
    if saw["rest_of_page"] != json!(true) || saw["ready"] != json!("complete") {
        problems.push("the rest of the page did not load".into());
    }
    no_challenge_or_redirect(&view, &mut problems);
    Ok(CaseResult {
        name: "subresources-blocked",
        what: "blocked <img>, <script> and <iframe> fail cleanly and the rest of the page loads",
        saw,
        problems,
        view,
    })
}

/// HTTPS through CONNECT: an allowed site loads, a blocked one fails at CONNECT, fast.
pub async fn https(chrome: &Chrome) -> Result<Vec<CaseResult>, BrowserError> {
    let tab = chrome.tab().await?;
    let loaded = tab.page.goto("https://secure-app.example/page/app").await;
    let title: Value = match loaded {
        Ok(_) => tab
            .page
            .evaluate_function("() => document.title")
            .await?
            .into_value()?,
        Err(e) => json!(format!("navigation failed: {e}")),
    };
    settle().await;
    let view = tab.view();
    tab.close().await;
    let mut problems = Vec::new();
    if title != json!("School app") {
        problems.push(format!("the allowed HTTPS page did not load: {title}"));
    }
    no_challenge_or_redirect(&view, &mut problems);
    let allowed = CaseResult {
        name: "https-allowed",
        what: "an allowed HTTPS site loads through CONNECT (the run's CA trusted)",
        saw: json!({ "title": title }),
        problems,
        view,
    };

    let tab = chrome.tab().await?;
    let started = Instant::now();
    let outcome = tab
        .page
        .goto("https://exam-leaks.test/page/app")
        .await
        .map(|_| ());
    let took = started.elapsed();
    settle().await;
    let view = tab.view();
    tab.close().await;
    let mut problems = Vec::new();
    let error = match outcome {
        Ok(_) => {
            problems.push("the blocked HTTPS site loaded".into());
            String::new()
        }
        Err(e) => e.to_string(),
    };
    if !error.contains("ERR_TUNNEL_CONNECTION_FAILED") {
        problems.push(format!(
            "expected the tunnel to be refused (ERR_TUNNEL_CONNECTION_FAILED), got: {error}"
        ));
    }
    if took > FAST_FAILURE {
        problems.push(format!(
            "the refusal took {} ms (a timeout, not a refusal)",
            took.as_millis()
        ));
    }
    let blocked = CaseResult {
        name: "https-blocked",
        what: "a blocked HTTPS site fails at CONNECT with a clear error, fast",
        saw: json!({ "error": error, "took_ms": took.as_millis() as u64 }),
        problems,
        view,
    };
    Ok(vec![allowed, blocked])
}
