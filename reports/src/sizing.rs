//! The Sizing section of a baseline document: how many students one instance of a named
//! size holds, with the arithmetic shown.
//!
//! A fleet is sized by four measured numbers, each owned by one kind of run:
//! - the request rate one core serves at the SLO: the school-day run's CPU per request
//!   (every request class, tunnels and downloads included), taken only when that run met
//!   its latency SLO;
//! - what one student costs in requests, connections and fds: the same run, per user;
//! - what one idle connection costs in memory: the connection storm's slope;
//! - the connection cap the deployed configuration sets (`server.max_connections`).
//!
//! The school-day and storm figures come from two committed baselines (`[sizing]` in
//! `gates.toml` names them), so a document shows the section when both exist, whichever
//! of the two it is. Each bound says what it divides by what; the smallest names the
//! bottleneck. The rollout's scaling target reads [`requests_per_core`] from here too, so
//! the document and the fleet agree.

use crate::gate;
use crate::rules::Gates;
use crate::units;
use rundir::baseline::{Baseline, MetricSet};
use rundir::verdict::Verdict;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `server.max_connections` of the deployed configuration, or why it could not be read.
pub type ConnectionCap = Result<u64, String>;

/// The `[sizing]` section of `gates.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingConfig {
    /// How the instance is named in the document, e.g. "2 vCPU / 4 GiB (c7i.large)".
    pub instance: String,
    /// Its vCPUs: each serves the measured requests per core.
    pub vcpus: f64,
    /// Its memory, GiB.
    pub memory_gib: f64,
    /// Share of that memory the proxy may hold; the rest is the system's.
    pub memory_share: f64,
    /// The deployed proxy configuration, relative to `gates.toml`: its
    /// `server.max_connections` caps the client connections of an instance.
    pub proxy_config: String,
    /// The fd limit the proxy runs with in the deployment.
    pub fd_limit: f64,
    /// The baseline whose run simulates students (CPU, requests, connections per user).
    pub school_day: String,
    /// The baseline whose run measures the cost of an idle connection.
    pub storm: String,
}

impl SizingConfig {
    /// Reads `[sizing]` from the gates file at `path`; `Ok(None)` when it has none. With
    /// it, the connection cap of its `proxy_config`, or why that could not be read (a gates
    /// file copied away from its checkout: the section then says so, promotion goes on).
    pub fn load(path: &Path) -> Result<Option<(SizingConfig, ConnectionCap)>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut table: toml::Table = toml::from_str(&text)
            .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?;
        let Some(section) = table.remove("sizing") else {
            return Ok(None);
        };
        let cfg: SizingConfig = section
            .try_into()
            .map_err(|e: toml::de::Error| format!("[sizing] of {}: {e}", path.display()))?;
        let mut problems = Vec::new();
        for (name, v) in [
            ("vcpus", cfg.vcpus),
            ("memory_gib", cfg.memory_gib),
            ("fd_limit", cfg.fd_limit),
        ] {
            if !(v.is_finite() && v > 0.0) {
                problems.push(format!("{name} must be a positive number, not {v}"));
            }
        }
        if !(cfg.memory_share > 0.0 && cfg.memory_share <= 1.0) {
            problems.push(format!(
                "memory_share must be in (0, 1], not {}",
                cfg.memory_share
            ));
        }
        if !problems.is_empty() {
            return Err(format!(
                "[sizing] of {}: {}",
                path.display(),
                problems.join("; ")
            ));
        }
        let config_path = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&cfg.proxy_config);
        let cap = max_connections(&config_path);
        Ok(Some((cfg, cap)))
    }
}

/// `server.max_connections` of a proxy configuration file.
fn max_connections(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("[sizing] proxy_config: cannot read {}: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| format!("[sizing] proxy_config {}: {e}", path.display()))?;
    table
        .get("server")
        .and_then(|s| s.get("max_connections"))
        .and_then(|v| v.as_integer())
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            format!(
                "[sizing] proxy_config {} sets no positive server.max_connections",
                path.display()
            )
        })
}

/// Requests per second one core serves, from the CPU one request costs.
pub fn requests_per_core(cpu_us_per_request: f64) -> f64 {
    1e6 / cpu_us_per_request
}

/// One baseline's figures, named for the document.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// `baselines/peak.json at 1a2b3c4`.
    pub source: String,
    /// Its metrics.
    pub metrics: MetricSet,
    /// Users of its run (profile setting `users`).
    pub users: Option<f64>,
    /// Its latency SLO rules that did not pass (`clean_p99_us.allowed HOTFIX`); empty
    /// when every one passed.
    pub slo_misses: Vec<String>,
}

