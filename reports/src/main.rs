//! `perf-report`: render a run, promote it to a baseline, diff it against one, or run the
//! interleaved A/B gate.
//! Thin edge over the `reports` library: argument parsing, messages, exit codes.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use reports::diff::{diff, verdict_word, DiffOptions};
use reports::promote::{promote, PromoteOptions, Suggest};
use reports::rundir::RunDir;
use rundir::verdict::Accept;
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
        /// Where the committed baselines and gates.toml live: the report's headline gives
        /// the verdict against PROFILE.json there, or says there is none.
        #[arg(long, default_value = reports::render::headline::DEFAULT_BASELINES)]
        baselines: PathBuf,
    },
    /// Merge the run directories of a distributed run's workers (`loadgen attack
    /// --segment I/N`) into OUT, which render, diff, promote and gate read like any run:
    /// histograms added, per-second series summed by wall-clock second, counts summed.
    /// A missing, killed or short worker makes it incomplete; a saturated or late one
    /// invalid. Exit 0 when the merged run is complete and valid, 1 when not, 2 bad input.
    Merge {
        /// The merged run directory to write.
        out: PathBuf,
        /// The workers' run directories.
        #[arg(required = true)]
        workers: Vec<PathBuf>,
        /// A run of one process at the same total load: print how the merged run compares.
        #[arg(long)]
        compare: Option<PathBuf>,
    },
    /// Promote a run to baselines/NAME.{json,md,folded}.
    Promote {
        /// The run directory.
        run_dir: PathBuf,
        /// Load profile name (must match the run).
        #[arg(long)]
        profile: String,
        /// Why this run is the baseline (required with --force; written into the document).
        #[arg(long)]
        note: Option<String>,
        /// Promote anyway a run that is refused: incomplete, failing, saturated, on a
        /// contended machine or on another machine than the committed document (needs --note).
        #[arg(long)]
        force: bool,
        /// Where baselines live.
        #[arg(long, default_value = "baselines")]
        out_dir: PathBuf,
        /// Gate rules to print in the baseline document [default: OUT_DIR/gates.toml].
        #[arg(long)]
        gates: Option<PathBuf>,
        /// Which command a refusal names to promote the run anyway (`make baseline`
        /// passes make).
        #[arg(long, value_enum, default_value_t)]
        suggest: Suggest,
    },
    /// Judge canary instances against control instances on live telemetry (Prometheus API
    /// or direct scrapes). Exit 0 pass, 1 rollback, 3 hotfix, 2 bad input (including
    /// traffic too different to compare).
    Canary(CanaryArgs),
    /// Compare a run with a baseline. Exit 0 pass, 1 rollback, 3 hotfix, 4 inconclusive
    /// (too little uncontended time to judge latency), 2 bad input.
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
        /// Exit 0 instead of 4 when the worst verdict is inconclusive (machine).
        #[arg(long)]
        accept_inconclusive: bool,
        /// Where to write diff.md, diff.html and verdict.json [default: RUN_DIR].
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Interleaved A/B gate: build the baseline's commit and the work tree, run their
    /// trials alternately, decide pair by pair. Exit 0 pass, 1 rollback, 3 hotfix, 4
    /// inconclusive (too little uncontended time to judge latency), 2 bad input or a
    /// failed session. Arguments after `--` go to `loadgen run`.
    Gate(GateArgs),
    /// Generate the deploy/ tree (CloudFormation, Prometheus rules and tests, dashboard,
    /// DECISIONS.md) from baselines/gates.toml, baselines/peak.json and deploy/inputs.toml.
    /// With --check, write nothing and exit 1 when the committed tree differs.
    Rollout {
        /// The checkout whose baselines/ and deploy/inputs.toml are read.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Where to write [default: REPO/deploy].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare with the files on disk instead of writing them.
        #[arg(long)]
        check: bool,
    },
    /// Write reports/canary-calibration.md from `make canary` sessions (NAME=DIR each;
    /// `aa-3` counts with `aa`).
    CanaryCalibration {
        /// Sessions, as NAME=SESSION_DIR.
        #[arg(required = true, value_parser = reports::ab::calibration::Labelled::parse)]
        sessions: Vec<reports::ab::calibration::Labelled>,
        /// Text put under the title (how the sessions were run).
        #[arg(long, default_value = "")]
        notes: String,
        /// The document to write.
        #[arg(long, default_value = "reports/canary-calibration.md")]
        out: PathBuf,
    },
    /// Print the path of the proxy built from a baseline's commit, as the A/B gate builds
    /// it (cached; built in a worktree when missing): the control of `make canary`.
    ControlBin {
        /// The baseline document whose commit is built.
        #[arg(long, default_value = "baselines/ci.json")]
        baseline: PathBuf,
    },
    /// Print a metric's control value (median over the control trials) of a gate session.
    ControlValue {
        /// The session directory (holding verdict.json).
        session: PathBuf,
        /// Metric key, e.g. proxy_cpu_us_per_request.
        #[arg(long)]
        metric: String,
    },
    /// Write the gate's calibration document from self-test sessions (LABEL=DIR each;
    /// sessions with the same label are counted together).
    Calibrate {
        /// Sessions, as LABEL=SESSION_DIR.
        #[arg(required = true, value_parser = reports::ab::calibration::Labelled::parse)]
        sessions: Vec<reports::ab::calibration::Labelled>,
        /// Text put under the title (how the sessions were run).
        #[arg(long, default_value = "")]
        notes: String,
        /// The document to write.
        #[arg(long, default_value = "reports/gate-calibration.md")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct GateArgs {
    /// Load profile file, e.g. profiles/ci.toml.
    #[arg(long)]
    profile: PathBuf,
    /// Baseline document [default: baselines/NAME.json].
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Gate rules.
    #[arg(long, default_value = "baselines/gates.toml")]
    gates: PathBuf,
    /// Session directory [default: target/gate/sessions/NAME-UNIXTIME].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Control/candidate pairs [default: from the rules file].
    #[arg(long)]
    pairs: Option<u32>,
    /// Seconds per trial [default: the rules file's trial_duration_s, else the profile's].
    #[arg(long)]
    duration: Option<u64>,
    /// The loadgen binary [default: beside this binary].
    #[arg(long)]
    loadgen_bin: Option<PathBuf>,
    /// Control proxy binary; skips building the baseline's commit.
    #[arg(long)]
    control_bin: Option<PathBuf>,
    /// Candidate proxy binary; skips building the work tree.
    #[arg(long)]
    candidate_bin: Option<PathBuf>,
    /// Cargo feature for the candidate build (repeatable).
    #[arg(long = "candidate-feature")]
    candidate_features: Vec<String>,
    /// KEY=VALUE in the control's environment (repeatable).
    #[arg(long = "control-env", value_parser = parse_env)]
    control_env: Vec<(String, String)>,
    /// KEY=VALUE in the candidate's environment (repeatable).
    #[arg(long = "candidate-env", value_parser = parse_env)]
    candidate_env: Vec<(String, String)>,
    /// Exit 0 instead of 3 when the worst verdict is hotfix.
    #[arg(long)]
    hotfix_ok: bool,
    /// Exit 0 instead of 4 when the worst verdict is inconclusive (machine): the verdict
    /// still says so, and the machine-independent rules still decide.
    #[arg(long)]
    accept_inconclusive: bool,
    /// Re-decide a recorded session: copy its trials instead of running them (give
    /// --control-bin and --candidate-bin so nothing is built, and the same --pairs).
    #[arg(long, value_name = "SESSION_DIR")]
    replay: Option<PathBuf>,
    /// Extra arguments for `loadgen run`.
    #[arg(last = true)]
    loadgen_args: Vec<String>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{text}'"))
}

