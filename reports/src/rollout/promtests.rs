//! `promtool test rules` unit tests, generated beside the rules from the same plan: a
//! synthetic series burning the availability (and latency) budget at 15x pages within the
//! fast window; at 1x nothing pages; a hotfix-level breach (failures above the hotfix
//! threshold, below the rollback one; latency burning 2x) tickets without paging.
//!
//! Each series is built so the ratio is exact: counters rise by whole requests a minute.

use super::plan::Plan;
use super::prometheus::{PromRule, RuleFile};
use serde::Serialize;
use std::collections::BTreeMap;

/// Requests a minute in every synthetic series.
const PER_MINUTE: f64 = 100_000.0;

/// A test file.
#[derive(Debug, Serialize)]
pub struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    tests: Vec<Test>,
}

#[derive(Debug, Serialize)]
struct Test {
    name: String,
    interval: String,
    input_series: Vec<Series>,
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Serialize)]
struct Series {
    series: String,
    values: String,
}

#[derive(Debug, Serialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Serialize)]
struct ExpAlert {
    exp_labels: BTreeMap<String, String>,
    exp_annotations: BTreeMap<String, String>,
}

fn counter(series: &str, per_minute: f64, minutes: u32) -> Series {
    Series {
        series: series.to_owned(),
        values: format!("0+{}x{minutes}", per_minute.round()),
    }
}

/// Requests a minute: `bad` of them 5xx, the rest 2xx.
fn requests(ratio: f64, minutes: u32) -> Vec<Series> {
    let bad = (ratio * PER_MINUTE).round();
    vec![
        counter(
            r#"filter_proxy_requests_total{decision="allowed",status="2xx"}"#,
            PER_MINUTE - bad,
            minutes,
        ),
        counter(
            r#"filter_proxy_requests_total{decision="error",status="5xx"}"#,
            bad,
            minutes,
        ),
    ]
}

/// Request durations: a `slow` fraction beyond the SLO bucket.
fn durations(plan: &Plan, slow: f64, minutes: u32) -> Vec<Series> {
    let le = super::prometheus::num(plan.latency_le_s);
    vec![
        counter(
            &format!(r#"filter_proxy_request_duration_seconds_bucket{{le="{le}"}}"#),
            PER_MINUTE * (1.0 - slow),
            minutes,
        ),
        counter(
            "filter_proxy_request_duration_seconds_count",
            PER_MINUTE,
            minutes,
        ),
    ]
}

fn find<'a>(rules: &'a RuleFile, name: &str) -> &'a PromRule {
    rules
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .find(|r| r.alert.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("the generated rules define {name}"))
}

fn fires(rules: &RuleFile, name: &str, at: &str) -> AlertTest {
    let r = find(rules, name);
    AlertTest {
        eval_time: at.to_owned(),
        alertname: name.to_owned(),
        exp_alerts: vec![ExpAlert {
            exp_labels: r.labels.clone(),
            exp_annotations: r.annotations.clone(),
        }],
    }
}

fn silent(rules: &RuleFile, name: &str, at: &str) -> AlertTest {
    find(rules, name);
    AlertTest {
        eval_time: at.to_owned(),
        alertname: name.to_owned(),
        exp_alerts: Vec::new(),
    }
}

/// The page alerts of one SLO (every burn whose severity is page).
fn pages(slo: &str) -> Vec<String> {
    super::prometheus::BURNS
        .iter()
        .filter(|b| b.severity == "page")
        .map(|b| format!("Proxy{slo}BudgetBurn{}", b.long))
        .collect()
}

/// The tests, for the rules file `rules_file` (a path relative to the test file).
pub fn tests(plan: &Plan, rules: &RuleFile, rules_file: &str) -> TestFile {
    let budget = plan.error_budget();
    let latency_budget = plan.latency_budget();
    let hotfix_ratio = (plan.failure.hotfix + plan.failure.rollback) / 2.0;
    let mut tests = Vec::new();
    let at_1h = vec![fires(rules, "ProxyAvailabilityBudgetBurn1h", "1h")];
    tests.push(Test {
        name: "availability budget burnt at 15x pages within the 1h window".to_owned(),
        interval: "1m".to_owned(),
        input_series: requests(15.0 * budget, 70),
        alert_rule_test: at_1h,
    });
    tests.push(Test {
        name: "availability budget burnt at 1x does not page".to_owned(),
        interval: "1m".to_owned(),
        input_series: requests(budget, 7 * 60),
        alert_rule_test: pages("Availability")
            .iter()
            .flat_map(|p| [silent(rules, p, "1h"), silent(rules, p, "7h")])
            .collect(),
    });
    let mut hotfix: Vec<AlertTest> = pages("Availability")
        .iter()
        .map(|p| silent(rules, p, "2h"))
        .collect();
    hotfix.push(fires(rules, "ProxyErrorAboveHotfix", "2h"));
    hotfix.push(silent(rules, "ProxyErrorAboveRollback", "2h"));
    tests.push(Test {
        name: format!(
            "failures at a hotfix-level ratio ({}) ticket without paging",
            super::prometheus::num(hotfix_ratio)
        ),
        interval: "1m".to_owned(),
        input_series: requests(hotfix_ratio, 130),
        alert_rule_test: hotfix,
    });
    tests.push(Test {
        name: "latency budget burnt at 15x pages within the 1h window".to_owned(),
        interval: "1m".to_owned(),
        input_series: durations(plan, 15.0 * latency_budget, 70),
        alert_rule_test: vec![fires(rules, "ProxyLatencyBudgetBurn1h", "1h")],
    });
    let mut slow: Vec<AlertTest> = pages("Latency")
        .iter()
        .map(|p| silent(rules, p, "7h"))
        .collect();
    slow.push(fires(rules, "ProxyLatencyBudgetBurn3d", "7h"));
    tests.push(Test {
        name: "latency budget burnt at 2x (p99 past the hotfix threshold) tickets without paging"
            .to_owned(),
        interval: "1m".to_owned(),
        input_series: durations(plan, 2.0 * latency_budget, 7 * 60 + 10),
        alert_rule_test: slow,
    });
    TestFile {
        rule_files: vec![rules_file.to_owned()],
        evaluation_interval: "1m".to_owned(),
        tests,
    }
}
