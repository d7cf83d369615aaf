//! Synthetic run directories with chosen numbers, for tests and demonstrations.
//!
//! Until the load generator and harness produce real runs, and afterwards for edge cases
//! they cannot produce on demand (an interrupted run, a saturated load generator, a 20%
//! CPU regression), this writes a complete run directory: `run.json`, `timeseries.csv`,
//! `hist/<class>.hdr` (V2) and `cpu.folded`. Values are drawn from a seeded generator, so a
//! fixture is the same on every machine.

use crate::stats::SplitMix64;
use hdrhistogram::Histogram;
use rundir::columns::{self, CLASSES, SAMPLED_COLUMNS};
use rundir::run::RUN_SCHEMA_VERSION;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// What to put in a synthetic run.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Profile name.
    pub profile: String,
    /// `schema_version` written to `run.json`.
    pub schema_version: u32,
    /// Run length in seconds (one time-series row each).
    pub seconds: usize,
    /// Requests per second (all classes).
    pub rps: f64,
    /// Offered rate, if the profile drives one.
    pub offered_rps: Option<f64>,
    /// Multiplier on every latency.
    pub latency_scale: f64,
    /// Proxy CPU-µs per request (median).
    pub cpu_us_per_request: f64,
    /// Per-second log-normal spread of the noisy series.
    pub noise: f64,
    /// Allocations per request.
    pub allocs_per_request: f64,
    /// Instructions per request of the instruction pass (None: no pass in the run).
    pub instructions_per_request: Option<f64>,
    /// Failures per class.
    pub failures: u64,
    /// Whether the run completed.
    pub complete: bool,
    /// Whether the load generator saturated.
    pub saturated: bool,
    /// Whether the traffic went straight to the origin (`route: direct`).
    pub direct: bool,
    /// Whether the harness fields and columns are present (resources, provenance, CPU...).
    pub harness: bool,
    /// Whether the machine was contended: every seventh second from the fifth on, a task
    /// waited for a CPU at least half of it (see `machine::Second::contended`). Without it
    /// the machine is never contended.
    pub contended: bool,
    /// Extra weight on the `filter::match_host` frame (1.0 = as usual).
    pub hot_frame: f64,
    /// RNG seed.
    pub seed: u64,
}

impl Default for Fixture {
    fn default() -> Self {
        Self {
            profile: "ci".to_owned(),
            schema_version: RUN_SCHEMA_VERSION,
            seconds: 60,
            rps: 600.0,
            offered_rps: Some(600.0),
            latency_scale: 1.0,
            cpu_us_per_request: 120.0,
            noise: 0.08,
            allocs_per_request: 40.0,
            instructions_per_request: Some(90_000.0),
            failures: 0,
            complete: true,
            saturated: false,
            direct: false,
            harness: true,
            contended: false,
            hot_frame: 1.0,
            seed: 7,
        }
    }
}

/// Base median latency (µs) of each class in [`CLASSES`].
const BASE_US: [f64; 6] = [800.0, 300.0, 1500.0, 700.0, 900.0, 5000.0];

