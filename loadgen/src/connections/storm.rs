//! `loadgen storm`: the connection storm against a proxy that is already running (Squid,
//! or a filter-proxy started by a bench script), for comparing what one idle connection
//! costs in different proxies with one client and one method.
//!
//! `loadgen run` on the connections profile starts the bundled proxy itself and fits its
//! costs over the proxy's own connection gauge, with jemalloc's live heap. Another proxy
//! has neither, so this command measures what every proxy has: RSS and open fds from
//! `/proc/PID`, fitted over the connections the storm client holds open
//! ([`Count::ClientHeld`]). Run against the bundled proxy as well, the two figures are
//! like for like; `--admin` adds its live heap (same x-axis) for reference.
//!
//! The storm is the one `loadgen run` makes ([`open::ramp`]): idle keep-alive connections
//! (one GET of 1 KiB each) over the ramp, a settling second, idle tunnels (CONNECT and a
//! TLS handshake with the origin through each) over the ramp, a settling second, then a
//! hold, sampled throughout ([`samples::run`]), fitted per phase ([`fit::costs`]). There
//! are no active users and no attempts beyond a cap: this command measures cost, not
//! behaviour under a cap another proxy does not have. At the end of the hold every held
//! connection is checked to be still open, since a proxy that closed idle connections
//! would make the fitted cost meaningless; the report counts them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::profile::connections::MAX_CONNECTIONS;
use crate::rig::admin::AdminClient;
use crate::rig::sample;
use crate::rig::signal::until_shutdown;

use super::fd_limit;
use super::fit::{costs, kind_of};
use super::open::{self, Held, Kind};
use super::samples::{self, Count, Phase, Probe};
use super::storm_error::StormError;
use super::storm_report::{self, StormReport};

/// Arguments of `loadgen storm`.
#[derive(Debug, Clone, clap::Args)]
pub struct StormArgs {
    /// The proxy under test (`IP:PORT`); it must send every host to the test origin.
    #[arg(long, value_parser = crate::cli::resolve_addr)]
    pub proxy: SocketAddr,
    /// The proxy's process id: RSS and fds are read from `/proc/PID`.
    #[arg(long)]
    pub pid: u32,
    /// CA certificate (PEM) of the test origin the tunnels reach (`loadgen origin --ca-out`).
    #[arg(long)]
    pub origin_ca: PathBuf,
    /// The bundled proxy's admin listener: also sample its live heap (jemalloc
    /// `allocated`), over the same x-axis. Without it the heap is not measured.
    #[arg(long)]
    pub admin: Option<SocketAddr>,
    /// The port each CONNECT names (`allowed.example:PORT`): 443 for the bundled proxy,
    /// which sends every host and port to the origin; the origin's port for a proxy that
    /// resolves the name itself (Squid with a hosts file) and connects to it directly.
    #[arg(long, default_value_t = open::TUNNEL_PORT)]
    pub connect_port: u16,
    /// Idle keep-alive connections (one GET of 1 KiB each, then idle).
    #[arg(long, default_value_t = 4000)]
    pub keep_alive: u64,
    /// Idle tunnels (CONNECT, TLS handshake with the origin, then idle).
    #[arg(long, default_value_t = 1000)]
    pub tunnels: u64,
    /// Time in which each kind is opened.
    #[arg(long, default_value = "8s", value_parser = parse_duration_arg)]
    pub ramp: Duration,
    /// Time everything is held after the last tunnel opened.
    #[arg(long, default_value = "4s", value_parser = parse_duration_arg)]
    pub hold: Duration,
    /// Time between two samples of the proxy.
    #[arg(long, default_value = "200ms", value_parser = parse_duration_arg)]
    pub sample_interval: Duration,
    /// The proxy's name in the report (`squid`, `filter-proxy`).
    #[arg(long)]
    pub label: String,
    /// Directory for `storm.json` and `connection-samples.csv` (created; must not hold a
    /// previous storm).
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    crate::units::parse_duration(text)
}

