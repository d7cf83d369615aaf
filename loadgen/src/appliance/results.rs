//! What an appliance run measured, as `run.json` sections and files, and its verdict.
//!
//! The run directory has the shape every report reads: `run.json` (`rundir::run::RunJson`,
//! `classes` of the requests through the appliance, totals over both routes, resources,
//! provenance) and `hist/<class>.hdr`; the appliance's own results are the optional
//! `appliance` object. The direct route's histograms go to `appliance/direct/`, the
//! appliance route's whole-request histogram to `appliance/through.hdr`.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use rundir::run::appliance::{
    ApplianceCounters, ApplianceResults, HeaderCounts, IdentityCounts, RouteCounts, Schedule,
    Verdict,
};
use rundir::run::{AddedLatency, ClassStats, Percentiles, Totals};

use crate::harness::scrape;
use crate::rig::error::RigError;

use super::radius::RadiusCounts;
use super::traffic::{Route, TrafficTally};

/// Reads the appliance's counters from its metrics text.
pub fn appliance_counters(text: &str) -> ApplianceCounters {
    let samples = scrape::parse(text);
    let sum = |names: &[&str]| scrape::sum_first(&samples, names);
    let by_label = |name: &str, labels: &[&str]| -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == name) {
            let key: Vec<&str> = labels
                .iter()
                .filter_map(|l| label_value(s.labels, l))
                .collect();
            *out.entry(key.join("/")).or_default() += s.value;
        }
        out
    };
    ApplianceCounters {
        connections: sum(&["appliance_connections_total"]),
        connections_rejected: sum(&["appliance_connections_rejected_total"]),
        bytes_up: scrape::sum_first_with_label(
            &samples,
            &["appliance_bytes_total"],
            "direction=\"up",
        ),
        bytes_down: scrape::sum_first_with_label(
            &samples,
            &["appliance_bytes_total"],
            "direction=\"down",
        ),
        identity_lookups: by_label("appliance_identity_lookups_total", &["result"]),
        radius_packets: by_label("appliance_radius_packets_total", &["type", "result"]),
        radius_sessions: sum(&["appliance_radius_sessions"]),
    }
}

/// Reads the proxy's PROXY v2 counters from its metrics text.
pub fn proxy_protocol_counters(text: &str) -> HeaderCounts {
    let samples = scrape::parse(text);
    let mut refused = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.name.contains("proxy_protocol_refused") && s.value > 0.0)
    {
        let reason = label_value(s.labels, "reason").unwrap_or("unknown");
        *refused.entry(reason.to_owned()).or_insert(0.0) += s.value;
    }
    HeaderCounts {
        accepted: scrape::sum_first(
            &samples,
            &[
                "filter_proxy_proxy_protocol_accepted_total",
                "proxy_protocol_accepted_total",
            ],
        ),
        refused,
    }
}

fn label_value<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

/// Judges a run.
pub fn verdict(
    tally: &TrafficTally,
    radius: &RadiusCounts,
    headers: &HeaderCounts,
    users: u64,
) -> Verdict {
    let mut reasons = Vec::new();
    if !headers.refused.is_empty() {
        let by_reason: Vec<String> = headers
            .refused
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        reasons.push(format!(
            "the proxy refused the appliance's PROXY v2 headers ({})",
            by_reason.join(", ")
        ));
    }
    let (n_app, f_app) = tally.route_counts(Route::Appliance);
    let (n_dir, f_dir) = tally.route_counts(Route::Direct);
    if f_app > 0 {
        reasons.push(format!(
            "{f_app} of {n_app} requests through the appliance failed"
        ));
    }
    if f_dir > 0 {
        reasons.push(format!(
            "{f_dir} of {n_dir} requests straight to the proxy failed"
        ));
    }
    let id = &tally.identity;
    if id.checked == 0 {
        reasons.push("identity: no request through the appliance reached the origin".into());
    }
    if id.mismatched > 0 {
        reasons.push(format!(
            "identity: {} of {} answers carried another user (e.g. {})",
            id.mismatched,
            id.checked,
            id.examples.join("; ")
        ));
    }
    if id.missing > 0 {
        reasons.push(format!(
            "identity: {} of {} answers carried no user",
            id.missing, id.checked
        ));
    }
    let started = radius.acked.get("start").copied().unwrap_or(0);
    if started < users {
        reasons.push(format!(
            "RADIUS: {started} of {users} users' Accounting-Start answered"
        ));
    }
    Verdict {
        pass: reasons.is_empty(),
        reasons,
    }
}

fn added(through: &Histogram<u64>, direct: &Histogram<u64>) -> Option<AddedLatency> {
    if through.is_empty() || direct.is_empty() {
        return None;
    }
    let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64;
    Some(AddedLatency {
        p50: Some(q(through, 0.5) - q(direct, 0.5)),
        p99: Some(q(through, 0.99) - q(direct, 0.99)),
        basis: None,
    })
}

