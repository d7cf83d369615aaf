//! `deploy/inputs.toml`: the few rollout inputs that are neither gate rules nor baseline
//! figures — fleet shape, headroom, canary checkpoints, and the start-to-ready time measured
//! on this repository (with the command and commit that measured it).
//!
//! Same three steps as every config here: strict serde (`deny_unknown_fields`), then a
//! validation pass that collects every problem with its key.

use crate::error::{ReportError, Result};
use serde::Deserialize;
use std::path::Path;

/// The `deploy/inputs.toml` schema version this build reads.
pub const INPUTS_SCHEMA_VERSION: u32 = 1;

/// The validated inputs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// Schema version.
    pub schema_version: u32,
    /// Fleet shape.
    pub fleet: Fleet,
    /// Target tracking.
    pub scaling: Scaling,
    /// Instance refresh.
    pub canary: Canary,
    /// How metrics reach CloudWatch and Prometheus.
    pub metrics: MetricsPipeline,
    /// Figures measured on this repository.
    pub measured: Measured,
}

/// The Auto Scaling group and its instances.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Instance types offered by the template's parameter; all must have `vcpus` vCPUs.
    pub instance_types: Vec<String>,
    /// vCPUs per instance: the scaling target is per instance, so it assumes this count.
    pub vcpus: u32,
    /// Smallest group.
    pub min_size: u32,
    /// Largest group.
    pub max_size: u32,
    /// The proxy's client port (the NLB listener forwards to it).
    pub proxy_port: u16,
    /// The admin port (`/readyz`, `/metrics`).
    pub admin_port: u16,
    /// Seconds from instance launch until the proxy process starts (boot, cloud-init,
    /// agent): an allowance, not a figure measured here.
    pub boot_allowance_s: u32,
    /// `server.shutdown_grace` of the deployed proxy config, seconds.
    pub shutdown_grace_s: u32,
}

/// Target tracking.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Fraction of the measured per-instance capacity the group holds each instance at.
    pub headroom: f64,
    /// Why that headroom.
    pub why: String,
}

/// Instance refresh.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Checkpoint percentages, ascending, ending at 100.
    pub checkpoints: Vec<u32>,
    /// `MinHealthyPercentage` during the refresh.
    pub min_healthy_percentage: u32,
}

/// The metrics pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsPipeline {
    /// CloudWatch namespace the agent publishes the proxy's metrics under.
    pub namespace: String,
    /// Seconds between scrapes of `/metrics` (CloudWatch agent and Prometheus).
    pub scrape_interval_s: u32,
    /// CloudWatch alarm period, seconds.
    pub alarm_period_s: u32,
    /// Upper bounds of the proxy's request-duration histogram buckets, seconds
    /// (`filter_proxy_request_duration_seconds`); a test checks them against the proxy.
    pub latency_buckets_s: Vec<f64>,
}

/// Figures measured on this repository, with their provenance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// Slowest of the measured process-start-to-`/readyz`-200 times, ms.
    pub start_to_ready_ms: f64,
    /// Slowest SIGTERM-to-exit time of an idle proxy in the same starts, ms.
    pub idle_drain_ms: f64,
    /// How many starts were measured.
    pub start_to_ready_runs: u32,
    /// The command that measured it.
    pub command: String,
    /// The commit the measured binary was built from.
    pub commit: String,
}

impl Inputs {
    /// Reads and validates `deploy/inputs.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::rundir::read_to_string(path)?;
        Self::parse(&text).map_err(|problems| ReportError::Malformed {
            path: path.to_owned(),
            detail: problems.join("; "),
        })
    }

    /// Parses and validates; every problem is reported, each naming its key.
    pub fn parse(text: &str) -> std::result::Result<Self, Vec<String>> {
        let inputs: Inputs = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut p = Vec::new();
        if inputs.schema_version != INPUTS_SCHEMA_VERSION {
            p.push(format!(
                "schema_version: {} is not supported (expected {INPUTS_SCHEMA_VERSION})",
                inputs.schema_version
            ));
        }
        let f = &inputs.fleet;
        if f.instance_types.is_empty() {
            p.push("fleet.instance_types: name at least one".to_owned());
        }
        if f.vcpus == 0 {
            p.push("fleet.vcpus: must be > 0".to_owned());
        }
        if f.min_size == 0 || f.min_size > f.max_size {
            p.push(format!(
                "fleet.min_size: {} must be in 1..=max_size ({})",
                f.min_size, f.max_size
            ));
        }
        if f.proxy_port == f.admin_port {
            p.push("fleet.admin_port: must differ from proxy_port".to_owned());
        }
        if f.shutdown_grace_s == 0 {
            p.push("fleet.shutdown_grace_s: must be > 0".to_owned());
        }
        let h = inputs.scaling.headroom;
        if !(h > 0.0 && h < 1.0) {
            p.push(format!("scaling.headroom: {h} must be in (0, 1)"));
        }
        let c = &inputs.canary.checkpoints;
        if c.is_empty() || c.windows(2).any(|w| w[0] >= w[1]) || c.last() != Some(&100) {
            p.push(format!(
                "canary.checkpoints: {c:?} must ascend strictly and end at 100"
            ));
        }
        if !(1..=100).contains(&inputs.canary.min_healthy_percentage) {
            p.push("canary.min_healthy_percentage: must be in 1..=100".to_owned());
        }
        let m = &inputs.metrics;
        if m.namespace.is_empty() {
            p.push("metrics.namespace: must not be empty".to_owned());
        }
        if ![10, 30].contains(&m.alarm_period_s) && m.alarm_period_s % 60 != 0 {
            p.push(format!(
                "metrics.alarm_period_s: {} must be 10, 30 or a multiple of 60",
                m.alarm_period_s
            ));
        }
        if m.scrape_interval_s == 0 || m.scrape_interval_s > m.alarm_period_s {
            p.push(format!(
                "metrics.scrape_interval_s: {} must be in 1..=alarm_period_s",
                m.scrape_interval_s
            ));
        }
        if m.latency_buckets_s.is_empty() || m.latency_buckets_s.windows(2).any(|w| w[0] >= w[1]) {
            p.push("metrics.latency_buckets_s: must be non-empty and ascending".to_owned());
        }
        let ms = &inputs.measured;
        if !(ms.start_to_ready_ms.is_finite() && ms.start_to_ready_ms > 0.0) {
            p.push("measured.start_to_ready_ms: must be a positive number".to_owned());
        }
        if ms.start_to_ready_runs == 0 || ms.command.is_empty() || ms.commit.len() < 7 {
            p.push(
                "measured: start_to_ready_runs, command and commit record how it was measured"
                    .to_owned(),
            );
        }
        if p.is_empty() {
            Ok(inputs)
        } else {
            Err(p)
        }
    }
}
