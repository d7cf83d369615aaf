//! One step of the staircase: what was offered, what came back, and whether the SLO
//! held; and the knee over all steps.
//!
//! Pure arithmetic over the driver's `run.json`, tested on made-up values. The SLO's
//! p99 is the worst of the classes it bounds (a mix has several; their percentiles
//! cannot be merged), and the p50 reported is the allowed-browsing class's, the one
//! request every path has.

use serde::Serialize;
use serde_json::Value;

use super::spec::{CapacityPath, Slo};

/// One measured point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    /// Step number from 0.
    pub index: usize,
    /// Which driver produced the point (`open-loop`).
    pub driver: String,
    /// Offered requests/s.
    pub offered_rps: f64,
    /// Achieved requests/s (measured window).
    pub achieved_rps: f64,
    /// Requests measured.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Error fraction.
    pub error_rate: f64,
    /// p50 from the intended start (coordinated omission corrected), ms.
    pub p50_ms: Option<f64>,
    /// p99 from the intended start, ms.
    pub p99_ms: Option<f64>,
    /// The class whose p99 is `p99_ms` (the worst of the SLO's classes).
    pub p99_class: Option<String>,
    /// p99 from the actual send, ms.
    pub p99_service_ms: Option<f64>,
    /// Proxy CPU per request over the step, µs.
    pub cpu_us_per_request: Option<f64>,
    /// Scheduled requests the driver could not send.
    pub unsent: u64,
    /// CPU cores the load generator (driver and origin) kept busy over the step: near
    /// its CPU count, the point measures the load generator, not the proxy.
    pub loadgen_cores_busy: Option<f64>,
    /// Of `loadgen_cores_busy`, the origin's threads.
    pub origin_cores_busy: Option<f64>,
    /// CPU cores the proxy kept busy over the step (its CPU time over the wall time).
    pub proxy_cores_busy: Option<f64>,
    /// Pool acquisitions that timed out during the step (503s for want of a connection).
    pub pool_exhausted: Option<u64>,
    /// The proxy's resident memory at the step's end, bytes.
    pub proxy_rss_bytes: Option<u64>,
    /// The proxy's open descriptors at the step's end, and its limit.
    pub proxy_fds: Option<(u64, u64)>,
    /// Share of the quota's periods in which the proxy ran out of quota (with a quota).
    pub throttled_share: Option<f64>,
    /// What broke the SLO (empty when it held).
    pub broken: Vec<String>,
}

impl StepResult {
    /// Whether the SLO held.
    pub fn held(&self) -> bool {
        self.broken.is_empty()
    }
}

fn us_to_ms(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).map(|us| us / 1000.0)
}

