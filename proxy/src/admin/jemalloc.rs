//! `GET /debug/jemalloc`: allocator statistics as JSON, so a run can compute
//! allocations and bytes allocated per request.
//!
//! jemalloc is the global allocator of every binary and test of this crate (declared
//! here because the library always includes `admin`): its statistics are cheap to read
//! and answer the question a load run asks, "how many allocations does a request cost?",
//! by differencing two snapshots and dividing by the requests served in between.
//!
//! Counters come from the merged arena (`stats.arenas.<MALLCTL_ARENAS_ALL>`). jemalloc
//! folds thread-cache activity into them when caches flush or GC (and at thread exit), so
//! a snapshot lags by at most the contents of the thread caches; over a run of thousands
//! of requests that is noise. `bytes_allocated_total` is the sum over size classes of
//! requests times class size: cumulative bytes allocated, rounded up to size classes.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use tikv_jemalloc_ctl::{epoch, raw, stats};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's `MALLCTL_ARENAS_ALL`: the pseudo-arena index that merges all arenas.
const ARENAS_ALL: usize = 4096;

/// A snapshot of allocator statistics. Byte gauges are current values; the `n*` counters
/// and `bytes_allocated_total` are cumulative since process start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AllocCounters {
    /// Bytes allocated by the application (live).
    pub allocated: u64,
    /// Bytes in active pages (multiple of the page size, >= `allocated`).
    pub active: u64,
    /// Bytes in physically resident data pages mapped by the allocator.
    pub resident: u64,
    /// Bytes in active extents mapped by the allocator.
    pub mapped: u64,
    /// Bytes in virtual memory retained for reuse (not returned to the OS).
    pub retained: u64,
    /// Bytes dedicated to allocator metadata.
    pub metadata: u64,
    /// Small allocation requests served (including from thread caches).
    pub small_nrequests: u64,
    /// Small allocations the arena bins served (thread-cache fills count once).
    pub small_nmalloc: u64,
    /// Small deallocations the arena bins took back.
    pub small_ndalloc: u64,
    /// Large allocation requests served.
    pub large_nrequests: u64,
    /// Large allocations the arena served.
    pub large_nmalloc: u64,
    /// Large deallocations the arena took back.
    pub large_ndalloc: u64,
    /// All allocation requests: `small_nrequests + large_nrequests`.
    pub allocations: u64,
    /// Cumulative bytes allocated, each request rounded up to its size class.
    pub bytes_allocated_total: u64,
}

/// Statistics could not be read (jemalloc built without stats, or an unknown name).
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Reading one mallctl failed.
    #[error("jemalloc statistic {name} unreadable: {error}")]
    Read {
        /// The mallctl name.
        name: String,
        /// The error jemalloc returned (it does not implement `std::error::Error`).
        error: tikv_jemalloc_ctl::Error,
    },
    /// The statistic keys could not be resolved at first use (the first error, cached).
    #[error("jemalloc statistics unavailable: {0}")]
    Unavailable(String),
}

/// Management information base keys, resolved once (name lookups cost a string parse).
struct Mibs {
    small: [Vec<usize>; 3],
    large: [Vec<usize>; 3],
    /// (`bins.<j>.nrequests` of the merged arena, size class of bin j).
    bins: Vec<(Vec<usize>, u64)>,
    /// (`lextents.<j>.nrequests` of the merged arena, size class of large extent j).
    lextents: Vec<(Vec<usize>, u64)>,
}

/// Reads one numeric mallctl value by MIB.
#[allow(unsafe_code)]
fn read_mib<T: Copy + Default + IntegerStat>(mib: &[usize]) -> tikv_jemalloc_ctl::Result<T> {
    // SAFETY: `T` is restricted to plain integers (`IntegerStat`), for which every bit
    // pattern is valid, and `read_mib` checks that jemalloc wrote exactly
    // `size_of::<T>()` bytes, so a wrong width is an error, never an invalid value.
    unsafe { raw::read_mib::<T>(mib) }
}

/// Integer types a mallctl statistic may have (`uint64_t`, `size_t`, `unsigned`).
trait IntegerStat {}
impl IntegerStat for u64 {}
impl IntegerStat for usize {}
impl IntegerStat for u32 {}

fn mib(name: &str) -> Result<Vec<usize>, StatsError> {
    let err = |error| StatsError::Read {
        name: name.to_string(),
        error,
    };
    let c_name = format!("{name}\0");
    let depth = name.split('.').count();
    let mut mib = vec![0usize; depth];
    raw::name_to_mib(c_name.as_bytes(), &mut mib).map_err(err)?;
    Ok(mib)
}

