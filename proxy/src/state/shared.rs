//! The running state shared by every connection: validated config, the current policy
//! snapshot, the identity resolver, the upstream pool and the metrics. Built once by
//! [`crate::server::serve`]; everything a request needs is precomputed here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;

use tokio::sync::watch;

use crate::access_log::AccessLog;
use crate::config::Config;
use crate::headers::RequestRewrite;
use crate::identity::IdentityResolver;
use crate::metrics::Metrics;
use crate::pool::{Pool, PoolSettings};
use crate::reload::Reloader;
use crate::store::{FailMode, PolicyStore};

/// Why [`crate::server::serve`] failed: a listener, or the running state it builds first.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be inspected or used.
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
    /// The configured policy store could not be set up.
    #[error("policy store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The access log could not be opened.
    #[error("access log: {0}")]
    AccessLog(std::io::Error),
}

/// State shared by all connections of one running proxy.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub reloader: Reloader,
    pub resolver: Arc<IdentityResolver>,
    pub metrics: Arc<Metrics>,
    pub pool: Pool,
    /// `1.1 <via_name>`.
    pub via: HeaderValue,
    /// Set when shutdown starts; `/readyz` answers 503 from then on.
    pub draining: AtomicBool,
    /// The client-side HTTP/1 settings, applied to every connection.
    pub http: http1::Builder,
    /// Header changes applied to every forwarded request.
    pub rewrite: RequestRewrite,
    /// Identity and policy lookups (embedded files, or Redis with fallback).
    pub store: PolicyStore,
    /// One line per request and tunnel (a disabled log when `[access_log]` is off).
    pub access_log: AccessLog,
}

impl Shared {
    /// Builds the running state; fails when the configured store cannot be set up or the
    /// access log cannot be opened.
    pub fn new(config: Config) -> Result<Arc<Self>, ServeError> {
        let store = PolicyStore::from_settings(&config.store)?;
        let mut access_log = Ok(AccessLog::disabled());
        let metrics = Arc::new(Metrics::with_extra(|registry| {
            store.register(registry);
            if let Some(settings) = &config.access_log {
                access_log = AccessLog::start(settings, registry);
            }
        }));
        let access_log = access_log.map_err(ServeError::AccessLog)?;
        metrics.policy_version.set(config.snapshot.version as i64);
        let pool = Pool::new(
            PoolSettings {
                max_per_host: config.upstream.max_per_host,
                max_total: config.upstream.max_total,
                idle_timeout: config.upstream.idle_timeout,
                acquire_timeout: config.upstream.acquire_timeout,
            },
            metrics.pool.clone(),
        );
        let via = HeaderValue::from_str(&format!("1.1 {}", config.server.via_name))
            .expect("via_name is validated as a visible-ASCII token");
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.server.header_read_timeout)
            .max_buf_size(config.server.max_header_bytes)
            .max_headers(config.server.max_headers)
            .keep_alive(config.server.keep_alive);
        let rewrite = RequestRewrite {
            via: via.clone(),
            user_header: config.forward.user_header.clone(),
            group_header: config.forward.group_header.clone(),
            trusted: [
                header_name(&config.identity.trusted_user_header),
                header_name(&config.identity.trusted_group_header),
            ],
        };
        Ok(Arc::new(Shared {
            reloader: Reloader::new(
                config.snapshot.clone(),
                config.filter.categories.clone(),
                config.filter.policy.clone(),
            ),
            resolver: config.resolver.clone(),
            config,
            metrics,
            pool,
            via,
            draining: AtomicBool::new(false),
            http,
            rewrite,
            store,
            access_log,
        }))
    }

    /// Why the proxy should not receive traffic right now, if it should not: draining,
    /// or a fail-closed store that cannot answer.
    pub fn not_ready(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::SeqCst) {
            return Some("draining");
        }
        match self.store.degraded() {
            Some(why) if self.store.fail_mode() == FailMode::Closed => Some(why),
            _ => None,
        }
    }

    /// Reloads the snapshot, recording the result in metrics and logs.
    pub async fn reload(&self) -> Result<String, String> {
        match self.reloader.reload().await {
            Ok(snap) => {
                self.metrics.reload(true);
                self.metrics.policy_version.set(snap.version as i64);
                let label = snap.version_label();
                tracing::info!(version = %label, rules = snap.db.len(), "policy reloaded");
                Ok(label)
            }
            Err(e) => {
                self.metrics.reload(false);
                let current = self.reloader.current().version_label();
                tracing::warn!(error = %e, kept = %current, "reload refused; keeping the current policy");
                Err(format!("{e} (kept policy version {current})"))
            }
        }
    }
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .expect("identity header names are validated with the config")
}

/// Completes once `flag` is (or becomes) true, or its sender is gone: how the accept
/// loop and the admin listener learn that shutdown has started.
pub(crate) async fn until_set(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}
