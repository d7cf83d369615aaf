//! The gated metrics: their names, and how each is measured from a run.
//!
//! A metric has a whole-run point value and, where the run recorded it per second, a sample
//! of per-second values from the steady window; the gate compares the samples when both
//! sides have them (distributions, not single numbers) and the points otherwise. The same
//! [`MetricSet`] is stored in a baseline document, so a baseline and a run (or, later, two
//! interleaved trials) are compared the same way.

use crate::rundir::RunDir;
use crate::{machine, soak, spike, stats};
use rundir::baseline::{MetricSet, MetricValue};
use std::fmt;

/// Every metric the gate knows, per class where it says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Unexpected failures / requests of a class (fraction).
    FailureRate,
    /// 99th percentile latency of a class, µs.
    P99Us,
    /// 99.9th percentile latency of a class, µs.
    P999Us,
    /// 99th percentile latency of a class judged on uncontended seconds only: the median,
    /// over the seconds after the warm-up in which the machine was not contended
    /// ([`crate::machine::clean_rows`]), of each second's p99, µs. Why: on a shared
    /// machine the whole-run p99 is set by the neighbours' worst seconds (2-30x between
    /// identical runs); a typical clean second's p99 moves with the proxy.
    CleanP99Us,
    /// Median latency of a class judged on uncontended seconds only: the median over the
    /// same seconds as [`Metric::CleanP99Us`] of each second's p50, µs. Why: a latency
    /// added to every request moves the median by all of it, and the median of a second
    /// rests on half its requests, not on its two slowest; gated as a shift scaled by the
    /// control's clean p99 (`kind = "shift"`, `of = "clean_p99_us"`), it catches a +20%
    /// p99 made of added latency where the p99 itself is too noisy to.
    CleanP50Us,
    /// Seconds after the warm-up in which the machine was not contended: how much evidence the
    /// `clean_*` metrics rest on (not a rule's metric; the gate reads it to call a
    /// latency verdict inconclusive).
    CleanSeconds,
    /// Proxy CPU (user + system) per request, µs.
    ProxyCpuUsPerRequest,
    /// Instructions the proxy executes per request of a fixed sequence, counted under
    /// callgrind: the CPU cost without the machine's noise.
    ProxyInstructionsPerRequest,
    /// Heap allocations per request.
    AllocsPerRequest,
    /// Heap bytes allocated per request.
    BytesAllocatedPerRequest,
    /// Peak resident set size of the proxy, bytes.
    PeakRssBytes,
    /// Slope of RSS over the steady window, bytes/s.
    RssSlopeBytesPerS,
    /// Median latency the proxy adds, µs.
    ProxyAddedP50Us,
    /// 99th percentile latency the proxy adds, µs.
    ProxyAddedP99Us,
    /// Achieved requests per second.
    ThroughputRps,
    /// Achieved / offered request rate (1.0 = the proxy kept up).
    AchievedRateRatio,
    /// Soak: upper end of the 95% interval of the RSS slope over the steady window, MB/h.
    RssSlopeUpperMbPerH,
    /// Soak: upper end of the 95% interval of the allocator-resident slope, MB/h.
    AllocResidentSlopeUpperMbPerH,
    /// Soak: open fds beyond client connections (raw fds when connections were not
    /// recorded), mean of the last tenth of the steady window minus the first.
    FdGrowth,
    /// Soak: threads, mean of the last tenth of the steady window minus the first.
    ThreadGrowth,
    /// Soak: median per-second p99 of a class, last tenth / first tenth of the window.
    P99DriftRatio,
    /// Spike: seconds from the end of the surge until p99 is back near its pre-spike value.
    SpikeRecoveryS,
    /// Appliance: median latency the appliance hop adds (through it minus straight to the
    /// proxy, same run), µs.
    ApplianceAddedP50Us,
    /// Appliance: 99th percentile latency the appliance hop adds, µs.
    ApplianceAddedP99Us,
    /// Appliance: answers through the appliance that carried another user.
    IdentityMismatches,
    /// Appliance: answers through the appliance that carried no user / answers checked.
    IdentityMissingRate,
    /// Connection storm: idle connections made per second over both ramps (keep-alive and tunnels).
    StormAcceptRatePerS,
    /// Connection storm: 99th percentile latency of the active users during the storm, µs (from the intended send).
    StormActiveP99Us,
    /// Connection storm: storm connections that never became idle, plus failed requests of the active users.
    StormConnectionFailures,
    /// Connection storm: attempts beyond the connection cap not answered with the proxy's 503.
    StormRefusalsMissed,
    /// Connection storm: live heap per idle keep-alive connection (least-squares slope), bytes.
    HeapPerKeepAliveBytes,
    /// Connection storm: upper end of the 95% interval of that slope, bytes.
    HeapPerKeepAliveUpperBytes,
    /// Connection storm: live heap per idle tunnel (least-squares slope), bytes.
    HeapPerTunnelBytes,
    /// Connection storm: upper end of the 95% interval of that slope, bytes.
    HeapPerTunnelUpperBytes,
    /// Connection storm: RSS per idle keep-alive connection (slope), bytes.
    RssPerKeepAliveBytes,
    /// Connection storm: RSS per idle tunnel (slope), bytes.
    RssPerTunnelBytes,
    /// Connection storm: open fds per idle keep-alive connection (slope).
    FdsPerKeepAlive,
    /// Connection storm: open fds per idle tunnel (slope).
    FdsPerTunnel,
    /// Simulated users: the proxy's open client connections per user, per steady second.
    /// What a fleet is sized by: how many connections one pupil's device holds.
    ClientConnectionsPerUser,
    /// Simulated users: requests per user per second, per steady second.
    RequestsPerUserPerS,
    /// Simulated users: the proxy's open fds per user, per steady second (client sockets,
    /// tunnels' origin sockets and the upstream pool's share).
    FdsPerUser,
}