/// The `name` of a load profile file.
fn profile_name(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the profile {}", path.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    value
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no name", path.display()))
}

fn gate(args: GateArgs) -> anyhow::Result<ExitCode> {
    use reports::ab::{build, trial, GateOptions, Mode};
    let profile = profile_name(&args.profile)?;
    let repo = std::env::current_dir().context("locating the checkout")?;
    let gates = reports::rules::Gates::load(&args.gates).context("reading the gate rules")?;
    let duration = args.duration.or(gates.session(&profile).trial_duration_s);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dirs = build::BuildDirs::for_repo(&repo);
    let out_dir = args.out.unwrap_or_else(|| {
        dirs.gate_dir
            .join("sessions")
            .join(format!("{profile}-{stamp}"))
    });
    let loadgen_bin = match args.loadgen_bin {
        Some(bin) => bin,
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name("loadgen"),
    };
    let opts = GateOptions {
        baseline: Some(
            args.baseline
                .unwrap_or_else(|| PathBuf::from(format!("baselines/{profile}.json"))),
        ),
        profile,
        gates: args.gates,
        out_dir,
        pairs: args.pairs,
        dirs,
        control_bin: args.control_bin,
        candidate_bin: args.candidate_bin,
        candidate_features: args.candidate_features,
        control_env: args.control_env,
        candidate_env: args.candidate_env,
    };
    let mut loadgen = trial::Loadgen {
        bin: loadgen_bin,
        profile: args.profile,
        duration_s: duration,
        extra_args: args.loadgen_args,
        timeout: std::time::Duration::from_secs(duration.unwrap_or(600) + 180),
    };
    let mut replay = args.replay.map(|session| trial::Replay { session });
    let runner: &mut dyn trial::TrialRunner = match replay.as_mut() {
        Some(r) => r,
        None => &mut loadgen,
    };
    let outcome =
        reports::ab::run_gate(&opts, &build::Cargo, runner).context("running the A/B gate")?;
    if let Mode::DocumentOnly { reason } = &outcome.mode {
        println!("WEAKER CHECK: no control today ({reason}); compared with the document only");
    }
    if let Some(report) = outcome.enforced() {
        for e in report
            .evaluations
            .iter()
            .filter(|e| e.verdict > reports::rules::Verdict::Pass)
        {
            println!(
                "{:9} {}{}: {}",
                verdict_word(e.verdict),
                e.metric,
                if e.enforce { "" } else { " (reported only)" },
                e.reason
            );
        }
    }
    println!(
        "verdict: {} (report: {})",
        verdict_word(outcome.verdict),
        outcome.out_dir.join("gate.md").display()
    );
    let accept = Accept {
        hotfix: args.hotfix_ok,
        inconclusive: args.accept_inconclusive,
    };
    let code = u8::try_from(outcome.exit_code(accept)).expect("exit codes are 0..=4");
    Ok(ExitCode::from(code))
}