/// The problems with `args`, each named by its option (empty: a usable storm).
pub fn problems(args: &StormArgs) -> Vec<String> {
    let mut out = Vec::new();
    let total = args.keep_alive + args.tunnels;
    if args.keep_alive == 0 || args.tunnels == 0 {
        out.push("--keep-alive and --tunnels must each be at least 1".to_owned());
    }
    if total > MAX_CONNECTIONS {
        out.push(format!(
            "--keep-alive + --tunnels is {total}, above the {MAX_CONNECTIONS} one client can open"
        ));
    }
    if args.sample_interval.is_zero() {
        out.push("--sample-interval must be above zero".to_owned());
    } else if args.ramp < args.sample_interval * 10 {
        // A slope needs several samples per ramp to say anything with an interval.
        out.push(format!(
            "--ramp {:?} gives fewer than 10 samples at --sample-interval {:?}",
            args.ramp, args.sample_interval
        ));
    }
    out
}

/// Fds this process needs: one per connection held, plus slack for the runtime, the
/// sampler's `/proc` reads and the admin client.
pub fn fds_needed(args: &StormArgs) -> u64 {
    args.keep_alive + args.tunnels + 1_024
}

/// Runs the storm; see the module documentation. Writes `storm.json` and the samples into
/// `--out` and returns the report.
pub async fn run(args: &StormArgs) -> Result<StormReport, StormError> {
    let problems = problems(args);
    if !problems.is_empty() {
        return Err(StormError::Args(problems));
    }
    sample::sample_pid(args.pid, sample::clock_ticks_per_second()).map_err(|source| {
        StormError::Pid {
            pid: args.pid,
            source,
        }
    })?;
    let want = fds_needed(args);
    let have = fd_limit::raise(want);
    if have < want {
        return Err(StormError::FdLimit { have, want });
    }
    storm_report::prepare_out(&args.out)?;
    let tls = crate::rig::origin::client_tls(&args.origin_ca).map_err(StormError::Setup)?;
    let heap = args
        .admin
        .map(AdminClient::new)
        .transpose()
        .map_err(StormError::Setup)?;
    let held = Arc::new(AtomicU64::new(0));
    let probe = Probe {
        pid: args.pid,
        count: Count::ClientHeld(Arc::clone(&held)),
        heap,
    };
    let x_axis = probe.count.describe();
    let measured = until_shutdown(storm(args, probe, &tls, &held))
        .await
        .ok_or(StormError::Interrupted)?;
    if !std::path::Path::new(&format!("/proc/{}", args.pid)).exists() {
        return Err(StormError::ProxyExited(args.pid));
    }
    let peak_rss_bytes = std::fs::read_to_string(format!("/proc/{}/status", args.pid))
        .ok()
        .and_then(|t| sample::parse_status(&t).ok())
        .map(|s| s.hwm_bytes);
    let report = StormReport {
        label: args.label.clone(),
        proxy: args.proxy.to_string(),
        pid: args.pid,
        x_axis: x_axis.to_owned(),
        heap: if args.admin.is_some() {
            "jemalloc allocated, from the proxy's admin listener".to_owned()
        } else {
            "not measured".to_owned()
        },
        keep_alive: measured.keep_alive,
        tunnel: measured.tunnel,
        still_open: measured.still_open,
        closed_by_proxy: measured.closed,
        fd_limit: have,
        peak_rss_bytes,
        samples: measured.samples.len() as u64,
        samples_file: storm_report::SAMPLES_FILE.to_owned(),
    };
    storm_report::write(&args.out, &report, &measured.samples)?;
    Ok(report)
}

/// What the storm itself measured.
struct Measured {
    keep_alive: rundir::run::connections::ConnectionKind,
    tunnel: rundir::run::connections::ConnectionKind,
    samples: Vec<samples::Sample>,
    still_open: u64,
    closed: u64,
}

