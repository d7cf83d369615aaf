//! Identity transparency: what Chromium does when the proxy asks for credentials, and
//! that a proxy identifying clients by address never asks.
//!
//! Two more proxies run beside the checks' own, on the same origin:
//! - `auth-basic/`: `identity.require_auth`, so a request no source identifies gets
//!   `407 Proxy Authentication Required` with a Basic challenge; its access log says what
//!   the proxy answered to each request and whether the request carried credentials.
//! - `auth-client-ip/`: `require_auth` too, but loopback clients are a known user by
//!   address (`ip_users`): the browser must never see a 407.
//!
//! Headless Chromium shows no login prompt. Without credentials it behaves as if the
//! user cancelled the prompt; with them supplied over the DevTools protocol
//! (`Fetch.authRequired`, what the prompt answers) it behaves as if the user typed them.
//! The no-credentials browser loads the app page without the proxy (a bypassed host), so
//! the page's own `fetch`, XHR and preflights are the first to meet the 407.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loadgen::rig::children::ChildGuard;
use loadgen::rig::launch::{self, ConfigSpec};
use serde_json::{json, Value};

use crate::cases::{fetch_script, settle, xhr_script, CaseResult, APP};
use crate::chrome::{Chrome, PromptAnswer, Reach, Tab, ViewLine};
use crate::BrowserError;

/// The app's host, loaded without the proxy by the no-credentials browser.
const APP_HOST: &str = "school-app.example";
/// An allowed cross-origin API, reached through the proxy (the origin's CORS endpoint).
const API: &str = "http://api-allowed.example/api/cors";
/// An allowed page reached through the proxy.
const PROXIED_PAGE: &str = "http://secure-app.example/page/app";
/// A demo user (`scenarios/demo/users.csv`).
const USER: &str = "student0001";
/// Its password.
const PASSWORD: &str = "pw-student0001";
/// Longest wait for the access log's writer (it drains every 50 ms).
const LOG_WAIT: Duration = Duration::from_secs(3);
/// Longest a page script may take here; a request waiting on a login prompt nobody
/// answers never finishes.
const SCRIPT_WAIT: Duration = Duration::from_secs(10);
/// How long an unanswered prompt is watched before the request is called pending.
const UNANSWERED: Duration = Duration::from_secs(3);

/// A proxy of these checks: its guard (killed by pid when dropped), address and directory.
struct AuthProxy {
    _guard: ChildGuard,
    listen: SocketAddr,
    dir: PathBuf,
}

/// What the identity checks run against.
pub struct AuthSetup<'a> {
    /// The `filter-proxy` binary.
    pub proxy_bin: &'a Path,
    /// The base (demo) config.
    pub base_config: &'a Path,
    /// The test origin.
    pub origin: SocketAddr,
    /// The origin's CA (trusted by the browsers).
    pub ca: &'a Path,
    /// The result directory; each proxy gets a subdirectory.
    pub out: &'a Path,
}

/// Runs every identity check; every proxy and browser started is stopped on return.
pub async fn run(setup: &AuthSetup<'_>) -> Result<Vec<CaseResult>, BrowserError> {
    let basic = start_proxy(
        setup,
        "auth-basic",
        json!({
            "identity": { "require_auth": true },
            "access_log": { "enabled": true, "path": "access.log" },
        }),
    )
    .await?;
    let by_ip = start_proxy(
        setup,
        "auth-client-ip",
        json!({
            "identity": {
                "require_auth": true,
                "order": ["basic", "client_ip"],
                "ip_users": [{ "net": "127.0.0.1/32", "user": USER }],
            },
        }),
    )
    .await?;
    let mut results = Vec::new();

    let anonymous = Chrome::launch(
        Reach::ProxyBypassing {
            proxy: basic.listen,
            host: APP_HOST,
            origin: setup.origin,
        },
        setup.ca,
    )
    .await?;
    let outcome = without_credentials(&anonymous, &basic).await;
    anonymous.close().await;
    results.extend(outcome?);

    let signed_in = Chrome::launch(Reach::Proxy(basic.listen), setup.ca).await?;
    let outcome = with_credentials(&signed_in, &basic).await;
    signed_in.close().await;
    results.extend(outcome?);

    let known = Chrome::launch(Reach::Proxy(by_ip.listen), setup.ca).await?;
    let outcome = client_ip(&known).await;
    known.close().await;
    results.push(outcome?);
    Ok(results)
}

