//! `perf-report rollout`: the committed deploy/ tree matches its generator; a threshold
//! changed in gates.toml moves the CloudWatch alarm and the Prometheus rule; the rules
//! read metric names the proxy really exports; and the generated rollback alarm, run
//! through the CloudWatch evaluation model, fires on a recorded Redis outage and stays
//! quiet through the committed clean peak run.
//!
//! `promtool` and `cfn-lint` checks of the same tree run in `scripts/rollout-check.sh`
//! (`make rollout-check`, called by `.ci/run` right after `make test`), not here: they are
//! outside tools installed from Debian and PyPI, and keeping them in one script keeps
//! `make test` to the Rust toolchain and its listed packages. These tests stay pure Rust.

use reports::rollout::alarm_model::{evaluate, ratio_datapoints, AlarmState, Second};
use reports::rollout::alarms::{Alarm, Severity, Signal};
use reports::rollout::inputs::Inputs;
use reports::rollout::{self, Generated, Sources};
use reports::rules::Gates;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn committed() -> Generated {
    rollout::generate(&Sources::in_repo(&root())).expect("the committed sources generate")
}

/// Generates from the committed baseline and inputs with these gate rules.
fn with_gates(text: &str) -> Generated {
    let src = Sources::in_repo(&root());
    let gates = Gates::parse(text).expect("edited gates parse");
    let baseline = reports::baseline::read(&src.baseline).unwrap();
    let inputs = Inputs::load(&src.inputs).unwrap();
    rollout::generate_from(&gates, &baseline, &src.baseline, inputs).unwrap()
}

fn template(g: &Generated) -> Value {
    serde_json::from_str(&g.files[Path::new(rollout::TEMPLATE_FILE)]).unwrap()
}

