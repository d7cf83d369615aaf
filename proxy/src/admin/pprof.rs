//! `GET /debug/pprof/profile?seconds=N&format=folded|svg|pb`: a CPU profile of the proxy.
//! One profile at a time; a concurrent request gets 409.
//!
//! The profiler is pprof-rs: a `SIGPROF` interval timer at [`FREQUENCY_HZ`] samples the
//! thread that is on CPU and unwinds its stack (DWARF CFI, so release builds need no
//! frame pointers; the workspace release profile keeps line tables for readable symbols).
//! Nothing is armed between profiles, so the cost when not profiling is zero. The
//! timer is a process CPU-time `setitimer`, which Linux checks on scheduler ticks, so the
//! effective rate is capped near the kernel's `CONFIG_HZ` (e.g. 250 samples per CPU-second
//! on a `HZ=250` kernel) whatever the requested frequency. Samples whose interrupted
//! instruction lies in libc, libgcc, libpthread or the vDSO are dropped (unwinding from
//! there is unreliable); for a proxy that includes returns from syscalls, so the profile
//! shows user-space CPU only and kernel time (often more than half) is not in it. (The
//! run harness therefore profiles with `perf` where it can, kernel stacks included, and
//! falls back to this endpoint: `loadgen/src/rig/perf.rs`.) The profile runs on a
//! blocking-pool thread that sleeps for the duration and then resolves symbols, so
//! neither waiting nor symbolisation occupies a runtime worker.
//!
//! Formats: `folded` (collapsed stacks, one `thread;root;...;leaf count` line per stack,
//! the input of `inferno-flamegraph` and of the reports crate), `svg` (an inferno flame
//! graph) and `pb` (pprof protobuf, the default, so `pprof` / `go tool pprof` can fetch
//! the URL directly).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use pprof::protos::Message as _;

/// Sampling frequency. 999 Hz rather than 1000 so the timer does not beat against
/// periodic work that runs at round millisecond intervals.
pub const FREQUENCY_HZ: i32 = 999;
/// Profile length when `seconds` is not given.
pub const DEFAULT_SECONDS: u64 = 10;
/// Longest profile a request may ask for.
pub const MAX_SECONDS: u64 = 60;
/// Shared objects whose frames are dropped from samples (unwinding through them is
/// unreliable and they only add noise at the leaf).
const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

/// True while a profile is running; guards the process-wide profiler.
static PROFILING: AtomicBool = AtomicBool::new(false);

/// Output format of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Collapsed stacks (text).
    Folded,
    /// Flame graph (SVG).
    Svg,
    /// pprof protobuf.
    Pb,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Folded => "text/plain; charset=utf-8",
            Format::Svg => "image/svg+xml",
            Format::Pb => "application/octet-stream",
        }
    }
}

/// A validated profile request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileRequest {
    /// How long to sample.
    pub duration: Duration,
    /// What to return.
    pub format: Format,
}

/// Why a profile could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The query string is invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// Another profile is running (409).
    #[error("a profile is already running; retry when it finishes")]
    Busy,
    /// The profiler failed (500).
    #[error("profiler failed: {0}")]
    Profiler(String),
}

/// Parses `seconds` and `format` from a raw query string; unknown keys are refused so a
/// typo does not silently produce a 10-second protobuf.
pub fn parse_query(query: Option<&str>) -> Result<ProfileRequest, ProfileError> {
    let mut seconds = DEFAULT_SECONDS;
    let mut format = Format::Pb;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "seconds" => {
                seconds = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=MAX_SECONDS).contains(s))
                    .ok_or_else(|| {
                        ProfileError::BadRequest(format!(
                            "seconds must be an integer from 1 to {MAX_SECONDS}, got {value:?}"
                        ))
                    })?;
            }
            "format" => {
                format = match value {
                    "folded" => Format::Folded,
                    "svg" => Format::Svg,
                    "pb" => Format::Pb,
                    other => {
                        return Err(ProfileError::BadRequest(format!(
                            "format must be folded, svg or pb, got {other:?}"
                        )))
                    }
                };
            }
            other => {
                return Err(ProfileError::BadRequest(format!(
                    "unknown parameter {other:?}; accepted: seconds, format"
                )))
            }
        }
    }
    Ok(ProfileRequest {
        duration: Duration::from_secs(seconds),
        format,
    })
}