impl Metric {
    /// All metrics, in report order.
    pub const ALL: [Metric; 41] = [
        Metric::FailureRate,
        Metric::P99Us,
        Metric::P999Us,
        Metric::CleanP99Us,
        Metric::CleanP50Us,
        Metric::CleanSeconds,
        Metric::ProxyCpuUsPerRequest,
        Metric::ProxyInstructionsPerRequest,
        Metric::AllocsPerRequest,
        Metric::BytesAllocatedPerRequest,
        Metric::PeakRssBytes,
        Metric::RssSlopeBytesPerS,
        Metric::ProxyAddedP50Us,
        Metric::ProxyAddedP99Us,
        Metric::ThroughputRps,
        Metric::AchievedRateRatio,
        Metric::RssSlopeUpperMbPerH,
        Metric::AllocResidentSlopeUpperMbPerH,
        Metric::FdGrowth,
        Metric::ThreadGrowth,
        Metric::P99DriftRatio,
        Metric::SpikeRecoveryS,
        Metric::ApplianceAddedP50Us,
        Metric::ApplianceAddedP99Us,
        Metric::IdentityMismatches,
        Metric::IdentityMissingRate,
        Metric::StormAcceptRatePerS,
        Metric::StormActiveP99Us,
        Metric::StormConnectionFailures,
        Metric::StormRefusalsMissed,
        Metric::HeapPerKeepAliveBytes,
        Metric::HeapPerKeepAliveUpperBytes,
        Metric::HeapPerTunnelBytes,
        Metric::HeapPerTunnelUpperBytes,
        Metric::RssPerKeepAliveBytes,
        Metric::RssPerTunnelBytes,
        Metric::FdsPerKeepAlive,
        Metric::FdsPerTunnel,
        Metric::ClientConnectionsPerUser,
        Metric::RequestsPerUserPerS,
        Metric::FdsPerUser,
    ];

