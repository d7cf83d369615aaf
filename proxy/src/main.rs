//! `filter-proxy`: runs the proxy (`--config FILE`) or checks a config (`check-config FILE`).
//! All behaviour lives in the `filter_proxy` library; this binary binds the configured
//! addresses, sets up logging and wires signals: SIGTERM/SIGINT drain and stop, SIGHUP
//! reloads the category database and policy.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use filter_proxy::config::{Config, LogFormat};
use filter_proxy::store::StoreSettings;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Parser)]
#[command(name = "filter-proxy", version, about = "Web-filtering forward proxy")]
struct Cli {
    /// The proxy config file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file (and the data files it names): every problem with key and
    /// line, exit 2; a one-line summary and exit 0 when fine.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Write the config's users and group policies into the Redis store it names
    /// (`[store.redis]`), in the store's key layout.
    SeedRedis {
        /// The proxy config file (its `[store]` must use the redis backend).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Also map every user to a loopback client address (127.16.0.1, ...), so a load
        /// generator binding those addresses is identified by client IP.
        #[arg(long)]
        loopback_ips: bool,
    },
    /// Run the on-premise appliance (interception, RADIUS identity, signed forwarding to
    /// the cloud proxy) instead of the proxy.
    Appliance {
        /// The appliance config file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::Appliance { config }) => match run_appliance(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("filter-proxy appliance: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some(Command::SeedRedis {
            config,
            loopback_ips,
        }) => match seed_redis(&config, loopback_ips) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("filter-proxy seed-redis: {e:#}");
                ExitCode::FAILURE
            }
        },
        None => {
            let Some(path) = cli.config else {
                eprintln!("filter-proxy: --config FILE is required (or use `check-config FILE`)");
                return ExitCode::from(2);
            };
            match run(&path) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("filter-proxy: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            println!("{}: ok: {}", file.display(), config.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            for problem in &e.problems {
                println!("{}: {problem}", e.origin);
            }
            ExitCode::from(2)
        }
    }
}

fn seed_redis(path: &std::path::Path, loopback_ips: bool) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let StoreSettings::Redis(redis) = &config.store else {
        anyhow::bail!("{}: store.backend is not \"redis\"", path.display());
    };
    let users = config
        .identity
        .users_file
        .as_ref()
        .map(|f| config.base_dir.join(f))
        .context("identity.users_file is required to seed users")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime
        .block_on(filter_proxy::store::seed::seed_files(
            &redis.url,
            &redis.key_prefix,
            &users,
            &config.filter.policy,
            loopback_ips,
        ))
        .context("seeding redis")?;
    println!(
        "seeded {}: {} ip, {} user, {} group keys",
        redis.url, report.ips, report.users, report.groups
    );
    Ok(())
}

fn run_appliance(path: &std::path::Path) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let shutdown = termination()?;
        appliance::run_from_file(path, shutdown)
            .await
            .context("running the appliance")
    })
}

/// Completes on SIGTERM or SIGINT (handlers installed now, inside the runtime).
fn termination() -> anyhow::Result<impl std::future::Future<Output = ()> + Send> {
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The proxy's runtime: one event loop on the calling thread when the process may use
/// only one CPU (e.g. pinned with `taskset`), a work-stealing pool otherwise. With a
/// single CPU the multi-thread scheduler cannot run anything in parallel and only adds
/// cross-thread bookkeeping (atomics, a shared run queue, a separate driver hand-off) to
/// every task wake-up, of which a proxied request has several.
fn proxy_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    init_logging(&config);
    let runtime = proxy_runtime().context("starting the runtime")?;
    runtime.block_on(async move {
        let proxy = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding server.listen {}", config.server.listen))?;
        let admin = tokio::net::TcpListener::bind(config.server.admin_listen)
            .await
            .with_context(|| {
                format!("binding server.admin_listen {}", config.server.admin_listen)
            })?;
        let shutdown = termination()?;
        let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
        let reload = config.reload_trigger.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading policy");
                reload.notify_one();
            }
        });
        filter_proxy::server::serve(config, proxy, admin, shutdown)
            .await
            .context("serving")
    })
}
