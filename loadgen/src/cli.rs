//! Command-line arguments of `loadgen origin` and `loadgen attack`, and what
//! they run (the binary only dispatches).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::attack::{AttackOptions, Driver, OriginAddrs, StartAt, Worker};
use crate::origin::{self, OriginError, OriginState, TestCa, TlsListener};
use crate::segment::{Segment, SegmentError};

/// Arguments of `loadgen attack`.
#[derive(Debug, Clone, clap::Args)]
pub struct AttackArgs {
    /// Load profile (TOML), e.g. `profiles/peak.toml`.
    #[arg(long)]
    pub profile: PathBuf,
    /// Forward proxy address (`IP:PORT`, or `HOST:PORT` resolved once at start, e.g. a
    /// Kubernetes Service name); without it requests go straight to the origin.
    #[arg(long, value_parser = resolve_addr)]
    pub proxy: Option<SocketAddr>,
    /// Run directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Override the profile's duration (`90`, `90s`, `2m`).
    #[arg(long, value_parser = parse_duration_arg)]
    pub duration: Option<Duration>,
    /// Override the profile's number of users.
    #[arg(long)]
    pub users: Option<u64>,
    /// A running origin (plain HTTP; it also answers TLS; `IP:PORT` or `HOST:PORT`);
    /// default: start one in-process.
    #[arg(long, requires = "origin_ca", value_parser = resolve_addr)]
    pub origin: Option<SocketAddr>,
    /// The running origin's HTTPS listener (default: `--origin`).
    #[arg(long, requires = "origin", value_parser = resolve_addr)]
    pub origin_tls: Option<SocketAddr>,
    /// CA certificate (PEM) of the running origin.
    #[arg(long, requires = "origin")]
    pub origin_ca: Option<PathBuf>,
    /// Load driver.
    #[arg(long, value_enum, default_value = "goose")]
    pub driver: Driver,
    /// Open-loop driver: requests per second (default: the profile's target rate).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Do not print Goose's tables.
    #[arg(long)]
    pub quiet: bool,
    /// Run one slice of the load: `I/N` runs segment I (1-based) of N workers; `N` alone
    /// takes I from JOB_COMPLETION_INDEX (0-based, as an Indexed Job sets it) plus one.
    /// Users, stages, ramp and target rates (and `--users`, `--rate`, which are the whole
    /// run's) are split so the N slices add up exactly; the roster is split disjointly.
    #[arg(long)]
    pub segment: Option<String>,
    /// Shared start (RFC 3339, e.g. 2026-12-06T16:00:00Z): set up, then wait for it, so
    /// every worker's warm-up and steady window line up. A worker past it by more than a
    /// second says so and is recorded as late.
    #[arg(long)]
    pub start_at: Option<String>,
}

fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    crate::units::parse_duration(text)
}

/// `IP:PORT` as written, else `HOST:PORT` resolved now (its first address). In a cluster
/// the proxy and the origin are Service names; resolving once keeps every request of the
/// run on one address, as a run on one machine is.
pub fn resolve_addr(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(format!("{text:?}: expected IP:PORT or HOST:PORT"));
    }
    text.to_socket_addrs()
        .map_err(|e| format!("{text:?}: cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?}: the name has no address"))
}

impl AttackArgs {
    /// The attack these arguments describe.
    pub fn options(&self) -> AttackOptions {
        AttackOptions {
            profile: self.profile.clone(),
            proxy: self.proxy,
            origin: match (self.origin, &self.origin_ca) {
                (Some(http), Some(ca)) => Some(OriginAddrs {
                    http,
                    https: self.origin_tls,
                    ca: ca.clone(),
                }),
                _ => None,
            },
            out: self.out.clone(),
            duration: self.duration,
            users: self.users,
            driver: self.driver,
            rate: self.rate,
            quiet: self.quiet,
        }
    }
}

/// `--segment` or `--start-at` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkerArgError {
    /// A bad segment.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A bad start time.
    #[error("--start-at: {0}")]
    StartAt(#[from] rundir::time::TimeParseError),
}

impl AttackArgs {
    /// The worker these arguments describe; `job_index` is the value of
    /// `JOB_COMPLETION_INDEX` (read by the caller).
    pub fn worker(&self, job_index: Option<&str>) -> Result<Worker, WorkerArgError> {
        Ok(Worker {
            segment: match &self.segment {
                Some(text) => Segment::parse(text, job_index)?,
                None => Segment::WHOLE,
            },
            start_at: self.start_at.as_deref().map(StartAt::parse).transpose()?,
        })
    }
}

/// Arguments of `loadgen origin`.
#[derive(Debug, Clone, clap::Args)]
pub struct OriginArgs {
    /// Plain HTTP listener (also answers TLS, told apart by the first byte).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Optional dedicated HTTPS listener.
    #[arg(long)]
    pub tls_listen: Option<SocketAddr>,
    /// Where to write the CA certificate clients must trust.
    #[arg(long, default_value = "origin-ca.pem")]
    pub ca_out: PathBuf,
}

/// Runs the origin until Ctrl-C.
pub async fn run_origin(args: &OriginArgs) -> Result<(), OriginError> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let ca = TestCa::generate()?;
    ca.write_ca_pem(&args.ca_out)?;
    let tls = match args.tls_listen {
        Some(addr) => Some(TlsListener {
            listener: tokio::net::TcpListener::bind(addr).await?,
            ca: ca.clone(),
        }),
        // Without a dedicated listener the plain one still answers TLS.
        None => Some(TlsListener {
            listener: tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
            ca: ca.clone(),
        }),
    };
    eprintln!(
        "origin listening on {} (TLS too){}; CA written to {}",
        listener.local_addr()?,
        tls.as_ref()
            .map(|t| t
                .listener
                .local_addr()
                .map(|a| format!(", HTTPS on {a}"))
                .unwrap_or_default())
            .unwrap_or_default(),
        args.ca_out.display()
    );
    origin::serve_with_state(listener, tls, OriginState::new(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_taken_as_written_or_resolved_once() {
        assert_eq!(
            resolve_addr("127.0.0.1:3128").unwrap(),
            "127.0.0.1:3128".parse::<SocketAddr>().unwrap()
        );
        let named = resolve_addr("localhost:3128").unwrap();
        assert!(named.ip().is_loopback() && named.port() == 3128, "{named}");
        assert!(resolve_addr("localhost").unwrap_err().contains("HOST:PORT"));
        assert!(resolve_addr("no-such-host.invalid:80")
            .unwrap_err()
            .contains("cannot resolve"));
    }
}
