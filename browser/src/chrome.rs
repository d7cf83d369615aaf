//! Headless Chromium, launched through the proxy or straight to the origin, with the
//! run's CA trusted and every page's view of the network recorded.
//!
//! Why Chromium's own trust store and not `--ignore-certificate-errors`: a browser that
//! ignores certificate errors also hides a proxy that breaks TLS. The CA goes into an NSS
//! database in a throwaway `HOME` (`certutil`), the way a school's MDM installs its CA.
//!
//! Why a second, direct browser: "the proxy changes nothing for allowed sites" is a
//! comparison, so the same requests run from a browser whose every host name resolves to
//! the origin (`--host-resolver-rules`) without the proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::auth::Credentials;
use chromiumoxide::cdp::browser_protocol::fetch::EventAuthRequired;
use chromiumoxide::cdp::browser_protocol::log::{EnableParams as LogEnable, EventEntryAdded};
use chromiumoxide::cdp::browser_protocol::network::{
    EventLoadingFailed, EventRequestWillBeSent, EventResponseReceived,
};
use chromiumoxide::cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::BrowserError;

/// How the browser reaches the sites.
#[derive(Debug, Clone, Copy)]
pub enum Reach {
    /// Through the proxy at this address (`--proxy-server`).
    Proxy(SocketAddr),
    /// Every host name resolved to the origin at this address, no proxy.
    Direct(SocketAddr),
    /// Through the proxy, except `host`, which is reached straight at `origin`
    /// (`--proxy-bypass-list`): an app page that loads without the proxy, so what its
    /// scripts meet at the proxy (a 407 first of all) is their own.
    ProxyBypassing {
        /// The proxy.
        proxy: SocketAddr,
        /// The host reached without it.
        host: &'static str,
        /// Where that host is.
        origin: SocketAddr,
    },
}

/// The Chromium binary: `CHROMIUM` if set, else `chromium` on the PATH.
pub fn executable() -> Result<PathBuf, BrowserError> {
    if let Some(given) = std::env::var_os("CHROMIUM") {
        return Ok(given.into());
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("chromium"))
                .find(|p| p.is_file())
        })
        .ok_or(BrowserError::Missing {
            program: "chromium",
            hint: "apt-get install chromium (or run `make deps`)",
        })
}

/// A running browser; killed (by its pid, through the launcher's kill-on-drop) when
/// dropped, its profile and `HOME` removed.
pub struct Chrome {
    browser: Browser,
    handler: JoinHandle<()>,
    _home: tempfile::TempDir,
}

impl Chrome {
    /// Launches headless Chromium reaching sites by `path`, trusting the CA in `ca_pem`.
    pub async fn launch(path: Reach, ca_pem: &Path) -> Result<Chrome, BrowserError> {
        let home = tempfile::tempdir().map_err(|e| BrowserError::io("create a browser home", e))?;
        trust_ca(home.path(), ca_pem)?;
        let route = match path {
            Reach::Proxy(proxy) => vec![format!("proxy-server=http://{proxy}")],
            Reach::Direct(origin) => vec![format!("host-resolver-rules=MAP * {origin}")],
            Reach::ProxyBypassing {
                proxy,
                host,
                origin,
            } => vec![
                format!("proxy-server=http://{proxy}"),
                format!("proxy-bypass-list={host}"),
                format!("host-resolver-rules=MAP {host} {origin}"),
            ],
        };
        let config = BrowserConfig::builder()
            .chrome_executable(executable()?)
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(home.path().join("profile"))
            .env("HOME", home.path().to_string_lossy().to_string())
            .launch_timeout(Duration::from_secs(30))
            .request_timeout(Duration::from_secs(30))
            // Switches without their leading dashes: the launcher adds them.
            .args(route.iter().map(String::as_str))
            .args([
                // No traffic of Chromium's own (updates, safe browsing, field trials).
                "disable-background-networking",
                "disable-component-update",
                "disable-domain-reliability",
                "no-first-run",
                "disable-gpu",
            ])
            .build()
            .map_err(|detail| BrowserError::Launch { detail })?;
        let (browser, mut handler) =
            Browser::launch(config)
                .await
                .map_err(|e| BrowserError::Launch {
                    detail: e.to_string(),
                })?;
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        Ok(Chrome {
            browser,
            handler,
            _home: home,
        })
    }

