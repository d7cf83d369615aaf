//! `browser-check`: runs every browser check through the proxy (`make browser`), writes
//! the result directory and exits 1 when a check fails.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// A real browser through the proxy: blocks, CORS and tunnels as a page's script sees them.
#[derive(Debug, Parser)]
struct Args {
    /// Result directory (screenshots, browser.json, the proxy's config and log).
    #[arg(long)]
    out: PathBuf,
    /// The filter-proxy binary (default: the one beside this executable).
    #[arg(long)]
    proxy_bin: Option<PathBuf>,
    /// After the checks, run the `browser` load class: page-load timing through the proxy
    /// and direct (browser-load.json and browser-load.md in the result directory).
    #[arg(long)]
    load: bool,
    /// Load class: browsers per path, loading at the same time.
    #[arg(long, default_value_t = 2)]
    browsers: u32,
    /// Load class: loads per browser.
    #[arg(long, default_value_t = 20)]
    repetitions: u32,
    /// Load class: longest it may run, in seconds (no new round starts after it).
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let proxy_bin = match loadgen::rig::paths::proxy_bin(args.proxy_bin.as_deref()) {
        Ok(bin) => bin,
        Err(e) => {
            eprintln!("browser-check: {e}");
            return ExitCode::from(2);
        }
    };
    let setup = browser::Setup {
        proxy_bin,
        repo: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        out: args.out,
    };
    let Some(results) = loadgen::rig::signal::until_shutdown(browser::run_checks(&setup)).await
    else {
        eprintln!("browser-check: stopped by a signal; the browsers, origin and proxy with it");
        return ExitCode::from(130);
    };
    match results {
        Ok(results) => {
            print!("{}", browser::report::table(&results));
            if let Err(e) = browser::report::write_json(&setup.out, &results) {
                eprintln!("browser-check: {e}");
                return ExitCode::from(2);
            }
            let failed = results.iter().filter(|r| !r.passed()).count();
            if args.load {
                let spec = browser::load::LoadSpec {
                    browsers: args.browsers,
                    repetitions: args.repetitions,
                    max: std::time::Duration::from_secs(args.max_seconds),
                };
                let load =
                    loadgen::rig::signal::until_shutdown(browser::load::run_load(&setup, &spec))
                        .await;
                match load {
                    None => {
                        eprintln!("browser-check: stopped by a signal during the load class");
                        return ExitCode::from(130);
                    }
                    Some(Err(e)) => {
                        eprintln!("browser-check: load class: {e}");
                        return ExitCode::from(2);
                    }
                    Some(Ok(load)) => {
                        if let Err(e) = browser::load::write(&setup.out, &load) {
                            eprintln!("browser-check: {e}");
                            return ExitCode::from(2);
                        }
                        print!("\n{}", load.markdown());
                    }
                }
            }
            println!(
                "{} of {} checks passed; results in {}",
                results.len() - failed,
                results.len(),
                setup.out.display()
            );
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("browser-check: {e}");
            ExitCode::from(2)
        }
    }
}