/// The worst p99 (ms, coordinated-omission corrected where recorded) over `classes`
/// (`None`: every class measured) and its class; the p99 from the actual send of that
/// class; and the allowed class's p50.
fn latency(
    run: &Value,
    classes: Option<&[String]>,
) -> (Option<(String, f64)>, Option<f64>, Option<f64>) {
    let empty = serde_json::Map::new();
    let all = run["classes"].as_object().unwrap_or(&empty);
    let corrected = |c: &Value, q: &str| {
        us_to_ms(
            c.get("corrected_us")
                .filter(|v| !v.is_null())
                .and_then(|v| v.get(q)),
        )
        .or(us_to_ms(c["latency_us"].get(q)))
    };
    let worst = all
        .iter()
        .filter(|(name, _)| classes.is_none_or(|cs| cs.iter().any(|c| c == *name)))
        .filter_map(|(name, c)| corrected(c, "p99").map(|p| (name.clone(), p, c)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let service = worst
        .as_ref()
        .and_then(|(_, _, c)| us_to_ms(c["latency_us"].get("p99")));
    let p50 = all.get("allowed").and_then(|c| corrected(c, "p50"));
    (worst.map(|(n, p, _)| (n, p)), service, p50)
}

/// Reads a step out of the driver's `run.json`; `cpu_ms` is the proxy's CPU time over
/// the step and `all_requests` every request of the step (warm-up included);
/// `slo_classes` the classes whose p99 the SLO bounds (`None`: all).
pub fn from_run_json(
    index: usize,
    offered: f64,
    run: &Value,
    cpu_ms: Option<u64>,
    all_requests: u64,
    slo: &Slo,
    slo_classes: Option<&[String]>,
) -> StepResult {
    let totals = &run["totals"];
    let requests = totals["requests"].as_u64().unwrap_or(0);
    let failures = totals["failures"].as_u64().unwrap_or(0);
    let achieved = totals["rps"].as_f64().unwrap_or(0.0);
    let (worst, p99_service, p50) = latency(run, slo_classes);
    let error_rate = if requests == 0 {
        1.0
    } else {
        failures as f64 / requests as f64
    };
    let mut broken = Vec::new();
    let bound_ms = slo.p99.as_secs_f64() * 1000.0;
    match &worst {
        Some((_, p)) if *p <= bound_ms => {}
        Some((class, p)) => broken.push(format!("p99 {p:.1} ms ({class}) > {bound_ms:.1} ms")),
        None => broken.push("no latency measured".into()),
    }
    if error_rate > slo.error_budget {
        broken.push(format!(
            "errors {:.2} % > {:.2} %",
            error_rate * 100.0,
            slo.error_budget * 100.0
        ));
    }
    if achieved < offered * slo.min_achieved {
        broken.push(format!(
            "achieved {achieved:.0} < {:.0} req/s",
            offered * slo.min_achieved
        ));
    }
    StepResult {
        index,
        driver: run["driver"].as_str().unwrap_or("open-loop").to_owned(),
        offered_rps: offered,
        achieved_rps: achieved,
        requests,
        failures,
        error_rate,
        p50_ms: p50,
        p99_ms: worst.as_ref().map(|w| w.1),
        p99_class: worst.map(|w| w.0),
        p99_service_ms: p99_service,
        cpu_us_per_request: cpu_ms
            .filter(|_| all_requests > 0)
            .map(|ms| ms as f64 * 1000.0 / all_requests as f64),
        unsent: run["extra"]["unsent"].as_u64().unwrap_or(0),
        loadgen_cores_busy: None,
        origin_cores_busy: None,
        proxy_cores_busy: None,
        pool_exhausted: None,
        proxy_rss_bytes: None,
        proxy_fds: None,
        throttled_share: None,
        broken,
    }
}

/// The knee: the highest offered rate whose step held, when every step below it held
/// too (the climb stops at the first broken step).
pub fn knee(steps: &[StepResult]) -> Option<f64> {
    steps
        .iter()
        .take_while(|s| s.held())
        .last()
        .map(|s| s.offered_rps)
}

/// What limited the climb at the knee: read off the first step that broke the SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Bottleneck {
    /// The proxy used its CPUs (or its quota) up: the knee is the proxy's.
    ProxyCpu {
        /// Cores the proxy kept busy.
        busy: f64,
        /// Cores it could use.
        limit: f64,
        /// Share of quota periods throttled, with a quota.
        throttled_share: Option<f64>,
    },
    /// The proxy's CPU in bursts: on average below its quota, but the quota ran out in
    /// enough periods that the stalls it imposes (the rest of each such period) cover
    /// more than the p99's tail, so the p99 broke on the proxy's CPU all the same.
    ProxyCpuBursts {
        /// Cores the proxy kept busy on average.
        busy: f64,
        /// Cores it could use (its quota).
        limit: f64,
        /// Share of quota periods throttled.
        throttled_share: f64,
        /// Most of the step's time the throttling could have stalled the proxy:
        /// `throttled_share * (1 - limit)` for a quota below one core.
        stalled_share: f64,
    },
    /// The proxy's upstream pool ran out: acquisitions timed out (503 + Retry-After).
    Pool {
        /// Acquisitions that timed out during the step.
        exhausted: u64,
    },
    /// The proxy's descriptors ran out (at 95% of its limit).
    Fds {
        /// Descriptors open at the step's end.
        open: u64,
        /// The limit.
        limit: u64,
    },
    /// The load generator used its CPUs up: the point measures the load generator.
    LoadGenerator {
        /// Cores it kept busy.
        busy: f64,
        /// Cores it could use.
        cpus: f64,
    },
    /// Neither was saturated: the step broke on the machine's tail (steal, other work)
    /// or on failures, not on the proxy's CPU.
    NotSaturated {
        /// Cores the proxy kept busy, of `proxy_limit`.
        proxy_busy: Option<f64>,
        /// Cores it could use.
        proxy_limit: f64,
        /// Cores the load generator kept busy.
        loadgen_busy: Option<f64>,
    },
}

/// A proxy at 90% of its cores, or throttled in half the quota's periods, is saturated.
pub const PROXY_SATURATED: f64 = 0.9;
/// The share of requests above the p99: quota stalls covering more of a step than this
/// are enough to break the SLO's p99 by themselves.
pub const P99_TAIL: f64 = 0.01;
/// A load generator at 85% of its cores is saturated (it also has to keep its schedule).
pub const LOADGEN_SATURATED: f64 = 0.85;

impl Bottleneck {
    /// Whether the knee measures the proxy.
    pub fn is_proxy(&self) -> bool {
        matches!(
            self,
            Bottleneck::ProxyCpu { .. } | Bottleneck::ProxyCpuBursts { .. }
        )
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
        match self {
            Bottleneck::ProxyCpu {
                busy,
                limit,
                throttled_share,
            } => format!(
                "the proxy's CPU: {busy:.2} of {limit:.2} cores busy{}",
                throttled_share.map_or(String::new(), |t| format!(
                    ", quota exhausted in {:.0} % of periods",
                    t * 100.0
                ))
            ),
            Bottleneck::ProxyCpuBursts {
                busy,
                limit,
                throttled_share,
                stalled_share,
            } => format!(
                "the proxy's CPU in bursts: {busy:.2} of {limit:.2} cores busy on average, but the quota ran out in {:.0} % of periods, stalling the proxy for up to {:.1} % of the step, more than the p99's 1 % tail",
                throttled_share * 100.0,
                stalled_share * 100.0
            ),
            Bottleneck::Pool { exhausted } => format!(
                "the proxy's upstream pool: {exhausted} acquisitions timed out"
            ),
            Bottleneck::Fds { open, limit } => {
                format!("the proxy's descriptors: {open} open of its limit {limit}")
            }
            Bottleneck::LoadGenerator { busy, cpus } => format!(
                "the load generator: {busy:.2} of its {cpus:.0} cores busy (the point measures it, not the proxy)"
            ),
            Bottleneck::NotSaturated {
                proxy_busy,
                proxy_limit,
                loadgen_busy,
            } => format!(
                "none saturated (proxy {} of {proxy_limit:.2} cores, load generator {} cores): the machine's tail or failures broke the step, not the proxy's CPU",
                f(*proxy_busy),
                f(*loadgen_busy)
            ),
        }
    }
}

/// What limited the step: the proxy's pool when acquisitions timed out, its descriptors
/// when nearly all were open; else its CPU when it used `proxy_limit` cores (or its quota
/// ran out in half the periods), or when the p99 broke and its quota's throttling could
/// stall it for more than the p99's tail ([`P99_TAIL`]); else the load generator when it used its
/// `loadgen_cpus`, else nothing measured here. Memory is recorded per step (RSS) but no
/// limit is set on it, so it is never named.
pub fn bottleneck(step: &StepResult, proxy_limit: f64, loadgen_cpus: f64) -> Bottleneck {
    if let Some(exhausted) = step.pool_exhausted.filter(|n| *n > 0) {
        return Bottleneck::Pool { exhausted };
    }
    if let Some((open, limit)) = step
        .proxy_fds
        .filter(|(o, l)| *l > 0 && *o * 100 >= *l * 95)
    {
        return Bottleneck::Fds { open, limit };
    }
    let throttled = step.throttled_share.is_some_and(|t| t >= 0.5);
    // A quota of `limit` cores lets the proxy run `limit` of each period; a throttled
    // period stalls it for up to the rest. Only a quota below one core stalls this way.
    let stalled = step.throttled_share.unwrap_or(0.0) * (1.0 - proxy_limit.min(1.0));
    let p99_broke = step.broken.iter().any(|b| b.starts_with("p99"));
    match (step.proxy_cores_busy, step.loadgen_cores_busy) {
        (Some(busy), _) if throttled || busy >= PROXY_SATURATED * proxy_limit => {
            Bottleneck::ProxyCpu {
                busy,
                limit: proxy_limit,
                throttled_share: step.throttled_share,
            }
        }
        (Some(busy), _) if p99_broke && stalled >= P99_TAIL => Bottleneck::ProxyCpuBursts {
            busy,
            limit: proxy_limit,
            throttled_share: step.throttled_share.unwrap_or(0.0),
            stalled_share: stalled,
        },
        (_, Some(busy)) if busy >= LOADGEN_SATURATED * loadgen_cpus => Bottleneck::LoadGenerator {
            busy,
            cpus: loadgen_cpus,
        },
        (proxy_busy, loadgen_busy) => Bottleneck::NotSaturated {
            proxy_busy,
            proxy_limit,
            loadgen_busy,
        },
    }
}

/// The knee read as the proxy's: per core, with what limited the climb.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KneeReading {
    /// The highest offered rate that held.
    pub knee_rps: Option<f64>,
    /// Cores the proxy could use: its quota, else the CPUs it was pinned to or allowed.
    pub proxy_limit_cores: f64,
    /// Cores the load generator could use.
    pub loadgen_cpus: f64,
    /// How the proxy was held to its quota (`None`: no quota).
    pub quota: Option<String>,
    /// Why a quota asked for was not applied.
    pub quota_note: Option<String>,
    /// What limited the first step that broke (`None`: no step broke).
    pub bottleneck: Option<Bottleneck>,
    /// Requests per second per proxy core at the SLO.
    pub rps_per_proxy_core: Option<f64>,
    /// How `rps_per_proxy_core` was computed.
    pub per_core_basis: Option<String>,
    /// Cores the load generator kept busy at the knee (its headroom).
    pub loadgen_busy_at_knee: Option<f64>,
}