impl Evidence {
    /// The figures of a baseline; its SLO misses judged under `gates`.
    pub fn of(b: &Baseline, file: &str, gates: Option<&Gates>) -> Evidence {
        let commit = b.provenance.git_commit.as_deref().unwrap_or("no commit");
        let slo_misses = gates
            .map(|g| {
                let rules: Vec<_> = g
                    .for_profile(&b.profile)
                    .into_iter()
                    .filter(|r| r.metric == crate::metrics::Metric::CleanP99Us && r.enforce)
                    .collect();
                gate::evaluate(g, &rules, &b.metrics, &b.metrics)
                    .evaluations
                    .into_iter()
                    .filter(|e| matches!(e.verdict, Verdict::Hotfix | Verdict::Rollback))
                    .map(|e| format!("{} {:?}", e.metric, e.verdict))
                    .collect()
            })
            .unwrap_or_default();
        Evidence {
            source: format!("{file} at {}", &commit[..commit.len().min(7)]),
            metrics: b.metrics.clone(),
            users: b.profile_settings.get("users").and_then(|u| u.as_f64()),
            slo_misses,
        }
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .get(name)
            .and_then(|v| v.value())
            .filter(|v| v.is_finite() && *v > 0.0)
    }
}

/// One measured input of the arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// What it is.
    pub what: &'static str,
    /// Its value, in human units.
    pub value: String,
    /// Where it comes from.
    pub source: String,
}

/// One limit on students per instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// What limits.
    pub what: &'static str,
    /// Students it allows.
    pub students: f64,
    /// The arithmetic, in words and numbers.
    pub arithmetic: String,
}

/// The computed section.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    /// The instance named in `[sizing]`.
    pub instance: String,
    /// The measured inputs.
    pub inputs: Vec<Input>,
    /// Connections one instance holds within its memory budget, and the arithmetic.
    pub connections_at_budget: Option<(f64, String)>,
    /// Every bound computed.
    pub bounds: Vec<Bound>,
    /// What could not be computed, and why.
    pub missing: Vec<String>,
    /// Caveats the reader needs (a CPU figure not measured at the SLO).
    pub caveats: Vec<String>,
}

