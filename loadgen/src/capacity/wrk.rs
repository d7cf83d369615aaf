//! The `wrk` cross-check of the 1 KiB path: does the driver measure what an independent
//! load generator measures, against the same proxy in the same run?
//!
//! The design: `wrk` is closed loop (each connection sends its next request when the
//! last answer is in), so it is compared with the driver run closed loop too, with the
//! same connection count, for the same time, from the same CPU (both inherit the load
//! generator's pinning, beside the origin), one after the other. Held to its quota, the
//! proxy is saturated by either, so both measure its ceiling: the achieved rates must
//! agree, and so must the p50 (by Little's law the p50 follows from the connections and
//! the rate, so a driver that adds its own latency or loses requests shows here). Each
//! figure must be within [`AGREEMENT`] of `wrk`'s. An open-loop run at a rate `wrk`
//! achieved would not do: at the ceiling an open-loop queue does not settle, and its p50
//! is whatever the queue reached.
//!
//! Like for like means the same requests too. The proxy's work per request depends on
//! the URL: the path's corpus spreads 5,000 URLs over thousands of hosts (Zipf), each
//! host its own upstream pool entry and category lookup, and a single URL costs the
//! proxy about half as much (measured: 46 against 28 µs of proxy CPU per request), so a
//! `wrk` sending one URL measured a ceiling 70 % above the driver's. `wrk` therefore
//! replays [`SEQUENCE_LEN`] URLs drawn from the corpus's own Zipf ranks, in absolute form
//! with the driver's `Proxy-Authorization`, through a Lua script written into the run
//! directory; its `done` hook prints one JSON line, read back here.
//!
//! Like for like means the same latency too. `wrk` (4.x) does not report the latency it
//! measured: before it reports, it applies a coordinated-omission correction, adding for
//! every sample of at least twice the mean cycle per connection synthetic samples at
//! that sample less each multiple of the cycle. Against the quota-held proxy, whose
//! throttled periods stall requests for ~75 ms, that added 18,522 samples to 26,508
//! measured ones and raised `wrk`'s p50 from 0.85 to 1.23 ms: the whole of the -31 %
//! p50 gap (the driver records each request from its send to the whole answer). The
//! `done` hook therefore prints `wrk`'s whole histogram, and [`uncorrect`] undoes the
//! correction exactly (the sample count comes back to the request count, checked in
//! [`CrossCheck::reading`]); the p50 compared is per request on both sides, `wrk`'s
//! own figure is kept beside it. An unmeasured `wrk` pass ([`WARMUP`]) goes first: the
//! first side to send the draw pays for the proxy's per-host state.
//!
//! Each side records what it used ([`SideCpu`]): the proxy's cores and CPU per request,
//! the tool's own cores (`wrk`'s process; the driver's process less the origin's
//! threads) and the origin's, so a disagreement names its cause from measurements
//! ([`CrossCheck::reading`]). `wrk` runs as a child guard (killed by pid on any exit)
//! with its own time bound.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::rig::children::ChildGuard;
use crate::rig::sample;

/// Largest relative difference between the driver's figure and `wrk`'s that agrees.
pub const AGREEMENT: f64 = 0.10;

/// The unmeasured `wrk` pass before the two measured sides.
pub const WARMUP: Duration = Duration::from_secs(2);

/// Requests `wrk` cycles through, drawn from the corpus's Zipf ranks.
pub const SEQUENCE_LEN: usize = 20_000;

/// A side whose tool and origin use this share of the load generator's CPUs is
/// saturated: its figures measure the load side, not the proxy.
pub const LOAD_SATURATED: f64 = 0.85;

