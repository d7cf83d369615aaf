//! Prometheus recording and alerting rules over the proxy's own metric names.
//!
//! SLOs are written once — availability is one minus the failure-rate rollback threshold,
//! latency is 99% of requests within the p99 hotfix threshold — and alerted on with the
//! SRE workbook's multi-window, multi-burn-rate table. The non-latency rollback signals
//! (fail-open lookups, pool-exhaustion 503s, upstream errors, RSS growth) get threshold
//! alerts from the same gate rules as the CloudWatch alarms.

use super::plan::{Band, Plan};
use crate::rules::fmt_num;
use serde::Serialize;
use std::collections::BTreeMap;

/// One burn-rate alert: the budget burnt `factor` times too fast over both windows.
#[derive(Debug, Clone, Copy)]
pub struct Burn {
    /// Long window.
    pub long: &'static str,
    /// Short window (a twelfth of the long one).
    pub short: &'static str,
    /// Burn-rate factor.
    pub factor: f64,
    /// `page` or `ticket`.
    pub severity: &'static str,
}

/// The SRE workbook's table for a 30-day SLO ("Alerting on SLOs", multiwindow,
/// multi-burn-rate): 2% of the budget in an hour or 5% in six hours pages, 10% in three
/// days tickets.
pub const BURNS: [Burn; 3] = [
    Burn {
        long: "1h",
        short: "5m",
        factor: 14.4,
        severity: "page",
    },
    Burn {
        long: "6h",
        short: "30m",
        factor: 6.0,
        severity: "page",
    },
    Burn {
        long: "3d",
        short: "6h",
        factor: 1.0,
        severity: "ticket",
    },
];

/// Every window a recording rule is kept for.
pub const WINDOWS: [&str; 5] = ["5m", "30m", "1h", "6h", "3d"];

/// The process-exporter series of the proxy's resident memory (Debian package
/// `prometheus-process-exporter`, process group named by the command, `filter-proxy`):
/// the proxy does not export its own RSS.
pub const RSS_SERIES: &str =
    r#"namedprocess_namegroup_memory_bytes{groupname="filter-proxy",memtype="resident"}"#;

/// A rules file.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFile {
    /// Rule groups.
    pub groups: Vec<Group>,
}

/// A rule group.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Rules, evaluated in order.
    pub rules: Vec<PromRule>,
}

/// A recording or alerting rule.
#[derive(Debug, Serialize, Clone)]
pub struct PromRule {
    /// Recorded series name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Alert name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// PromQL.
    pub expr: String,
    /// How long the condition must hold.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// Labels (severity).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (static text, so unit tests can state them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn record(name: String, expr: String) -> PromRule {
    PromRule {
        record: Some(name),
        alert: None,
        expr,
        for_: None,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
    }
}

fn alert(
    name: &str,
    expr: String,
    for_: Option<&str>,
    severity: &str,
    summary: String,
) -> PromRule {
    PromRule {
        record: None,
        alert: Some(name.to_owned()),
        expr,
        for_: for_.map(str::to_owned),
        labels: BTreeMap::from([("severity".to_owned(), severity.to_owned())]),
        annotations: BTreeMap::from([("summary".to_owned(), summary)]),
    }
}

