//! `loadgen`: the traffic side's command line.

use clap::{Parser, Subcommand};

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
    /// Replay a URL corpus through a reference and a candidate filter, twice each, and
    /// report the decisions that differ by cause (exit 1: unexplained mismatches).
    Parity(loadgen::parity::ParityArgs),
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
            let report = loadgen::attack::attack(&args.options()).await?;
            let totals = &report.run_json["totals"];
            eprintln!(
                "run directory {}: {} requests, {} failures, {:.0} req/s",
                report.dir.display(),
                totals["requests"],
                totals["failures"],
                totals["rps"].as_f64().unwrap_or(0.0)
            );
        }
        Cmd::Faults(args) => std::process::exit(loadgen::faults::run(args).await),
        Cmd::Capacity(args) => std::process::exit(loadgen::capacity::run(args).await),
        Cmd::Parity(args) => std::process::exit(loadgen::parity::run(args).await),
        Cmd::Run(args) => {
            // A profile with an `[appliance]` table measures the appliance hop instead.
            let outcome = if loadgen::appliance::wants(&args.profile) {
                loadgen::appliance::run(args).await?
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