/// What `wrk` measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WrkFigures {
    /// Requests answered.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency per request (write to whole answer), ms: `wrk`'s histogram with
    /// its correction undone ([`uncorrect`]), the driver's definition.
    pub p50_ms: f64,
    /// p99 latency per request, ms (the correction undone).
    pub p99_ms: f64,
    /// The median `wrk` itself reports, ms: after its coordinated-omission correction.
    pub reported_p50_ms: f64,
    /// The p99 `wrk` itself reports, ms (corrected).
    pub reported_p99_ms: f64,
    /// The interval of `wrk`'s correction, µs (its run time over requests per connection).
    pub correction_interval_us: Option<u64>,
    /// Samples in the histogram with the correction undone: equals `requests` when the
    /// correction was undone exactly.
    pub measured_samples: u64,
    /// Samples `wrk`'s correction added.
    pub synthetic_samples: u64,
    /// Socket errors and non-2xx answers.
    pub errors: u64,
}

/// The driver's side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriverFigures {
    /// Requests per second.
    pub rps: f64,
    /// Median latency per request from the actual send to the whole answer, ms.
    pub p50_ms: f64,
    /// Failed requests.
    pub failures: u64,
}

/// What one side of the cross-check used while it ran.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct SideCpu {
    /// Cores the proxy kept busy.
    pub proxy_cores: Option<f64>,
    /// The proxy's CPU per answered request, µs.
    pub proxy_cpu_us_per_request: Option<f64>,
    /// Share of the quota's periods in which the proxy ran out of quota (with a quota).
    pub proxy_throttled_share: Option<f64>,
    /// Cores the load tool itself kept busy (`wrk`'s process; the driver's process less
    /// the origin's threads).
    pub tool_cores: Option<f64>,
    /// Cores the origin's threads kept busy.
    pub origin_cores: Option<f64>,
}

impl SideCpu {
    /// The tool's and the origin's cores together: what the load side used.
    pub fn load_cores(&self) -> Option<f64> {
        Some(self.tool_cores? + self.origin_cores?)
    }
}

/// The cross-check's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossCheck {
    /// Connections each side kept busy.
    pub connections: u64,
    /// Seconds each side ran.
    pub duration_s: f64,
    /// The most frequent URL sent (both sides send the corpus's Zipf draw).
    pub url: String,
    /// Distinct URLs in `wrk`'s replayed sequence.
    pub distinct_urls: usize,
    /// CPUs the load side (tool and origin) could use.
    pub load_cpus: f64,
    /// Cores the proxy could use (its quota, else its CPUs).
    pub proxy_limit_cores: f64,
    /// `wrk`'s figures (`None`: it did not run; see `note`).
    pub wrk: Option<WrkFigures>,
    /// What the sides used while `wrk` ran.
    pub wrk_cpu: Option<SideCpu>,
    /// The driver's, closed loop.
    pub driver: Option<DriverFigures>,
    /// What the sides used while the driver ran.
    pub driver_cpu: Option<SideCpu>,
    /// Driver's rate over `wrk`'s, minus 1.
    pub rate_difference: Option<f64>,
    /// Driver's p50 over `wrk`'s, minus 1.
    pub p50_difference: Option<f64>,
    /// Both within [`AGREEMENT`].
    pub agree: Option<bool>,
    /// What the CPU figures say about the comparison (computed, see [`CrossCheck::reading`]).
    pub reading: Vec<String>,
    /// Why a side is missing.
    pub note: Option<String>,
}

