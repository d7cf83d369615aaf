//! `loadgen parity`: a differential replay of the filtering decision, for moving filter
//! logic from one implementation to another (C++ to Rust) without changing what a
//! student can reach.
//!
//! The same corpus goes through a reference and a candidate proxy, each twice: what a
//! side disagrees with itself on is noise (Twitter's Diffy), what the two sides disagree
//! on is a mismatch, attributed to the cause class recorded when the corpus entry was
//! generated (never guessed from the URL afterwards). Unexplained mismatches above a
//! threshold fail the command (exit 1); bad input or a failed setup exits 2.
//!
//! With `--reference` and `--candidate` the tool replays through proxies the caller runs.
//! Without them it starts the proven rig itself, all on loopback ([`rig`]): the test
//! origin, `filter-proxy` on the demo config (candidate), e2guardian configured from the
//! same category database for the same group (reference), and an allow-all
//! `filter-proxy` as e2guardian's parent so nothing resolves or leaves the machine.
//!
//! # Layout
//! - [`corpus`]: entries, their cause classes, the corpus file format
//! - [`db`]: the category database and a group's policy as the tool reads them
//! - [`generate`]: the corpus generator (hits, misses, near-misses per variation)
//! - [`e2guardian`]: the reference's lists and configuration, and starting it
//! - [`rig`]: the processes of a self-contained replay
//! - [`replay`]: sending one pass through one proxy
//! - [`classify`]: reading a decision from an answer
//! - [`report`]: comparison, `parity.md`, `parity.json`, `results.tsv`

pub mod args;
pub mod classify;
pub mod corpus;
pub mod db;
pub mod e2guardian;
pub mod error;
pub mod generate;
pub mod replay;
pub mod report;
pub mod rig;

pub use args::ParityArgs;
pub use error::ParityError;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::HeaderValue;

use crate::harness::rundir::write_atomic;
use crate::judged::Judged;

use self::classify::classify;
use self::corpus::{Class, Entry};
use self::replay::{replay, ReplayOptions};
use self::report::{SideRuns, Summary};

/// What a parity run produced.
#[derive(Debug, Clone)]
pub struct ParityOutcome {
    /// The comparison.
    pub summary: Summary,
    /// The output directory.
    pub out: PathBuf,
}

/// Runs the command until done or until Ctrl-C/SIGTERM ([`ParityError::Interrupted`]).
pub async fn run(args: &ParityArgs) -> Result<ParityOutcome, ParityError> {
    crate::rig::signal::until_shutdown(execute(args))
        .await
        .unwrap_or(Err(ParityError::Interrupted))
}

impl Judged for ParityOutcome {
    fn held(&self) -> bool {
        self.summary.pass
    }

    /// One line: the full report is `parity.md` in the output directory.
    fn report(&self) -> String {
        let s = &self.summary;
        format!(
            "parity: {} entries, {} mismatches ({} unexplained, threshold {}), noise {}/{}; {}",
            s.entries,
            s.mismatches,
            s.unexplained,
            s.max_unexplained,
            s.reference_unstable,
            s.candidate_unstable,
            self.out.join("parity.md").display()
        )
    }

    fn run_dir(&self) -> &Path {
        &self.out
    }
}