    /// A new tab whose console, exceptions, log entries and network are recorded.
    pub async fn tab(&self) -> Result<Tab, BrowserError> {
        let page = self.browser.new_page("about:blank").await?;
        page.execute(LogEnable::default()).await?;
        let view = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        macro_rules! record {
            ($event:ty, $fmt:expr) => {{
                let mut events = page.event_listener::<$event>().await?;
                let view = Arc::clone(&view);
                tasks.push(tokio::spawn(async move {
                    while let Some(e) = events.next().await {
                        let line: Option<ViewLine> = $fmt(&e);
                        if let Some(line) = line {
                            view.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                        }
                    }
                }));
            }};
        }
        record!(EventRequestWillBeSent, |e: &EventRequestWillBeSent| Some(
            ViewLine::Request {
                method: e.request.method.clone(),
                url: e.request.url.clone(),
            }
        ));
        record!(EventResponseReceived, |e: &EventResponseReceived| Some(
            ViewLine::Response {
                status: e.response.status,
                url: e.response.url.clone(),
                kind: format!("{:?}", e.r#type),
            }
        ));
        record!(EventLoadingFailed, |e: &EventLoadingFailed| Some(
            ViewLine::Failed {
                error: e.error_text.clone(),
                cors: e
                    .cors_error_status
                    .as_ref()
                    .map(|c| format!("{:?}", c.cors_error)),
                kind: format!("{:?}", e.r#type),
            }
        ));
        record!(EventConsoleApiCalled, |e: &EventConsoleApiCalled| Some(
            ViewLine::Console {
                text: e
                    .args
                    .iter()
                    .map(|a| {
                        a.value
                            .as_ref()
                            .map(|v| v.to_string())
                            .or_else(|| a.description.clone())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            }
        ));
        record!(EventExceptionThrown, |e: &EventExceptionThrown| Some(
            ViewLine::Console {
                text: format!("uncaught: {}", e.exception_details.text),
            }
        ));
        record!(EventEntryAdded, |e: &EventEntryAdded| Some(ViewLine::Log {
            text: e.entry.text.clone(),
        }));
        Ok(Tab { page, view, tasks })
    }

    /// Closes the browser and waits for it to exit.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.wait()).await;
        self.handler.abort();
    }
}

/// One line of what the browser saw: the network log and the console.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum ViewLine {
    /// A request the page made.
    Request { method: String, url: String },
    /// A response it got.
    Response {
        status: i64,
        url: String,
        kind: String,
    },
    /// A request that failed (network error, CORS, blocked).
    Failed {
        error: String,
        cors: Option<String>,
        kind: String,
    },
    /// A console message or uncaught exception of the page's scripts.
    Console { text: String },
    /// A browser log entry (where Chromium reports CORS refusals).
    Log { text: String },
    /// The login prompt Chromium raised for a 407 (or 401), and how it was answered.
    Prompt {
        url: String,
        kind: String,
        source: String,
        realm: String,
        answer: String,
    },
}

impl std::fmt::Display for ViewLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ViewLine::Request { method, url } => write!(f, "request  {method} {url}"),
            ViewLine::Response { status, url, kind } => {
                write!(f, "response {status} {url} ({kind})")
            }
            ViewLine::Failed { error, cors, kind } => match cors {
                Some(c) => write!(f, "failed   {error} ({kind}, CORS {c})"),
                None => write!(f, "failed   {error} ({kind})"),
            },
            ViewLine::Console { text } => write!(f, "console  {text}"),
            ViewLine::Log { text } => write!(f, "log      {text}"),
            ViewLine::Prompt {
                url,
                kind,
                source,
                realm,
                answer,
            } => write!(
                f,
                "prompt   {source} auth, realm {realm:?}, for {url} ({kind}): {answer}"
            ),
        }
    }
}