    /// The name used in `gates.toml` and in documents.
    pub fn name(self) -> &'static str {
        match self {
            Metric::FailureRate => "failure_rate",
            Metric::P99Us => "p99_us",
            Metric::P999Us => "p999_us",
            Metric::CleanP99Us => "clean_p99_us",
            Metric::CleanP50Us => "clean_p50_us",
            Metric::CleanSeconds => "clean_seconds",
            Metric::ProxyCpuUsPerRequest => "proxy_cpu_us_per_request",
            Metric::ProxyInstructionsPerRequest => "proxy_instructions_per_request",
            Metric::AllocsPerRequest => "allocs_per_request",
            Metric::BytesAllocatedPerRequest => "bytes_allocated_per_request",
            Metric::PeakRssBytes => "peak_rss_bytes",
            Metric::RssSlopeBytesPerS => "rss_slope_bytes_per_s",
            Metric::ProxyAddedP50Us => "proxy_added_p50_us",
            Metric::ProxyAddedP99Us => "proxy_added_p99_us",
            Metric::ThroughputRps => "throughput_rps",
            Metric::AchievedRateRatio => "achieved_rate_ratio",
            Metric::RssSlopeUpperMbPerH => "rss_slope_upper_mb_per_h",
            Metric::AllocResidentSlopeUpperMbPerH => "alloc_resident_slope_upper_mb_per_h",
            Metric::FdGrowth => "fd_growth",
            Metric::ThreadGrowth => "thread_growth",
            Metric::P99DriftRatio => "p99_drift_ratio",
            Metric::SpikeRecoveryS => "spike_recovery_s",
            Metric::ApplianceAddedP50Us => "appliance_added_p50_us",
            Metric::ApplianceAddedP99Us => "appliance_added_p99_us",
            Metric::IdentityMismatches => "identity_mismatches",
            Metric::IdentityMissingRate => "identity_missing_rate",
            Metric::StormAcceptRatePerS => "storm_accept_rate_per_s",
            Metric::StormActiveP99Us => "storm_active_p99_us",
            Metric::StormConnectionFailures => "storm_connection_failures",
            Metric::StormRefusalsMissed => "storm_refusals_missed",
            Metric::HeapPerKeepAliveBytes => "heap_per_keep_alive_bytes",
            Metric::HeapPerKeepAliveUpperBytes => "heap_per_keep_alive_upper_bytes",
            Metric::HeapPerTunnelBytes => "heap_per_tunnel_bytes",
            Metric::HeapPerTunnelUpperBytes => "heap_per_tunnel_upper_bytes",
            Metric::RssPerKeepAliveBytes => "rss_per_keep_alive_bytes",
            Metric::RssPerTunnelBytes => "rss_per_tunnel_bytes",
            Metric::FdsPerKeepAlive => "fds_per_keep_alive",
            Metric::FdsPerTunnel => "fds_per_tunnel",
            Metric::ClientConnectionsPerUser => "client_connections_per_user",
            Metric::RequestsPerUserPerS => "requests_per_user_per_s",
            Metric::FdsPerUser => "fds_per_user",
        }
    }

    /// Whether the metric exists once per request class (`name.class`).
    pub fn per_class(self) -> bool {
        matches!(
            self,
            Metric::FailureRate
                | Metric::P99Us
                | Metric::P999Us
                | Metric::CleanP99Us
                | Metric::CleanP50Us
                | Metric::P99DriftRatio
        )
    }

    /// For a metric only some kinds of run produce, which ones (said in the document when
    /// a rule on it does not apply); `None` for metrics every load run produces. Metrics a
    /// broken pass could lose on both sides of an A/B session (the instruction count, the
    /// machine samples) are deliberately not listed: their absence stays "missing".
    pub fn produced_only_by(self) -> Option<&'static str> {
        match self {
            Metric::AchievedRateRatio => Some("open-loop runs (a closed-loop run offers no rate)"),
            Metric::ProxyAddedP50Us | Metric::ProxyAddedP99Us => {
                Some("runs with light passes straight to the origin")
            }
            Metric::RssSlopeUpperMbPerH
            | Metric::AllocResidentSlopeUpperMbPerH
            | Metric::FdGrowth
            | Metric::ThreadGrowth
            | Metric::P99DriftRatio => Some("soak runs"),
            Metric::SpikeRecoveryS => Some("runs with a surge"),
            Metric::ApplianceAddedP50Us
            | Metric::ApplianceAddedP99Us
            | Metric::IdentityMismatches
            | Metric::IdentityMissingRate => Some("appliance runs"),
            Metric::StormAcceptRatePerS
            | Metric::StormActiveP99Us
            | Metric::StormConnectionFailures
            | Metric::StormRefusalsMissed
            | Metric::HeapPerKeepAliveBytes
            | Metric::HeapPerKeepAliveUpperBytes
            | Metric::HeapPerTunnelBytes
            | Metric::HeapPerTunnelUpperBytes
            | Metric::RssPerKeepAliveBytes
            | Metric::RssPerTunnelBytes
            | Metric::FdsPerKeepAlive
            | Metric::FdsPerTunnel => Some("connection-storm runs"),
            Metric::ClientConnectionsPerUser | Metric::RequestsPerUserPerS | Metric::FdsPerUser => {
                Some("runs of simulated users (not a connection storm)")
            }
            _ => None,
        }
    }

    /// Whether the metric, whole-run without a class, also exists per request class
    /// (`name` and `name.CLASS`): instructions per request, whose headline is the
    /// mix-weighted figure and whose classes are each counted exactly by the pass.
    pub fn also_per_class(self) -> bool {
        matches!(self, Metric::ProxyInstructionsPerRequest)
    }

    /// Looks a metric up by name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A metric, bound to a class when it is per class.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    /// Which metric.
    pub metric: Metric,
    /// The request class, for per-class metrics.
    pub class: Option<String>,
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.class {
            Some(class) => write!(f, "{}.{class}", self.metric.name()),
            None => f.write_str(self.metric.name()),
        }
    }
}

