//! A Grafana dashboard of the golden signals — traffic, errors, latency, saturation — by
//! the proxy's request decision (allowed, blocked, error: the request classes the proxy
//! itself labels), with the SLO lines drawn as thresholds.

use super::plan::Plan;
use super::prometheus::num;
use serde_json::{json, Value};

fn panel(
    id: u32,
    title: &str,
    y: u32,
    x: u32,
    unit: &str,
    targets: &[(&str, &str)],
    line: Option<f64>,
) -> Value {
    let mut steps = vec![json!({"color": "green", "value": null})];
    if let Some(v) = line {
        steps.push(json!({"color": "red", "value": v}));
    }
    json!({
        "id": id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                "custom": {"thresholdsStyle": {"mode": if line.is_some() { "line" } else { "off" }}}
            },
            "overrides": []
        },
        "targets": targets.iter().enumerate().map(|(i, (expr, legend))| json!({
            "refId": char::from(b'A' + i as u8).to_string(),
            "expr": expr,
            "legendFormat": legend
        })).collect::<Vec<_>>()
    })
}

/// The dashboard JSON.
pub fn dashboard(plan: &Plan) -> Value {
    let panels = vec![
        panel(
            1,
            "Traffic: requests/s by decision and status",
            0,
            0,
            "reqps",
            &[(
                "sum by (decision, status) (filter_proxy:requests_by_decision:rate5m)",
                "{{decision}} {{status}}",
            )],
            None,
        ),
        panel(
            2,
            "Errors: 5xx ratio (SLO line: the error budget)",
            0,
            12,
            "percentunit",
            &[
                ("filter_proxy:error_ratio:rate5m", "5xx ratio 5m"),
                ("filter_proxy:error_ratio:rate1h", "5xx ratio 1h"),
            ],
            Some(plan.error_budget()),
        ),
        panel(
            3,
            "Latency: request head to response head (SLO line: the p99 objective)",
            8,
            0,
            "s",
            &[
                ("filter_proxy:request_duration_seconds:p50_5m", "p50"),
                ("filter_proxy:request_duration_seconds:p99_5m", "p99"),
            ],
            Some(plan.latency_le_s),
        ),
        panel(
            4,
            &format!(
                "Latency SLI: share of requests slower than {} s",
                num(plan.latency_le_s)
            ),
            8,
            12,
            "percentunit",
            &[
                ("filter_proxy:slow_ratio:rate5m", "slow 5m"),
                ("filter_proxy:slow_ratio:rate1h", "slow 1h"),
            ],
            Some(plan.latency_budget()),
        ),
        panel(
            5,
            "Saturation: client connections, pool in use and waiters",
            16,
            0,
            "short",
            &[
                ("sum(filter_proxy_client_connections)", "client connections"),
                ("sum(filter_proxy_pool_in_use)", "pool in use"),
                ("sum(filter_proxy_pool_waiters)", "pool waiters"),
            ],
            None,
        ),
        panel(
            6,
            "Rollback signals: ratio of requests (line: the rollback threshold)",
            16,
            12,
            "percentunit",
            &[
                ("filter_proxy:fail_open_ratio:rate5m", "fail-open"),
                ("filter_proxy:pool_exhausted_ratio:rate5m", "pool exhausted"),
                (
                    "filter_proxy:upstream_error_ratio:rate5m",
                    "upstream errors",
                ),
            ],
            Some(plan.failure.rollback),
        ),
    ];
    json!({
        "title": "filter-proxy: golden signals and SLOs",
        "uid": "filter-proxy-golden",
        "schemaVersion": 39,
        "editable": true,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "tags": ["filter-proxy", "generated"],
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels
    })
}
