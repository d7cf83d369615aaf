//! Prometheus metrics (prometheus-client), rendered by the admin `/metrics` route.
//!
//! Every label set is resolved once at start into plain counter/gauge handles held in
//! arrays indexed by small enums, so recording on the hot path is an atomic add with no
//! label hashing and no allocation.
//!
//! Beside the whole-proxy latency histogram (which the alert rules read) a second one is
//! split by `decision`, so a canary judge can compare allowed, blocked and failed requests
//! apart (a blocked request never reaches an origin; pooled into one histogram, a shift in
//! the mix reads as a shift in latency). The standard process metrics
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, unprefixed as every
//! exporter writes them) are read from `/proc/self` when `/metrics` is rendered: the judge
//! needs CPU per request and memory per instance, and a scrape is the one moment they are
//! wanted.

use std::time::Duration;

use prometheus_client::encoding::text::{encode, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::identity::IdentitySource;

/// How a tunnel ended, for the `outcome` label of the tunnel counters; the tunnel module
/// maps its outcome to one, so metrics need not know tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEnd {
    /// Both directions finished.
    Closed = 0,
    /// Cut because the SNI named a blocked host.
    SniBlocked = 1,
    /// Cut because the stream was not (readable) TLS.
    NotTls = 2,
    /// Idle timeout.
    Idle = 3,
    /// An I/O error on either side.
    Error = 4,
}

/// Why a guarded admin request was refused, for the `reason` label of `admin_refused`
/// (returned by [`crate::admin::auth::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRefusal {
    /// No `Authorization: Bearer` header.
    Missing = 0,
    /// A bearer token that is not the configured one.
    Invalid = 1,
}

/// How a request ended, for the `decision` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionLabel {
    /// Forwarded (or tunnelled) to the origin.
    Allowed = 0,
    /// Refused by policy.
    Blocked = 1,
    /// Failed: malformed request, upstream failure, pool exhaustion.
    Error = 2,
}

