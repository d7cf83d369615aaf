//! The on-premise appliance (`filter-proxy appliance --config FILE`).
//!
//! Schools run it on their own network: it intercepts TCP (transparently via the host
//! firewall, or as an explicit proxy port), learns who is behind each IP (RADIUS
//! accounting, a static map), and forwards every connection to the cloud filter with a
//! signed PROXY protocol v2 header carrying the original addresses and the user.
//!
//! A crate of its own: it imports only the PROXY v2 crate (the header and the config
//! helpers both sides share), the cloud proxy's crate does not import it, and the
//! `filter-proxy` binary runs it as its `appliance` subcommand, so one image ships both
//! roles.
//!
//! # Layout
//! - [`config`]: file -> validated [`ApplianceConfig`].
//! - [`radius`]: accounting codec, listener and the IP -> user [`radius::SessionTable`].
//! - [`static_map`]: network -> user for sites without RADIUS.
//! - [`intercept`]: listeners, `SO_ORIGINAL_DST`, the connection cap.
//! - [`forward`]: PROXY header, then the bidirectional splice.
//! - [`admin`]: healthz, readyz, metrics ([`metrics`]).
//! - `shared`: the state every task shares (config, session table, metrics, the cap).
//! - `stop`: how every task learns that shutdown has started.
//!
//! [`run`] takes already bound sockets (tests bind port 0, the binary binds from config
//! with [`Bound::bind`]) and a shutdown future.

pub mod admin;
pub mod config;
pub mod forward;
pub mod intercept;
pub mod metrics;
pub mod radius;
mod shared;
pub mod static_map;
mod stop;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{watch, Semaphore};

pub use config::{ApplianceConfig, ConfigError};
use metrics::ApplianceMetrics;
use radius::table::UserGroup;
use radius::{RadiusListener, SessionTable};
use shared::Shared;

/// Why the appliance could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApplianceError {
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A socket could not be bound.
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        /// Which socket.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bound sockets do not match the config (a caller bug).
    #[error("{0}")]
    Mismatch(&'static str),
}

/// Sockets bound for a config, in the config's order.
#[derive(Debug)]
pub struct Bound {
    /// One per `[[listeners]]` entry.
    pub listeners: Vec<TcpListener>,
    /// The RADIUS socket, when `[radius]` is configured.
    pub radius: Option<UdpSocket>,
    /// The admin socket, when `[admin]` is configured.
    pub admin: Option<TcpListener>,
}

impl Bound {
    /// Binds every address of `cfg`.
    pub async fn bind(cfg: &ApplianceConfig) -> Result<Self, ApplianceError> {
        let bind_err = |what, addr| move |source| ApplianceError::Bind { what, addr, source };
        let mut listeners = Vec::new();
        for l in &cfg.listeners {
            listeners.push(
                TcpListener::bind(l.listen)
                    .await
                    .map_err(bind_err("listener", l.listen))?,
            );
        }
        let radius = match &cfg.radius {
            Some(r) => Some(
                UdpSocket::bind(r.listen)
                    .await
                    .map_err(bind_err("radius", r.listen))?,
            ),
            None => None,
        };
        let admin = match cfg.admin_listen {
            Some(a) => Some(TcpListener::bind(a).await.map_err(bind_err("admin", a))?),
            None => None,
        };
        Ok(Self {
            listeners,
            radius,
            admin,
        })
    }
}

/// One appliance: its session table and metrics exist before it runs, so a caller (or a
/// test) can observe them.
#[derive(Debug, Clone)]
pub struct Appliance {
    shared: Arc<Shared>,
}

impl Appliance {
    /// Prepares an appliance for `cfg`.
    pub fn new(cfg: ApplianceConfig) -> Self {
        let timeout = cfg
            .radius
            .as_ref()
            .map_or(std::time::Duration::from_secs(900), |r| r.session_timeout);
        let limit = Arc::new(Semaphore::new(cfg.forward.max_connections));
        Self {
            shared: Arc::new(Shared {
                cfg,
                table: Arc::new(SessionTable::new(timeout)),
                metrics: Arc::new(ApplianceMetrics::new()),
                limit,
                radius_running: AtomicBool::new(false),
            }),
        }
    }

    /// The IP -> user table fed by RADIUS.
    pub fn sessions(&self) -> &Arc<SessionTable> {
        &self.shared.table
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<ApplianceMetrics> {
        &self.shared.metrics
    }

    /// The identity a new connection from `ip` would carry (counts a lookup).
    pub fn resolve(&self, ip: IpAddr) -> Option<UserGroup> {
        self.shared.resolve(ip)
    }

    /// Serves on `bound` until `shutdown` resolves, then stops accepting and gives open
    /// connections up to the drain timeout to finish.
    pub async fn run(
        &self,
        bound: Bound,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ApplianceError> {
        let shared = &self.shared;
        if bound.listeners.len() != shared.cfg.listeners.len() {
            return Err(ApplianceError::Mismatch(
                "one bound listener per [[listeners]] entry",
            ));
        }
        if bound.radius.is_some() != shared.cfg.radius.is_some() {
            return Err(ApplianceError::Mismatch(
                "RADIUS socket bound iff [radius] is configured",
            ));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, settings) in bound.listeners.into_iter().zip(&shared.cfg.listeners) {
            tasks.spawn(intercept::serve_listener(
                listener,
                settings.clone(),
                shared.clone(),
                stop_rx.clone(),
            ));
        }
        if let (Some(socket), Some(r)) = (bound.radius, &shared.cfg.radius) {
            let listener = Arc::new(RadiusListener::new(
                r.settings.clone(),
                shared.table.clone(),
                shared.metrics.clone(),
            ));
            shared.radius_running.store(true, Ordering::Release);
            let rx = stop_rx.clone();
            let flag = shared.clone();
            tasks.spawn(async move {
                listener.serve(socket, rx).await;
                flag.radius_running.store(false, Ordering::Release);
            });
        }
        if let Some(admin) = bound.admin {
            tasks.spawn(admin::serve(admin, shared.clone(), stop_rx.clone()));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        // Every open connection holds a permit: getting them all back means all ended.
        let max = u32::try_from(shared.cfg.forward.max_connections).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(
            shared.cfg.forward.drain_timeout,
            shared.limit.acquire_many(max),
        )
        .await;
        Ok(())
    }
}

/// Runs an appliance for `cfg` on `bound` until `shutdown`.
pub async fn run(
    cfg: ApplianceConfig,
    bound: Bound,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ApplianceError> {
    Appliance::new(cfg).run(bound, shutdown).await
}

/// What the binary calls: load and validate `path`, bind, run until `shutdown`.
pub async fn run_from_file(
    path: &Path,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ApplianceError> {
    let cfg = ApplianceConfig::load(path)?;
    let bound = Bound::bind(&cfg).await?;
    tracing::info!(
        listeners = cfg.listeners.len(),
        radius = cfg.radius.is_some(),
        upstream = %cfg.upstream,
        "appliance started"
    );
    run(cfg, bound, shutdown).await
}
