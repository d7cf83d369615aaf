//! The self-contained replay rig, all on loopback:
//!
//! ```text
//! replay -> filter-proxy (candidate, demo config) ------------------------> test origin
//! replay -> e2guardian (reference) -> filter-proxy (parent, allow-all) ---> test origin
//! ```
//!
//! e2guardian has no static-resolve override and the machine's resolver is not on
//! loopback, so it never connects anywhere itself: its parent is a second `filter-proxy`
//! whose policy blocks nothing (IP-address hosts included) and which resolves every host
//! to the origin. The parent only carries what e2guardian already allowed; it decides
//! nothing. The origin marks every answer (`x-echo-reached`), so "allowed" is read, not
//! assumed.
//!
//! Every process is held by a guard and killed by pid when the rig drops, which also
//! happens on an error, a panic or Ctrl-C/SIGTERM (the command's future is dropped).

use std::net::SocketAddr;
use std::time::Duration;

use http::header::HeaderName;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::harness::rundir::write_atomic;
use crate::origin::{self, OriginState};
use crate::rig::children::ChildGuard;
use crate::rig::launch::{self, ConfigSpec};
use crate::rig::redis::free_local_addr;

use super::args::ParityArgs;
use super::db::{Database, GroupPolicy};
use super::e2guardian::{self, Lists, LowercasePath};
use super::error::ParityError;

/// How long a rig process may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The running rig; dropping it stops everything.
#[derive(Debug)]
pub struct Rig {
    /// e2guardian's address.
    pub reference: SocketAddr,
    /// The candidate filter-proxy's address.
    pub candidate: SocketAddr,
    // Field order is drop order: the filters before their upstreams.
    _e2guardian: ChildGuard,
    _e2guardian_dir: LowercasePath,
    _candidate: ChildGuard,
    _parent: ChildGuard,
    origin_stop: Option<oneshot::Sender<()>>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(stop) = self.origin_stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Rig {
    /// Starts origin, candidate, parent and e2guardian, writing their configs and logs
    /// under `args.out`.
    pub async fn start(args: &ParityArgs) -> Result<Rig, ParityError> {
        // Inputs first: nothing starts without e2guardian, or on a database or policy
        // that does not load.
        if crate::rig::redis::find_program(&args.e2guardian_bin).is_none() {
            return Err(ParityError::MissingE2guardian);
        }
        let database = Database::load(&args.categories)?;
        let policy = GroupPolicy::load(&args.policy, &args.group)?;
        let lists = Lists::derive(&database, &policy);
        let proxy_bin = args
            .proxy_bin
            .clone()
            .unwrap_or_else(crate::faults::default_proxy_bin);
        if !proxy_bin.is_file() {
            return Err(ParityError::Input(format!(
                "filter-proxy binary {} not found (cargo build -p filter-proxy, or --proxy-bin)",
                proxy_bin.display()
            )));
        }
        let base_config =
            std::fs::canonicalize(&args.proxy_config).map_err(|source| ParityError::Io {
                what: format!("proxy config {}", args.proxy_config.display()),
                cause: source,
            })?;

        let listener =
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| ParityError::Io {
                    what: "bind the test origin".into(),
                    cause: source,
                })?;
        let origin_addr = listener.local_addr().map_err(|source| ParityError::Io {
            what: "test origin address".into(),
            cause: source,
        })?;
        let (origin_stop, stopped) = oneshot::channel::<()>();
        let state = OriginState::echoing(&[HeaderName::from_static("via")]);
        tokio::spawn(async move {
            let _ = origin::serve_with_state(listener, None, state, async {
                let _ = stopped.await;
            })
            .await;
        });

        let out = &args.out;
        let candidate_cfg = launch::write_config(&ConfigSpec {
            base_config: &base_config,
            dir: &out.join("candidate"),
            origin: origin_addr,
            redis_url: None,
            overrides: None,
        })?;
        let parent_dir = out.join("parent");
        std::fs::create_dir_all(&parent_dir).map_err(|source| ParityError::Io {
            what: format!("create {}", parent_dir.display()),
            cause: source,
        })?;
        let allow_all = parent_dir.join("allow-all-policy.toml");
        write_atomic(
            &allow_all,
            b"# e2guardian's parent: carries what e2guardian allowed, blocks nothing.\n[groups.default]\nip_literals = \"allow\"\n",
        )?;
        // Absolute: the proxy reads relative paths relative to its config file.
        let allow_all = std::fs::canonicalize(&allow_all).map_err(|source| ParityError::Io {
            what: format!("resolve {}", allow_all.display()),
            cause: source,
        })?;
        let overrides: toml::Table = toml::from_str(&format!(
            "[server]\nvia_name = \"parity-parent\"\n[filter]\npolicy = {:?}\n",
            allow_all.display().to_string()
        ))
        .expect("the override table is valid TOML");
        let parent_cfg = launch::write_config(&ConfigSpec {
            base_config: &base_config,
            dir: &parent_dir,
            origin: origin_addr,
            redis_url: None,
            overrides: Some(&overrides),
        })?;
        let (candidate, _) = launch::start_proxy(
            &proxy_bin,
            &candidate_cfg,
            None,
            out.join("candidate/proxy.log"),
            READY_TIMEOUT,
        )
        .await?;
        let (parent, _) = launch::start_proxy(
            &proxy_bin,
            &parent_cfg,
            None,
            parent_dir.join("proxy.log"),
            READY_TIMEOUT,
        )
        .await?;
        let e2g_dir = LowercasePath::for_dir(&out.join("e2guardian"))?;
        let e2g_cfg = e2guardian::write_config(
            &args.e2guardian_template,
            e2g_dir.path(),
            free_local_addr()?,
            parent_cfg.listen,
            &lists,
        )?;
        let e2g = e2guardian::start(
            &args.e2guardian_bin,
            &e2g_cfg,
            e2g_dir.path().join("e2guardian.log"),
            READY_TIMEOUT,
        )
        .await?;
        Ok(Rig {
            reference: e2g_cfg.listen,
            candidate: candidate_cfg.listen,
            _e2guardian: e2g,
            _e2guardian_dir: e2g_dir,
            _candidate: candidate,
            _parent: parent,
            origin_stop: Some(origin_stop),
        })
    }
}