const DECISIONS: [&str; 3] = ["allowed", "blocked", "error"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Kinds of upstream failure, for `upstream_errors_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// Name resolution failed.
    Resolve = 0,
    /// TCP connect refused or failed.
    Connect = 1,
    /// TCP connect took longer than `upstream.connect_timeout`.
    ConnectTimeout = 2,
    /// No response head within `upstream.response_header_timeout`.
    ResponseTimeout = 3,
    /// The origin broke HTTP (reset, malformed response, closed early).
    Protocol = 4,
    /// No pooled connection within `upstream.acquire_timeout`.
    PoolExhausted = 5,
}

const UPSTREAM_KINDS: [&str; 6] = [
    "resolve",
    "connect",
    "connect_timeout",
    "response_timeout",
    "protocol",
    "pool_exhausted",
];

/// Kinds of client fault, for `client_errors_total{kind}`: requests refused because of
/// what the client sent, counted apart from upstream failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientErrorKind {
    /// A malformed or refused request head (bad target, port, Host, userinfo...).
    BadRequest = 0,
    /// Ambiguous framing (Content-Length with Transfer-Encoding).
    Framing = 1,
    /// Origin-form sent to the forward proxy.
    OriginForm = 2,
    /// The request looped back to this proxy.
    Loop = 3,
    /// The request body broke off or was malformed (e.g. bad chunked encoding).
    Body = 4,
    /// No credentials (or wrong ones) while `identity.require_auth` is on: a 407.
    AuthRequired = 5,
}

const CLIENT_ERROR_KINDS: [&str; 6] = [
    "bad_request",
    "framing",
    "origin_form",
    "loop",
    "body",
    "auth_required",
];

impl ClientErrorKind {
    /// The metric label (also used in access-log lines).
    pub fn label(self) -> &'static str {
        CLIENT_ERROR_KINDS[self as usize]
    }
}

impl UpstreamErrorKind {
    /// The metric label (also used in access-log lines).
    pub fn label(self) -> &'static str {
        UPSTREAM_KINDS[self as usize]
    }
}

const IDENTITY_SOURCES: [&str; 4] = ["basic", "trusted_header", "client_ip", "unknown"];
const TUNNEL_OUTCOMES: [&str; 5] = ["closed", "sni_blocked", "not_tls", "idle", "error"];

/// `AcceptError::kind` values (connection-rate, not request-rate; `io` last as fallback).
const PROXY_REFUSALS: [&str; 8] = [
    "missing_header",
    "malformed",
    "unsigned",
    "bad_hmac",
    "stale",
    "timeout",
    "closed",
    "io",
];

type Labels = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];

/// Pool gauges, shared with [`crate::pool::Pool`].
#[derive(Debug, Clone, Default)]
pub struct PoolMetrics {
    /// Connections leased to a request right now.
    pub in_use: Gauge,
    /// Connections idle in the pool.
    pub idle: Gauge,
    /// Requests waiting for a connection.
    pub waiters: Gauge,
    /// Open upstream connections (in use + idle + connecting).
    pub open: Gauge,
    /// Acquisitions that gave up after the acquire timeout.
    pub exhausted: Counter,
    /// Pooled connections found dead and replaced.
    pub stale: Counter,
}

/// All proxy metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: [[Counter; 5]; 3],
    latency: Histogram,
    latency_by_decision: [Histogram; 3],
    /// Unprefixed registry of the standard process metrics.
    process: Registry,
    process_cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    process_rss_bytes: Gauge,
    /// Client connections being served.
    pub active_connections: Gauge,
    /// Client connections refused at the connection limit.
    pub refused_connections: Counter,
    /// Upstream pool gauges.
    pub pool: PoolMetrics,
    upstream_errors: [Counter; 6],
    client_errors: [Counter; 6],
    identity: [Counter; 4],
    /// Tunnels open right now.
    pub tunnels_open: Gauge,
    /// Tunnels opened since start.
    pub tunnels_opened: Counter,
    tunnel_bytes_up: Counter,
    tunnel_bytes_down: Counter,
    tunnel_outcomes: [Counter; 5],
    /// Current policy generation.
    pub policy_version: Gauge,
    /// Connections whose PROXY v2 header verified.
    pub proxy_protocol_accepted: Counter,
    proxy_protocol_refused: [Counter; 8],
    reloads: [Counter; 2],
    admin_refused: [Counter; 2],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric and resolves every label set.
    pub fn new() -> Self {
        Self::with_extra(|_| {})
    }

    /// Like [`Metrics::new`], letting other components (the policy store) register their
    /// own metrics under the same prefix.
    pub fn with_extra(extra: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::with_prefix("filter_proxy");
        extra(&mut registry);
        let requests_family = Family::<Labels2, Counter>::default();
        registry.register(
            "requests",
            "Requests by decision (allowed, blocked, error) and status class",
            requests_family.clone(),
        );
        let requests = DECISIONS.map(|d| {
            CLASSES.map(|c| requests_family.get_or_create_owned(&[("decision", d), ("status", c)]))
        });
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head",
            latency.clone(),
        );
        let latency_family = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "request_duration_by_decision_seconds",
            "Time from request head to response head, by decision",
            latency_family.clone(),
        );
        let latency_by_decision =
            DECISIONS.map(|d| latency_family.get_or_create(&[("decision", d)]).clone());
        let mut process = Registry::default();
        let process_cpu_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        process.register(
            "process_cpu_seconds",
            "User and system CPU time spent in seconds",
            process_cpu_seconds.clone(),
        );
        let process_rss_bytes = Gauge::default();
        process.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            process_rss_bytes.clone(),
        );
        let active_connections = Gauge::default();
        registry.register(
            "client_connections",
            "Client connections being served",
            active_connections.clone(),
        );
        let refused_connections = Counter::default();
        registry.register(
            "client_connections_refused",
            "Client connections refused at server.max_connections",
            refused_connections.clone(),
        );
        let pool = PoolMetrics::default();
        registry.register(
            "pool_in_use",
            "Upstream connections leased to requests",
            pool.in_use.clone(),
        );
        registry.register(
            "pool_idle",
            "Idle pooled upstream connections",
            pool.idle.clone(),
        );
        registry.register(
            "pool_waiters",
            "Requests waiting for an upstream connection",
            pool.waiters.clone(),
        );
        registry.register("pool_open", "Open upstream connections", pool.open.clone());
        registry.register(
            "pool_exhausted",
            "Acquisitions that timed out (503)",
            pool.exhausted.clone(),
        );
        registry.register(
            "pool_stale",
            "Pooled connections found dead and replaced",
            pool.stale.clone(),
        );
        let upstream_errors = Self::family(
            &mut registry,
            "upstream_errors",
            "Upstream failures by kind",
            "kind",
            UPSTREAM_KINDS,
        );
        let client_errors = Self::family(
            &mut registry,
            "client_errors",
            "Requests refused for what the client sent, by kind",
            "kind",
            CLIENT_ERROR_KINDS,
        );
        let identity = Self::family(
            &mut registry,
            "identity",
            "Identities resolved, by source",
            "source",
            IDENTITY_SOURCES,
        );
        let tunnels_open = Gauge::default();
        registry.register("tunnels_open", "CONNECT tunnels open", tunnels_open.clone());
        let tunnels_opened = Counter::default();
        registry.register(
            "tunnels_opened",
            "CONNECT tunnels opened",
            tunnels_opened.clone(),
        );
        let tunnel_bytes = Family::<Labels, Counter>::default();
        registry.register(
            "tunnel_bytes",
            "Tunnelled bytes by direction",
            tunnel_bytes.clone(),
        );
        let tunnel_bytes_up = tunnel_bytes.get_or_create_owned(&[("direction", "up")]);
        let tunnel_bytes_down = tunnel_bytes.get_or_create_owned(&[("direction", "down")]);
        let tunnel_outcomes = Self::family(
            &mut registry,
            "tunnels_closed",
            "Tunnels ended, by outcome (sni_blocked = SNI mismatch / domain fronting)",
            "outcome",
            TUNNEL_OUTCOMES,
        );
        let policy_version = Gauge::default();
        registry.register(
            "policy_version",
            "Generation of the category and policy data",
            policy_version.clone(),
        );
        let proxy_protocol_accepted = Counter::default();
        registry.register(
            "proxy_protocol_accepted",
            "Connections whose signed PROXY v2 header verified",
            proxy_protocol_accepted.clone(),
        );
        let proxy_protocol_refused = Self::family(
            &mut registry,
            "proxy_protocol_refused",
            "Connections refused at the PROXY v2 header, by reason",
            "reason",
            PROXY_REFUSALS,
        );
        let reloads = Self::family(
            &mut registry,
            "reloads",
            "Reload attempts by result",
            "result",
            ["ok", "failed"],
        );
        let admin_refused = Self::family(
            &mut registry,
            "admin_refused",
            "Admin requests refused for want of the admin token, by reason",
            "reason",
            ["missing", "invalid"],
        );
        Metrics {
            registry,
            requests,
            latency,
            latency_by_decision,
            process,
            process_cpu_seconds,
            process_rss_bytes,
            active_connections,
            refused_connections,
            pool,
            upstream_errors,
            client_errors,
            identity,
            tunnels_open,
            tunnels_opened,
            tunnel_bytes_up,
            tunnel_bytes_down,
            tunnel_outcomes,
            policy_version,
            proxy_protocol_accepted,
            proxy_protocol_refused,
            reloads,
            admin_refused,
        }
    }

    fn family<const N: usize>(
        registry: &mut Registry,
        name: &str,
        help: &str,
        label: &'static str,
        values: [&'static str; N],
    ) -> [Counter; N] {
        let family = Family::<Labels, Counter>::default();
        registry.register(name, help, family.clone());
        values.map(|v| family.get_or_create_owned(&[(label, v)]))
    }

    /// Records one finished request (at response head).
    pub fn record_request(&self, decision: DecisionLabel, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[decision as usize][class].inc();
        let seconds = elapsed.as_secs_f64();
        self.latency.observe(seconds);
        self.latency_by_decision[decision as usize].observe(seconds);
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        self.upstream_errors[kind as usize].inc();
    }

    /// Counts a request refused for what the client sent.
    pub fn client_error(&self, kind: ClientErrorKind) {
        self.client_errors[kind as usize].inc();
    }

    /// Counts a resolved identity.
    pub fn identity(&self, source: IdentitySource) {
        let i = match source {
            IdentitySource::Basic => 0,
            IdentitySource::TrustedHeader => 1,
            IdentitySource::ClientIp => 2,
            IdentitySource::Unknown => 3,
        };
        self.identity[i].inc();
    }

    /// Counts a finished tunnel and the bytes it carried each way.
    pub fn tunnel_closed(&self, end: TunnelEnd, up: u64, down: u64) {
        self.tunnel_outcomes[end as usize].inc();
        self.tunnel_bytes_up.inc_by(up);
        self.tunnel_bytes_down.inc_by(down);
    }

    /// Counts a connection refused at its PROXY header; `kind` is `AcceptError::kind`.
    pub fn proxy_protocol_refused(&self, kind: &str) {
        let i = PROXY_REFUSALS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(PROXY_REFUSALS.len() - 1);
        self.proxy_protocol_refused[i].inc();
    }

    /// Counts a reload attempt.
    pub fn reload(&self, ok: bool) {
        self.reloads[usize::from(!ok)].inc();
    }

    /// Counts an admin request refused at the token check.
    pub fn admin_refused(&self, why: AdminRefusal) {
        self.admin_refused[why as usize].inc();
    }

    /// Total requests recorded with `decision` (all classes); used by tests and summaries.
    pub fn requests_total(&self, decision: DecisionLabel) -> u64 {
        self.requests[decision as usize]
            .iter()
            .map(Counter::get)
            .sum()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.sample_process();
        let mut out = String::with_capacity(8 * 1024);
        encode_registry(&mut out, &self.process).expect("writing to a String cannot fail");
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// Refreshes the process metrics from `/proc/self` (Linux; elsewhere they stay 0).
    /// The CPU counter is monotonic: it is raised to the kernel's figure, never lowered
    /// (two scrapes at the same instant could both raise it; scrapers do not overlap).
    fn sample_process(&self) {
        if let Some(cpu) = proc_self_cpu_seconds() {
            let now = self.process_cpu_seconds.get();
            if cpu > now {
                self.process_cpu_seconds.inc_by(cpu - now);
            }
        }
        if let Some(rss) = proc_self_rss_bytes() {
            self.process_rss_bytes.set(rss);
        }
    }
}

/// Kernel clock ticks per second in `/proc` figures (`USER_HZ`: 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;
/// Page size assumed for `/proc/self/statm` (4 KiB on the x86-64 and arm64 hosts we run).
const PAGE_BYTES: i64 = 4096;

/// utime + stime of this process, in seconds.
fn proc_self_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; fields after its closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Resident set size of this process, in bytes.
fn proc_self_rss_bytes() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split(' ').nth(1)?.parse().ok()?;
    Some(pages * PAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_split_by_decision_and_process_metrics_are_rendered() {
        let m = Metrics::new();
        m.record_request(DecisionLabel::Blocked, 403, Duration::from_millis(2));
        let text = m.render();
        for line in [
            "filter_proxy_request_duration_seconds_count 1",
            r#"filter_proxy_request_duration_by_decision_seconds_count{decision="blocked"} 1"#,
            r#"filter_proxy_request_duration_by_decision_seconds_count{decision="allowed"} 0"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .expect("RSS rendered");
        assert!(rss.parse::<i64>().expect("a number") > 0, "{rss}");
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1, "one exposition");
    }
}
