//! The `wrk` cross-check of the 1 KiB path: does the driver measure what an independent
//! load generator measures, against the same proxy in the same run?
//!
//! The design: `wrk` is closed loop (each connection sends its next request when the
//! last answer is in), so it is compared with the driver run closed loop too, with the
//! same connection count, for the same time, on the same URL set, one after the other.
//! Held to its quota, the proxy is saturated by either, so both measure its ceiling:
//! the achieved rates must agree, and so must the p50 (by Little's law the p50 follows
//! from the connections and the rate, so a driver that adds its own latency or loses
//! requests shows here). Each figure must be within [`AGREEMENT`] of `wrk`'s. An
//! open-loop run at a rate `wrk` achieved would not do: at the ceiling an open-loop
//! queue does not settle, and its p50 is whatever the queue reached.
//!
//! `wrk` sends the top-ranked URL of the path's corpus (the one the driver sends most),
//! in absolute form with the same `Proxy-Authorization`, through a Lua script written
//! into the run directory; its `done` hook prints one JSON line, read back here. It runs
//! as a child guard (killed by pid on any exit) with its own time bound.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::rig::children::ChildGuard;

/// Largest relative difference between the driver's figure and `wrk`'s that agrees.
pub const AGREEMENT: f64 = 0.10;

/// What `wrk` measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WrkFigures {
    /// Requests answered.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
    /// Socket errors and non-2xx answers.
    pub errors: u64,
}

/// The driver's side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriverFigures {
    /// Requests per second.
    pub rps: f64,
    /// Median latency from the actual send, ms.
    pub p50_ms: f64,
    /// Failed requests.
    pub failures: u64,
}

/// The cross-check's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossCheck {
    /// Connections each side kept busy.
    pub connections: u64,
    /// Seconds each side ran.
    pub duration_s: f64,
    /// The URL `wrk` sent.
    pub url: String,
    /// `wrk`'s figures (`None`: it did not run; see `note`).
    pub wrk: Option<WrkFigures>,
    /// The driver's, closed loop.
    pub driver: Option<DriverFigures>,
    /// Driver's rate over `wrk`'s, minus 1.
    pub rate_difference: Option<f64>,
    /// Driver's p50 over `wrk`'s, minus 1.
    pub p50_difference: Option<f64>,
    /// Both within [`AGREEMENT`].
    pub agree: Option<bool>,
    /// Why a side is missing.
    pub note: Option<String>,
}

impl CrossCheck {
    /// Fills the differences and the verdict from the two sides.
    pub fn judge(mut self) -> CrossCheck {
        if let (Some(w), Some(d)) = (self.wrk, self.driver) {
            let rel = |ours: f64, theirs: f64| (theirs > 0.0).then(|| ours / theirs - 1.0);
            self.rate_difference = rel(d.rps, w.rps);
            self.p50_difference = rel(d.p50_ms, w.p50_ms);
            self.agree = Some(
                [self.rate_difference, self.p50_difference]
                    .iter()
                    .all(|d| d.is_some_and(|d| d.abs() <= AGREEMENT)),
            );
        }
        self
    }

    /// One line for the report.
    pub fn verdict(&self) -> String {
        let pct = |d: Option<f64>| d.map_or("-".into(), |d| format!("{:+.1} %", d * 100.0));
        match self.agree {
            Some(a) => format!(
                "{}: rate {}, p50 {} (driver against wrk, bound ±{:.0} %)",
                if a { "agree" } else { "disagree" },
                pct(self.rate_difference),
                pct(self.p50_difference),
                AGREEMENT * 100.0
            ),
            None => format!(
                "not compared: {}",
                self.note.as_deref().unwrap_or("a side is missing")
            ),
        }
    }
}

/// The Lua script: one request in absolute form through the proxy, and a JSON line of
/// the figures at the end.
pub fn script(url: &str, host: &str, auth: Option<&str>) -> String {
    let lua = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut s = format!(
        "wrk.method = \"GET\"\nwrk.path = \"{}\"\nwrk.headers[\"Host\"] = \"{}\"\n",
        lua(url),
        lua(host)
    );
    if let Some(a) = auth {
        s.push_str(&format!(
            "wrk.headers[\"Proxy-Authorization\"] = \"{}\"\n",
            lua(a)
        ));
    }
    s.push_str(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"errors\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#,
    );
    s
}

