//! How metrics reach CloudWatch: the CloudWatch agent on each instance scrapes the proxy's
//! Prometheus `/metrics` and publishes the counters the alarms and the scaling policy read
//! (as per-scrape increments, through its embedded-metric-format processor), plus the
//! proxy's resident memory from its `procstat` plugin.
//!
//! Chosen over Embedded Metric Format log lines written by the proxy: the proxy already
//! exports every counter needed, so nothing changes on its request path and no new config
//! switch is needed; the agent is one package on the image. The cost: the agent drops
//! Prometheus histograms, so latency is alerted on by Prometheus (burn-rate rules), not
//! by CloudWatch.

use super::plan::Plan;

/// The Auto Scaling group's name, fixed so the agent's config can name it before the group
/// exists (a reference would be circular).
pub const ASG_NAME: &str = "${AWS::StackName}-proxy";
use serde_json::json;

/// The agent's `procstat` metric for resident memory.
pub const RSS_METRIC: &str = "procstat_memory_rss";

const AGENT_DIR: &str = "/opt/aws/amazon-cloudwatch-agent/etc";

/// The Prometheus scrape config the agent reads (JSON is YAML).
fn scrape_config(plan: &Plan) -> String {
    let m = &plan.inputs.metrics;
    let v = json!({
        "global": {"scrape_interval": format!("{}s", m.scrape_interval_s), "scrape_timeout": "5s"},
        "scrape_configs": [{
            "job_name": "filter-proxy",
            "static_configs": [{
                "targets": [format!("localhost:{}", plan.inputs.fleet.admin_port)],
                "labels": {"fleet": ASG_NAME}
            }]
        }]
    });
    serde_json::to_string_pretty(&v).expect("a JSON value serialises")
}

/// The agent's own config.
fn agent_config(plan: &Plan) -> String {
    let m = &plan.inputs.metrics;
    let declaration = |dims: serde_json::Value, selectors: &[&str]| {
        json!({
            "source_labels": ["job"],
            "label_matcher": "^filter-proxy$",
            "dimensions": dims,
            "metric_selectors": selectors.iter().map(|s| format!("^{s}$")).collect::<Vec<_>>()
        })
    };
    let v = json!({
        "agent": {"metrics_collection_interval": m.scrape_interval_s},
        "metrics": {
            "namespace": m.namespace,
            // `${!...}`: CloudFormation's Fn::Sub leaves `${aws:...}` for the agent.
            "append_dimensions": {"AutoScalingGroupName": "${!aws:AutoScalingGroupName}"},
            "aggregation_dimensions": [["AutoScalingGroupName"]],
            "metrics_collected": {"procstat": [{"exe": "^filter-proxy$", "measurement": ["memory_rss"]}]}
        },
        "logs": {
            "metrics_collected": {
                "prometheus": {
                    "log_group_name": "/filter-proxy/prometheus",
                    "prometheus_config_path": format!("{AGENT_DIR}/prometheus.yaml"),
                    "emf_processor": {
                        "metric_namespace": m.namespace,
                        "metric_declaration": [
                            declaration(json!([["fleet"], ["fleet", "status"]]), &["filter_proxy_requests_total"]),
                            declaration(json!([["fleet", "mode"]]), &["filter_proxy_store_unavailable_total"]),
                            declaration(json!([["fleet"]]), &["filter_proxy_pool_exhausted_total", "filter_proxy_upstream_errors_total"])
                        ]
                    }
                }
            },
            "force_flush_interval": 5
        }
    });
    serde_json::to_string_pretty(&v).expect("a JSON value serialises")
}

/// The launch template's user data (an `Fn::Sub` string): fetch the proxy config, write
/// the agent's configs, start the agent and the proxy (a systemd unit on the image).
pub fn user_data(plan: &Plan) -> String {
    format!(
        "#!/bin/bash\n\
         set -euo pipefail\n\
         install -d /etc/filter-proxy\n\
         aws ssm get-parameter --region ${{AWS::Region}} --name '${{ConfigParameter}}' --query Parameter.Value --output text > /etc/filter-proxy/proxy.toml\n\
         cat > {AGENT_DIR}/prometheus.yaml <<'SCRAPE'\n{}\nSCRAPE\n\
         cat > {AGENT_DIR}/amazon-cloudwatch-agent.json <<'AGENT'\n{}\nAGENT\n\
         /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:{AGENT_DIR}/amazon-cloudwatch-agent.json\n\
         systemctl enable --now filter-proxy\n",
        scrape_config(plan),
        agent_config(plan)
    )
}