fn read_named<T: Copy + Default + IntegerStat>(name: &str) -> Result<T, StatsError> {
    read_mib(&mib(name)?).map_err(|error| StatsError::Read {
        name: name.to_string(),
        error,
    })
}

impl Mibs {
    fn resolve() -> Result<Self, StatsError> {
        let counters = |class: &str| -> Result<[Vec<usize>; 3], StatsError> {
            Ok([
                mib(&format!("stats.arenas.{ARENAS_ALL}.{class}.nrequests"))?,
                mib(&format!("stats.arenas.{ARENAS_ALL}.{class}.nmalloc"))?,
                mib(&format!("stats.arenas.{ARENAS_ALL}.{class}.ndalloc"))?,
            ])
        };
        let classes = |count: &str, kind: &str| -> Result<Vec<(Vec<usize>, u64)>, StatsError> {
            let n: u32 = read_named(&format!("arenas.{count}"))?;
            (0..n)
                .map(|j| {
                    let size: usize = read_named(&format!("arenas.{kind}.{j}.size"))?;
                    let key = mib(&format!("stats.arenas.{ARENAS_ALL}.{kind}s.{j}.nrequests"))?;
                    Ok((key, size as u64))
                })
                .collect()
        };
        Ok(Self {
            small: counters("small")?,
            large: counters("large")?,
            bins: classes("nbins", "bin")?,
            lextents: classes("nlextents", "lextent")?,
        })
    }
}

fn mibs() -> Result<&'static Mibs, StatsError> {
    static MIBS: OnceLock<Result<Mibs, String>> = OnceLock::new();
    match MIBS.get_or_init(|| Mibs::resolve().map_err(|e| e.to_string())) {
        Ok(mibs) => Ok(mibs),
        Err(message) => Err(StatsError::Unavailable(message.clone())),
    }
}

/// Reads a fresh snapshot (advancing the stats epoch first).
pub fn try_counters() -> Result<AllocCounters, StatsError> {
    let gauge_err = |name: &str| {
        let name = name.to_string();
        move |error| StatsError::Read { name, error }
    };
    epoch::advance().map_err(gauge_err("epoch"))?;
    let mibs = mibs()?;
    let read = |key: &Vec<usize>| -> Result<u64, StatsError> {
        read_mib::<u64>(key).map_err(gauge_err("stats.arenas counter"))
    };
    let [small_nrequests, small_nmalloc, small_ndalloc] = [
        read(&mibs.small[0])?,
        read(&mibs.small[1])?,
        read(&mibs.small[2])?,
    ];
    let [large_nrequests, large_nmalloc, large_ndalloc] = [
        read(&mibs.large[0])?,
        read(&mibs.large[1])?,
        read(&mibs.large[2])?,
    ];
    let mut bytes_allocated_total = 0u64;
    for (key, size) in mibs.bins.iter().chain(&mibs.lextents) {
        bytes_allocated_total =
            bytes_allocated_total.saturating_add(read(key)?.saturating_mul(*size));
    }
    Ok(AllocCounters {
        allocated: stats::allocated::read().map_err(gauge_err("stats.allocated"))? as u64,
        active: stats::active::read().map_err(gauge_err("stats.active"))? as u64,
        resident: stats::resident::read().map_err(gauge_err("stats.resident"))? as u64,
        mapped: stats::mapped::read().map_err(gauge_err("stats.mapped"))? as u64,
        retained: stats::retained::read().map_err(gauge_err("stats.retained"))? as u64,
        metadata: stats::metadata::read().map_err(gauge_err("stats.metadata"))? as u64,
        small_nrequests,
        small_nmalloc,
        small_ndalloc,
        large_nrequests,
        large_nmalloc,
        large_ndalloc,
        allocations: small_nrequests.saturating_add(large_nrequests),
        bytes_allocated_total,
    })
}

/// A fresh snapshot; all zeros if statistics cannot be read (they always can with this
/// crate's jemalloc build, which has stats enabled; [`try_counters`] says why not).
pub fn counters() -> AllocCounters {
    try_counters().unwrap_or_default()
}

/// Answers `/debug/jemalloc`.
pub fn stats_response() -> Response<Full<Bytes>> {
    let (status, body) = match try_counters() {
        Ok(counters) => (
            StatusCode::OK,
            serde_json::to_vec_pretty(&counters).expect("a struct of integers serialises"),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::to_vec(&serde_json::json!({ "error": e.to_string() }))
                .expect("a JSON value serialises"),
        ),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("static status and headers are valid")
}