/// Measures every metric a run recorded; unmeasured metrics are absent from the set.
pub fn extract(run: &RunDir) -> MetricSet {
    let mut set = MetricSet::new();
    let mut put = |key: MetricKey, point: Option<f64>, samples: Vec<f64>| {
        if point.is_some() || !samples.is_empty() {
            set.insert(key.to_string(), MetricValue { point, samples });
        }
    };
    let steady = |column: &str| -> Vec<f64> { steady_column(run, column) };
    let r = &run.run;
    let clean = run.timeseries.as_ref().and_then(machine::clean_rows);
    let mut classes: Vec<&String> = r.classes.keys().chain(run.histograms.keys()).collect();
    classes.sort();
    classes.dedup();
    for class in classes {
        let stats = r.classes.get(class);
        let hist = run.histograms.get(class);
        let key = |metric| MetricKey {
            metric,
            class: Some(class.clone()),
        };
        let failure_rate = stats
            .filter(|s| s.count > 0)
            .map(|s| s.failures as f64 / s.count as f64);
        put(key(Metric::FailureRate), failure_rate, Vec::new());
        let latency = stats.and_then(|s| s.latency_us);
        let p99 = hist
            .map(|h| h.value_at_quantile(0.99) as f64)
            .or(latency.and_then(|l| l.p99));
        put(key(Metric::P99Us), p99, steady(&format!("{class}_p99_us")));
        let p999 = hist
            .map(|h| h.value_at_quantile(0.999) as f64)
            .or(latency.and_then(|l| l.p999));
        put(key(Metric::P999Us), p999, Vec::new());
        if let Some(rows) = &clean {
            let samples = column_at(run, &format!("{class}_p99_us"), rows);
            put(key(Metric::CleanP99Us), stats::median(&samples), samples);
            let samples = column_at(run, &format!("{class}_p50_us"), rows);
            put(key(Metric::CleanP50Us), stats::median(&samples), samples);
        }
    }
    if let Some(rows) = &clean {
        put(
            MetricKey {
                metric: Metric::CleanSeconds,
                class: None,
            },
            Some(rows.len() as f64),
            Vec::new(),
        );
    }
    let global = |metric| MetricKey {
        metric,
        class: None,
    };
    let res = r.resources.unwrap_or_default();
    put(
        global(Metric::ProxyCpuUsPerRequest),
        res.proxy_cpu_us_per_request,
        cpu_us_per_request_samples(run),
    );
    put(
        global(Metric::ProxyInstructionsPerRequest),
        r.instructions.as_ref().map(|i| i.per_request),
        Vec::new(),
    );
    let per_class = r.instructions.as_ref().and_then(|i| i.per_class.as_ref());
    for (class, c) in per_class.into_iter().flatten() {
        let key = MetricKey {
            metric: Metric::ProxyInstructionsPerRequest,
            class: Some(class.clone()),
        };
        put(key, Some(c.per_request), Vec::new());
    }
    put(
        global(Metric::AllocsPerRequest),
        res.allocs_per_request,
        Vec::new(),
    );
    put(
        global(Metric::BytesAllocatedPerRequest),
        res.bytes_allocated_per_request,
        Vec::new(),
    );
    put(global(Metric::PeakRssBytes), res.peak_rss_bytes, Vec::new());
    put(
        global(Metric::RssSlopeBytesPerS),
        res.rss_slope_bytes_per_s,
        Vec::new(),
    );
    let added = r.proxy_added_latency_us.clone().unwrap_or_default();
    put(global(Metric::ProxyAddedP50Us), added.p50, Vec::new());
    put(global(Metric::ProxyAddedP99Us), added.p99, Vec::new());
    let totals = r.totals.clone().unwrap_or_default();
    put(
        global(Metric::ThroughputRps),
        totals.rps,
        steady("requests"),
    );
    let achieved = match (totals.rps, totals.offered_rps) {
        (Some(rps), Some(offered)) if offered > 0.0 => Some(rps / offered),
        _ => None,
    };
    put(global(Metric::AchievedRateRatio), achieved, Vec::new());
    extract_soak_and_spike(run, &mut set);
    extract_appliance(run, &mut set);
    extract_connections(run, &mut set);
    extract_per_user(run, &mut set);
    set
}

