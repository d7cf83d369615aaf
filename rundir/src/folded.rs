//! Collapsed CPU stacks (`cpu.folded`, `baselines/NAME.folded`) and the frame rankings
//! built from them.
//!
//! The proxy writes one line per distinct stack: `thread;outermost;...;innermost count`
//! (`proxy/src/admin/pprof.rs`). The first field is the **thread's name, not a function**:
//! the parser returns it apart ([`Stack::thread`]) and every ranking here counts functions
//! only. Counting the thread as a frame made it the outermost "frame" of every sample, so
//! it topped any ranking by total time at 100% (or split it per worker thread) while saying
//! nothing about where the time went. Flame graphs ([`crate::flame`]) are drawn from the
//! raw lines and keep the thread as the root, one tower per thread, as pprof draws them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// One line of collapsed stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack<'a> {
    /// The thread the samples were taken on.
    pub thread: &'a str,
    /// Functions, outermost first (empty when the unwinder found none).
    pub frames: Vec<&'a str>,
    /// Samples with exactly this stack.
    pub count: u64,
}

/// Parses collapsed stacks; malformed lines (no count) are skipped, as the flame graph
/// tools do.
pub fn parse(folded: &str) -> impl Iterator<Item = Stack<'_>> {
    folded.lines().filter_map(|line| {
        let (stack, count) = line.trim_end().rsplit_once(' ')?;
        let count = count.parse::<u64>().ok()?;
        let mut fields = stack.split(';');
        let thread = fields.next()?;
        Some(Stack {
            thread,
            frames: fields.collect(),
            count,
        })
    })
}

/// One function's share of the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Frame {
    /// Function name as it appears in the stacks.
    pub name: String,
    /// Samples where the frame is the leaf (on CPU itself).
    pub self_samples: u64,
    /// Samples where the frame is anywhere on the stack.
    pub total_samples: u64,
    /// `self_samples` as a fraction of all samples.
    pub self_fraction: f64,
    /// `total_samples` as a fraction of all samples.
    pub total_fraction: f64,
}

/// Runtime scaffolding: frames that nearly every sample passes through on its way to the
/// proxy's own work (program and thread start, the async runtime's worker loops, task
/// polling and its panic guard). They top any ranking by total time at ~99% and say
/// nothing about where the time went, so that ranking skips them (and the report says so
/// under the table). Kept as a short explicit list rather than "whatever is above N%", so
/// one of the proxy's own functions is never hidden, however much of the time it holds.
///
/// An entry matches a frame whose path ends with it on `::` boundaries, generic arguments,
/// closures and symbol hashes ignored: `block_on` matches
/// `tokio::runtime::runtime::Runtime::block_on<F>` and `CachedParkThread::block_on`.
pub const SCAFFOLDING: &[&str] = &[
    // Program start.
    "main",
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "std::rt::lang_start",
    "std::rt::lang_start_internal",
    "__rust_begin_short_backtrace",
    // Thread start.
    "clone",
    "clone3",
    "start_thread",
    "thread_start",
    // The runtime entering and its worker loops.
    "block_on",
    "enter_runtime",
    "worker::run",
    "worker::Context::run",
    "worker::Context::run_task",
    "blocking::pool::Inner::run",
    // Polling a task, and the panic guard around it.
    "task::raw::poll",
    "harness::Harness::poll",
    "harness::Harness::poll_inner",
    "std::panicking::try",
    "std::panic::catch_unwind",
];

/// A frame's path without generic arguments, closures and symbol hash:
/// `<T as tokio::Foo>::run::{{closure}}::h0123456789abcdef` reads `run`.
fn plain_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split("::")
        .filter(|seg| !seg.is_empty() && !seg.starts_with("{{") && !is_symbol_hash(seg))
        .collect::<Vec<_>>()
        .join("::")
}

