//! What one kind of connection cost: its ramp's account (opened, failed, how fast) and its
//! costs as least-squares slopes over the samples of the phase that opened it. Shared by
//! the storm `loadgen run` starts and the storm against a proxy already running
//! (`loadgen storm`), so both report the same figures the same way.

use rundir::run::connections::ConnectionKind;
use rundir::run::Percentiles;

use super::open;
use super::samples::{Phase, Sample};
use super::slope;

/// The fitted costs of one kind over the samples of its phase (no heap slope when the
/// samples carry no heap).
pub fn costs(samples: &[Sample], phase: Phase, kind: &mut ConnectionKind) {
    let of = |f: fn(&Sample) -> Option<f64>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter(|s| s.phase == phase)
            .filter_map(|s| Some((s.connections, f(s)?)))
            .collect()
    };
    kind.heap_bytes = slope::fit(&of(|s| s.heap));
    kind.rss_bytes = slope::fit(&of(|s| Some(s.rss)));
    kind.fds = slope::fit(&of(|s| Some(s.fds)));
}

/// How a ramp went, as a kind's record (its costs are filled in by [`costs`]).
pub fn kind_of(planned: u64, ramp: &open::Ramp) -> ConnectionKind {
    let opened = ramp.held.len() as u64;
    let secs = ramp.elapsed.as_secs_f64().max(1e-3);
    ConnectionKind {
        planned,
        opened,
        failed: ramp.failed,
        ramp_s: secs,
        accept_rate_per_s: opened as f64 / secs,
        establish_us: Percentiles::of(&ramp.establish_us),
        ..ConnectionKind::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(phase: Phase, connections: f64, heap: Option<f64>) -> Sample {
        Sample {
            t_s: 0.0,
            phase,
            connections,
            heap,
            rss: 1e6 + 3000.0 * connections,
            fds: 10.0 + 2.0 * connections,
        }
    }

    #[test]
    fn costs_fit_only_their_phase_and_only_the_values_sampled() {
        let mut samples: Vec<Sample> = (0..10)
            .map(|i| sample(Phase::Tunnel, 100.0 * i as f64, None))
            .collect();
        // Another phase's samples, on another line, must not pull the fit.
        samples.extend((0..5).map(|i| Sample {
            rss: 9e9 - i as f64,
            ..sample(Phase::Hold, 900.0 + i as f64, None)
        }));
        let mut kind = ConnectionKind::default();
        costs(&samples, Phase::Tunnel, &mut kind);
        let rss = kind.rss_bytes.expect("ten samples on a line");
        assert!((rss.per_connection - 3000.0).abs() < 1e-6, "{rss:?}");
        let fds = kind.fds.expect("ten samples on a line");
        assert!((fds.per_connection - 2.0).abs() < 1e-9, "{fds:?}");
        assert!(kind.heap_bytes.is_none(), "no heap sampled, no heap slope");

        let with_heap: Vec<Sample> = (0..10)
            .map(|i| {
                sample(
                    Phase::KeepAlive,
                    50.0 * i as f64,
                    Some(5e5 + 25e3 * i as f64),
                )
            })
            .collect();
        costs(&with_heap, Phase::KeepAlive, &mut kind);
        let heap = kind.heap_bytes.expect("heap sampled");
        assert!((heap.per_connection - 500.0).abs() < 1e-6, "{heap:?}");
    }
}