impl Sizing {
    /// The binding bound: the fewest students.
    pub fn binding(&self) -> Option<&Bound> {
        self.bounds
            .iter()
            .min_by(|a, b| a.students.total_cmp(&b.students))
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Computes the section from the school-day and storm evidence.
pub fn compute(
    cfg: &SizingConfig,
    max_connections: ConnectionCap,
    school: Option<&Evidence>,
    storm: Option<&Evidence>,
) -> Sizing {
    let mut s = Sizing {
        instance: cfg.instance.clone(),
        inputs: Vec::new(),
        connections_at_budget: None,
        bounds: Vec::new(),
        missing: Vec::new(),
        caveats: Vec::new(),
    };
    let mut need = |e: Option<&Evidence>, metric: &str, whose: &str| -> Option<f64> {
        let v = e.and_then(|e| e.get(metric));
        if v.is_none() {
            s.missing
                .push(format!("{metric} (from the {whose} baseline)"));
        }
        v
    };
    let cpu = need(school, "proxy_cpu_us_per_request", &cfg.school_day);
    let req_user = need(school, "requests_per_user_per_s", &cfg.school_day);
    let conn_user = need(school, "client_connections_per_user", &cfg.school_day);
    let fds_user = need(school, "fds_per_user", &cfg.school_day);
    let school_rss = need(school, "peak_rss_bytes", &cfg.school_day);
    let heap_conn = need(storm, "heap_per_keep_alive_upper_bytes", &cfg.storm);
    let rss_conn = storm.and_then(|e| e.get("rss_per_keep_alive_bytes"));
    let users = school.and_then(|e| e.users);
    let src = |e: Option<&Evidence>| e.map(|e| e.source.clone()).unwrap_or_default();
    let (school_src, storm_src) = (src(school), src(storm));
    let mut input = |what, value: String, source: &str| {
        s.inputs.push(Input {
            what,
            value,
            source: source.to_owned(),
        })
    };
    if let Some(cpu) = cpu {
        input(
            "requests per second per core",
            format!(
                "{:.0} (1e6 / {} of CPU per request, every request class)",
                requests_per_core(cpu),
                units::micros(cpu)
            ),
            &school_src,
        );
    }
    if let Some(v) = req_user {
        input(
            "requests per student per second",
            format!("{v:.2}"),
            &school_src,
        );
    }
    if let Some(v) = conn_user {
        input(
            "client connections per student",
            format!("{v:.2}"),
            &school_src,
        );
    }
    if let Some(v) = fds_user {
        input("open fds per student", format!("{v:.2}"), &school_src);
    }
    // An idle keep-alive connection is the dearer kind (a tunnel costs less): every
    // connection is priced as one, at the larger of its heap (upper end of the interval)
    // and RSS slopes.
    let per_conn = heap_conn.map(|h| h.max(rss_conn.unwrap_or(0.0)));
    if let Some(p) = per_conn {
        input(
            "memory per idle connection",
            format!(
                "{} (keep-alive, upper end of its interval)",
                units::bytes(p)
            ),
            &storm_src,
        );
    }
    if let Some(v) = school_rss {
        input(
            "peak RSS of the school-day run",
            format!(
                "{}{}",
                units::bytes(v),
                users.map_or(String::new(), |u| format!(" with {u:.0} students"))
            ),
            &school_src,
        );
    }
    let max_connections = match max_connections {
        Ok(cap) => {
            input(
                "connection cap (server.max_connections)",
                cap.to_string(),
                cfg.proxy_config.trim_start_matches("../"),
            );
            Some(cap)
        }
        Err(e) => {
            s.missing.push(e);
            None
        }
    };
    if let Some(school) = school {
        if !school.slo_misses.is_empty() {
            s.caveats.push(format!(
                "the school-day run missed its latency SLO ({}): its requests per core are not a rate at the SLO",
                school.slo_misses.join(", ")
            ));
        }
    }
    let budget = cfg.memory_gib * GIB * cfg.memory_share;
    if let (Some(cpu), Some(req_user)) = (cpu, req_user) {
        let rps = requests_per_core(cpu);
        s.bounds.push(Bound {
            what: "CPU",
            students: cfg.vcpus * rps / req_user,
            arithmetic: format!(
                "{} vCPU x {rps:.0} req/s per core / {req_user:.2} req/s per student",
                cfg.vcpus
            ),
        });
    }
    if let (Some(per_conn), Some(rss), Some(conn_user), Some(users)) =
        (per_conn, school_rss, conn_user, users)
    {
        // What the school-day run held beyond its client connections (the upstream pool,
        // the policy, the runtime) is a fixed cost of the instance.
        let connections = conn_user * users;
        let fixed = (rss - connections * per_conn).max(0.0);
        let at_budget = ((budget - fixed) / per_conn).max(0.0);
        s.connections_at_budget = Some((
            at_budget,
            format!(
                "({} x {} - fixed {}) / {} per connection; fixed = the school-day run's peak RSS {} - its {connections:.0} connections x {}",
                units::bytes(cfg.memory_gib * GIB),
                cfg.memory_share,
                units::bytes(fixed),
                units::bytes(per_conn),
                units::bytes(rss),
                units::bytes(per_conn),
            ),
        ));
        s.bounds.push(Bound {
            what: "memory",
            students: at_budget / conn_user,
            arithmetic: format!(
                "{at_budget:.0} connections at the memory budget / {conn_user:.2} per student"
            ),
        });
    }
    if let (Some(conn_user), Some(max_connections)) = (conn_user, max_connections) {
        s.bounds.push(Bound {
            what: "connection cap",
            students: max_connections as f64 / conn_user,
            arithmetic: format!(
                "server.max_connections {max_connections} / {conn_user:.2} connections per student"
            ),
        });
    }
    if let Some(fds_user) = fds_user {
        s.bounds.push(Bound {
            what: "fd limit",
            students: cfg.fd_limit / fds_user,
            arithmetic: format!("{:.0} fds / {fds_user:.2} per student", cfg.fd_limit),
        });
    }
    s
}

/// The section for a baseline being promoted: its own figures where it has them (it may
/// be the school-day or the storm baseline itself), the other committed baseline's from
/// `dir` otherwise. `None` when `gates.toml` has no `[sizing]`.
pub fn for_baseline(
    b: &Baseline,
    dir: &Path,
    gates_path: &Path,
    gates: Option<&Gates>,
) -> Result<Option<Sizing>, String> {
    if !gates_path.is_file() {
        return Ok(None);
    }
    let Some((cfg, cap)) = SizingConfig::load(gates_path)? else {
        return Ok(None);
    };
    let evidence = |name: &str| -> Option<Evidence> {
        let file = format!("baselines/{name}.json");
        if b.profile == name {
            return Some(Evidence::of(b, &format!("{file} (this document)"), gates));
        }
        let path: PathBuf = dir.join(format!("{name}.json"));
        crate::baseline::read(&path)
            .ok()
            .map(|other| Evidence::of(&other, &file, gates))
    };
    let school = evidence(&cfg.school_day);
    let storm = evidence(&cfg.storm);
    if school.is_none() && storm.is_none() {
        return Ok(None);
    }
    Ok(Some(compute(&cfg, cap, school.as_ref(), storm.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rundir::baseline::MetricValue;

    fn cfg() -> SizingConfig {
        SizingConfig {
            instance: "2 vCPU / 4 GiB".into(),
            vcpus: 2.0,
            memory_gib: 4.0,
            memory_share: 0.75,
            proxy_config: "proxy.toml".into(),
            fd_limit: 65536.0,
            school_day: "peak".into(),
            storm: "connections".into(),
        }
    }

    fn evidence(pairs: &[(&str, f64)], users: Option<f64>) -> Evidence {
        Evidence {
            source: "x".into(),
            metrics: pairs
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        MetricValue {
                            point: Some(*v),
                            samples: Vec::new(),
                        },
                    )
                })
                .collect(),
            users,
            slo_misses: Vec::new(),
        }
    }

    #[test]
    fn the_smallest_bound_names_the_bottleneck_and_each_shows_its_arithmetic() {
        let school = evidence(
            &[
                ("proxy_cpu_us_per_request", 500.0),
                ("requests_per_user_per_s", 1.0),
                ("client_connections_per_user", 4.0),
                ("fds_per_user", 8.0),
                ("peak_rss_bytes", 100.0 * 1024.0 * 1024.0),
            ],
            Some(1000.0),
        );
        let storm = evidence(
            &[
                ("heap_per_keep_alive_upper_bytes", 20_000.0),
                ("rss_per_keep_alive_bytes", 10_000.0),
            ],
            None,
        );
        let s = compute(&cfg(), Ok(4096), Some(&school), Some(&storm));
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        let by = |what: &str| s.bounds.iter().find(|b| b.what == what).unwrap().students;
        // 2 cores x 2000 req/s / 1 req/s per student.
        assert_eq!(by("CPU"), 4000.0);
        assert_eq!(by("connection cap"), 1024.0);
        assert_eq!(by("fd limit"), 8192.0);
        // fixed = 100 MiB - 4000 connections x 20 kB; budget 3 GiB.
        let fixed = 100.0 * 1024.0 * 1024.0 - 4000.0 * 20_000.0;
        let at_budget = (3.0 * GIB - fixed) / 20_000.0;
        assert!((s.connections_at_budget.as_ref().unwrap().0 - at_budget).abs() < 1e-6);
        assert!((by("memory") - at_budget / 4.0).abs() < 1e-6);
        assert_eq!(s.binding().unwrap().what, "connection cap");
        assert!(s.bounds[0].arithmetic.contains("2000 req/s per core"));
    }

    #[test]
    fn a_missing_figure_is_named_and_its_bounds_left_out() {
        let school = evidence(&[("proxy_cpu_us_per_request", 500.0)], Some(10.0));
        let s = compute(&cfg(), Ok(4096), Some(&school), None);
        assert!(s.bounds.is_empty());
        assert!(s
            .missing
            .iter()
            .any(|m| m.starts_with("requests_per_user_per_s (from the peak")));
        assert!(s
            .missing
            .iter()
            .any(|m| m.starts_with("heap_per_keep_alive_upper_bytes (from the connections")));
    }

    #[test]
    fn a_run_that_missed_its_slo_says_its_rate_is_not_at_the_slo() {
        let mut school = evidence(&[("proxy_cpu_us_per_request", 500.0)], None);
        school.slo_misses = vec!["clean_p99_us.allowed Hotfix".into()];
        let s = compute(&cfg(), Ok(4096), Some(&school), None);
        assert!(s.caveats[0].contains("not a rate at the SLO"));
    }

    #[test]
    fn the_committed_gates_file_has_a_valid_sizing_section() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines/gates.toml");
        let (cfg, cap) = SizingConfig::load(&path).unwrap().expect("[sizing] is set");
        assert!(cap.unwrap() > 0);
        assert!(cfg.memory_share <= 1.0);
    }

    #[test]
    fn bad_sizing_values_are_refused_naming_each() {
        let dir = std::env::temp_dir().join(format!("sizing-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("proxy.toml"), "[server]\nmax_connections = 10\n").unwrap();
        let gates = dir.join("gates.toml");
        std::fs::write(
            &gates,
            "[sizing]\ninstance = \"i\"\nvcpus = 0\nmemory_gib = 4\nmemory_share = 1.5\n\
             proxy_config = \"proxy.toml\"\nfd_limit = 10\nschool_day = \"peak\"\nstorm = \"c\"\n",
        )
        .unwrap();
        let e = SizingConfig::load(&gates).unwrap_err();
        assert!(e.contains("vcpus must be a positive number"), "{e}");
        assert!(e.contains("memory_share must be in (0, 1]"), "{e}");
        std::fs::write(&gates, "[sizing]\ninstanse = \"typo\"\n").unwrap();
        assert!(SizingConfig::load(&gates)
            .unwrap_err()
            .contains("unknown field"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