/// Loads or generates the corpus, replays it and writes the report.
pub async fn execute(args: &ParityArgs) -> Result<ParityOutcome, ParityError> {
    let entries = load_corpus(args)?;
    let auth = basic_auth(&args.user)?;
    std::fs::create_dir_all(&args.out).map_err(|source| ParityError::Io {
        what: format!("create {}", args.out.display()),
        cause: source,
    })?;
    write_atomic(
        &args.out.join("corpus.tsv"),
        corpus::render(&entries).as_bytes(),
    )?;

    // The rig lives until the replay is over; dropping it stops every process.
    let (reference, candidate, names, rig) = match (args.reference, args.candidate) {
        (Some(r), Some(c)) => {
            for addr in [r, c] {
                if !addr.ip().is_loopback() {
                    return Err(ParityError::Input(format!(
                        "{addr} is not a loopback address: the replay stays on this machine"
                    )));
                }
            }
            (r, c, ("reference".to_owned(), "candidate".to_owned()), None)
        }
        _ => {
            let rig = rig::Rig::start(args).await?;
            let names = ("e2guardian".to_owned(), "filter-proxy".to_owned());
            (rig.reference, rig.candidate, names, Some(rig))
        }
    };
    let entries = Arc::new(entries);
    let options = |proxy| ReplayOptions {
        proxy,
        proxy_authorization: Some(auth.clone()),
        concurrency: args.concurrency.max(1),
        request_timeout: args.request_timeout,
        pass_timeout: args.pass_timeout,
    };
    let mut runs = [
        SideRuns {
            name: names.0,
            passes: [Vec::new(), Vec::new()],
            elapsed: [Duration::ZERO; 2],
            not_sent: [0; 2],
        },
        SideRuns {
            name: names.1,
            passes: [Vec::new(), Vec::new()],
            elapsed: [Duration::ZERO; 2],
            not_sent: [0; 2],
        },
    ];
    // Interleaved (reference, candidate, reference, candidate), so that a side's noise
    // includes whatever changed on the machine between its passes.
    for pass in 0..2 {
        for (side, addr) in [(0, reference), (1, candidate)] {
            let p = replay(Arc::clone(&entries), &options(addr)).await;
            // In the rig, the reference's answers pass its parent: see classify_rig_reference.
            let read = if side == 0 && rig.is_some() {
                classify::classify_rig_reference
            } else {
                classify
            };
            runs[side].passes[pass] = entries
                .iter()
                .zip(&p.observed)
                .map(|(e, seen)| read(e.method, seen))
                .collect();
            runs[side].elapsed[pass] = p.elapsed;
            runs[side].not_sent[pass] = p.not_sent;
        }
    }
    let known: BTreeSet<Class> = args.known.iter().copied().collect();
    let summary = report::summarise(&entries, &runs[0], &runs[1], &known, args.max_unexplained);
    write_outputs(&args.out, &entries, &runs, &summary)?;
    Ok(ParityOutcome {
        summary,
        out: args.out.clone(),
    })
}

fn write_outputs(
    out: &Path,
    entries: &[Entry],
    runs: &[SideRuns; 2],
    summary: &Summary,
) -> Result<(), ParityError> {
    write_atomic(
        &out.join("results.tsv"),
        report::results_tsv(entries, &runs[0], &runs[1]).as_bytes(),
    )?;
    let json = serde_json::to_vec_pretty(summary).expect("the summary is plain data");
    write_atomic(&out.join("parity.json"), &json)?;
    write_atomic(&out.join("parity.md"), report::markdown(summary).as_bytes())?;
    Ok(())
}

/// The generated entries (when asked) followed by the given corpus file's.
fn load_corpus(args: &ParityArgs) -> Result<Vec<Entry>, ParityError> {
    let mut entries = Vec::new();
    if args.generate > 0 {
        let database = db::Database::load(&args.categories)?;
        let policy = db::GroupPolicy::load(&args.policy, &args.group)?;
        entries = generate::generate(&database, &policy, args.generate, args.seed)?;
    }
    if let Some(path) = &args.corpus {
        entries.extend(corpus::load(path)?);
    }
    if entries.is_empty() {
        return Err(ParityError::Input(
            "no corpus: give --corpus FILE and/or --generate N".into(),
        ));
    }
    Ok(entries)
}

/// `user:password` -> `Basic ...`.
fn basic_auth(user: &str) -> Result<HeaderValue, ParityError> {
    if !user.contains(':') {
        return Err(ParityError::Input(format!(
            "--user {user:?}: expected user:password"
        )));
    }
    let token = base64::engine::general_purpose::STANDARD.encode(user);
    HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|_| ParityError::Input(format!("--user {user:?}: not a valid header value")))
}