fn class_stats(t: &super::traffic::ClassTally, measured_s: f64) -> ClassStats {
    ClassStats {
        count: t.count,
        failures: t.failures,
        errors: t.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        rps: Some(t.count as f64 / measured_s.max(0.001)),
        latency_us: Percentiles::of(&t.latency),
        ttfb_us: None,
        ttlb_us: None,
        corrected_us: Percentiles::of(&t.corrected),
    }
}

/// The traffic's part of `run.json` beyond what the recorder writes: `totals` over both
/// routes and the traffic part of `appliance`.
#[derive(Debug, Clone)]
pub struct TrafficSections {
    /// Totals over both routes.
    pub totals: Totals,
    /// Latency, route counts, direct classes, identity and schedule.
    pub appliance: ApplianceResults,
}

/// Writes the route histograms and returns the `run.json` sections of the traffic beyond
/// what the recorder writes. (`classes`, `hist/` and `timeseries.csv` describe the
/// requests through the appliance and are written by [`crate::output::write_run_dir`].)
pub fn traffic_sections(
    dir: &Path,
    tally: &TrafficTally,
    rate: f64,
    warmup_s: f64,
) -> Result<TrafficSections, RigError> {
    let io = |what: String| {
        move |e: rundir::hdr::HdrError| RigError::Config {
            detail: match std::error::Error::source(&e) {
                Some(cause) => format!("{what}: {e}: {cause}"),
                None => format!("{what}: {e}"),
            },
        }
    };
    std::fs::create_dir_all(dir.join("appliance/direct")).map_err(|source| RigError::Io {
        what: "create appliance/direct".into(),
        cause: source,
    })?;
    let measured_s = (tally.elapsed_s - warmup_s).max(0.001);
    let mut direct_classes = BTreeMap::new();
    for ((route, class), t) in &tally.classes {
        if *route == Route::Direct {
            let name = class.label();
            if !t.latency.is_empty() {
                let p = dir.join(format!("appliance/direct/{name}.hdr"));
                rundir::hdr::write(&p, &t.latency).map_err(io(p.display().to_string()))?;
            }
            direct_classes.insert(name.to_owned(), class_stats(t, measured_s));
        }
    }
    let through = tally.route_latency(Route::Appliance);
    let direct = tally.route_latency(Route::Direct);
    for (name, h) in [("through", &through), ("direct", &direct)] {
        if !h.is_empty() {
            let p = dir.join(format!("appliance/{name}.hdr"));
            rundir::hdr::write(&p, h).map_err(io(p.display().to_string()))?;
        }
    }
    let (n_app, f_app) = tally.route_counts(Route::Appliance);
    let (n_dir, f_dir) = tally.route_counts(Route::Direct);
    let id = &tally.identity;
    Ok(TrafficSections {
        totals: Totals {
            requests: n_app + n_dir,
            failures: f_app + f_dir,
            rps: Some((n_app + n_dir) as f64 / tally.elapsed_s.max(0.001)),
            offered_rps: Some(rate),
        },
        appliance: ApplianceResults {
            added_latency_us: added(&through, &direct),
            through_appliance_us: Percentiles::of(&through),
            direct_to_proxy_us: Percentiles::of(&direct),
            requests: Some(RouteCounts {
                through_appliance: n_app,
                through_appliance_failures: f_app,
                direct: n_dir,
                direct_failures: f_dir,
            }),
            direct_classes,
            identity: Some(IdentityCounts {
                checked: id.checked,
                matched: id.matched,
                mismatched: id.mismatched,
                missing: id.missing,
                examples: id.examples.clone(),
            }),
            schedule: Some(Schedule {
                scheduled: tally.scheduled,
                late_over_100ms: tally.late,
                lag_us: tally.lag.as_ref().and_then(Percentiles::of),
            }),
            ..ApplianceResults::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_appliance_counters() {
        let text = "appliance_connections_total{mode=\"explicit\"} 10\n\
                    appliance_bytes_total{direction=\"up\"} 100\n\
                    appliance_bytes_total{direction=\"down\"} 900\n\
                    appliance_identity_lookups_total{result=\"radius\"} 9\n\
                    appliance_identity_lookups_total{result=\"miss\"} 1\n\
                    appliance_radius_packets_total{type=\"start\",result=\"ok\"} 5\n";
        let c = appliance_counters(text);
        assert_eq!(c.connections, Some(10.0));
        assert_eq!((c.bytes_up, c.bytes_down), (Some(100.0), Some(900.0)));
        assert_eq!(c.identity_lookups["radius"], 9.0);
        assert_eq!(c.radius_packets["start/ok"], 5.0);
        assert_eq!(c.connections_rejected, None);
    }
}