/// The per-user figures a fleet is sized by ([`Metric::ClientConnectionsPerUser`],
/// [`Metric::RequestsPerUserPerS`], [`Metric::FdsPerUser`]): each steady second's value
/// divided by the users running in that second, median as the point. Not for a connection
/// storm, whose thousands of idle connections belong to no user.
fn extract_per_user(run: &RunDir, set: &mut MetricSet) {
    let r = &run.run;
    if r.connections.is_some() {
        return;
    }
    let Some(ts) = &run.timeseries else {
        return;
    };
    // The users running in a second: its stage's, or the profile's `users` for a run
    // that recorded no stages (one level throughout).
    let stages = r.stages();
    let flat = r.profile.settings.get("users").and_then(|u| u.as_u64());
    let users_at = |second: f64| {
        if stages.is_empty() {
            return flat.filter(|&u| u > 0);
        }
        stages
            .iter()
            .find(|s| second >= s.start_s && second < s.end_s)
            .map(|s| s.users)
            .filter(|&u| u > 0)
    };
    let Some(seconds) = ts.column(rundir::columns::SECOND) else {
        return;
    };
    let rows = ts.steady_rows(r.steady_window);
    for (metric, column) in [
        (Metric::ClientConnectionsPerUser, "proxy_client_connections"),
        (Metric::RequestsPerUserPerS, rundir::columns::REQUESTS),
        (Metric::FdsPerUser, "proxy_fds"),
    ] {
        let Some(values) = ts.column(column) else {
            continue;
        };
        let samples: Vec<f64> = rows
            .iter()
            .filter_map(|&i| {
                let users = seconds.get(i).copied().flatten().and_then(users_at)?;
                Some(values.get(i).copied().flatten()? / users as f64)
            })
            .collect();
        if let Some(point) = stats::median(&samples) {
            set.insert(
                MetricKey {
                    metric,
                    class: None,
                }
                .to_string(),
                MetricValue {
                    point: Some(point),
                    samples,
                },
            );
        }
    }
}

/// Stores a whole-run value (no per-second samples) of `metric`, when there is a finite one.
fn put_point(set: &mut MetricSet, metric: Metric, class: Option<String>, point: Option<f64>) {
    if let Some(point) = point.filter(|p| p.is_finite()) {
        let key = MetricKey { metric, class };
        set.insert(
            key.to_string(),
            MetricValue {
                point: Some(point),
                samples: Vec::new(),
            },
        );
    }
}

/// The soak metrics (for runs [`soak::applies`] to) and the spike recovery (for runs whose
/// plan has a surge). Whole-run values only: each is one statistic of the whole window.
fn extract_soak_and_spike(run: &RunDir, set: &mut MetricSet) {
    let mut put = |metric, class: Option<String>, point: Option<f64>| {
        put_point(set, metric, class, point);
    };
    if let Some(s) = soak::applies(run).then(|| soak::summarise(run)).flatten() {
        let upper = |c| {
            s.memory_trend(c)
                .and_then(|t| t.per_hour)
                .map(|t| t.ci_high)
        };
        put(Metric::RssSlopeUpperMbPerH, None, upper("proxy_rss_bytes"));
        put(
            Metric::AllocResidentSlopeUpperMbPerH,
            None,
            upper("jemalloc_resident_bytes"),
        );
        let growth = |c| s.count_trend(c).map(soak::ColumnTrend::growth);
        let fds = growth(soak::FDS_BEYOND_CLIENTS).or_else(|| growth("proxy_fds"));
        put(Metric::FdGrowth, None, fds);
        put(Metric::ThreadGrowth, None, growth("proxy_threads"));
        for d in &s.drift {
            put(
                Metric::P99DriftRatio,
                Some(d.class.clone()),
                Some(d.ratio()),
            );
        }
    }
    if let Some(r) = spike::summarise(run).and_then(|s| s.recovery) {
        put(Metric::SpikeRecoveryS, None, Some(r.seconds));
    }
}

/// The appliance metrics, for runs with appliance results (whole-run values).
fn extract_appliance(run: &RunDir, set: &mut MetricSet) {
    let Some(a) = &run.run.appliance else {
        return;
    };
    let added = a.added_latency_us.clone().unwrap_or_default();
    let id = a.identity.as_ref();
    for (metric, point) in [
        (Metric::ApplianceAddedP50Us, added.p50),
        (Metric::ApplianceAddedP99Us, added.p99),
        (Metric::IdentityMismatches, id.map(|i| i.mismatched as f64)),
        (
            Metric::IdentityMissingRate,
            id.and_then(rundir::run::appliance::IdentityCounts::missing_rate),
        ),
    ] {
        put_point(set, metric, None, point);
    }
}