/// True while a profile is being taken.
pub fn is_profiling() -> bool {
    PROFILING.load(Ordering::SeqCst)
}

/// Clears [`PROFILING`] when the profile ends, however it ends.
struct Running;

impl Running {
    fn claim() -> Result<Self, ProfileError> {
        PROFILING
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .map(|_| Running)
            .map_err(|_| ProfileError::Busy)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        PROFILING.store(false, Ordering::SeqCst);
    }
}

/// Takes a CPU profile of the whole process and renders it. Fails with
/// [`ProfileError::Busy`] if one is already running.
pub async fn profile(request: ProfileRequest) -> Result<Vec<u8>, ProfileError> {
    let running = Running::claim()?;
    tokio::task::spawn_blocking(move || {
        let _running = running;
        sample_and_render(request)
    })
    .await
    .map_err(|e| ProfileError::Profiler(format!("profiling task failed: {e}")))?
}

/// Samples for the requested duration on the current (blocking) thread, then renders.
fn sample_and_render(request: ProfileRequest) -> Result<Vec<u8>, ProfileError> {
    let failed = |e: pprof::Error| ProfileError::Profiler(e.to_string());
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        .blocklist(&BLOCKLIST)
        .build()
        .map_err(failed)?;
    std::thread::sleep(request.duration);
    let report = guard.report().build().map_err(failed)?;
    drop(guard);
    match request.format {
        Format::Folded => Ok(folded(&report).into_bytes()),
        Format::Svg => {
            let folded = folded(&report);
            let mut options = pprof::flamegraph::Options::default();
            options.title = "filter-proxy CPU".to_string();
            let mut svg = Vec::new();
            if !folded.is_empty() {
                pprof::flamegraph::from_lines(&mut options, folded.lines(), &mut svg)
                    .map_err(|e| ProfileError::Profiler(format!("flame graph: {e}")))?;
            }
            Ok(svg)
        }
        Format::Pb => Ok(report.pprof().map_err(failed)?.encode_to_vec()),
    }
}

/// Collapsed stacks: `thread;outermost;...;innermost count`, one line per distinct stack,
/// sorted so identical profiles render identically. `;` inside a symbol (array types such
/// as `[u8; 16]`) would split a frame, so it becomes `,`.
pub fn folded(report: &pprof::Report) -> String {
    let mut lines: Vec<String> = report
        .data
        .iter()
        .map(|(frames, count)| {
            let mut line = frames.thread_name_or_id().replace(';', ",");
            for frame in frames.frames.iter().rev() {
                for symbol in frame.iter().rev() {
                    line.push(';');
                    line.push_str(&symbol.name().replace(';', ","));
                }
            }
            write!(line, " {count}").expect("writing to a String cannot fail");
            line
        })
        .collect();
    lines.sort_unstable();
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)))
        .expect("static status and headers are valid")
}

/// Answers `/debug/pprof/profile`; `query` is the raw query string (may be empty).
pub async fn profile_response(query: Option<&str>) -> Response<Full<Bytes>> {
    let result = match parse_query(query) {
        Ok(request) => profile(request).await.map(|body| (request.format, body)),
        Err(e) => Err(e),
    };
    match result {
        Ok((format, body)) => respond(StatusCode::OK, format.content_type(), body),
        Err(e) => {
            let status = match e {
                ProfileError::BadRequest(_) => StatusCode::BAD_REQUEST,
                ProfileError::Busy => StatusCode::CONFLICT,
                ProfileError::Profiler(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            respond(
                status,
                "text/plain; charset=utf-8",
                format!("{e}\n").into_bytes(),
            )
        }
    }
}
