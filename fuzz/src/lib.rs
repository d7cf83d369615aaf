//! Fuzz targets for the parsers that take bytes from the network or from users, on the
//! stable toolchain.
//!
//! Each target (`tests/<target>.rs`) is a [`bolero`] property run as an ordinary test:
//! first every committed seed in `fuzz/corpus/<target>/`, then generated inputs until the
//! time budget runs out. Byte targets get bolero's raw bytes or, more often, a committed
//! seed with bolero-chosen mutations (overwrite, insert, delete, truncate, duplicate a
//! range, splice in bytes), so structured formats are reached without a hand-written
//! generator for each. Round-trip targets draw typed values and check encode -> decode.
//!
//! Every input is checked for the three properties the issue names: no panic (a panic
//! fails the test, and bolero prints the input and the seed that replays it), bounded
//! time ([`MAX_TIME_PER_INPUT`]) and bounded memory ([`max_bytes_for`]: bytes allocated
//! while handling one input, read from jemalloc's per-thread counter).
//!
//! Budget: `FUZZ_DURATION` (`"60s"`, `"500ms"`; 1 s by default, so `make test` replays the
//! corpora and fuzzes briefly) per target. `make fuzz DURATION=60s` runs every target;
//! each prints `fuzz <target>: <n> executions ...`, the figure recorded in `fuzz/README.md`.

pub mod mutate;

use std::panic::RefUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bolero::generator::TypeGenerator;

pub use mutate::Mutated;

/// Longest one input may take (debug build, on a shared 2-core machine): far above what
/// any parser here needs, far below what a quadratic blow-up on a 4 KiB input costs.
pub const MAX_TIME_PER_INPUT: Duration = Duration::from_secs(2);

/// Most bytes one input may allocate (cumulative, not peak): a fixed allowance for the
/// loaders (they read small data files) plus 4 KiB per input byte.
pub fn max_bytes_for(input_len: usize) -> u64 {
    32 * 1024 * 1024 + 4096 * input_len as u64
}

/// The per-target time budget from `FUZZ_DURATION` (default 1 s).
pub fn budget() -> Duration {
    match std::env::var("FUZZ_DURATION") {
        Ok(text) => filter_proxy::config::parse_duration(&text)
            .unwrap_or_else(|e| panic!("FUZZ_DURATION={text:?}: {e}")),
        Err(_) => Duration::from_secs(1),
    }
}

/// The directory of `target`'s committed seeds.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The committed seeds of `target`, in file-name order.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable corpus entry").path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect();
    assert!(!seeds.is_empty(), "{}: no seeds", dir.display());
    seeds
}

/// Bytes this thread has allocated so far (jemalloc's `thread.allocated`).
fn allocated() -> u64 {
    tikv_jemalloc_ctl::thread::allocatedp::mib()
        .and_then(|m| m.read())
        .map(|p| p.get())
        .unwrap_or(0)
}

/// Counts executions of one target and checks each one's time and memory.
pub struct Runner {
    target: &'static str,
    executions: AtomicU64,
    started: Instant,
}

impl Runner {
    /// A runner for `target`.
    pub fn new(target: &'static str) -> Self {
        Self {
            target,
            executions: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Runs `property` on one input of `len` bytes, checking the per-input bounds.
    pub fn one<R>(&self, len: usize, property: impl FnOnce() -> R) -> R {
        let (t0, a0) = (Instant::now(), allocated());
        let out = property();
        let (took, bytes) = (t0.elapsed(), allocated().saturating_sub(a0));
        assert!(
            took <= MAX_TIME_PER_INPUT,
            "{}: one input of {len} bytes took {took:?}",
            self.target
        );
        assert!(
            bytes <= max_bytes_for(len),
            "{}: one input of {len} bytes allocated {bytes} bytes",
            self.target
        );
        self.executions.fetch_add(1, Ordering::Relaxed);
        out
    }

    /// Prints the execution count (the line `make fuzz` collects).
    pub fn report(&self) {
        let n = self.executions.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "fuzz {}: {n} executions in {secs:.1} s ({:.0}/s)",
            self.target,
            n as f64 / secs.max(1e-9)
        );
    }
}

/// Fuzzes a byte parser: the committed seeds, then raw and seed-mutated bytes until the
/// budget runs out.
pub fn fuzz_bytes(target: &'static str, property: impl Fn(&[u8]) + RefUnwindSafe) {
    let seeds = corpus(target);
    let runner = Runner::new(target);
    for seed in &seeds {
        runner.one(seed.len(), || property(seed));
    }
    bolero::check!()
        .with_type::<Mutated>()
        .with_test_time(budget())
        .for_each(|m| {
            let input = m.apply(&seeds);
            runner.one(input.len(), || property(&input));
        });
    runner.report();
}

/// Fuzzes a property of typed values (round trips), with the seeds of `target` replayed
/// first through `replay` (the byte form of the same target).
pub fn fuzz_typed<T>(
    target: &'static str,
    replay: impl Fn(&[u8]) + RefUnwindSafe,
    property: impl Fn(&T) + RefUnwindSafe,
) where
    T: TypeGenerator + std::fmt::Debug + 'static,
{
    let seeds = corpus(target);
    let runner = Runner::new(target);
    for seed in &seeds {
        runner.one(seed.len(), || replay(seed));
    }
    bolero::check!()
        .with_type::<(T, Mutated)>()
        .with_test_time(budget())
        .for_each(|(value, m)| {
            runner.one(0, || property(value));
            let input = m.apply(&seeds);
            runner.one(input.len(), || replay(&input));
        });
    runner.report();
}
