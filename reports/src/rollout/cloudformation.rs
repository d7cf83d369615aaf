//! The CloudFormation template of the cloud proxy fleet (JSON, which CloudFormation and
//! cfn-lint read as they read YAML): launch template, Auto Scaling group behind an NLB,
//! instance refresh with canary checkpoints and rollback alarms, target tracking on the
//! proxy's request rate per instance, and the alarms of [`super::alarms`].
//!
//! Metrics reach CloudWatch through the CloudWatch agent scraping the proxy's `/metrics`
//! ([`super::agent`]): the proxy needs no change and no new code on its request path.

use super::agent;
use super::alarms::{Alarm, Severity, Signal};
use super::plan::Plan;
use serde_json::{json, Value};

pub use super::agent::ASG_NAME;
const REQUESTS: &str = "filter_proxy_requests_total";

fn metric(
    plan: &Plan,
    id: &str,
    name: &str,
    dims: &[(&str, &str)],
    stat: &str,
    period: u32,
) -> Value {
    // The agent's Prometheus metrics carry the scrape label `fleet`; its procstat metrics
    // the appended `AutoScalingGroupName`. Both hold the group's name.
    let fleet = if name == agent::RSS_METRIC {
        "AutoScalingGroupName"
    } else {
        "fleet"
    };
    let mut dimensions = vec![json!({"Name": fleet, "Value": {"Fn::Sub": ASG_NAME}})];
    dimensions.extend(dims.iter().map(|(k, v)| json!({"Name": k, "Value": v})));
    json!({
        "Id": id,
        "ReturnData": false,
        "MetricStat": {
            "Metric": {"Namespace": plan.inputs.metrics.namespace, "MetricName": name, "Dimensions": dimensions},
            "Period": period,
            "Stat": stat,
        }
    })
}

/// The alarm's metric-math query: a ratio of counter increments, or RSS growth per second.
fn alarm_metrics(plan: &Plan, a: &Alarm) -> Value {
    let p = a.period_s;
    let bad = match a.signal {
        Signal::Failures => metric(plan, "bad", REQUESTS, &[("status", "5xx")], "Sum", p),
        Signal::FailOpen => metric(
            plan,
            "bad",
            "filter_proxy_store_unavailable_total",
            &[("mode", "open")],
            "Sum",
            p,
        ),
        Signal::PoolExhausted => metric(
            plan,
            "bad",
            "filter_proxy_pool_exhausted_total",
            &[],
            "Sum",
            p,
        ),
        Signal::UpstreamErrors => metric(
            plan,
            "bad",
            "filter_proxy_upstream_errors_total",
            &[],
            "Sum",
            p,
        ),
        Signal::RssGrowth => {
            return json!([
                metric(plan, "rss", agent::RSS_METRIC, &[], "Maximum", p),
                {"Id": "growth", "Expression": "RATE(rss)", "Label": "RSS growth, bytes/s", "ReturnData": true}
            ])
        }
        Signal::CanaryVerdict => {
            let mut verdict = metric(
                plan,
                "verdict",
                super::alarms::CANARY_VERDICT_METRIC,
                &[],
                "Maximum",
                p,
            );
            verdict["ReturnData"] = json!(true);
            return json!([verdict]);
        }
    };
    json!([
        bad,
        metric(plan, "total", REQUESTS, &[], "Sum", p),
        {"Id": "ratio", "Expression": "IF(total > 0, bad / total, 0)", "Label": format!("{} per request", a.signal.slug()), "ReturnData": true}
    ])
}

fn alarm_resource(plan: &Plan, a: &Alarm) -> Value {
    let topic = match a.severity {
        Severity::Rollback => "PagerTopicArn",
        Severity::Hotfix => "TicketTopicArn",
    };
    json!({
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": {"Fn::Sub": format!("${{AWS::StackName}}-{}", a.name_suffix())},
            "AlarmDescription": format!("{} Threshold from {}.", a.why, a.rule.replace('`', "")),
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": a.eval.threshold,
            "EvaluationPeriods": a.eval.evaluation_periods,
            "DatapointsToAlarm": a.eval.datapoints_to_alarm,
            "TreatMissingData": a.eval.treat_missing.as_str(),
            "Metrics": alarm_metrics(plan, a),
            "AlarmActions": [{"Ref": topic}],
            "OKActions": [{"Ref": topic}],
        }
    })
}