fn alert_expr(g: &Generated, name: &str) -> String {
    g.rules
        .groups
        .iter()
        .flat_map(|gr| &gr.rules)
        .find(|r| r.alert.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no alert {name}"))
        .expr
        .clone()
}

#[test]
fn the_committed_deploy_tree_matches_the_generator() {
    let g = committed();
    let stale = rollout::drift(&g, &root().join("deploy"));
    assert!(
        stale.is_empty(),
        "deploy/ is out of date with baselines/ and deploy/inputs.toml: {stale:?}; run `make rollout`"
    );
}

#[test]
fn a_threshold_changed_in_gates_toml_moves_the_alarm_and_the_rule() {
    let text = std::fs::read_to_string(root().join("baselines/gates.toml")).unwrap();
    let before = with_gates(&text);
    let old = "metric = \"failure_rate.*\"\ndirection = \"lower\"\nkind = \"absolute\"\nhotfix = 0.0\nrollback = 0.001\n";
    assert!(
        text.contains(old),
        "the failure-rate rule is written as this test expects"
    );
    let edited = text.replace(old, &old.replace("rollback = 0.001", "rollback = 0.004"));
    let after = with_gates(&edited);

    let threshold = |g: &Generated| {
        template(g)["Resources"]["RollbackFailureRatioAlarm"]["Properties"]["Threshold"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(threshold(&before), 0.001);
    assert_eq!(threshold(&after), 0.004);
    assert!(alert_expr(&before, "ProxyErrorAboveRollback").ends_with("> 0.001"));
    assert!(alert_expr(&after, "ProxyErrorAboveRollback").ends_with("> 0.004"));
    // The availability SLO follows: 14.4 x (1 - 0.996) on the fast burn.
    assert!(alert_expr(&after, "ProxyAvailabilityBudgetBurn1h").contains("> 0.0576"));
    assert!(after.files[Path::new("DECISIONS.md")].contains("99.6"));

    // The p99 hotfix threshold moves the latency SLI to another histogram bucket.
    let p99 =
        "metric = \"p99_us.*\"\ndirection = \"lower\"\nkind = \"absolute\"\nhotfix = 50000.0\n";
    assert!(text.contains(p99));
    let slower = with_gates(&text.replace(p99, &p99.replace("50000.0", "100000.0")));
    assert!(alert_expr(&before, "ProxyP99AboveHotfix").ends_with("> 0.05"));
    assert!(alert_expr(&slower, "ProxyP99AboveHotfix").ends_with("> 0.1"));
    let slow_ratio =
        |g: &Generated| g.files[Path::new(rollout::RULES_FILE)].contains("le=\\\"0.128\\\"");
    assert!(!slow_ratio(&before) && slow_ratio(&slower));
}

#[test]
fn the_refresh_rolls_back_on_exactly_the_rollback_alarms_it_defines() {
    let g = committed();
    let t = template(&g);
    let prefs =
        &t["Resources"]["ProxyGroup"]["UpdatePolicy"]["AutoScalingInstanceRefresh"]["Preferences"];
    let named: Vec<&str> = prefs["AlarmSpecification"]["Alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Ref"].as_str().unwrap())
        .collect();
    let wired: Vec<String> = g
        .alarms
        .iter()
        .filter(|a| a.in_refresh)
        .map(Alarm::logical_id)
        .collect();
    assert_eq!(named, wired);
    assert!(!named.is_empty());
    for a in &g.alarms {
        let props = &t["Resources"][a.logical_id()]["Properties"];
        assert_eq!(
            props["Threshold"].as_f64(),
            Some(a.eval.threshold),
            "{}",
            a.logical_id()
        );
        let topic = props["AlarmActions"][0]["Ref"].as_str().unwrap();
        let expected = match a.severity {
            Severity::Rollback => "PagerTopicArn",
            Severity::Hotfix => "TicketTopicArn",
        };
        assert_eq!(topic, expected, "{}", a.logical_id());
        // Only rollback alarms can roll a canary back.
        assert!(!a.in_refresh || a.severity == Severity::Rollback);
    }
    assert_eq!(
        prefs["CheckpointPercentages"],
        serde_json::json!([10, 50, 100])
    );
}

#[test]
fn the_scaling_target_is_measured_capacity_times_headroom() {
    let g = committed();
    let baseline = reports::baseline::read(&Sources::in_repo(&root()).baseline).unwrap();
    let cpu = baseline.metrics["proxy_cpu_us_per_request"]
        .value()
        .unwrap();
    let i = &g.plan.inputs;
    let expected = (1e6 / cpu * f64::from(i.fleet.vcpus) * i.scaling.headroom).floor();
    let target = template(&g)["Resources"]["ScalingPolicy"]["Properties"]
        ["TargetTrackingConfiguration"]["TargetValue"]
        .as_f64()
        .unwrap();
    assert_eq!(target, expected);
}

/// Every `filter_proxy_*` series name in a PromQL text.
fn series_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("filter_proxy_"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn rules_dashboard_and_alarms_read_metrics_the_proxy_exports() {
    let store = filter_proxy::store::StoreMetrics::new();
    let exposition = filter_proxy::metrics::Metrics::with_extra(|r| store.register(r)).render();
    let exported: Vec<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let g = committed();
    let mut used = Vec::new();
    for text in g.files.values() {
        used.extend(series_names(&text.replace("\\\"", "\"")));
    }
    used.sort();
    used.dedup();
    assert!(used.len() >= 6, "{used:?}");
    for name in &used {
        assert!(
            exported.contains(&name.as_str()),
            "{name} is not exported by the proxy"
        );
    }
    // The histogram's bucket bounds are the ones deploy/inputs.toml states.
    let bounds: Vec<f64> = exposition
        .lines()
        .filter(|l| l.starts_with("filter_proxy_request_duration_seconds_bucket"))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next()?.parse().ok())
        .filter(|b: &f64| b.is_finite())
        .collect();
    assert_eq!(bounds, g.plan.inputs.metrics.latency_buckets_s);
}

#[test]
fn the_dashboard_plots_only_series_the_rules_record() {
    let g = committed();
    let recorded: Vec<&str> = g
        .rules
        .groups
        .iter()
        .flat_map(|gr| &gr.rules)
        .filter_map(|r| r.record.as_deref())
        .collect();
    let dashboard = &g.files[Path::new("grafana/proxy-golden-signals.json")];
    let used: Vec<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("filter_proxy:"))
        .collect();
    assert!(used.len() >= 8, "{used:?}");
    for name in used {
        assert!(
            recorded.contains(&name),
            "{name} is plotted but not recorded"
        );
    }
}

/// Per-second increments of `bad` among all requests, from a recorded CSV of cumulative
/// counters.
fn recorded(file: &str, bad: &str) -> Vec<Second> {
    let path = root().join("reports/tests/fixtures/rollout").join(file);
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {file}"))
    };
    let (t, total, bad) = (col("t_s"), col("requests"), col(bad));
    let rows: Vec<Vec<f64>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect())
        .collect();
    rows.windows(2)
        .map(|w| Second {
            t_s: w[1][t],
            bad: w[1][bad] - w[0][bad],
            total: w[1][total] - w[0][total],
        })
        .collect()
}

fn rollback(g: &Generated, signal: Signal) -> &Alarm {
    g.alarms
        .iter()
        .find(|a| a.signal == signal && a.severity == Severity::Rollback)
        .unwrap()
}