impl CrossCheck {
    /// Fills the differences, the verdict and the reading from the two sides.
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
        self.reading = self.reading();
        self
    }

    /// What each side's CPU says: which side was saturated, and whether the proxy did
    /// the same work per request for both tools. Computed from the figures only.
    pub fn reading(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, cpu) in [("wrk", self.wrk_cpu), ("driver", self.driver_cpu)] {
            let Some(cpu) = cpu else { continue };
            let proxy_saturated = cpu.proxy_throttled_share.is_some_and(|t| t >= 0.5)
                || cpu
                    .proxy_cores
                    .is_some_and(|c| c >= super::step::PROXY_SATURATED * self.proxy_limit_cores);
            let load_saturated = cpu
                .load_cores()
                .is_some_and(|c| c >= LOAD_SATURATED * self.load_cpus);
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
            lines.push(format!(
                "{name}: proxy {} of {:.2} cores ({}), {} {} + origin {} of the load side's {:.0} cores ({})",
                f(cpu.proxy_cores),
                self.proxy_limit_cores,
                if proxy_saturated { "saturated" } else { "not saturated" },
                name,
                f(cpu.tool_cores),
                f(cpu.origin_cores),
                self.load_cpus,
                if load_saturated { "saturated: this side measured the load generator" } else { "not saturated" },
            ));
        }
        if let Some(w) = self.wrk {
            lines.push(format!(
                "wrk's latency: it reports p50 {:.2} ms, p99 {:.2} ms after its coordinated-omission correction ({} synthetic samples for {} requests, interval {}); per request, the driver's definition, p50 {:.2} ms, p99 {:.2} ms{}",
                w.reported_p50_ms,
                w.reported_p99_ms,
                w.synthetic_samples,
                w.requests,
                w.correction_interval_us.map_or("none".into(), |e| format!("{e} µs")),
                w.p50_ms,
                w.p99_ms,
                if w.measured_samples == w.requests {
                    String::new()
                } else {
                    format!(
                        ": the correction was not undone exactly ({} samples left for {} requests), so the p50 compared is not per request",
                        w.measured_samples, w.requests
                    )
                }
            ));
        }
        let per_req = |c: Option<SideCpu>| c.and_then(|c| c.proxy_cpu_us_per_request);
        if let (Some(w), Some(d)) = (per_req(self.wrk_cpu), per_req(self.driver_cpu)) {
            let diff = if w > 0.0 { d / w - 1.0 } else { 0.0 };
            lines.push(format!(
                "proxy CPU per request: {w:.1} µs under wrk, {d:.1} µs under the driver ({:+.1} %){}",
                diff * 100.0,
                if diff.abs() > AGREEMENT {
                    ": the proxy did different work per request, so the rates differ by that much"
                } else {
                    ": the same work per request"
                }
            ));
        }
        lines
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

/// One URL `wrk` may send, with its `Host`.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkTarget {
    /// The absolute URL of the request line.
    pub url: String,
    /// The `Host` header.
    pub host: String,
}