/// The template.
pub fn template(plan: &Plan, alarms: &[Alarm]) -> Value {
    let f = &plan.inputs.fleet;
    let h = &plan.timing.health;
    let c = &plan.inputs.canary;
    let mut resources = serde_json::Map::new();
    let mut add = |id: &str, v: Value| {
        resources.insert(id.to_owned(), v);
    };
    add(
        "InstanceRole",
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/CloudWatchAgentServerPolicy"}],
                "Policies": [{"PolicyName": "read-proxy-config", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameter}"}}]}}]
            }
        }),
    );
    add(
        "InstanceProfile",
        json!({"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": "InstanceRole"}]}}),
    );
    add(
        "ProxySecurityGroup",
        json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "filter-proxy: client port and admin port (NLB health checks)",
                "VpcId": {"Ref": "VpcId"},
                "SecurityGroupIngress": [
                    {"IpProtocol": "tcp", "FromPort": f.proxy_port, "ToPort": f.proxy_port, "CidrIp": {"Ref": "ClientCidr"}},
                    {"IpProtocol": "tcp", "FromPort": f.admin_port, "ToPort": f.admin_port, "CidrIp": {"Ref": "VpcCidr"}}
                ]
            }
        }),
    );
    add(
        "LaunchTemplate",
        json!({
            "Type": "AWS::EC2::LaunchTemplate",
            "Properties": {
                "LaunchTemplateData": {
                    "ImageId": {"Ref": "AmiId"},
                    "InstanceType": {"Ref": "InstanceType"},
                    "IamInstanceProfile": {"Arn": {"Fn::GetAtt": ["InstanceProfile", "Arn"]}},
                    "SecurityGroupIds": [{"Ref": "ProxySecurityGroup"}],
                    "MetadataOptions": {"HttpTokens": "required"},
                    "UserData": {"Fn::Base64": {"Fn::Sub": agent::user_data(plan)}}
                }
            }
        }),
    );
    add(
        "LoadBalancer",
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {"Type": "network", "Scheme": "internal", "Subnets": {"Ref": "SubnetIds"}}
        }),
    );
    add(
        "TargetGroup",
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {
                "Protocol": "TCP",
                "Port": f.proxy_port,
                "VpcId": {"Ref": "VpcId"},
                "TargetType": "instance",
                "HealthCheckProtocol": "HTTP",
                "HealthCheckPort": f.admin_port.to_string(),
                "HealthCheckPath": "/readyz",
                "HealthCheckIntervalSeconds": h.interval_s,
                "HealthCheckTimeoutSeconds": h.timeout_s,
                "HealthyThresholdCount": h.healthy_threshold,
                "UnhealthyThresholdCount": h.unhealthy_threshold,
                "Matcher": {"HttpCode": "200"},
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": h.deregistration_delay_s.to_string()}]
            }
        }),
    );
    add(
        "Listener",
        json!({
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": {"Ref": "LoadBalancer"},
                "Protocol": "TCP",
                "Port": f.proxy_port,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
            }
        }),
    );
    let refresh_alarms: Vec<Value> = alarms
        .iter()
        .filter(|a| a.in_refresh)
        .map(|a| json!({"Ref": a.logical_id()}))
        .collect();
    add(
        "ProxyGroup",
        json!({
            "Type": "AWS::AutoScaling::AutoScalingGroup",
            "Properties": {
                "AutoScalingGroupName": {"Fn::Sub": ASG_NAME},
                "LaunchTemplate": {"LaunchTemplateId": {"Ref": "LaunchTemplate"}, "Version": {"Fn::GetAtt": ["LaunchTemplate", "LatestVersionNumber"]}},
                "MinSize": f.min_size.to_string(),
                "MaxSize": f.max_size.to_string(),
                "VPCZoneIdentifier": {"Ref": "SubnetIds"},
                "TargetGroupARNs": [{"Ref": "TargetGroup"}],
                "HealthCheckType": "ELB",
                "HealthCheckGracePeriod": h.grace_period_s,
                "DefaultInstanceWarmup": h.warmup_s,
                "MetricsCollection": [{"Granularity": "1Minute", "Metrics": ["GroupInServiceInstances"]}]
            },
            "UpdatePolicy": {
                "AutoScalingInstanceRefresh": {
                    "Strategy": "Rolling",
                    "Preferences": {
                        "MinHealthyPercentage": c.min_healthy_percentage,
                        "InstanceWarmup": h.warmup_s,
                        "SkipMatching": true,
                        "CheckpointPercentages": c.checkpoints,
                        "CheckpointDelay": plan.timing.checkpoint_delay_s,
                        "BakeTime": plan.timing.bake_time_s,
                        "AlarmSpecification": {"Alarms": refresh_alarms}
                    }
                }
            }
        }),
    );
    let total = |id: &str| {
        json!({"Id": id, "ReturnData": false, "MetricStat": {
        "Metric": {"Namespace": plan.inputs.metrics.namespace, "MetricName": REQUESTS, "Dimensions": [{"Name": "fleet", "Value": {"Fn::Sub": ASG_NAME}}]},
        "Stat": "Sum"}})
    };
    add(
        "ScalingPolicy",
        json!({
            "Type": "AWS::AutoScaling::ScalingPolicy",
            "Properties": {
                "AutoScalingGroupName": {"Ref": "ProxyGroup"},
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingConfiguration": {
                    "TargetValue": plan.target_rps_per_instance,
                    "CustomizedMetricSpecification": {"Metrics": [
                        total("requests"),
                        {"Id": "instances", "ReturnData": false, "MetricStat": {"Metric": {"Namespace": "AWS/AutoScaling", "MetricName": "GroupInServiceInstances", "Dimensions": [{"Name": "AutoScalingGroupName", "Value": {"Fn::Sub": ASG_NAME}}]}, "Stat": "Average"}},
                        {"Id": "per_instance", "Expression": "requests / 60 / instances", "Label": "requests/s per instance", "ReturnData": true}
                    ]}
                }
            }
        }),
    );
    for a in alarms {
        add(&a.logical_id(), alarm_resource(plan, a));
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "filter-proxy fleet: NLB, Auto Scaling group with canary instance refresh, target tracking and alarms. Generated by `perf-report rollout` from baselines/gates.toml, baselines/peak.json and deploy/inputs.toml; do not edit (see deploy/DECISIONS.md).",
        "Parameters": {
            "AmiId": {"Type": "AWS::EC2::Image::Id", "Description": "Image with filter-proxy and the CloudWatch agent installed"},
            "InstanceType": {"Type": "String", "Default": f.instance_types[0], "AllowedValues": f.instance_types, "Description": format!("{} vCPUs: the scaling target assumes it", f.vcpus)},
            "ConfigParameter": {"Type": "String", "AllowedPattern": "^/.+", "Description": "SSM parameter (name starting with /) holding the proxy's config file"},
            "VpcId": {"Type": "AWS::EC2::VPC::Id"},
            "VpcCidr": {"Type": "String", "Description": "CIDR of the VPC (NLB health checks come from it)"},
            "ClientCidr": {"Type": "String", "Description": "Clients (school networks, appliances) allowed to the proxy port"},
            "SubnetIds": {"Type": "List<AWS::EC2::Subnet::Id>"},
            "PagerTopicArn": {"Type": "String", "Description": "SNS topic that pages (rollback alarms)"},
            "TicketTopicArn": {"Type": "String", "Description": "SNS topic that opens a ticket (hotfix alarms)"}
        },
        "Resources": resources,
        "Outputs": {
            "LoadBalancerDns": {"Value": {"Fn::GetAtt": ["LoadBalancer", "DNSName"]}},
            "GroupName": {"Value": {"Ref": "ProxyGroup"}}
        }
    })
}
