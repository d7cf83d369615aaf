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