/// Reads the knee: the bottleneck of the first broken step and the rate per proxy core.
/// When the proxy's CPU broke the climb, the knee over the proxy's cores is its rate per
/// core; otherwise the best estimate is the knee step's rate over the cores the proxy
/// kept busy there, and the reading says so.
pub fn read_knee(
    steps: &[StepResult],
    proxy_limit_cores: f64,
    loadgen_cpus: f64,
    quota: Option<String>,
    quota_note: Option<String>,
) -> KneeReading {
    let knee_rps = knee(steps);
    let knee_step = steps.iter().take_while(|s| s.held()).last();
    let bottleneck = steps
        .iter()
        .find(|s| !s.held())
        .map(|s| bottleneck(s, proxy_limit_cores, loadgen_cpus));
    let (rps_per_proxy_core, per_core_basis) = match (knee_rps, &bottleneck) {
        (Some(k), Some(b)) if b.is_proxy() => (
            Some(k / proxy_limit_cores),
            Some(format!(
                "knee / the proxy's {proxy_limit_cores:.2} cores: its CPU broke the next step"
            )),
        ),
        (Some(_), _) => match knee_step.and_then(|s| s.proxy_cores_busy.map(|b| (s, b))) {
            Some((s, busy)) if busy > 0.0 => (
                Some(s.achieved_rps / busy),
                Some(format!(
                    "achieved rate at the knee / the {busy:.2} cores the proxy kept busy there: an estimate, the proxy's CPU did not end the climb"
                )),
            ),
            _ => (None, None),
        },
        (None, _) => (None, None),
    };
    KneeReading {
        knee_rps,
        proxy_limit_cores,
        loadgen_cpus,
        quota,
        quota_note,
        bottleneck,
        rps_per_proxy_core,
        per_core_basis,
        loadgen_busy_at_knee: knee_step.and_then(|s| s.loadgen_cores_busy),
    }
}

