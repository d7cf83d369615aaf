//! The proxy sampled through the storm: its open client connections (its own gauge),
//! live heap (jemalloc `allocated` from `/debug/jemalloc`), RSS and open fds (`/proc`),
//! each sample tagged with the storm's phase, so the cost per connection is fitted over
//! the phase that opened that kind of connection.

use std::path::Path;
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

/// One sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the storm started.
    pub t_s: f64,
    /// The phase when taken.
    pub phase: Phase,
    /// The proxy's open client connections.
    pub connections: f64,
    /// Live heap, bytes.
    pub heap: f64,
    /// Resident set size, bytes.
    pub rss: f64,
    /// Open fds.
    pub fds: f64,
}

/// Samples the proxy every `every` until `stop` turns true (or `deadline`); a sample
/// whose reads failed is skipped, never filled in.
pub async fn run(
    admin: AdminClient,
    pid: u32,
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
        let Ok(metrics) = admin.metrics().await else {
            continue;
        };
        let Some(connections) = scrape::proxy_gauges(&metrics).client_connections else {
            continue;
        };
        let Some(heap) = admin
            .jemalloc()
            .await
            .ok()
            .and_then(|doc| doc.get("allocated").and_then(serde_json::Value::as_f64))
        else {
            continue;
        };
        let Ok(proc_sample) = sample::sample_pid(pid, ticks) else {
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

/// Writes the samples as CSV into `path`.
pub fn write_csv(path: &Path, samples: &[Sample]) -> Result<(), RigError> {
    let mut text = String::from("t_s,phase,connections,heap_bytes,rss_bytes,fds\n");
    for s in samples {
        text.push_str(&format!(
            "{:.3},{},{},{},{},{}\n",
            s.t_s,
            s.phase.name(),
            s.connections,
            s.heap,
            s.rss,
            s.fds
        ));
    }
    rundir::write_atomic(path, text.as_bytes())
}