impl Fixture {
    /// Writes the run directory (created if needed).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir.join("hist"))?;
        let mut rng = SplitMix64::new(self.seed);
        let mut classes = serde_json::Map::new();
        let per_class_rps = self.rps / CLASSES.len() as f64;
        let count = (per_class_rps * self.seconds as f64) as u64;
        for (class, base) in CLASSES.iter().zip(BASE_US) {
            let histogram = self.histogram(&mut rng, base);
            std::fs::write(
                dir.join("hist").join(format!("{class}.hdr")),
                rundir::hdr::encode(&histogram),
            )?;
            let pct = |h: &Histogram<u64>| {
                json!({
                    "min": h.min(), "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
                    "p99": h.value_at_quantile(0.99), "p999": h.value_at_quantile(0.999), "max": h.max(),
                })
            };
            classes.insert(
                (*class).to_owned(),
                json!({
                    "count": count, "failures": self.failures,
                    "errors": if self.failures > 0 { json!({"timeout": self.failures}) } else { json!({}) },
                    "rps": per_class_rps, "latency_us": pct(&histogram),
                    "ttfb_us": pct(&histogram), "ttlb_us": pct(&histogram),
                }),
            );
        }
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_vec_pretty(&self.run_json(classes, count))?,
        )?;
        std::fs::write(dir.join("timeseries.csv"), self.timeseries(&mut rng))?;
        if self.harness {
            std::fs::write(dir.join("cpu.folded"), self.folded())?;
        }
        Ok(())
    }

    fn histogram(&self, rng: &mut SplitMix64, base: f64) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
            .expect("static histogram bounds are valid");
        for _ in 0..5000 {
            let v = base * self.latency_scale * (0.5 * rng.normal()).exp();
            h.record(v.clamp(1.0, 60_000_000.0) as u64)
                .expect("value clamped into the histogram range");
        }
        h
    }

    fn run_json(&self, classes: serde_json::Map<String, Value>, per_class: u64) -> Value {
        let requests = per_class * CLASSES.len() as u64;
        let mut run = json!({
            "schema_version": self.schema_version,
            "profile": { "name": self.profile, "settings": { "users": 50, "duration_s": self.seconds } },
            "complete": self.complete,
            "route": if self.direct { "direct" } else { "proxy" },
            "started_at": "2026-01-05T08:00:00Z",
            "ended_at": "2026-01-05T08:01:00Z",
            "classes": classes,
            "totals": { "requests": requests, "failures": self.failures * CLASSES.len() as u64,
                        "rps": self.rps, "offered_rps": self.offered_rps },
            "a_field_from_the_future": { "ignored": true },
        });
        if self.harness {
            let extra = json!({
                "provenance": { "git_commit": "0123456789abcdef", "git_dirty": false,
                    "rustc": "rustc 1.85.0", "build_profile": "release",
                    "cpu_model": "Synthetic CPU @ 3.0GHz", "cores": 2, "kernel": "6.1.0" },
                "resources": { "proxy_cpu_us_per_request": self.cpu_us_per_request,
                    "allocs_per_request": self.allocs_per_request,
                    "bytes_allocated_per_request": self.allocs_per_request * 96.0,
                    "peak_rss_bytes": 48.0 * 1024.0 * 1024.0, "rss_slope_bytes_per_s": 0.0, "fds": 120 },
                "proxy_added_latency_us": { "p50": 150.0 * self.latency_scale, "p99": 900.0 * self.latency_scale },
                "load_generator_saturated": self.saturated,
                "steady_window": { "start": 5, "end": self.seconds.saturating_sub(5) },
            });
            if let (Some(run), Some(extra)) = (run.as_object_mut(), extra.as_object()) {
                run.extend(extra.clone());
            }
            if let (Some(run), Some(per)) = (run.as_object_mut(), self.instructions_per_request) {
                run.insert(
                    "instructions".to_owned(),
                    json!({ "tool": "callgrind (synthetic)", "requests": 2000,
                            "instructions": (per * 2000.0) as u64, "per_request": per }),
                );
            }
        }
        run
    }

    fn timeseries(&self, rng: &mut SplitMix64) -> String {
        let mut header: Vec<String> = [columns::SECOND, columns::REQUESTS, columns::ERRORS]
            .map(str::to_owned)
            .into();
        for class in CLASSES {
            header.push(columns::class_column(class, "p50_us"));
            header.push(columns::class_column(class, "p99_us"));
        }
        // The harness's columns this fixture models, in the harness's order.
        let sampled: Vec<&str> = SAMPLED_COLUMNS
            .into_iter()
            .filter(|c| self.sampled_cell(c, 0, 0.0).is_some())
            .collect();
        if self.harness {
            header.extend(sampled.iter().map(|c| (*c).to_owned()));
        }
        let mut out = header.join(",") + "\n";
        for s in 0..self.seconds {
            let mut noisy = |v: f64| v * (self.noise * rng.normal()).exp();
            let requests = noisy(self.rps).round();
            let mut row = vec![s.to_string(), requests.to_string(), "0".to_owned()];
            for base in BASE_US {
                row.push(format!("{:.0}", noisy(base * self.latency_scale)));
                row.push(format!("{:.0}", noisy(3.2 * base * self.latency_scale)));
            }
            if self.harness {
                let cpu_ms = noisy(self.cpu_us_per_request) * requests / 1000.0;
                row.extend(
                    sampled
                        .iter()
                        .filter_map(|c| self.sampled_cell(c, s, cpu_ms)),
                );
            }
            out += &row.join(",");
            out.push('\n');
        }
        out
    }

    /// The value of a harness column in second `s` with `cpu_ms` of proxy CPU; `None` for
    /// the columns the fixture leaves out.
    fn sampled_cell(&self, column: &str, s: usize, cpu_ms: f64) -> Option<String> {
        Some(match column {
            "proxy_cpu_user_ms" => format!("{:.3}", cpu_ms * 0.7),
            "proxy_cpu_sys_ms" => format!("{:.3}", cpu_ms * 0.3),
            "proxy_rss_bytes" => format!("{:.0}", 40.0 * 1024.0 * 1024.0 + s as f64 * 1024.0),
            "proxy_threads" => "6".to_owned(),
            "proxy_fds" => "118".to_owned(),
            "proxy_client_connections" => "50".to_owned(),
            "pool_in_use" => "12".to_owned(),
            "pool_waiters" => "0".to_owned(),
            // The machine: deterministic (the random stream stays as it was); when
            // contended, the fifth and sixth of every seven seconds are (500 and 600 ms of
            // pressure), else the pressure stays below 500 ms.
            "host_busy_ms" => format!("{:.3}", cpu_ms + 600.0),
            "host_cpu_pressure_ms" if self.contended => format!("{}", 100 * (s % 7)),
            "host_cpu_pressure_ms" => format!("{}", 100 * (s % 5)),
            "host_steal_ms" => "0".to_owned(),
            _ => return None,
        })
    }

    fn folded(&self) -> String {
        let stacks = [
            ("main;tokio::runtime::worker::run;proxy::serve;filter::categorise;filter::match_host", 300.0 * self.hot_frame),
            ("main;tokio::runtime::worker::run;proxy::serve;policy::decide", 120.0),
            ("main;tokio::runtime::worker::run;proxy::serve;forward::send;hyper::proto::h1::encode", 250.0),
            ("main;tokio::runtime::worker::run;proxy::serve;forward::send;tokio::net::TcpStream::poll_write", 200.0),
            ("main;tokio::runtime::worker::run;tunnel::splice", 100.0),
            ("main;tokio::runtime::worker::run;tokio::runtime::park", 80.0),
        ];
        // As the proxy writes them: the thread's name first (see `rundir::folded`).
        let mut out = String::new();
        for (stack, weight) in stacks {
            let _ = writeln!(out, "filter-proxy;{stack} {:.0}", weight.max(1.0));
        }
        out
    }
}