/// A mangled symbol's hash segment: `h` and 16 hex digits.
fn is_symbol_hash(seg: &str) -> bool {
    seg.len() == 17 && seg.starts_with('h') && seg[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Whether `name` is one of the [`SCAFFOLDING`] frames.
pub fn is_scaffolding(name: &str) -> bool {
    let path = plain_path(name);
    SCAFFOLDING.iter().any(|entry| {
        path == *entry
            || path
                .strip_suffix(entry)
                .is_some_and(|head| head.ends_with("::"))
    })
}

impl Frame {
    /// Whether the frame is runtime scaffolding (see [`SCAFFOLDING`]).
    pub fn is_scaffolding(&self) -> bool {
        is_scaffolding(&self.name)
    }
}

/// All samples in the stacks: what a flame graph of them is drawn from.
pub fn sample_count(folded: &str) -> u64 {
    parse(folded).map(|s| s.count).sum()
}

/// How a ranking orders frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// By samples spent in the frame itself.
    SelfTime,
    /// By samples passing through the frame (callees included).
    TotalTime,
}

/// Every function in the stacks, ranked (ties by name).
pub fn all_frames(folded: &str, rank: Rank) -> Vec<Frame> {
    let mut all = 0u64;
    let mut acc: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for stack in parse(folded) {
        all += stack.count;
        if let Some(leaf) = stack.frames.last() {
            acc.entry(leaf).or_default().0 += stack.count;
        }
        let unique: HashSet<&str> = stack.frames.iter().copied().collect();
        for frame in unique {
            acc.entry(frame).or_default().1 += stack.count;
        }
    }
    let fraction = |n: u64| if all == 0 { 0.0 } else { n as f64 / all as f64 };
    let mut frames: Vec<Frame> = acc
        .into_iter()
        .map(|(name, (s, t))| Frame {
            name: name.to_owned(),
            self_samples: s,
            total_samples: t,
            self_fraction: fraction(s),
            total_fraction: fraction(t),
        })
        .collect();
    let key = |f: &Frame| match rank {
        Rank::SelfTime => f.self_samples,
        Rank::TotalTime => f.total_samples,
    };
    frames.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.name.cmp(&b.name)));
    frames
}

/// Frames ranked by self or total samples, at most `limit`. The ranking by self time
/// holds only frames with samples of their own; the ranking by total time leaves
/// scaffolding out (see [`scaffolding`]).
pub fn top_frames(folded: &str, limit: usize, rank: Rank) -> Vec<Frame> {
    let mut frames = all_frames(folded, rank);
    match rank {
        Rank::SelfTime => frames.retain(|f| f.self_samples > 0),
        Rank::TotalTime => frames.retain(|f| !f.is_scaffolding()),
    }
    frames.truncate(limit);
    frames
}

/// The scaffolding frames present in the stacks, which a ranking by total leaves out,
/// most samples first.
pub fn scaffolding(folded: &str) -> Vec<Frame> {
    let mut frames = all_frames(folded, Rank::TotalTime);
    frames.retain(Frame::is_scaffolding);
    frames
}