/// The connection-storm metrics, for runs with connection results (whole-run values: each
/// is one fit or one count of the storm).
fn extract_connections(run: &RunDir, set: &mut MetricSet) {
    let Some(c) = &run.run.connections else {
        return;
    };
    let ka = c.keep_alive.as_ref();
    let tu = c.tunnel.as_ref();
    let slope = |kind: Option<&rundir::run::connections::ConnectionKind>,
                 pick: fn(
        &rundir::run::connections::ConnectionKind,
    ) -> Option<rundir::run::connections::Slope>,
                 upper: bool| {
        kind.and_then(pick)
            .map(|s| if upper { s.upper } else { s.per_connection })
    };
    let opened = ka.map_or(0, |k| k.opened) + tu.map_or(0, |k| k.opened);
    let ramp_s = ka.map_or(0.0, |k| k.ramp_s) + tu.map_or(0.0, |k| k.ramp_s);
    let accept = (ramp_s > 0.0).then(|| opened as f64 / ramp_s);
    let failures = ka.map_or(0, |k| k.failed)
        + tu.map_or(0, |k| k.failed)
        + c.active.as_ref().map_or(0, |a| a.failures);
    for (metric, point) in [
        (Metric::StormAcceptRatePerS, accept),
        (
            Metric::StormActiveP99Us,
            c.active
                .as_ref()
                .and_then(|a| a.latency_us)
                .and_then(|l| l.p99),
        ),
        (Metric::StormConnectionFailures, Some(failures as f64)),
        (
            Metric::StormRefusalsMissed,
            c.refusals
                .as_ref()
                .map(|r| r.attempted.saturating_sub(r.refused) as f64),
        ),
        (
            Metric::HeapPerKeepAliveBytes,
            slope(ka, |k| k.heap_bytes, false),
        ),
        (
            Metric::HeapPerKeepAliveUpperBytes,
            slope(ka, |k| k.heap_bytes, true),
        ),
        (
            Metric::HeapPerTunnelBytes,
            slope(tu, |k| k.heap_bytes, false),
        ),
        (
            Metric::HeapPerTunnelUpperBytes,
            slope(tu, |k| k.heap_bytes, true),
        ),
        (
            Metric::RssPerKeepAliveBytes,
            slope(ka, |k| k.rss_bytes, false),
        ),
        (Metric::RssPerTunnelBytes, slope(tu, |k| k.rss_bytes, false)),
        (Metric::FdsPerKeepAlive, slope(ka, |k| k.fds, false)),
        (Metric::FdsPerTunnel, slope(tu, |k| k.fds, false)),
    ] {
        put_point(set, metric, None, point);
    }
}

/// Values of a column at the given rows, missing cells skipped.
fn column_at(run: &RunDir, column: &str, rows: &[usize]) -> Vec<f64> {
    let Some(values) = run.timeseries.as_ref().and_then(|ts| ts.column(column)) else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|&i| values.get(i).copied().flatten())
        .collect()
}

/// Values of a column over the steady window, missing cells skipped.
fn steady_column(run: &RunDir, column: &str) -> Vec<f64> {
    let Some(ts) = &run.timeseries else {
        return Vec::new();
    };
    let Some(values) = ts.column(column) else {
        return Vec::new();
    };
    ts.steady_rows(run.run.steady_window)
        .into_iter()
        .filter_map(|i| values[i])
        .collect()
}

/// Per-second proxy CPU-µs per request: (user + sys ms) * 1000 / requests, for seconds that
/// served requests.
fn cpu_us_per_request_samples(run: &RunDir) -> Vec<f64> {
    let Some(ts) = &run.timeseries else {
        return Vec::new();
    };
    let (Some(user), Some(sys), Some(requests)) = (
        ts.column("proxy_cpu_user_ms"),
        ts.column("proxy_cpu_sys_ms"),
        ts.column("requests"),
    ) else {
        return Vec::new();
    };
    ts.steady_rows(run.run.steady_window)
        .into_iter()
        .filter_map(|i| match (user[i], sys[i], requests[i]) {
            (Some(u), Some(s), Some(n)) if n > 0.0 => Some((u + s) * 1000.0 / n),
            _ => None,
        })
        .collect()
}