#[derive(clap::Args)]
struct CanaryArgs {
    /// Prometheus base URL: --control and --canary are then one label selector each
    /// (e.g. `launch_template_version="7"`). Without it they are /metrics URLs, scraped
    /// by the judge for the window.
    #[arg(long)]
    prometheus: Option<String>,
    /// The control side: selector, or one or more /metrics URLs.
    #[arg(long, num_args = 1.., required = true)]
    control: Vec<String>,
    /// The canary side: selector, or one or more /metrics URLs.
    #[arg(long, num_args = 1.., required = true)]
    canary: Vec<String>,
    /// Seconds judged: the last WINDOW seconds (Prometheus) or the next (scrapes).
    #[arg(long, default_value_t = 600.0)]
    window: f64,
    /// Seconds per interval [default: interval_s of the [canary] section].
    #[arg(long)]
    interval: Option<f64>,
    /// End of the window for Prometheus, Unix seconds [default: now].
    #[arg(long)]
    end: Option<f64>,
    /// Gates file with the [canary] section.
    #[arg(long, default_value = "baselines/gates.toml")]
    gates: PathBuf,
    /// Where canary.json and canary.md go (printed to stdout as well).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn canary(args: CanaryArgs) -> anyhow::Result<ExitCode> {
    use reports::canary::{http::HttpUrl, CanaryOptions, Source};
    let source = match args.prometheus {
        Some(url) => {
            let [control, canary] = [&args.control, &args.canary].map(|s| s.join(" "));
            let end = match args.end {
                Some(end) => end,
                None => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .context("the clock is before 1970")?
                    .as_secs_f64(),
            };
            Source::Prometheus {
                url: HttpUrl::parse(&url)?,
                control,
                canary,
                end,
            }
        }
        None => {
            let urls = |v: &[String]| {
                v.iter()
                    .map(|u| HttpUrl::parse(u))
                    .collect::<Result<Vec<_>, _>>()
            };
            Source::Scrape {
                control: urls(&args.control)?,
                canary: urls(&args.canary)?,
            }
        }
    };
    let opts = CanaryOptions {
        source,
        gates: args.gates,
        window_s: args.window,
        interval_s: args.interval,
    };
    let report = reports::canary::run(&opts).context("judging the canary")?;
    print!("{}", reports::canary::report::markdown(&report));
    if let Some(dir) = &args.out {
        let [json, md] = reports::canary::report::write(&report, dir)?;
        println!("\nwrote {} and {}", json.display(), md.display());
    }
    Ok(ExitCode::from(report.exit_code()))
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
        Command::Gate(args) => gate(args),
        Command::Canary(args) => canary(args),
        Command::CanaryCalibration {
            sessions,
            notes,
            out,
        } => {
            let repo = std::env::current_dir().context("locating the checkout")?;
            let (commit, dirty) = reports::ab::build::head(&repo);
            let commit = format!(
                "{}{}",
                commit
                    .as_deref()
                    .map_or("unknown", |c| &c[..c.len().min(7)]),
                if dirty {
                    " (work tree with changes)"
                } else {
                    ""
                }
            );
            let rows = reports::canary::calibration::write(&sessions, &commit, &notes, &out)
                .context("writing the canary calibration")?;
            println!("wrote {} ({} sessions)", out.display(), rows.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::ControlBin { baseline } => {
            use reports::ab::build;
            let doc = reports::baseline::read(&baseline).context("reading the baseline")?;
            let repo = std::env::current_dir().context("locating the checkout")?;
            let dirs = build::BuildDirs::for_repo(&repo);
            match build::control(&dirs, doc.provenance.git_commit.as_deref(), &build::Cargo) {
                build::ControlBuild::Ready { bin, .. } => {
                    println!("{}", bin.display());
                    Ok(ExitCode::SUCCESS)
                }
                build::ControlBuild::Unavailable { commit, reason } => anyhow::bail!(
                    "no control build of {}: {reason}",
                    commit.as_deref().unwrap_or("the baseline's commit")
                ),
            }
        }
        Command::Rollout { repo, out, check } => {
            let sources = reports::rollout::Sources::in_repo(&repo);
            let generated =
                reports::rollout::generate(&sources).context("generating the deploy tree")?;
            let out = out.unwrap_or_else(|| repo.join("deploy"));
            if check {
                let stale = reports::rollout::drift(&generated, &out);
                for path in &stale {
                    println!("out of date: {}", out.join(path).display());
                }
                if !stale.is_empty() {
                    println!("regenerate with `make rollout`");
                    return Ok(ExitCode::from(1));
                }
                println!("{} is up to date", out.display());
            } else {
                let written =
                    reports::rollout::write(&generated, &out).context("writing the deploy tree")?;
                println!("wrote {} files under {}", written.len(), out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ControlValue { session, metric } => {
            let value = reports::ab::calibration::control_value(&session, &metric)
                .context("reading the session")?
                .with_context(|| format!("{metric} has no control value"))?;
            println!("{value}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Calibrate {
            sessions,
            notes,
            out,
        } => {
            let results = reports::ab::calibration::write(&sessions, &notes, &out)
                .context("writing the calibration document")?;
            println!("wrote {} ({} sessions)", out.display(), results.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge {
            out,
            workers,
            compare,
        } => {
            let report = reports::merge::merge(&out, &workers).context("merging the workers")?;
            println!("{}", report.summary());
            if let Some(single) = compare {
                let single = reports::rundir::read_run_json(&single.join("run.json"))
                    .context("reading the single-process run")?;
                print!("{}", reports::merge::compare(&report.run, &single));
            }
            let sound = report.run.complete == Some(true)
                && report
                    .run
                    .merge
                    .as_ref()
                    .is_some_and(|m| m.invalid.is_empty());
            Ok(if sound {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Render { run_dir, baselines } => {
            let run = RunDir::load(&run_dir).context("loading the run")?;
            let out = reports::render::render_against(&run, &baselines)
                .context("rendering the report")?;
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
            suggest,
        } => {
            let opts = PromoteOptions {
                run_dir,
                profile,
                note,
                force,
                out_dir,
                gates,
                suggest,
            };
            let done = promote(&opts).context("promoting the run")?;
            if !done.overridden.is_empty() {
                eprintln!("perf-report: forced over: {}", done.overridden.join("; "));
            }
            match &done.replaced {
                Some(comparison) => {
                    println!("{} replaces the previous baseline:", done.json.display());
                    for line in reports::promote::compare::lines(comparison) {
                        println!("  {line}");
                    }
                }
                None => println!(
                    "{} is the first baseline of this profile here",
                    done.json.display()
                ),
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
            accept_inconclusive,
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
                .filter(|e| e.verdict > reports::rules::Verdict::Pass)
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
            let accept = Accept {
                hotfix: hotfix_ok,
                inconclusive: accept_inconclusive,
            };
            let code = u8::try_from(report.exit_code(accept)).expect("exit codes are 0..=4");
            Ok(ExitCode::from(code))
        }
    }
}