/// Frames whose name contains `needle` (e.g. the proxy's crate path), ranked by total
/// time, scaffolding included, at most `limit`: which of our own functions the CPU time
/// was spent under.
pub fn frames_containing(folded: &str, needle: &str, limit: usize) -> Vec<Frame> {
    let mut frames = all_frames(folded, Rank::TotalTime);
    frames.retain(|f| f.name.contains(needle));
    frames.truncate(limit);
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &str = "worker;main;serve;filter 60\nworker;main;serve;forward;write 30\n\
                          worker;main;idle 10\nbad line\n";

    #[test]
    fn the_thread_is_not_a_frame() {
        let stacks: Vec<Stack<'_>> = parse("w1;a;b 3\nw2 1\nnot a count x\n").collect();
        assert_eq!(
            stacks,
            [
                Stack {
                    thread: "w1",
                    frames: vec!["a", "b"],
                    count: 3
                },
                Stack {
                    thread: "w2",
                    frames: vec![],
                    count: 1
                }
            ]
        );
        assert!(all_frames(FOLDED, Rank::TotalTime)
            .iter()
            .all(|f| f.name != "worker"));
        // A sample without functions counts in the total, in no frame.
        let frames = top_frames("t;a 3\nt 1\n", 5, Rank::SelfTime);
        assert_eq!(
            (frames[0].name.as_str(), frames[0].self_fraction),
            ("a", 0.75)
        );
    }

    #[test]
    fn self_and_total_samples() {
        let by_self = top_frames(FOLDED, 10, Rank::SelfTime);
        assert_eq!(by_self[0].name, "filter");
        assert_eq!(by_self[0].self_samples, 60);
        assert!((by_self[0].self_fraction - 0.6).abs() < 1e-9);
        let by_total = top_frames(FOLDED, 3, Rank::TotalTime);
        assert_eq!(by_total.len(), 3);
        assert_eq!(
            (by_total[1].name.as_str(), by_total[1].total_samples),
            ("filter", 60)
        );
        assert_eq!(
            (by_total[2].name.as_str(), by_total[2].total_samples),
            ("forward", 30)
        );
        assert_eq!(by_total[2].self_samples, 0);
        assert!(top_frames("garbage\n", 3, Rank::SelfTime).is_empty());
    }

    #[test]
    fn runtime_scaffolding_is_left_out_of_the_total_ranking() {
        let left_out: Vec<String> = scaffolding(FOLDED).into_iter().map(|f| f.name).collect();
        assert_eq!(left_out, ["main"]);
        let by_total: Vec<String> = top_frames(FOLDED, 10, Rank::TotalTime)
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert!(!by_total.contains(&"main".to_owned()));
        // 90% of the time under one of our functions is a finding, not scaffolding.
        assert_eq!(by_total[0], "serve");
        let real = "t;__libc_start_main;main;std::rt::lang_start_internal;\
                    tokio::runtime::runtime::Runtime::block_on<F>;\
                    tokio::runtime::scheduler::multi_thread::worker::run;\
                    tokio::runtime::scheduler::multi_thread::worker::Context::run_task::h0123456789abcdef;\
                    tokio::runtime::task::harness::Harness<T,S>::poll;\
                    std::panicking::try::{{closure}};proxy::serve;proxy::filter 10\n\
                    t;clone3;start_thread;std::sys::pal::unix::thread::Thread::new::thread_start;\
                    <F as core::ops::function::FnOnce<()>>::call_once;proxy::log 1\n";
        let kept: Vec<String> = top_frames(real, 10, Rank::TotalTime)
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            kept,
            [
                "proxy::filter",
                "proxy::serve",
                "<F as core::ops::function::FnOnce<()>>::call_once",
                "proxy::log"
            ]
        );
        assert_eq!(scaffolding(real).len(), 11);
        // Names only match on path boundaries.
        assert!(!is_scaffolding("proxy::domain_block_on"));
        assert!(!is_scaffolding("proxy::mainline"));
        assert!(is_scaffolding("filter_proxy::main"));
    }

    #[test]
    fn counts_samples() {
        assert_eq!(sample_count(FOLDED), 100);
        assert_eq!(sample_count(""), 0);
    }

    #[test]
    fn recursion_counts_once_in_total() {
        let frames = top_frames("t;a;b;a 5\n", 10, Rank::TotalTime);
        let a = frames.iter().find(|f| f.name == "a").unwrap();
        assert_eq!((a.total_samples, a.self_samples), (5, 5));
    }

    #[test]
    fn frames_containing_a_needle_keep_scaffolding() {
        let folded = "w;main;p::serve;parse 30\nw;main;p::serve;write 60\nw;main;idle 10\n";
        let ours: Vec<(String, f64)> = frames_containing(folded, "p::", 5)
            .into_iter()
            .map(|f| (f.name, f.total_fraction))
            .collect();
        assert_eq!(ours, [("p::serve".to_owned(), 0.9)]);
    }
}