/// One path's climb.
#[derive(Debug, Clone)]
pub struct PathOutcome {
    /// The path as run.
    pub path: CapacityPath,
    /// Every step run, in order.
    pub steps: Vec<StepResult>,
    /// The knee per proxy core and what limited it.
    pub reading: KneeReading,
}

impl PathOutcome {
    /// The highest rate that held.
    pub fn knee(&self) -> Option<f64> {
        self.reading.knee_rps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn slo() -> Slo {
        Slo {
            p99: Duration::from_millis(100),
            error_budget: 0.01,
            min_achieved: 0.95,
            min_knee_rps: None,
        }
    }

    fn run(rps: f64, p99_us: u64, failures: u64) -> Value {
        serde_json::json!({
            "driver": "open-loop",
            "totals": {"requests": 1000, "failures": failures, "rps": rps},
            "classes": {"allowed": {
                "latency_us": {"p50": 1000, "p99": 2000},
                "corrected_us": {"p50": 1000, "p99": p99_us}
            }},
            "extra": {"unsent": 0}
        })
    }

    #[test]
    fn each_slo_part_breaks_a_step_and_the_knee_is_the_last_held() {
        let s = slo();
        let ok = from_run_json(0, 100.0, &run(99.0, 50_000, 0), Some(100), 1000, &s, None);
        assert!(ok.held(), "{:?}", ok.broken);
        assert_eq!(ok.cpu_us_per_request, Some(100.0));
        let slow = from_run_json(1, 200.0, &run(199.0, 150_000, 0), None, 0, &s, None);
        assert!(slow.broken[0].starts_with("p99"));
        let errs = from_run_json(1, 200.0, &run(199.0, 50_000, 50), None, 0, &s, None);
        assert!(errs.broken[0].starts_with("errors"));
        let short = from_run_json(1, 200.0, &run(150.0, 50_000, 0), None, 0, &s, None);
        assert!(short.broken[0].starts_with("achieved"));
        assert_eq!(knee(&[ok.clone(), slow.clone()]), Some(100.0));
        assert_eq!(knee(&[slow]), None);
    }

    #[test]
    fn the_bottleneck_is_whichever_side_ran_out_of_cpu() {
        let s = slo();
        let mut step = from_run_json(3, 2000.0, &run(1500.0, 150_000, 0), None, 0, &s, None);
        step.proxy_cores_busy = Some(0.24);
        step.loadgen_cores_busy = Some(0.4);
        step.throttled_share = Some(0.8);
        assert!(bottleneck(&step, 0.25, 1.0).is_proxy(), "throttled");
        step.throttled_share = Some(0.1);
        assert!(
            bottleneck(&step, 0.25, 1.0).is_proxy(),
            "at 96% of its quota"
        );
        step.proxy_cores_busy = Some(0.1);
        step.throttled_share = Some(0.005);
        assert!(matches!(
            bottleneck(&step, 0.25, 1.0),
            Bottleneck::NotSaturated { .. }
        ));
        step.loadgen_cores_busy = Some(0.95);
        let b = bottleneck(&step, 0.25, 1.0);
        assert!(matches!(b, Bottleneck::LoadGenerator { .. }), "{b:?}");
        assert!(b.describe().contains("0.95 of its 1 cores"));
        step.proxy_cores_busy = None;
        step.loadgen_cores_busy = None;
        assert!(matches!(
            bottleneck(&step, 1.0, 1.0),
            Bottleneck::NotSaturated { .. }
        ));
    }

    #[test]
    fn the_rate_per_core_divides_by_the_quota_only_when_the_proxy_broke_the_climb() {
        let s = slo();
        let mut held = from_run_json(0, 1000.0, &run(990.0, 5_000, 0), None, 0, &s, None);
        held.proxy_cores_busy = Some(0.2);
        held.loadgen_cores_busy = Some(0.3);
        let mut broke = from_run_json(1, 1500.0, &run(1200.0, 150_000, 0), None, 0, &s, None);
        broke.proxy_cores_busy = Some(0.25);
        broke.loadgen_cores_busy = Some(0.35);
        let r = read_knee(&[held.clone(), broke.clone()], 0.25, 1.0, None, None);
        assert_eq!(r.knee_rps, Some(1000.0));
        assert_eq!(r.rps_per_proxy_core, Some(4000.0));
        assert_eq!(r.loadgen_busy_at_knee, Some(0.3));
        assert!(r.bottleneck.as_ref().unwrap().is_proxy());
        // The same steps with a proxy far from its limit: an estimate from busy cores.
        let r = read_knee(&[held.clone(), broke], 1.0, 1.0, None, None);
        assert_eq!(r.rps_per_proxy_core, Some(990.0 / 0.2));
        assert!(r.per_core_basis.unwrap().contains("an estimate"));
        // No step broke: the knee is a lower bound and nothing is named.
        let r = read_knee(&[held], 0.25, 1.0, None, None);
        assert_eq!(r.bottleneck, None);
    }

    #[test]
    fn the_slo_bounds_the_worst_of_its_classes_only() {
        let s = slo();
        let mut r = run(500.0, 5_000, 0);
        r["classes"]["download"] = serde_json::json!({
            "latency_us": {"p50": 90_000, "p99": 400_000},
            "corrected_us": {"p50": 90_000, "p99": 400_000}
        });
        r["classes"]["tunnel"] = serde_json::json!({
            "latency_us": {"p50": 3_000, "p99": 20_000},
            "corrected_us": null
        });
        let all = from_run_json(0, 500.0, &r, None, 0, &s, None);
        assert_eq!(all.p99_class.as_deref(), Some("download"));
        assert!(!all.held());
        let classes = ["allowed".to_owned(), "tunnel".to_owned()];
        let some = from_run_json(0, 500.0, &r, None, 0, &s, Some(&classes));
        assert!(some.held(), "{:?}", some.broken);
        assert_eq!(some.p99_class.as_deref(), Some("tunnel"));
        assert_eq!(some.p99_ms, Some(20.0));
        assert_eq!(some.p50_ms, Some(1.0), "the allowed class's p50");
    }

    #[test]
    fn quota_stalls_covering_the_p99_tail_name_the_proxys_cpu_in_bursts() {
        let s = slo();
        let mut step = from_run_json(1, 300.0, &run(295.0, 150_000, 0), None, 0, &s, None);
        step.proxy_cores_busy = Some(0.15);
        step.loadgen_cores_busy = Some(0.3);
        step.throttled_share = Some(0.05);
        let b = bottleneck(&step, 0.25, 1.0);
        assert!(
            matches!(b, Bottleneck::ProxyCpuBursts { stalled_share, .. } if (stalled_share - 0.0375).abs() < 1e-9),
            "{b:?}"
        );
        assert!(b.is_proxy());
        // Too few throttled periods to reach the tail: not the proxy.
        step.throttled_share = Some(0.01);
        assert!(!bottleneck(&step, 0.25, 1.0).is_proxy());
        // The same throttling, but the step broke on its achieved rate, not its p99.
        let mut short = from_run_json(1, 300.0, &run(200.0, 5_000, 0), None, 0, &s, None);
        short.proxy_cores_busy = Some(0.15);
        short.throttled_share = Some(0.05);
        assert!(!bottleneck(&short, 0.25, 1.0).is_proxy());
    }

    #[test]
    fn pool_timeouts_and_descriptors_are_named_before_cpu() {
        let s = slo();
        let mut step = from_run_json(3, 2000.0, &run(1500.0, 150_000, 0), None, 0, &s, None);
        step.proxy_cores_busy = Some(0.25);
        step.pool_exhausted = Some(12);
        assert_eq!(
            bottleneck(&step, 0.25, 1.0),
            Bottleneck::Pool { exhausted: 12 }
        );
        step.pool_exhausted = Some(0);
        step.proxy_fds = Some((1000, 1024));
        assert!(matches!(
            bottleneck(&step, 0.25, 1.0),
            Bottleneck::Fds { .. }
        ));
        step.proxy_fds = Some((100, 1024));
        assert!(bottleneck(&step, 0.25, 1.0).is_proxy());
    }
}
