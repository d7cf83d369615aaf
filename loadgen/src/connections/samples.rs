//! The proxy sampled through the storm: its open connections, live heap, RSS and open fds
//! (`/proc`), each sample tagged with the storm's phase, so the cost per connection is
//! fitted over the phase that opened that kind of connection.
//!
//! What the connection count is and whether the heap is read depend on the proxy
//! ([`Probe`]): the bundled proxy reports its own client-connection gauge and jemalloc's
//! live heap; another proxy (Squid) has neither endpoint, so the count is the connections
//! the storm client holds open and the heap is not measured. Measuring the bundled proxy
//! the second way too is what makes a comparison with another proxy like for like.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::harness::{rundir, scrape};
use crate::rig::admin::AdminClient;
use crate::rig::{sample, RigError};

/// The storm's phases, as samples are tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the first connection.
    Idle,
    /// Keep-alive connections opening (and the settling second after).
    KeepAlive,
    /// Tunnels opening (and the settling second after).
    Tunnel,
    /// Everything held.
    Hold,
    /// Attempts beyond the cap.
    BeyondCap,
}

impl Phase {
    /// The phase's name in the samples file.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::KeepAlive => "keep-alive",
            Phase::Tunnel => "tunnel",
            Phase::Hold => "hold",
            Phase::BeyondCap => "beyond-cap",
        }
    }
}

/// What the sampler counts as the open connections (the slopes' x-axis).
#[derive(Clone)]
pub enum Count {
    /// The proxy's own gauge of open client connections, from its `/metrics`.
    ProxyGauge(AdminClient),
    /// The connections the storm client holds open (established, not yet dropped).
    ClientHeld(Arc<AtomicU64>),
}

impl Count {
    /// The count now; `None` when the proxy's gauge could not be read.
    async fn read(&self) -> Option<f64> {
        match self {
            Count::ProxyGauge(admin) => {
                let metrics = admin.metrics().await.ok()?;
                scrape::proxy_gauges(&metrics).client_connections
            }
            Count::ClientHeld(held) => Some(held.load(Ordering::Relaxed) as f64),
        }
    }

    /// The axis's name in reports.
    pub fn describe(&self) -> &'static str {
        match self {
            Count::ProxyGauge(_) => "the proxy's open client connections (its own gauge)",
            Count::ClientHeld(_) => "the connections the storm client holds open",
        }
    }
}

/// What is sampled, and from where.
#[derive(Clone)]
pub struct Probe {
    /// The proxy process whose `/proc/PID` gives RSS and fds.
    pub pid: u32,
    /// The x-axis.
    pub count: Count,
    /// The bundled proxy's admin listener, for jemalloc's live heap; `None`: not measured.
    pub heap: Option<AdminClient>,
}

/// One sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the storm started.
    pub t_s: f64,
    /// The phase when taken.
    pub phase: Phase,
    /// The open connections, as the probe counts them.
    pub connections: f64,
    /// Live heap, bytes (`None` when the probe has no heap).
    pub heap: Option<f64>,
    /// Resident set size, bytes.
    pub rss: f64,
    /// Open fds.
    pub fds: f64,
}

/// Samples `probe` every `every` until `stop` turns true (or `deadline`); a sample
/// whose reads failed is skipped, never filled in.
pub async fn run(
    probe: Probe,
    every: Duration,
    phase: watch::Receiver<Phase>,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
) -> Vec<Sample> {
    let start = Instant::now();
    let ticks = sample::clock_ticks_per_second();
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < deadline && !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let taken_in = *phase.borrow();
        let Some(connections) = probe.count.read().await else {
            continue;
        };
        let heap = match &probe.heap {
            None => None,
            Some(admin) => match admin
                .jemalloc()
                .await
                .ok()
                .and_then(|doc| doc.get("allocated").and_then(serde_json::Value::as_f64))
            {
                Some(allocated) => Some(allocated),
                None => continue,
            },
        };
        let Ok(proc_sample) = sample::sample_pid(probe.pid, ticks) else {
            continue;
        };
        // A sample that straddles a phase change belongs to neither.
        if *phase.borrow() != taken_in {
            continue;
        }
        out.push(Sample {
            t_s: start.elapsed().as_secs_f64(),
            phase: taken_in,
            connections,
            heap,
            rss: proc_sample.rss_bytes as f64,
            fds: proc_sample.fds as f64,
        });
    }
    out
}

/// Writes the samples as CSV into `path` (an empty heap field: not measured).
pub fn write_csv(path: &Path, samples: &[Sample]) -> Result<(), RigError> {
    let mut text = String::from("t_s,phase,connections,heap_bytes,rss_bytes,fds\n");
    for s in samples {
        text.push_str(&format!(
            "{:.3},{},{},{},{},{}\n",
            s.t_s,
            s.phase.name(),
            s.connections,
            s.heap.map_or_else(String::new, |h| h.to_string()),
            s.rss,
            s.fds
        ));
    }
    rundir::write_atomic(path, text.as_bytes())
}
