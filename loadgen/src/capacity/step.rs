//! One step of the staircase: what was offered, what came back, and whether the SLO
//! held; and the knee over all steps.
//!
//! Pure arithmetic over the open-loop driver's `run.json`, tested on made-up values.

use serde::Serialize;
use serde_json::Value;

use super::spec::Slo;

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
    /// p99 from the actual send, ms.
    pub p99_service_ms: Option<f64>,
    /// Proxy CPU per request over the step, µs.
    pub cpu_us_per_request: Option<f64>,
    /// Scheduled requests the driver could not send.
    pub unsent: u64,
    /// CPU cores the load generator (driver and origin) kept busy over the step: near
    /// its CPU count, the point measures the load generator, not the proxy.
    pub loadgen_cores_busy: Option<f64>,
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

/// Reads a step out of the driver's `run.json`; `cpu_ms` is the proxy's CPU time over
/// the step and `all_requests` every request of the step (warm-up included).
pub fn from_run_json(
    index: usize,
    offered: f64,
    run: &Value,
    cpu_ms: Option<u64>,
    all_requests: u64,
    slo: &Slo,
) -> StepResult {
    let totals = &run["totals"];
    let requests = totals["requests"].as_u64().unwrap_or(0);
    let failures = totals["failures"].as_u64().unwrap_or(0);
    let achieved = totals["rps"].as_f64().unwrap_or(0.0);
    let class = &run["classes"]["allowed"];
    let corrected = class.get("corrected_us").filter(|v| !v.is_null());
    let p99_service = us_to_ms(class["latency_us"].get("p99"));
    let p99 = us_to_ms(corrected.and_then(|c| c.get("p99"))).or(p99_service);
    let p50 =
        us_to_ms(corrected.and_then(|c| c.get("p50"))).or(us_to_ms(class["latency_us"].get("p50")));
    let error_rate = if requests == 0 {
        1.0
    } else {
        failures as f64 / requests as f64
    };
    let mut broken = Vec::new();
    let bound_ms = slo.p99.as_secs_f64() * 1000.0;
    match p99 {
        Some(p) if p <= bound_ms => {}
        Some(p) => broken.push(format!("p99 {p:.1} ms > {bound_ms:.1} ms")),
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
        p99_ms: p99,
        p99_service_ms: p99_service,
        cpu_us_per_request: cpu_ms
            .filter(|_| all_requests > 0)
            .map(|ms| ms as f64 * 1000.0 / all_requests as f64),
        unsent: run["extra"]["unsent"].as_u64().unwrap_or(0),
        loadgen_cores_busy: None,
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
        let ok = from_run_json(0, 100.0, &run(99.0, 50_000, 0), Some(100), 1000, &s);
        assert!(ok.held(), "{:?}", ok.broken);
        assert_eq!(ok.cpu_us_per_request, Some(100.0));
        let slow = from_run_json(1, 200.0, &run(199.0, 150_000, 0), None, 0, &s);
        assert!(slow.broken[0].starts_with("p99"));
        let errs = from_run_json(1, 200.0, &run(199.0, 50_000, 50), None, 0, &s);
        assert!(errs.broken[0].starts_with("errors"));
        let short = from_run_json(1, 200.0, &run(150.0, 50_000, 0), None, 0, &s);
        assert!(short.broken[0].starts_with("achieved"));
        assert_eq!(knee(&[ok.clone(), slow.clone()]), Some(100.0));
        assert_eq!(knee(&[slow]), None);
    }
}
