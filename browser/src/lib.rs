//! A real browser through the proxy.
//!
//! Schools meet the proxy through browsers, and the failures that cost proxy teams days
//! are browser-shaped: a blocked API call inside an allowed app that surfaces as an
//! opaque `TypeError: Failed to fetch`, a preflight answered with a 407 or a redirect, a
//! block page served for a subresource. Hand-written HTTP clients cannot see these: only
//! a browser applies CORS, preflights and subresource rules. Headless Chromium is driven
//! over the DevTools protocol (`chromiumoxide`), through the proxy and, for comparison,
//! straight to the origin; each check asserts what the page's own script observes.
//!
//! Layout: [`chrome`] (launching the browser, the CA trusted, the per-tab network and
//! console record), [`cases`] (the checks), [`auth`] (the identity checks, against
//! proxies that require Basic proxy authentication or identify clients by address),
//! [`report`] (the result directory), [`load`] (the `browser` load class: page-load
//! timing through the proxy against direct), and
//! [`run_checks`], which starts the rig (test origin and proxy, from loadgen) and runs
//! every check.

pub mod auth;
pub mod cases;
pub mod chrome;
pub mod load;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgen::rig::{Rig, RigSpec};

use crate::cases::CaseResult;
use crate::chrome::{Chrome, Reach};

/// Why the checks could not run (a failing check is a [`CaseResult`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// A program the checks need is not installed.
    #[error("{program} not found; {hint}")]
    Missing {
        /// The program.
        program: &'static str,
        /// How to get it.
        hint: &'static str,
    },
    /// The browser did not start.
    #[error("launching Chromium: {detail}")]
    Launch {
        /// What failed.
        detail: String,
    },
    /// The DevTools protocol failed.
    #[error("DevTools protocol: {0}")]
    Cdp(#[from] chromiumoxide::error::CdpError),
    /// A script's result was not the JSON expected.
    #[error("reading a script's result: {0}")]
    Json(#[from] serde_json::Error),
    /// The origin or the proxy did not start.
    #[error("starting the test origin and the proxy: {0}")]
    Rig(#[from] loadgen::rig::RigError),
    /// A file operation failed.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        cause: std::io::Error,
    },
}

impl BrowserError {
    fn io(what: &str, cause: std::io::Error) -> BrowserError {
        BrowserError::Io {
            what: what.to_owned(),
            cause,
        }
    }
}

/// What to run the checks with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `filter-proxy` binary.
    pub proxy_bin: PathBuf,
    /// The checkout (its demo config is the proxy's base config).
    pub repo: PathBuf,
    /// The result directory (proxy config and logs, screenshots, `browser.json`).
    pub out: PathBuf,
}

impl Setup {
    /// Starts the test origin and the proxy on the demo config, writing their config and
    /// logs into `run_dir` (the result directory is created first).
    pub async fn start_rig(&self, run_dir: PathBuf) -> Result<Rig, BrowserError> {
        std::fs::create_dir_all(&self.out)
            .map_err(|e| BrowserError::io("create the result directory", e))?;
        Ok(Rig::start(&RigSpec {
            run_dir,
            proxy_bin: self.proxy_bin.clone(),
            base_config: loadgen::rig::paths::base_config(None, &self.repo),
            redis_bin: None,
            overrides: toml::Table::new(),
            proxy_cpus: None,
            loadgen_cpus: None,
            origin_threads: 1,
            seed_redis: false,
            ready_timeout: Duration::from_secs(30),
        })
        .await?)
    }
}

/// Starts the test origin and the proxy on the demo config, then runs every check
/// through a proxied and a direct browser. Everything started is stopped on return.
pub async fn run_checks(setup: &Setup) -> Result<Vec<CaseResult>, BrowserError> {
    let rig = setup.start_rig(setup.out.clone()).await?;
    let ca = rig.origin.ca_path().to_path_buf();
    let proxied = Chrome::launch(Reach::Proxy(rig.listen), &ca).await?;
    let direct = Chrome::launch(Reach::Direct(rig.origin.addr()), &ca).await?;
    let results = all_cases(&proxied, &direct, &setup.out).await;
    proxied.close().await;
    direct.close().await;
    let mut results = results?;
    let base_config = loadgen::rig::paths::base_config(None, &setup.repo);
    results.extend(
        auth::run(&auth::AuthSetup {
            proxy_bin: &setup.proxy_bin,
            base_config: &base_config,
            origin: rig.origin.addr(),
            ca: &ca,
            out: &setup.out,
        })
        .await?,
    );
    drop(rig);
    Ok(results)
}

async fn all_cases(
    proxied: &Chrome,
    direct: &Chrome,
    out: &Path,
) -> Result<Vec<CaseResult>, BrowserError> {
    let mut results = vec![cases::navigation_blocked(proxied, out).await?];
    results.extend(cases::scripts_read_block(proxied).await?);
    results.extend(cases::allowed_unchanged(proxied, direct).await?);
    results.push(cases::subresources(proxied).await?);
    results.extend(cases::https(proxied).await?);
    Ok(results)
}