async fn start_proxy(
    setup: &AuthSetup<'_>,
    name: &str,
    overrides: Value,
) -> Result<AuthProxy, BrowserError> {
    let dir = setup.out.join(name);
    let overrides: toml::Table = serde_json::from_value(overrides)?;
    let config = launch::write_config(&ConfigSpec {
        base_config: setup.base_config,
        dir: &dir,
        origin: setup.origin,
        redis_url: None,
        overrides: Some(&overrides),
    })?;
    let (guard, _admin) = launch::start_proxy(
        setup.proxy_bin,
        &config,
        None,
        dir.join("proxy.log"),
        Duration::from_secs(30),
    )
    .await?;
    Ok(AuthProxy {
        _guard: guard,
        listen: config.listen,
        dir,
    })
}

/// The proxy's access-log lines for URLs containing `marker`: method, status, user,
/// error kind. Waits for the writer until lines appear (or [`LOG_WAIT`] passes).
async fn proxy_saw(proxy: &AuthProxy, marker: &str) -> Vec<Value> {
    let deadline = Instant::now() + LOG_WAIT;
    loop {
        let text = std::fs::read_to_string(proxy.dir.join("access.log")).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["url"].as_str().is_some_and(|u| u.contains(marker)))
            .map(|l| {
                json!({
                    "method": l["method"],
                    "status": l["status"],
                    "user": l["user"],
                    "error": l["error"],
                })
            })
            .collect();
        if !lines.is_empty() || Instant::now() >= deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tab whose login prompts get `answer` (none: nobody answers them).
async fn tab(chrome: &Chrome, answer: Option<PromptAnswer>) -> Result<Tab, BrowserError> {
    let mut tab = chrome.tab().await?;
    if let Some(answer) = answer {
        tab.answer_prompts(answer).await?;
    }
    Ok(tab)
}

/// Runs `script` in the app page of a tab whose prompts get `answer`; a script still
/// running after `wait` reads as `{"pending": true}`.
async fn in_app_prompting(
    chrome: &Chrome,
    answer: Option<PromptAnswer>,
    script: &str,
    wait: Duration,
) -> Result<(Value, Vec<ViewLine>), BrowserError> {
    let tab = tab(chrome, answer).await?;
    tab.page.goto(APP).await?;
    let saw = match tokio::time::timeout(wait, tab.page.evaluate_function(script)).await {
        Ok(result) => result?.into_value()?,
        Err(_) => json!({ "pending": true, "after_ms": wait.as_millis() as u64 }),
    };
    settle().await;
    let view = tab.view();
    tab.close().await;
    Ok((saw, view))
}

/// The prompts the view records.
fn prompts(view: &[ViewLine]) -> Vec<String> {
    view.iter()
        .filter(|l| matches!(l, ViewLine::Prompt { .. }))
        .map(ToString::to_string)
        .collect()
}

/// The statuses the proxy answered `method` requests of a case with.
fn statuses(lines: &[Value], method: &str) -> Vec<i64> {
    lines
        .iter()
        .filter(|l| l["method"] == json!(method))
        .filter_map(|l| l["status"].as_i64())
        .collect()
}

/// Any response of `kind` (DevTools resource type) the page's view shows with `status`.
fn saw_response(view: &[ViewLine], kind: &str, status: i64) -> bool {
    view.iter().any(
        |l| matches!(l, ViewLine::Response { status: s, kind: k, .. } if *s == status && k == kind),
    )
}

/// A fresh URL per case, so no preflight cache or connection state carries over.
fn marked(base: &str, case: &str) -> String {
    format!("{base}?case={case}")
}

/// No credentials (the user cancels the prompt): navigation, fetch, XHR and a
/// preflighted request meet the 407; and a prompt nobody answers holds the request.
async fn without_credentials(
    chrome: &Chrome,
    proxy: &AuthProxy,
) -> Result<Vec<CaseResult>, BrowserError> {
    let mut results = Vec::new();

    // (a) Top-level navigation through the proxy, the prompt cancelled.
    let url = marked(PROXIED_PAGE, "nav-anonymous");
    let tab = tab(chrome, Some(PromptAnswer::Cancel)).await?;
    let outcome = tab.page.goto(url.as_str()).await.map(|_| ());
    let page: Value = match outcome {
        Ok(()) => tab
            .page
            .evaluate_function(
                "() => ({ title: document.title, text: document.body ? document.body.innerText : '' })",
            )
            .await?
            .into_value()?,
        Err(_) => Value::Null,
    };
    settle().await;
    let view = tab.view();
    tab.close().await;
    let answered = proxy_saw(proxy, "nav-anonymous").await;
    let mut problems = Vec::new();
    if statuses(&answered, "GET").first() != Some(&407) {
        problems.push(format!(
            "the proxy should have answered the navigation with a 407: {answered:?}"
        ));
    }
    if page["title"] == json!("School app") {
        problems.push("the page loaded without credentials".into());
    }
    if prompts(&view).is_empty() {
        problems.push("Chromium raised no login prompt for the 407".into());
    }
    results.push(CaseResult {
        name: "auth-navigation-407",
        what: "Basic auth required, prompt cancelled: what a top-level navigation shows",
        saw: json!({
            "navigation": match &outcome { Ok(()) => json!("committed"), Err(e) => json!(e.to_string()) },
            "page": page,
            "document_status": view.iter().find_map(|l| match l {
                ViewLine::Response { status, kind, .. } if kind == "Document" => Some(*status),
                _ => None,
            }),
            "prompts": prompts(&view),
            "proxy": answered,
        }),
        problems,
        view,
    });

    // (b) fetch and XHR from the app page (loaded without the proxy).
    let cases = [
        (
            "auth-fetch-407",
            "fetch-anonymous",
            fetch_script(&marked(API, "fetch-anonymous"), &json!({})),
        ),
        (
            "auth-xhr-407",
            "xhr-anonymous",
            xhr_script(&marked(API, "xhr-anonymous")),
        ),
    ];
    for (name, marker, script) in cases {
        let (saw, view) =
            in_app_prompting(chrome, Some(PromptAnswer::Cancel), &script, SCRIPT_WAIT).await?;
        let answered = proxy_saw(proxy, marker).await;
        let mut problems = Vec::new();
        if statuses(&answered, "GET").first() != Some(&407) {
            problems.push(format!(
                "the proxy should have answered a 407: {answered:?}"
            ));
        }
        if saw["status"] == json!(200) {
            problems.push("the script read the API's answer without credentials".into());
        }
        if saw["pending"] == json!(true) {
            problems.push("the request was still waiting after the prompt was cancelled".into());
        }
        results.push(CaseResult {
            name,
            what: "Basic auth required, prompt cancelled: what a page script's request sees",
            saw: json!({ "script": saw, "prompts": prompts(&view), "proxy": answered }),
            problems,
            view,
        });
    }

    // (b') The same fetch with nobody answering the prompt (a user who walked away, or
    // a headless browser without a prompt handler): the request is held.
    let script = fetch_script(&marked(API, "fetch-unanswered"), &json!({}));
    let (saw, view) = in_app_prompting(chrome, None, &script, UNANSWERED).await?;
    let answered = proxy_saw(proxy, "fetch-unanswered").await;
    let mut problems = Vec::new();
    if statuses(&answered, "GET").first() != Some(&407) {
        problems.push(format!(
            "the proxy should have answered a 407: {answered:?}"
        ));
    }
    if saw["pending"] != json!(true) {
        problems.push(format!(
            "expected the fetch to wait on the unanswered prompt, the script saw {saw}"
        ));
    }
    results.push(CaseResult {
        name: "auth-fetch-prompt-unanswered",
        what: "Basic auth required, prompt never answered: the script's fetch stays pending",
        saw: json!({ "script": saw, "proxy": answered }),
        problems,
        view,
    });

    // (c) A preflighted request: the preflight is granted, the request gets the 407.
    let script = fetch_script(
        &marked(API, "preflight-anonymous"),
        &json!({
            "method": "PUT",
            "headers": { "Content-Type": "application/json", "X-School-App": "1" },
            "body": "{}",
        }),
    );
    let (saw, view) =
        in_app_prompting(chrome, Some(PromptAnswer::Cancel), &script, SCRIPT_WAIT).await?;
    let answered = proxy_saw(proxy, "preflight-anonymous").await;
    let mut problems = Vec::new();
    let preflights = statuses(&answered, "OPTIONS");
    if preflights.is_empty() || preflights.iter().any(|s| !(200..300).contains(s)) {
        problems.push(format!(
            "every preflight must get a 2xx without credentials, the proxy answered {preflights:?}"
        ));
    }
    if saw_response(&view, "Preflight", 407) {
        problems.push("the browser saw a 407 for a preflight".into());
    }
    if statuses(&answered, "PUT").first() != Some(&407) {
        problems.push(format!(
            "the announced PUT should have been sent and met the 407: {answered:?}"
        ));
    }
    results.push(CaseResult {
        name: "auth-preflight-no-407",
        what: "Basic auth required, prompt cancelled: a preflight is granted (never a 407); \
               the request it announces meets the 407",
        saw: json!({ "script": saw, "prompts": prompts(&view), "proxy": answered }),
        problems,
        view,
    });

    // (d) The same preflighted request, credentials typed at the prompt the PUT raised:
    // the app's first request works. (Last: the browser caches the credentials.)
    let script = fetch_script(
        &marked(API, "preflight-then-sign-in"),
        &json!({
            "method": "PUT",
            "headers": { "Content-Type": "application/json", "X-School-App": "1" },
            "body": "{}",
        }),
    );
    let answer = PromptAnswer::Credentials {
        user: USER.into(),
        password: PASSWORD.into(),
    };
    let (saw, view) = in_app_prompting(chrome, Some(answer), &script, SCRIPT_WAIT).await?;
    let answered = proxy_saw(proxy, "preflight-then-sign-in").await;
    let mut problems = Vec::new();
    if saw["status"] != json!(200) {
        problems.push(format!("the script saw {saw}"));
    }
    if !answered.iter().any(|l| {
        l["method"] == json!("PUT") && l["status"] == json!(200) && l["user"] == json!(USER)
    }) {
        problems.push(format!(
            "the PUT never reached the origin as {USER}: {answered:?}"
        ));
    }
    if saw_response(&view, "Preflight", 407) {
        problems.push("the browser saw a 407 for a preflight".into());
    }
    results.push(CaseResult {
        name: "auth-preflight-then-sign-in",
        what: "Basic auth required, a page's first request is preflighted: the preflight is \
               granted, the request raises the prompt, and with credentials it succeeds",
        saw: json!({ "script": saw, "prompts": prompts(&view), "proxy": answered }),
        problems,
        view,
    });
    Ok(results)
}

/// Credentials typed at the prompt: the page loads, and its fetch, XHR and preflighted
/// requests work, each request carrying the cached credentials.
async fn with_credentials(
    chrome: &Chrome,
    proxy: &AuthProxy,
) -> Result<Vec<CaseResult>, BrowserError> {
    let answer = PromptAnswer::Credentials {
        user: USER.into(),
        password: PASSWORD.into(),
    };
    let tab = tab(chrome, Some(answer)).await?;
    let page = marked(APP, "nav-signed-in");
    let loaded = tab.page.goto(page.as_str()).await.map(|_| ());
    let title: Value = match &loaded {
        Ok(()) => tab
            .page
            .evaluate_function("() => document.title")
            .await?
            .into_value()?,
        Err(e) => json!(format!("navigation failed: {e}")),
    };
    let mut script_saw = serde_json::Map::new();
    if loaded.is_ok() {
        let scripts = [
            (
                "fetch",
                fetch_script(&marked(API, "fetch-signed-in"), &json!({})),
            ),
            ("xhr", xhr_script(&marked(API, "xhr-signed-in"))),
            (
                "preflight",
                fetch_script(
                    &marked(API, "preflight-signed-in"),
                    &json!({
                        "method": "PUT",
                        "credentials": "include",
                        "headers": { "Content-Type": "application/json", "X-School-App": "1" },
                        "body": "{}",
                    }),
                ),
            ),
        ];
        for (name, script) in scripts {
            let saw =
                match tokio::time::timeout(SCRIPT_WAIT, tab.page.evaluate_function(script)).await {
                    Ok(result) => result?.into_value()?,
                    Err(_) => json!({ "pending": true }),
                };
            script_saw.insert(name.into(), saw);
        }
    }
    settle().await;
    let view = tab.view();
    tab.close().await;
    let mut proxy_lines = serde_json::Map::new();
    let mut problems = Vec::new();
    for marker in ["nav", "fetch", "xhr", "preflight"] {
        let answered = proxy_saw(proxy, &format!("{marker}-signed-in")).await;
        if !answered
            .iter()
            .any(|l| l["status"] == json!(200) && l["user"] == json!(USER))
        {
            problems.push(format!(
                "{marker}: no request reached the origin as {USER}: {answered:?}"
            ));
        }
        proxy_lines.insert(marker.into(), Value::Array(answered));
    }
    if title != json!("School app") {
        problems.push(format!("the app page did not load: {title}"));
    }
    for (name, saw) in &script_saw {
        if saw["status"] != json!(200) {
            problems.push(format!("{name}: the script saw {saw}"));
        }
    }
    if saw_response(&view, "Preflight", 407) {
        problems.push("the browser saw a 407 for a preflight".into());
    }
    Ok(vec![CaseResult {
        name: "auth-signed-in",
        what: "Basic auth required, credentials typed at the prompt: the page, fetch, XHR \
               and a preflighted PUT all work, each request carrying the credentials",
        saw: json!({
            "title": title,
            "scripts": script_saw,
            "prompts": prompts(&view),
            "proxy": proxy_lines,
        }),
        problems,
        view,
    }])
}

/// Identity by client address (with `require_auth` on): the browser never sees a 407.
async fn client_ip(chrome: &Chrome) -> Result<CaseResult, BrowserError> {
    let script = format!(
        "async () => ({{ fetch: await ({}) (), preflight: await ({}) (), xhr: await ({}) () }})",
        fetch_script(&marked(API, "fetch-by-ip"), &json!({})),
        fetch_script(
            &marked(API, "preflight-by-ip"),
            &json!({
                "method": "PUT",
                "headers": { "Content-Type": "application/json", "X-School-App": "1" },
                "body": "{}",
            }),
        ),
        xhr_script(&marked(API, "xhr-by-ip")),
    );
    let (saw, view) =
        in_app_prompting(chrome, Some(PromptAnswer::Cancel), &script, SCRIPT_WAIT).await?;
    let mut problems = Vec::new();
    if !prompts(&view).is_empty() {
        problems.push(format!(
            "Chromium prompted for credentials: {:?}",
            prompts(&view)
        ));
    }
    for name in ["fetch", "preflight", "xhr"] {
        if saw[name]["status"] != json!(200) {
            problems.push(format!("{name}: the script saw {}", saw[name]));
        }
    }
    crate::cases::no_challenge_or_redirect(&view, &mut problems);
    if !saw_response(&view, "Document", 200) {
        problems.push("the app page did not load with a 200".into());
    }
    Ok(CaseResult {
        name: "client-ip-no-407",
        what: "identity by client address (require_auth on): the page, fetch, XHR and a \
               preflighted PUT work and the browser never sees a 407",
        saw,
        problems,
        view,
    })
}