#[test]
fn the_rollback_alarm_fires_during_a_recorded_redis_outage() {
    let g = committed();
    let alarm = rollback(&g, Signal::Failures);
    let seconds = recorded("redis-down-long.csv", "requests_5xx");
    let datapoints = ratio_datapoints(&seconds, alarm.period_s);
    let states = evaluate(&datapoints, &alarm.eval);
    // The fault window of the recording (faults-redis-down-long.toml): Redis is killed at
    // 90 s for 120 s; the traffic starts about a second after the first scrape.
    let period = f64::from(alarm.period_s);
    let first_alarm = states.iter().position(|s| *s == AlarmState::Alarm);
    let first_alarm = first_alarm.unwrap_or_else(|| panic!("never fired: {datapoints:?}"));
    let fired_at = (first_alarm as f64 + 1.0) * period;
    assert!(fired_at > 90.0, "fired before the fault: {datapoints:?}");
    assert!(
        fired_at <= 90.0 + 120.0 + period,
        "fired {fired_at} s in, after the outage: {datapoints:?}"
    );
    // Before the fault, quiet.
    let before = (90.0 / period).floor() as usize;
    assert!(
        states[..before].iter().all(|s| *s == AlarmState::Ok),
        "{states:?}"
    );
}

#[test]
fn the_other_rollback_alarms_stay_quiet_through_a_fail_closed_outage() {
    // Fail-closed: no request went through unfiltered, no pool or upstream failure. Each
    // alarm names its own cause.
    let g = committed();
    for (signal, column) in [
        (Signal::FailOpen, "fail_open"),
        (Signal::PoolExhausted, "pool_exhausted"),
        (Signal::UpstreamErrors, "upstream_errors"),
    ] {
        let alarm = rollback(&g, signal);
        let seconds = recorded("redis-down-long.csv", column);
        let states = evaluate(&ratio_datapoints(&seconds, alarm.period_s), &alarm.eval);
        assert!(states.len() >= 5);
        assert!(
            states.iter().all(|s| *s == AlarmState::Ok),
            "{column}: {states:?}"
        );
    }
}

#[test]
fn the_rollback_alarms_stay_quiet_through_the_clean_peak_run() {
    // The committed peak baseline: its per-second throughput, and no failure in any class
    // (so no failure in any second).
    let src = Sources::in_repo(&root());
    let baseline = reports::baseline::read(&src.baseline).unwrap();
    let failures: u64 = baseline.classes.values().map(|c| c.failures).sum();
    assert_eq!(failures, 0, "the peak baseline is a clean run");
    let rps = &baseline.metrics["throughput_rps"].samples;
    assert!(
        rps.len() >= 120,
        "at least two minutes of per-second samples"
    );
    let seconds: Vec<Second> = rps
        .iter()
        .enumerate()
        .map(|(i, r)| Second {
            t_s: i as f64,
            bad: 0.0,
            total: *r,
        })
        .collect();
    let g = committed();
    for alarm in g.alarms.iter().filter(|a| a.in_refresh) {
        let states = evaluate(&ratio_datapoints(&seconds, alarm.period_s), &alarm.eval);
        assert!(!states.is_empty());
        assert!(
            states.iter().all(|s| *s == AlarmState::Ok),
            "{}: {states:?}",
            alarm.logical_id()
        );
    }
}

#[test]
fn gates_without_the_rules_the_rollout_needs_are_refused_by_name() {
    let text = std::fs::read_to_string(root().join("baselines/gates.toml")).unwrap();
    let without = text.replace(
        "metric = \"failure_rate.*\"",
        "metric = \"failure_rate.download\"",
    );
    let src = Sources::in_repo(&root());
    let gates = Gates::parse(&without).unwrap();
    let baseline = reports::baseline::read(&src.baseline).unwrap();
    let inputs = Inputs::load(&src.inputs).unwrap();
    let err = rollout::generate_from(&gates, &baseline, &src.baseline, inputs).unwrap_err();
    assert!(err.to_string().contains("failure_rate.*"), "{err}");
}

#[test]
fn bad_inputs_are_refused_naming_each_key() {
    let text = std::fs::read_to_string(root().join("deploy/inputs.toml")).unwrap();
    let bad = text
        .replace("headroom = 0.6", "headroom = 1.5")
        .replace("checkpoints = [10, 50, 100]", "checkpoints = [50, 10]");
    let problems = Inputs::parse(&bad).unwrap_err().join("\n");
    assert!(problems.contains("scaling.headroom"), "{problems}");
    assert!(problems.contains("canary.checkpoints"), "{problems}");
    let typo = text.replace("vcpus = 2", "vcpu = 2");
    assert!(Inputs::parse(&typo).unwrap_err().join(" ").contains("vcpu"));
}
