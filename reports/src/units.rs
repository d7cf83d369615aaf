//! Human units for the figures a report prints: `490.6 MiB` rather than `514457600`, `12.3
//! ms` rather than `12345`. Only documents use them; `run.json`, baselines and
//! `verdict.json` keep the raw values in the metric's own unit, so scripts never parse a
//! unit.

use crate::metrics::Metric;
use crate::rules::fmt_num;

/// How a metric's raw value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds, printed as µs, ms or s.
    Micros,
    /// Seconds.
    Seconds,
    /// Bytes, printed in binary multiples (KiB, MiB, GiB).
    Bytes,
    /// Bytes per second.
    BytesPerSecond,
    /// Megabytes per hour (the soak slopes' own unit).
    MbPerHour,
    /// A fraction, printed as a percentage.
    Fraction,
    /// Requests per second.
    PerSecond,
    /// Connections per second.
    ConnectionsPerSecond,
    /// A ratio, printed as a multiplier.
    Ratio,
    /// A plain count.
    Count,
}

/// The unit of a metric's raw value. A new metric fails to compile until it has one.
pub fn unit(metric: Metric) -> Unit {
    match metric {
        Metric::P99Us
        | Metric::P999Us
        | Metric::CleanP99Us
        | Metric::CleanP50Us
        | Metric::ProxyCpuUsPerRequest
        | Metric::ProxyAddedP50Us
        | Metric::ProxyAddedP99Us
        | Metric::ApplianceAddedP50Us
        | Metric::ApplianceAddedP99Us
        | Metric::StormActiveP99Us => Unit::Micros,
        Metric::SpikeRecoveryS | Metric::CleanSeconds => Unit::Seconds,
        Metric::BytesAllocatedPerRequest
        | Metric::PeakRssBytes
        | Metric::HeapPerKeepAliveBytes
        | Metric::HeapPerKeepAliveUpperBytes
        | Metric::HeapPerTunnelBytes
        | Metric::HeapPerTunnelUpperBytes
        | Metric::RssPerKeepAliveBytes
        | Metric::RssPerTunnelBytes => Unit::Bytes,
        Metric::RssSlopeBytesPerS => Unit::BytesPerSecond,
        Metric::RssSlopeUpperMbPerH | Metric::AllocResidentSlopeUpperMbPerH => Unit::MbPerHour,
        Metric::FailureRate | Metric::AchievedRateRatio | Metric::IdentityMissingRate => {
            Unit::Fraction
        }
        Metric::ThroughputRps => Unit::PerSecond,
        Metric::StormAcceptRatePerS => Unit::ConnectionsPerSecond,
        Metric::P99DriftRatio => Unit::Ratio,
        Metric::ProxyInstructionsPerRequest
        | Metric::AllocsPerRequest
        | Metric::FdGrowth
        | Metric::ThreadGrowth
        | Metric::IdentityMismatches
        | Metric::StormConnectionFailures
        | Metric::StormRefusalsMissed
        | Metric::FdsPerKeepAlive
        | Metric::FdsPerTunnel
        | Metric::ClientConnectionsPerUser
        | Metric::FdsPerUser => Unit::Count,
        Metric::RequestsPerUserPerS => Unit::PerSecond,
    }
}

/// Three significant figures at most, trailing zeros dropped: `1.25`, `12.5`, `125`.
fn sig3(v: f64) -> String {
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A duration given in microseconds: `850 µs`, `12.3 ms`, `1.25 s`.
pub fn micros(us: f64) -> String {
    let a = us.abs();
    if a >= 1e6 {
        format!("{} s", sig3(us / 1e6))
    } else if a >= 1e3 {
        format!("{} ms", sig3(us / 1e3))
    } else {
        format!("{} µs", sig3(us))
    }
}

/// A size in bytes: `512 B`, `3.75 KiB`, `491 MiB`.
pub fn bytes(b: f64) -> String {
    const STEPS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b.abs() < 1024.0 {
        return format!("{} B", sig3(b));
    }
    let mut v = b / 1024.0;
    for step in STEPS {
        if v.abs() < 1024.0 || step == "TiB" {
            return format!("{} {step}", sig3(v));
        }
        v /= 1024.0;
    }
    unreachable!("the loop returns at its last step")
}

/// A raw value in `unit`, for reading.
pub fn human(unit: Unit, v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    match unit {
        Unit::Micros => micros(v),
        Unit::Seconds => format!("{} s", sig3(v)),
        Unit::Bytes => bytes(v),
        Unit::BytesPerSecond => format!("{}/s", bytes(v)),
        Unit::MbPerHour => format!("{} MB/h", sig3(v)),
        Unit::Fraction => format!("{}%", sig3(v * 100.0)),
        Unit::PerSecond => format!("{} req/s", sig3(v)),
        Unit::ConnectionsPerSecond => format!("{} conn/s", sig3(v)),
        Unit::Ratio => format!("×{}", sig3(v)),
        Unit::Count if v.abs() >= 1e4 => format!("{}k", sig3(v / 1e3)),
        Unit::Count => fmt_num(v),
    }
}

/// A metric's raw value, for reading.
pub fn metric_value(metric: Metric, v: f64) -> String {
    human(unit(metric), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_a_person_writes() {
        assert_eq!(metric_value(Metric::PeakRssBytes, 514_457_600.0), "491 MiB");
        assert_eq!(
            metric_value(Metric::PeakRssBytes, 48.0 * 1048576.0),
            "48 MiB"
        );
        assert_eq!(metric_value(Metric::P99Us, 850.0), "850 µs");
        assert_eq!(metric_value(Metric::P99Us, 12_345.0), "12.3 ms");
        assert_eq!(metric_value(Metric::P99Us, 1_250_000.0), "1.25 s");
        assert_eq!(metric_value(Metric::FailureRate, 0.0012), "0.12%");
        assert_eq!(metric_value(Metric::AchievedRateRatio, 1.0), "100%");
        assert_eq!(metric_value(Metric::ThroughputRps, 600.0), "600 req/s");
        assert_eq!(
            metric_value(Metric::BytesAllocatedPerRequest, 3840.0),
            "3.75 KiB"
        );
        assert_eq!(metric_value(Metric::RssSlopeBytesPerS, 0.0), "0 B/s");
        assert_eq!(
            metric_value(Metric::ProxyInstructionsPerRequest, 90_000.0),
            "90k"
        );
        assert_eq!(metric_value(Metric::AllocsPerRequest, 40.0), "40");
    }
}