/// Reads the `done` hook's line out of `wrk`'s output.
pub fn parse(output: &str) -> Option<WrkFigures> {
    let line = output.lines().find_map(|l| l.strip_prefix("WRKJSON "))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let requests = v["requests"].as_u64()?;
    let secs = v["duration_us"].as_f64()? / 1e6;
    Some(WrkFigures {
        requests,
        rps: if secs > 0.0 {
            requests as f64 / secs
        } else {
            0.0
        },
        p50_ms: v["p50_us"].as_f64()? / 1000.0,
        p99_ms: v["p99_us"].as_f64()? / 1000.0,
        errors: v["errors"].as_u64()?,
    })
}

/// Whether `wrk` is on the PATH.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// Runs `wrk` against `proxy` (`http://ADDR/`, the request line set by `script`) for
/// `duration` with `connections` on one thread, bounded by the guard's wait.
pub fn run(
    dir: &Path,
    proxy: std::net::SocketAddr,
    script_text: &str,
    connections: u64,
    duration: Duration,
) -> Result<WrkFigures, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let script_path = dir.join("wrk.lua");
    std::fs::write(&script_path, script_text)
        .map_err(|e| format!("{}: {e}", script_path.display()))?;
    let log = dir.join("wrk.log");
    let mut cmd = Command::new("wrk");
    cmd.arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(&script_path)
        .arg(format!("http://{proxy}/"));
    let mut guard = ChildGuard::spawn("wrk", cmd, Some(log.clone())).map_err(|e| e.to_string())?;
    let status = guard.wait_timeout(duration + Duration::from_secs(10));
    guard.kill();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        None => Err("wrk did not finish within its time bound; killed".into()),
        Some(s) if !s.success() => Err(format!("wrk exited with {s}: {}", output.trim())),
        Some(_) => {
            parse(&output).ok_or_else(|| format!("no figures in wrk's output: {}", output.trim()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_done_line_is_read_back() {
        let out = "Running 6s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\nWRKJSON {\"requests\":12000,\"duration_us\":6000000,\"p50_us\":1500,\"p99_us\":9000,\"errors\":3}\n";
        let f = parse(out).unwrap();
        assert_eq!(f.requests, 12000);
        assert_eq!(f.rps, 2000.0);
        assert_eq!(f.p50_ms, 1.5);
        assert_eq!(f.errors, 3);
        assert_eq!(parse("Running 6s test"), None);
    }

    #[test]
    fn the_script_quotes_what_it_is_given() {
        let s = script("http://a.example/x?q=\"1\"", "a.example", Some("Basic abc"));
        assert!(s.contains(r#"wrk.path = "http://a.example/x?q=\"1\"""#));
        assert!(s.contains("Proxy-Authorization"));
        assert!(!script("http://a/", "a", None).contains("Proxy-Authorization"));
    }

    fn check(wrk_rps: f64, rps: f64, wrk_p50: f64, p50: f64) -> CrossCheck {
        CrossCheck {
            connections: 16,
            duration_s: 6.0,
            url: "http://a/".into(),
            wrk: Some(WrkFigures {
                requests: 1,
                rps: wrk_rps,
                p50_ms: wrk_p50,
                p99_ms: 1.0,
                errors: 0,
            }),
            driver: Some(DriverFigures {
                rps,
                p50_ms: p50,
                failures: 0,
            }),
            rate_difference: None,
            p50_difference: None,
            agree: None,
            note: None,
        }
        .judge()
    }

    #[test]
    fn both_figures_must_be_within_the_bound() {
        let c = check(1000.0, 950.0, 10.0, 10.5);
        assert_eq!(c.agree, Some(true), "{}", c.verdict());
        assert!(c.verdict().starts_with("agree"));
        assert_eq!(check(1000.0, 850.0, 10.0, 10.0).agree, Some(false));
        assert_eq!(check(1000.0, 1000.0, 10.0, 11.5).agree, Some(false));
        let mut missing = check(1000.0, 1000.0, 10.0, 10.0);
        missing.wrk = None;
        missing.agree = None;
        assert!(missing.judge().verdict().starts_with("not compared"));
    }
}
