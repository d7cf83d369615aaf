//! The arguments of `loadgen run`.

use std::path::PathBuf;

/// Arguments of `loadgen run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Load profile (TOML), e.g. `profiles/peak.toml`.
    #[arg(long)]
    pub profile: PathBuf,
    /// Run directory to write; default `runs/<profile>-<UTC time>` in the checkout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the profile's duration: seconds, or with units (`90s`, `30m`, `1h`);
    /// the warm-up shrinks to fit.
    #[arg(long, value_parser = whole_seconds)]
    pub duration: Option<u64>,
    /// Override the profile's number of users.
    #[arg(long)]
    pub users: Option<u64>,
    /// The `filter-proxy` binary; default: beside this binary (same cargo profile).
    #[arg(long)]
    pub proxy_bin: Option<PathBuf>,
    /// The `loadgen` binary that runs the attack; default: this binary.
    #[arg(long)]
    pub loadgen_bin: Option<PathBuf>,
    /// The proxy config the run's config is generated from; default
    /// `scenarios/demo/proxy.toml` in the checkout.
    #[arg(long)]
    pub proxy_config: Option<PathBuf>,
    /// `redis-server` binary, used when the profile's policy store is Redis.
    #[arg(long, default_value = "redis-server")]
    pub redis_bin: PathBuf,
    /// Use the Redis policy store even if the profile does not ask for it.
    #[arg(long)]
    pub redis: bool,
    /// Seconds of each of two light passes before the main attack (same mix, a few
    /// users, straight to the origin and through the proxy), whose difference is the
    /// latency the proxy adds; 0 skips them. Default: the profile's `harness.direct_pass`.
    #[arg(long)]
    pub direct_pass: Option<u64>,
    /// Requests of the instruction pass after the load (the proxy's instructions per
    /// request, counted under callgrind); 0 skips it. Default: the profile's
    /// `harness.instructions`.
    #[arg(long)]
    pub instructions: Option<u64>,
    /// Do not pin processes to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// Do not take a CPU profile in the steady window.
    #[arg(long)]
    pub no_cpu_profile: bool,
    /// Keep the CPU profile's `perf.data` in the run directory (deleted once collapsed
    /// otherwise: it holds about 16 KiB per sample).
    #[arg(long)]
    pub keep_perf_data: bool,
    /// Seconds to wait for the proxy's `/readyz`.
    #[arg(long, default_value_t = 30)]
    pub ready_timeout: u64,
    /// No progress line (the summary is still printed).
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `--duration`: whole seconds, written as a number or with units (so `make soak
/// DURATION=30m` passes through as written).
fn whole_seconds(text: &str) -> Result<u64, String> {
    let d = crate::units::parse_duration(text)?;
    if d.subsec_nanos() != 0 || d.is_zero() {
        return Err(format!(
            "{text}: must be a positive whole number of seconds"
        ));
    }
    Ok(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_takes_seconds_or_units() {
        assert_eq!(whole_seconds("1800"), Ok(1800));
        assert_eq!(whole_seconds("30m"), Ok(1800));
        assert_eq!(whole_seconds("1m30s"), Ok(90));
        assert!(whole_seconds("1500ms").is_err());
        assert!(whole_seconds("0").is_err());
        assert!(whole_seconds("soon").is_err());
    }
}
