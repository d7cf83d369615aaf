//! Instructions per request: the proxy's CPU cost counted, not timed, per request class.
//!
//! Why: on a small shared machine, CPU seconds per request move by tens of percent
//! between identical runs (neighbours' loads, cache and frequency effects, how many
//! events one wake-up batches), so a gate on them either misses a 10 % regression or
//! cries wolf. An instruction count of a fixed, sequential request sequence does not
//! depend on what else the machine is doing. This pass starts a second copy of the
//! proxy under `valgrind --tool=callgrind` (same binary, same config, fresh ports),
//! warms every class up, then for each request class of the profile's scenario mix
//! zeroes the counters, sends that class's part of a fixed sequence drawn
//! deterministically from the profile's corpus ([`driver`]) and dumps the counters
//! ([`callgrind`]): each class's instructions are counted exactly, not apportioned.
//! Compiler performance suites gate on instruction counts for the same reason.
//!
//! Per class: `allowed` (forwarded pages), `blocked` (the block page), `tunnel` (CONNECT,
//! the ClientHello peek and SNI check, the upstream connect and the splice of a TLS
//! handshake and one HTTPS page), `cors` (preflights forwarded, cross-origin XHR refused),
//! `identity` (identity headers injected upstream), `download` (a multi-megabyte chunked
//! body streamed). `run.json` records each class's requests, instructions and
//! instructions per request (`instructions.per_class`), and the headline
//! `instructions.per_request` is the classes' figures weighted by the mix's scenario
//! weights, `sum(weight * per_request) / sum(weight)`: what an average request of the
//! school day costs, whatever number of requests of each class the pass needed for a
//! steady figure. The gate reads both (`proxy_instructions_per_request` and
//! `proxy_instructions_per_request.CLASS`): a regression confined to the tunnel path,
//! 15 % of the mix, moves the headline by a seventh of its size and is caught by the
//! tunnel class's own rule.
//!
//! Policy store: the pass's proxy uses the run's config, so a profile with
//! `policy_store = "redis"` has its identity and policy lookups go to Redis in every class
//! and the proxy's side of them is counted (`instructions.policy_store` says which). The
//! `ci` profile keeps policy in memory: its pass sees no Redis-store lookups, and a
//! regression there is not in its figures.
//!
//! What it does not see: time spent waiting, kernel work (syscalls count as one
//! instruction each; a tunnel's bytes are copied by the proxy in user space, so their
//! reads and writes are counted, not the kernel's copies), contention between threads
//! (callgrind runs one thread at a time), the appliance's transparent TLS path, and
//! Redis itself. Those stay with the load run's CPU-seconds and latency figures, which
//! are reported alongside.

pub mod callgrind;
pub mod driver;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::profile::PolicyStore;

use crate::rig::admin::{wait_ready, AdminClient};
use crate::rig::children::ChildGuard;
use crate::rig::RigError;

/// Wall-clock limits of the proxy config raised for a proxy under callgrind, which runs
/// it tens of times slower (more on a busy machine): with the config's own limits, a
/// keep-alive connection of the pass's client idle for ten seconds while others were
/// served was closed by the proxy's header-read deadline as the next request went out
/// ("connection error" in a session on a machine with four builds running). Durations
/// only: they change no code path the count covers, and every proxy version reads them.
pub fn callgrind_timeouts() -> toml::Table {
    let long = toml::Value::String("600s".into());
    let section = |keys: &[&str]| {
        toml::Value::Table(keys.iter().map(|k| (k.to_string(), long.clone())).collect())
    };
    let mut table = toml::Table::new();
    table.insert("server".into(), section(&["header_read_timeout"]));
    table.insert(
        "upstream".into(),
        section(&["response_header_timeout", "idle_timeout"]),
    );
    table.insert("tunnel".into(), section(&["hello_timeout"]));
    table
}