/// A threshold as PromQL reads it: plain decimal, never exponent form.
pub fn num(v: f64) -> String {
    let s = format!("{v:.12}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Recording rules: request, error and slow-request rates per window, their ratios, the
/// non-latency signals' ratios and p99 for the dashboard.
fn recording(plan: &Plan) -> Vec<PromRule> {
    let le = num(plan.latency_le_s);
    let mut rules = Vec::new();
    for w in WINDOWS {
        rules.push(record(
            format!("filter_proxy:requests:rate{w}"),
            format!("sum(rate(filter_proxy_requests_total[{w}]))"),
        ));
        rules.push(record(
            format!("filter_proxy:error_ratio:rate{w}"),
            format!(
                "sum(rate(filter_proxy_requests_total{{status=\"5xx\"}}[{w}])) / filter_proxy:requests:rate{w}"
            ),
        ));
        rules.push(record(
            format!("filter_proxy:slow_ratio:rate{w}"),
            format!(
                "1 - sum(rate(filter_proxy_request_duration_seconds_bucket{{le=\"{le}\"}}[{w}])) / sum(rate(filter_proxy_request_duration_seconds_count[{w}]))"
            ),
        ));
    }
    for (name, series) in signals() {
        for w in ["5m", "1h"] {
            rules.push(record(
                format!("filter_proxy:{name}_ratio:rate{w}"),
                format!("sum(rate({series}[{w}])) / filter_proxy:requests:rate{w}"),
            ));
        }
    }
    rules.push(record(
        "filter_proxy:requests_by_decision:rate5m".to_owned(),
        "sum by (decision, status) (rate(filter_proxy_requests_total[5m]))".to_owned(),
    ));
    for (q, name) in [("0.5", "p50"), ("0.99", "p99")] {
        rules.push(record(
            format!("filter_proxy:request_duration_seconds:{name}_5m"),
            format!(
                "histogram_quantile({q}, sum by (le) (rate(filter_proxy_request_duration_seconds_bucket[5m])))"
            ),
        ));
    }
    rules
}

/// The non-latency request signals: recorded name and the proxy's counter.
fn signals() -> [(&'static str, &'static str); 3] {
    [
        (
            "fail_open",
            r#"filter_proxy_store_unavailable_total{mode="open"}"#,
        ),
        ("pool_exhausted", "filter_proxy_pool_exhausted_total"),
        ("upstream_error", "filter_proxy_upstream_errors_total"),
    ]
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn burn_alerts(slo: &str, sli: &str, budget: f64, what: &str) -> Vec<PromRule> {
    BURNS
        .iter()
        .map(|b| {
            let limit = num(b.factor * budget);
            alert(
                &format!("Proxy{slo}BudgetBurn{}", b.long),
                format!(
                    "filter_proxy:{sli}:rate{} > {limit} and filter_proxy:{sli}:rate{} > {limit}",
                    b.long, b.short
                ),
                None,
                b.severity,
                format!(
                    "{what} budget burning {}x too fast over {} and {} (ratio above {limit})",
                    fmt_num(b.factor),
                    b.long,
                    b.short
                ),
            )
        })
        .collect()
}

fn threshold_alerts(name: &str, what: &str, band: &Band) -> Vec<PromRule> {
    vec![
        alert(
            &format!("Proxy{}AboveRollback", camel(name)),
            format!("filter_proxy:{name}_ratio:rate5m > {}", num(band.rollback)),
            Some("5m"),
            "page",
            format!(
                "{what} above the rollback threshold {} of requests",
                num(band.rollback)
            ),
        ),
        alert(
            &format!("Proxy{}AboveHotfix", camel(name)),
            format!("filter_proxy:{name}_ratio:rate1h > {}", num(band.hotfix)),
            Some("30m"),
            "ticket",
            format!(
                "{what} above the hotfix threshold {} of requests",
                num(band.hotfix)
            ),
        ),
    ]
}

/// The alerting rules.
fn alerting(plan: &Plan) -> Vec<PromRule> {
    let mut rules = burn_alerts(
        "Availability",
        "error_ratio",
        plan.error_budget(),
        "Availability",
    );
    rules.extend(burn_alerts(
        "Latency",
        "slow_ratio",
        plan.latency_budget(),
        "Latency",
    ));
    rules.extend(threshold_alerts("error", "5xx answers", &plan.failure));
    let what = [
        "Fail-open lookups",
        "Pool-exhaustion 503s",
        "Upstream errors",
    ];
    for ((name, _), what) in signals().iter().zip(what) {
        rules.extend(threshold_alerts(name, what, &plan.failure));
    }
    let p = &plan.p99_s;
    rules.push(alert(
        "ProxyP99AboveHotfix",
        format!(
            "filter_proxy:request_duration_seconds:p99_5m > {}",
            num(p.hotfix)
        ),
        Some("30m"),
        "ticket",
        format!(
            "p99 above the hotfix threshold {} s for 30 minutes",
            num(p.hotfix)
        ),
    ));
    let r = &plan.rss_slope;
    for (sev, limit, window, for_) in [
        ("page", r.rollback, "1h", "1h"),
        ("ticket", r.hotfix, "6h", "6h"),
    ] {
        rules.push(alert(
            &format!(
                "ProxyRssGrowthAbove{}",
                if sev == "page" { "Rollback" } else { "Hotfix" }
            ),
            format!("deriv({RSS_SERIES}[{window}]) > {}", num(limit)),
            Some(for_),
            sev,
            format!(
                "Resident memory growing faster than {} B/s over {window}",
                num(limit)
            ),
        ));
    }
    rules
}

/// The rules file.
pub fn rules(plan: &Plan) -> RuleFile {
    RuleFile {
        // One group: rules run in order, so each alert reads this evaluation's records.
        groups: vec![Group {
            name: "filter-proxy".to_owned(),
            rules: recording(plan).into_iter().chain(alerting(plan)).collect(),
        }],
    }
}