async fn storm(
    args: &StormArgs,
    probe: Probe,
    tls: &tokio_rustls::TlsConnector,
    held: &Arc<AtomicU64>,
) -> Measured {
    // Bounded however the proxy behaves: each ramp's connections have their own deadline,
    // and the sampler stops at the stop signal or this deadline, whichever is first.
    let budget = args.ramp * 2 + args.hold + Duration::from_secs(60);
    let deadline = Instant::now() + budget;
    let settle = Duration::from_secs(1);
    let (phase_tx, phase_rx) = watch::channel(Phase::Idle);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(samples::run(
        probe,
        args.sample_interval,
        phase_rx,
        stop_rx,
        deadline,
    ));
    tokio::time::sleep(settle).await;

    let _ = phase_tx.send(Phase::KeepAlive);
    let keep_alive = open::ramp(
        Kind::KeepAlive,
        args.keep_alive,
        0,
        args.ramp,
        args.proxy,
        tls,
        held,
    )
    .await;
    tokio::time::sleep(settle).await;
    let _ = phase_tx.send(Phase::Tunnel);
    let tunnels = open::ramp(
        Kind::Tunnel {
            port: args.connect_port,
        },
        args.tunnels,
        args.keep_alive,
        args.ramp,
        args.proxy,
        tls,
        held,
    )
    .await;
    tokio::time::sleep(settle).await;
    let _ = phase_tx.send(Phase::Hold);
    tokio::time::sleep(args.hold).await;
    let _ = stop_tx.send(true);
    let samples = sampler.await.unwrap_or_default();

    let still_open = keep_alive
        .held
        .iter()
        .chain(&tunnels.held)
        .filter(|h: &&Held| h.still_open())
        .count() as u64;
    let total_held = (keep_alive.held.len() + tunnels.held.len()) as u64;
    for (name, ramp) in [("keep-alive", &keep_alive), ("tunnel", &tunnels)] {
        if ramp.failed > 0 {
            eprintln!(
                "storm: {name}: {} connections failed: {}",
                ramp.failed,
                ramp.reasons.join("; ")
            );
        }
    }
    let mut ka = kind_of(args.keep_alive, &keep_alive);
    costs(&samples, Phase::KeepAlive, &mut ka);
    let mut tu = kind_of(args.tunnels, &tunnels);
    costs(&samples, Phase::Tunnel, &mut tu);
    drop(keep_alive);
    drop(tunnels);
    held.store(0, Ordering::Relaxed);
    Measured {
        keep_alive: ka,
        tunnel: tu,
        samples,
        still_open,
        closed: total_held - still_open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        storm: StormArgs,
    }

    fn parse(extra: &[&str]) -> StormArgs {
        let mut argv = vec![
            "storm",
            "--proxy",
            "127.0.0.1:3128",
            "--pid",
            "1",
            "--origin-ca",
            "ca.pem",
            "--label",
            "squid",
            "--out",
            "out",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("valid arguments").storm
    }

    #[test]
    fn the_defaults_make_a_usable_storm() {
        let args = parse(&[]);
        assert!(problems(&args).is_empty(), "{:?}", problems(&args));
        assert_eq!(fds_needed(&args), 4_000 + 1_000 + 1_024);
    }

    #[test]
    fn each_unusable_option_is_named() {
        let none = parse(&["--tunnels", "0"]);
        assert!(
            problems(&none)[0].contains("--tunnels"),
            "{:?}",
            problems(&none)
        );
        let too_many = parse(&["--keep-alive", "300000"]);
        assert!(problems(&too_many)[0].contains("above"));
        let sparse = parse(&["--ramp", "1s", "--sample-interval", "500ms"]);
        assert!(problems(&sparse)[0].contains("fewer than 10 samples"));
        let zero = parse(&["--sample-interval", "0"]);
        assert!(problems(&zero)[0].contains("above zero"));
    }
}