/// Settings of the pass.
#[derive(Debug, Clone)]
pub struct PassSpec {
    /// Requests counted, split over the mix's classes (see [`driver::allocate`]).
    pub requests: u64,
    /// Requests sent before counting starts (connection set-up, lazy statics, caches),
    /// split the same way, so every class's path is warm.
    pub warmup: u64,
    /// The proxy binary.
    pub proxy_bin: PathBuf,
    /// The proxy config to start it with (its listen and admin addresses are `listen`
    /// and `admin`).
    pub config: PathBuf,
    /// The proxy's listen address in `config`.
    pub listen: SocketAddr,
    /// The proxy's admin address in `config`.
    pub admin: SocketAddr,
    /// The load profile (its scenario mix gives the corpus, the roster and the weights).
    pub profile: PathBuf,
    /// The test origin's CA certificate (PEM): the tunnels' TLS trusts it.
    pub origin_ca: PathBuf,
    /// Where callgrind's files and the proxy's log go.
    pub dir: PathBuf,
    /// CPUs to pin the proxy (and valgrind) to.
    pub cpus: Option<Vec<usize>>,
    /// Longest the proxy may take to become ready under valgrind.
    pub ready_timeout: Duration,
}

/// One request class's count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCount {
    /// Requests counted.
    pub requests: u64,
    /// Instructions the proxy executed (all threads) while they were served.
    pub instructions: u64,
    /// `instructions / requests`.
    pub per_request: f64,
    /// The class's weight in the scenario mix.
    pub weight: u64,
}

/// The pass's result, recorded in `run.json` as `instructions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstructionCount {
    /// The counting tool and its version.
    pub tool: String,
    /// Requests counted (all classes).
    pub requests: u64,
    /// Instructions the proxy executed (all threads) while they were served (all classes).
    pub instructions: u64,
    /// The headline: each class's instructions per request weighted by the class's share
    /// of the scenario mix, `sum(weight * per_request) / sum(weight)`. Not
    /// `instructions / requests`: the pass's request counts per class are floored and
    /// capped (see [`driver::allocate`]), the mix's weights are what users send.
    pub per_request: f64,
    /// How `per_request` is formed (`"mix_weighted"`).
    pub weighting: &'static str,
    /// Per request class: requests, instructions, instructions per request, weight.
    pub per_class: BTreeMap<String, ClassCount>,
    /// Requests of the sequence by kind.
    pub kinds: BTreeMap<String, u64>,
    /// Requests whose answer was not the expected one (a pass with any is refused).
    pub unexpected: u64,
    /// Keep-alive connections the plain-HTTP phases used, one request in flight at a time.
    pub connections: usize,
    /// Where the proxy kept its policy: `redis` means every class's identity and policy
    /// lookups went to Redis and are counted (the proxy's side of them); `memory` means
    /// the pass saw no Redis-store lookups.
    pub policy_store: &'static str,
}

/// The mix-weighted instructions per request of per-class counts:
/// `sum(weight * per_request) / sum(weight)` (0 with no weight).
pub fn mix_weighted(per_class: &BTreeMap<String, ClassCount>) -> f64 {
    let weight: u64 = per_class.values().map(|c| c.weight).sum();
    if weight == 0 {
        return 0.0;
    }
    per_class
        .values()
        .map(|c| c.weight as f64 * c.per_request)
        .sum::<f64>()
        / weight as f64
}

/// The count as `run.json` holds it (`instructions`).
impl From<&InstructionCount> for rundir::run::Instructions {
    fn from(c: &InstructionCount) -> Self {
        Self {
            tool: c.tool.clone(),
            requests: c.requests,
            instructions: c.instructions,
            per_request: c.per_request,
            weighting: Some(c.weighting.to_owned()),
            per_class: Some(
                c.per_class
                    .iter()
                    .map(|(class, n)| {
                        (
                            class.clone(),
                            rundir::run::ClassInstructions {
                                requests: n.requests,
                                instructions: n.instructions,
                                per_request: n.per_request,
                                weight: Some(n.weight),
                            },
                        )
                    })
                    .collect(),
            ),
            policy_store: Some(c.policy_store.to_owned()),
            kinds: c.kinds.clone(),
            unexpected: Some(c.unexpected),
            connections: u64::try_from(c.connections).ok(),
        }
    }
}

