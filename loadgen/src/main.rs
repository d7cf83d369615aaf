//! `loadgen`: the traffic side's command line.

use clap::{Parser, Subcommand};
use loadgen::judged::{chain, Judged};

/// Exit code when the run met its bar.
const EXIT_HELD: i32 = 0;
/// Exit code when it did not (an expectation failed, no knee, unexplained mismatches).
const EXIT_FAILED: i32 = 1;
/// Exit code for bad input, a run that could not be made, or an interrupt.
const EXIT_BAD_INPUT: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Test origin, load generation and the run harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve the test origin (any host; HTTP and HTTPS) until Ctrl-C.
    Origin(loadgen::cli::OriginArgs),
    /// Run a load profile against the proxy (or the origin) and write a run directory.
    Attack(loadgen::cli::AttackArgs),
    /// Start the origin, redis and the proxy, attack, sample, profile, and write a run directory.
    Run(loadgen::harness::RunArgs),
    /// Inject a timeline of faults under load and judge each against its expectation.
    Faults(loadgen::faults::FaultArgs),
    /// Step offered load (open loop) until an SLO breaks; report the knee.
    Capacity(loadgen::capacity::CapacityArgs),
    /// Run N open-loop workers (--segment I/N, one shared --start-at) and one process at
    /// the same total rate against one proxy, for `perf-report merge --compare`.
    Fleet(loadgen::fleet::FleetArgs),
    /// One canary session: control and canary proxies side by side under one load split by
    /// user, scraped by Prometheus, judged by `perf-report canary` (its exit code: 0 pass,
    /// 1 rollback, 3 hotfix, 2 not judged).
    Canary(loadgen::canary::CanaryArgs),
    /// The connection storm against a proxy already running (Squid, or filter-proxy): RSS
    /// and fds per idle connection from /proc/PID, over the connections the client holds.
    Storm(loadgen::connections::storm::StormArgs),
    /// Kubernetes: render the manifests of a distributed run (Indexed Job of segmented
    /// workers, shared results volume, merge Job).
    #[command(subcommand)]
    K8s(K8sCmd),
    /// Replay a URL corpus through a reference and a candidate filter, twice each, and
    /// report the decisions that differ by cause (exit 1: unexplained mismatches).
    Parity(loadgen::parity::ParityArgs),
}

#[derive(Debug, Subcommand)]
enum K8sCmd {
    /// Write plain manifests (JSON) and a README with the kubectl commands into --out.
    Render(loadgen::k8s::RenderArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Cmd::Origin(args) => loadgen::cli::run_origin(&args).await?,
        Cmd::Attack(args) => {
            let job_index = std::env::var(loadgen::segment::INDEX_VAR).ok();
            let worker = args.worker(job_index.as_deref())?;
            let report = loadgen::attack::attack_as(&args.options(), &worker).await?;
            let totals = &report.run_json["totals"];
            eprintln!(
                "run directory {}: {} requests, {} failures, {:.0} req/s",
                report.dir.display(),
                totals["requests"],
                totals["failures"],
                totals["rps"].as_f64().unwrap_or(0.0)
            );
        }
        Cmd::Faults(args) => {
            let r = loadgen::faults::run(&args).await;
            std::process::exit(judged("loadgen faults", r, Report::Stdout))
        }
        Cmd::Capacity(args) => {
            let r = loadgen::capacity::run(&args).await;
            std::process::exit(judged("loadgen capacity", r, Report::Stdout))
        }
        Cmd::Fleet(args) => {
            let outcome = loadgen::fleet::run(&args).await?;
            print!("{}", outcome.report());
            if !outcome.failed.is_empty() {
                std::process::exit(EXIT_FAILED);
            }
        }
        Cmd::Canary(args) => {
            let session = loadgen::canary::run(&args).await?;
            println!(
                "canary session {}: exit {} (report {})",
                session.dir.display(),
                session.verdict_code,
                session.report.display()
            );
            std::process::exit(session.verdict_code);
        }
        Cmd::Storm(args) => match loadgen::connections::storm::run(&args).await {
            Ok(report) => {
                let dir = &args.out;
                println!(
                    "{}",
                    loadgen::connections::storm_report::summary(&report, dir)
                );
            }
            Err(e) => {
                eprintln!("loadgen storm: {}", loadgen::judged::chain(&e));
                std::process::exit(EXIT_BAD_INPUT);
            }
        },
        Cmd::K8s(K8sCmd::Render(args)) => match loadgen::k8s::render(&args) {
            Ok(rendered) => {
                for file in &rendered.files {
                    println!("{}", file.display());
                }
                println!(
                    "apply them with the commands in {}",
                    args.out.join("README.md").display()
                );
            }
            Err(e) => {
                eprintln!("loadgen k8s render: {e}");
                std::process::exit(EXIT_BAD_INPUT);
            }
        },
        Cmd::Parity(args) => {
            let r = loadgen::parity::run(&args).await;
            std::process::exit(judged("parity", r, Report::StderrLine))
        }
        Cmd::Run(args) => {
            // A profile with an `[appliance]` table measures the appliance hop instead.
            // A profile with a `[connections]` table runs the connection storm.
            let outcome = if loadgen::appliance::wants(&args.profile) {
                loadgen::appliance::run(args).await?
            } else if loadgen::connections::wants(&args.profile) {
                loadgen::connections::run(args).await?
            } else {
                loadgen::harness::run(args).await?
            };
            if !outcome.complete {
                anyhow::bail!("run incomplete: {}", outcome.run_dir.display());
            }
        }
    }
    Ok(())
}

/// Where a judged command's report goes.
enum Report {
    /// The report, then the run directory, on stdout.
    Stdout,
    /// One summary line on stderr (the report is a file in the run directory).
    StderrLine,
}

/// The edge of a judged command: prints its report or its error (every cause once) and
/// maps it to the exit code.
fn judged<T: Judged, E: std::error::Error + 'static>(
    command: &str,
    result: Result<T, E>,
    report: Report,
) -> i32 {
    match result {
        Ok(outcome) => {
            match report {
                Report::Stdout => {
                    println!("{}", outcome.report());
                    println!("run directory {}", outcome.run_dir().display());
                }
                Report::StderrLine => eprintln!("{}", outcome.report()),
            }
            if outcome.held() {
                EXIT_HELD
            } else {
                EXIT_FAILED
            }
        }
        Err(e) => {
            eprintln!("{command}: {}", chain(&e));
            EXIT_BAD_INPUT
        }
    }
}