/// How the tab's login prompt is answered when the proxy (or a site) asks for credentials.
#[derive(Debug, Clone)]
pub enum PromptAnswer {
    /// The user types a wrong password, then presses Cancel when asked again. (The
    /// DevTools client answers every prompt itself once asked to: the credentials first,
    /// cancel on the repeat; a cancel is reached through one wrong attempt.)
    Cancel,
    /// The user types these credentials.
    Credentials {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

/// A tab and the record of what it saw.
pub struct Tab {
    /// The page.
    pub page: Page,
    view: Arc<Mutex<Vec<ViewLine>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Tab {
    /// What the tab saw so far.
    pub fn view(&self) -> Vec<ViewLine> {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Answers the tab's login prompts with `answer` from now on, recording each prompt in
    /// the view. Headless Chromium shows no prompt: without this a request that meets a
    /// 407 waits for an answer that never comes. Over the DevTools protocol (`Fetch` with
    /// `handleAuthRequests`, set up by chromiumoxide's `authenticate`) the prompt is the
    /// `Fetch.authRequired` event, answered the way the dialog would: the credentials on
    /// a request's first prompt, cancel on its second.
    pub async fn answer_prompts(&mut self, answer: PromptAnswer) -> Result<(), BrowserError> {
        let mut prompts = self.page.event_listener::<EventAuthRequired>().await?;
        let (user, password) = match answer {
            PromptAnswer::Cancel => ("nobody".to_owned(), "wrong".to_owned()),
            PromptAnswer::Credentials { user, password } => (user, password),
        };
        self.page
            .authenticate(Credentials {
                username: user,
                password,
            })
            .await?;
        let view = Arc::clone(&self.view);
        self.tasks.push(tokio::spawn(async move {
            let mut asked = std::collections::HashSet::new();
            while let Some(e) = prompts.next().await {
                let first = asked.insert(e.request_id.clone());
                view.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(ViewLine::Prompt {
                        url: e.request.url.clone(),
                        kind: format!("{:?}", e.resource_type),
                        source: e
                            .auth_challenge
                            .source
                            .as_ref()
                            .map_or("unknown".into(), |s| format!("{s:?}")),
                        realm: e.auth_challenge.realm.clone(),
                        answer: if first {
                            "credentials given"
                        } else {
                            "cancelled"
                        }
                        .into(),
                    });
            }
        }));
        Ok(())
    }

    /// Closes the tab.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.page.close().await;
    }
}

/// Puts the CA into the NSS database Chromium reads under `home`.
fn trust_ca(home: &Path, ca_pem: &Path) -> Result<(), BrowserError> {
    let db = home.join(".pki").join("nssdb");
    std::fs::create_dir_all(&db).map_err(|e| BrowserError::io("create the NSS database", e))?;
    let db_arg = format!("sql:{}", db.display());
    let steps: [&[&str]; 2] = [
        &["-N", "-d", &db_arg, "--empty-password"],
        &[
            "-A",
            "-d",
            &db_arg,
            "-n",
            "filter-proxy test CA",
            "-t",
            "C,,",
            "-i",
            &ca_pem.to_string_lossy(),
        ],
    ];
    for args in steps {
        let out =
            Command::new("certutil")
                .args(args)
                .output()
                .map_err(|_| BrowserError::Missing {
                    program: "certutil",
                    hint: "apt-get install libnss3-tools (or run `make deps`)",
                })?;
        if !out.status.success() {
            return Err(BrowserError::Launch {
                detail: format!(
                    "certutil {}: {}",
                    args[0],
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
    }
    Ok(())
}