/// Runs the pass: start the proxy under callgrind, warm every class up, then per class
/// zero the counters, send its requests, dump the counters; stop.
pub async fn measure(spec: &PassSpec) -> Result<InstructionCount, RigError> {
    let tool = callgrind::version()?;
    std::fs::create_dir_all(&spec.dir).map_err(|source| RigError::Io {
        what: format!("create {}", spec.dir.display()),
        cause: source,
    })?;
    let plan = driver::Plan::from_profile(&spec.profile, spec.warmup, spec.requests)?;
    let mut client = driver::Client::new(spec.listen, &spec.origin_ca)?;
    let out_pattern = spec.dir.join("callgrind.out.%p");
    let cmd = callgrind::command(
        &spec.proxy_bin,
        &spec.config,
        &out_pattern,
        spec.cpus.as_deref(),
    );
    let mut proxy = ChildGuard::spawn(
        "filter-proxy under callgrind",
        cmd,
        Some(spec.dir.join("proxy.log")),
    )?;
    let admin = AdminClient::new(spec.admin)?;
    wait_ready(&admin, &mut proxy, spec.ready_timeout).await?;
    let pid = proxy.pid();

    let mut sent = driver::Sent::default();
    for phase in &plan.phases {
        sent.merge(client.warm(phase).await);
    }
    tokio::time::sleep(SETTLE).await;
    let mut per_class = BTreeMap::new();
    for phase in &plan.phases {
        callgrind::zero(pid).await?;
        sent.merge(client.counted(phase).await);
        // The last request's tail (its access-log line, a tunnel's close) belongs to it.
        tokio::time::sleep(SETTLE).await;
        let dump = callgrind::dump(pid, &spec.dir).await?;
        let instructions = callgrind::totals(&dump)?;
        let requests = phase.counted();
        per_class.insert(
            phase.class.as_str().to_owned(),
            ClassCount {
                requests,
                instructions,
                per_request: instructions as f64 / requests.max(1) as f64,
                weight: phase.weight,
            },
        );
    }
    proxy.kill();
    if sent.unexpected > 0 {
        let all: u64 = plan.phases.iter().map(|p| p.warmup() + p.counted()).sum();
        return Err(RigError::Config {
            detail: format!(
                "instruction pass: {} of {all} requests got an unexpected answer \
                 (first: {}); the count would not describe the request path",
                sent.unexpected,
                sent.first_problem.unwrap_or_default()
            ),
        });
    }
    Ok(InstructionCount {
        tool,
        requests: per_class.values().map(|c| c.requests).sum(),
        instructions: per_class.values().map(|c| c.instructions).sum(),
        per_request: mix_weighted(&per_class),
        weighting: "mix_weighted",
        per_class,
        kinds: plan.kind_counts(),
        unexpected: sent.unexpected,
        connections: driver::CONNECTIONS,
        policy_store: match plan.store {
            PolicyStore::Memory => "memory",
            PolicyStore::Redis => "redis",
        },
    })
}

/// Pause after a phase before its counters are dumped: the proxy finishes the last
/// request's bookkeeping after the client has its answer (a tunnel's splice ends after
/// both sides closed), and under callgrind that takes a while. Idle, the proxy executes
/// next to nothing, so the pause adds no measurable count.
const SETTLE: Duration = Duration::from_millis(300);

/// The directory of a run's instruction pass.
pub fn pass_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("instructions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::launch::{write_config, ConfigSpec};

    #[test]
    fn the_pass_config_raises_every_wall_clock_limit_and_the_proxy_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo/proxy.toml");
        let slow = callgrind_timeouts();
        let written = write_config(&ConfigSpec {
            base_config: &base,
            dir: dir.path(),
            origin: "127.0.0.1:9".parse().unwrap(),
            redis_url: None,
            overrides: Some(&slow),
        })
        .unwrap();
        let config = filter_proxy::config::Config::load(&written.path).unwrap();
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(config.server.header_read_timeout, ten_minutes);
        assert_eq!(config.upstream.response_header_timeout, ten_minutes);
        assert_eq!(config.upstream.idle_timeout, ten_minutes);
        assert_eq!(config.tunnel.hello_timeout, ten_minutes);
    }
}