/// The Lua script: `targets` in absolute form through the proxy, sent in the order of
/// `sequence` (indexes into `targets`, cycled), and a JSON line of the figures at the end.
pub fn script(targets: &[WrkTarget], sequence: &[usize], auth: Option<&str>) -> String {
    let lua = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut s = String::from("local urls = {\n");
    for t in targets {
        s.push_str(&format!(
            "  {{\"{}\", \"{}\"}},\n",
            lua(&t.url),
            lua(&t.host)
        ));
    }
    s.push_str("}\nlocal seq = {");
    for (i, n) in sequence.iter().enumerate() {
        if i % 32 == 0 {
            s.push('\n');
        }
        s.push_str(&format!("{},", n + 1));
    }
    s.push_str("\n}\n");
    s.push_str(&format!(
        "local auth = {}\n",
        auth.map_or("nil".into(), |a| format!("\"{}\"", lua(a)))
    ));
    s.push_str(
        r#"local reqs = {}
local n = 0
init = function(args)
  for i, u in ipairs(urls) do
    local h = { ["Host"] = u[2] }
    if auth then h["Proxy-Authorization"] = auth end
    reqs[i] = wrk.format("GET", u[1], h)
  end
end
request = function()
  n = n % #seq + 1
  return reqs[seq[n]]
end
done = function(summary, latency, requests)
  local e = summary.errors
  local h = {}
  for i = 1, #latency do
    local v, c = latency(i)
    h[i] = string.format("[%d,%d]", v, c)
  end
  io.write(string.format("WRKJSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"errors\":%d,\"histogram\":[%s]}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, table.concat(h, ",")))
end
"#,
    );
    s
}

/// A latency histogram as `wrk` keeps it: count per whole microsecond.
pub type Histogram = BTreeMap<u64, u64>;

/// The interval of `wrk`'s coordinated-omission correction, µs: its run time over the
/// requests per connection (integer division, as `wrk` computes it); `None` when it
/// corrects nothing (fewer requests than connections).
pub fn correction_interval(duration_us: u64, requests: u64, connections: u64) -> Option<u64> {
    let per_connection = requests.checked_div(connections)?;
    duration_us.checked_div(per_connection)
}

/// Undoes `wrk`'s correction. Before it reports, `wrk` (4.x, `stats_correct`) adds for
/// every sample `n >= 2e` a synthetic sample at each `n - k e` above `e` (`e` the
/// interval): the latencies a request sent every `e` would have seen. So above `e` each
/// reported count is the sum of the measured counts at `m, m + e, m + 2e, ...`, and the
/// measured count at `m` is the reported one less the reported one at `m + e`.
pub fn uncorrect(reported: &Histogram, interval: Option<u64>) -> Histogram {
    let Some(e) = interval.filter(|e| *e > 0) else {
        return reported.clone();
    };
    reported
        .iter()
        .map(|(&m, &c)| {
            let above = if m > e {
                reported.get(&(m + e)).copied().unwrap_or(0)
            } else {
                0
            };
            (m, c.saturating_sub(above))
        })
        .filter(|(_, c)| *c > 0)
        .collect()
}

/// The `p`th percentile as `wrk` computes it (the first value whose cumulative count
/// reaches `round(p / 100 × count + 0.5)`), µs.
pub fn percentile(hist: &Histogram, p: f64) -> Option<u64> {
    let count: u64 = hist.values().sum();
    let rank = (p / 100.0 * count as f64 + 0.5).round() as u64;
    let mut total = 0;
    hist.iter().find_map(|(&v, &c)| {
        total += c;
        (total >= rank).then_some(v)
    })
}

/// Reads the `done` hook's line out of `wrk`'s output (`connections`: what it ran with,
/// for its correction's interval).
pub fn parse(output: &str, connections: u64) -> Option<WrkFigures> {
    let line = output.lines().find_map(|l| l.strip_prefix("WRKJSON "))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let requests = v["requests"].as_u64()?;
    let duration_us = v["duration_us"].as_u64()?;
    let reported: Histogram = v["histogram"]
        .as_array()?
        .iter()
        .map(|pair| Some((pair[0].as_u64()?, pair[1].as_u64()?)))
        .collect::<Option<_>>()?;
    let interval = correction_interval(duration_us, requests, connections);
    let measured = uncorrect(&reported, interval);
    let measured_samples: u64 = measured.values().sum();
    let secs = duration_us as f64 / 1e6;
    let ms = |us: Option<u64>| us.map_or(0.0, |us| us as f64 / 1000.0);
    Some(WrkFigures {
        requests,
        rps: if secs > 0.0 {
            requests as f64 / secs
        } else {
            0.0
        },
        p50_ms: ms(percentile(&measured, 50.0)),
        p99_ms: ms(percentile(&measured, 99.0)),
        reported_p50_ms: v["p50_us"].as_f64()? / 1000.0,
        reported_p99_ms: v["p99_us"].as_f64()? / 1000.0,
        correction_interval_us: interval,
        measured_samples,
        synthetic_samples: reported.values().sum::<u64>() - measured_samples,
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

/// What one `wrk` run measured, with its own CPU.
#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    /// Its figures.
    pub figures: WrkFigures,
    /// Its CPU time (user + system), ms: read from `/proc` until it exits (its last
    /// reading, as a zombie, before it is reaped).
    pub cpu_ms: Option<u64>,
    /// From spawn to exit.
    pub wall: Duration,
}

/// Runs `wrk` against `proxy` (`http://ADDR/`, the request lines set by `script`) for
/// `duration` with `connections` on one thread, bounded by its own time plus 10 s.
pub fn run(
    dir: &Path,
    proxy: std::net::SocketAddr,
    script_text: &str,
    connections: u64,
    duration: Duration,
) -> Result<WrkRun, String> {
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
    let started = Instant::now();
    let mut guard = ChildGuard::spawn("wrk", cmd, Some(log.clone())).map_err(|e| e.to_string())?;
    let ticks = sample::clock_ticks_per_second();
    let stat_path = format!("/proc/{}/stat", guard.pid());
    let deadline = started + duration + Duration::from_secs(10);
    let mut cpu_ms = None;
    // Poll its CPU until it exits: a zombie keeps its counters until reaped, so the
    // reading taken in state Z is the whole run's.
    let status = loop {
        if let Some(stat) = std::fs::read_to_string(&stat_path)
            .ok()
            .and_then(|t| sample::parse_stat(&t).ok())
        {
            cpu_ms = Some(sample::ticks_to_ms(
                stat.utime_ticks + stat.stime_ticks,
                ticks,
            ));
            if stat.state == 'Z' {
                break guard.wait_timeout(Duration::from_secs(1));
            }
        }
        if let Some(s) = guard.try_exit_status() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    guard.kill();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        None => Err("wrk did not finish within its time bound; killed".into()),
        Some(s) if !s.success() => Err(format!("wrk exited with {s}: {}", output.trim())),
        Some(_) => parse(&output, connections)
            .map(|figures| WrkRun {
                figures,
                cpu_ms,
                wall,
            })
            .ok_or_else(|| format!("no figures in wrk's output: {}", output.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `wrk`'s `stats_correct` (4.x), as it runs before `wrk` reports.
    fn wrk_correct(hist: &mut Histogram, e: u64) {
        let max = hist.keys().next_back().copied().unwrap_or(0);
        for n in 2 * e..=max {
            let count = hist.get(&n).copied().unwrap_or(0);
            let mut m = n as i64 - e as i64;
            while count > 0 && m > e as i64 {
                *hist.entry(m as u64).or_default() += count;
                m -= e as i64;
            }
        }
    }

    #[test]
    fn the_done_line_is_read_back_with_the_correction_undone() {
        // 16 connections, 992 requests in 0.992 s: an interval of 16 ms. One 70 ms sample
        // gets synthetic ones at 54, 38 and 22 ms.
        let out = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\nWRKJSON {\"requests\":992,\"duration_us\":992000,\"p50_us\":1500,\"p99_us\":54000,\"errors\":3,\"histogram\":[[1000,991],[22000,1],[38000,1],[54000,1],[70000,1]]}\n";
        let f = parse(out, 16).unwrap();
        assert_eq!(f.requests, 992);
        assert_eq!(f.rps, 1000.0);
        assert_eq!(f.correction_interval_us, Some(16_000));
        assert_eq!((f.measured_samples, f.synthetic_samples), (992, 3));
        assert_eq!(f.p50_ms, 1.0);
        assert_eq!(
            f.p99_ms, 1.0,
            "the synthetic samples no longer make the p99"
        );
        assert_eq!((f.reported_p50_ms, f.reported_p99_ms), (1.5, 54.0));
        assert_eq!(f.errors, 3);
        assert_eq!(parse("Running 6s test", 16), None);
        let old =
            "WRKJSON {\"requests\":1,\"duration_us\":1,\"p50_us\":1,\"p99_us\":1,\"errors\":0}";
        assert_eq!(parse(old, 16), None, "no histogram, no per-request p50");
    }

    #[test]
    fn undoing_the_correction_gives_back_what_was_measured() {
        // A fast mode and stalls, as a quota-throttled proxy gives: many samples past
        // twice the interval, so the correction moves the median.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut measured = Histogram::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if x % 25 == 0 {
                70_000 + x % 9_000
            } else {
                600 + x % 1_500
            };
            *measured.entry(v).or_default() += 1;
        }
        let e = correction_interval(6_000_000, 20_000, 16).unwrap();
        let mut reported = measured.clone();
        wrk_correct(&mut reported, e);
        assert!(
            percentile(&reported, 50.0) > percentile(&measured, 50.0),
            "the correction moves the median up"
        );
        assert_eq!(uncorrect(&reported, Some(e)), measured);
        assert_eq!(uncorrect(&reported, None), reported);
        assert_eq!(correction_interval(6_000_000, 10, 16), None);
    }

    #[test]
    fn percentiles_rank_as_wrk_does() {
        let h: Histogram = [(10, 1), (20, 1), (30, 1), (40, 1)].into_iter().collect();
        // round(0.5 × 4 + 0.5) = 3 (C rounds half away from zero).
        assert_eq!(percentile(&h, 50.0), Some(30));
        assert_eq!(percentile(&h, 99.0), Some(40));
        assert_eq!(percentile(&Histogram::new(), 50.0), None);
    }

    #[test]
    fn the_script_quotes_what_it_is_given_and_replays_the_sequence() {
        let targets = [
            WrkTarget {
                url: "http://a.example/x?q=\"1\"".into(),
                host: "a.example".into(),
            },
            WrkTarget {
                url: "http://b.example/".into(),
                host: "b.example".into(),
            },
        ];
        let s = script(&targets, &[0, 1, 0], Some("Basic abc"));
        assert!(s.contains(r#"{"http://a.example/x?q=\"1\"", "a.example"},"#));
        assert!(s.contains("1,2,1,"), "Lua indexes from 1: {s}");
        assert!(s.contains(r#"local auth = "Basic abc""#));
        assert!(script(&targets, &[0], None).contains("local auth = nil"));
    }

    fn check(wrk_rps: f64, rps: f64, wrk_p50: f64, p50: f64) -> CrossCheck {
        CrossCheck {
            connections: 16,
            duration_s: 6.0,
            url: "http://a/".into(),
            distinct_urls: 1,
            load_cpus: 1.0,
            proxy_limit_cores: 0.25,
            wrk: Some(WrkFigures {
                requests: 1,
                rps: wrk_rps,
                p50_ms: wrk_p50,
                p99_ms: 1.0,
                reported_p50_ms: wrk_p50 * 2.0,
                reported_p99_ms: 1.0,
                correction_interval_us: None,
                measured_samples: 1,
                synthetic_samples: 0,
                errors: 0,
            }),
            wrk_cpu: None,
            driver: Some(DriverFigures {
                rps,
                p50_ms: p50,
                failures: 0,
            }),
            driver_cpu: None,
            rate_difference: None,
            p50_difference: None,
            agree: None,
            reading: Vec::new(),
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

    #[test]
    fn the_reading_names_the_saturated_side_and_the_work_per_request() {
        let mut c = check(9000.0, 5400.0, 0.5, 0.7);
        c.wrk_cpu = Some(SideCpu {
            proxy_cores: Some(0.25),
            proxy_cpu_us_per_request: Some(28.0),
            proxy_throttled_share: Some(0.9),
            tool_cores: Some(0.1),
            origin_cores: Some(0.1),
        });
        c.driver_cpu = Some(SideCpu {
            proxy_cores: Some(0.1),
            proxy_cpu_us_per_request: Some(46.0),
            proxy_throttled_share: Some(0.0),
            tool_cores: Some(0.7),
            origin_cores: Some(0.2),
        });
        let r = c.judge().reading;
        assert!(
            r[0].starts_with("wrk: proxy 0.25") && r[0].contains("(saturated)"),
            "{r:?}"
        );
        assert!(r[0].ends_with("(not saturated)"), "{r:?}");
        assert!(
            r[1].contains("(not saturated)") && r[1].contains("measured the load generator"),
            "{r:?}"
        );
        assert!(r[2].starts_with("wrk's latency"), "{r:?}");
        assert!(!r[2].contains("not undone exactly"), "{r:?}");
        assert!(r[3].contains("different work"), "{r:?}");
    }
}
