//! `perf-report`: render a run, promote it to a baseline, or diff it against one.
//! Thin edge over the `reports` library: argument parsing, messages, exit codes.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use reports::diff::{diff, verdict_word, DiffOptions};
use reports::promote::{promote, PromoteOptions};
use reports::rundir::RunDir;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for bad input (missing files, schema or profile mismatch, unfit run).
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "perf-report",
    version,
    about = "Render load-test runs, promote baselines, gate releases"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write report.md, report.html, plots/*.svg and summary.csv into RUN_DIR.
    Render {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Promote a run to baselines/NAME.{json,md,folded}.
    Promote {
        /// The run directory.
        run_dir: PathBuf,
        /// Load profile name (must match the run).
        #[arg(long)]
        profile: String,
        /// Why this run is the baseline (required with --force).
        #[arg(long)]
        note: Option<String>,
        /// Promote an incomplete, failing or saturated run anyway (needs --note).
        #[arg(long)]
        force: bool,
        /// Where baselines live.
        #[arg(long, default_value = "baselines")]
        out_dir: PathBuf,
        /// Gate rules to print in the baseline document [default: OUT_DIR/gates.toml].
        #[arg(long)]
        gates: Option<PathBuf>,
    },
    /// Compare a run with a baseline. Exit 0 pass, 1 rollback, 3 hotfix, 2 bad input.
    Diff {
        /// The run directory.
        run_dir: PathBuf,
        /// The baseline document (baselines/NAME.json).
        #[arg(long)]
        baseline: PathBuf,
        /// Gate rules [default: gates.toml beside the baseline].
        #[arg(long)]
        gates: Option<PathBuf>,
        /// Exit 0 instead of 3 when the worst verdict is hotfix.
        #[arg(long)]
        hotfix_ok: bool,
        /// Where to write diff.md, diff.html and verdict.json [default: RUN_DIR].
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("perf-report: error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Render { run_dir } => {
            let run = RunDir::load(&run_dir).context("loading the run")?;
            let out = reports::render::render(&run).context("rendering the report")?;
            println!(
                "wrote {}, {}, {} and {} plots",
                out.markdown.display(),
                out.html.display(),
                out.summary.display(),
                out.plots.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Promote {
            run_dir,
            profile,
            note,
            force,
            out_dir,
            gates,
        } => {
            let opts = PromoteOptions {
                run_dir,
                profile,
                note,
                force,
                out_dir,
                gates,
            };
            let done = promote(&opts).context("promoting the run")?;
            if !done.overridden.is_empty() {
                eprintln!("perf-report: forced over: {}", done.overridden.join("; "));
            }
            println!(
                "wrote {} and {}",
                done.json.display(),
                done.markdown.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff {
            run_dir,
            baseline,
            gates,
            hotfix_ok,
            out_dir,
        } => {
            let opts = DiffOptions {
                run_dir,
                baseline,
                gates,
                out_dir,
            };
            let report = diff(&opts).context("comparing the run with the baseline")?;
            for e in report
                .evaluations
                .iter()
                .filter(|e| e.verdict != reports::rules::Verdict::Pass)
            {
                println!(
                    "{:9} {}{}: {}",
                    verdict_word(e.verdict),
                    e.metric,
                    if e.enforce { "" } else { " (reported only)" },
                    e.reason
                );
            }
            println!("verdict: {}", verdict_word(report.verdict));
            let code = u8::try_from(report.exit_code(hotfix_ok)).expect("exit codes are 0..=3");
            Ok(ExitCode::from(code))
        }
    }
}
