//! The arguments of `loadgen parity`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::corpus::Class;

/// Arguments of `loadgen parity`.
#[derive(Debug, Clone, clap::Args)]
pub struct ParityArgs {
    /// The reference proxy (loopback). Without --reference/--candidate the tool starts
    /// e2guardian and filter-proxy itself.
    #[arg(long, requires = "candidate")]
    pub reference: Option<SocketAddr>,
    /// The candidate proxy (loopback).
    #[arg(long, requires = "reference")]
    pub candidate: Option<SocketAddr>,
    /// A corpus file (`corpus.tsv` format) or a plain list of URLs, replayed after the
    /// generated entries.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Generate this many entries from the category database.
    #[arg(long, default_value_t = 0)]
    pub generate: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory: corpus.tsv, results.tsv, parity.json, parity.md.
    #[arg(long)]
    pub out: PathBuf,
    /// Category database the corpus and the reference's lists come from.
    #[arg(long, default_value = "scenarios/demo/categories.txt")]
    pub categories: PathBuf,
    /// Policy file of the group.
    #[arg(long, default_value = "scenarios/demo/policy.toml")]
    pub policy: PathBuf,
    /// The group replayed as (the reference is configured for it).
    #[arg(long, default_value = "students")]
    pub group: String,
    /// `user:password` sent as Basic proxy credentials to both sides (a user of the group).
    #[arg(long, default_value = "student0001:pw-student0001")]
    pub user: String,
    /// Cause classes whose mismatches are known differences (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub known: Vec<Class>,
    /// Most unexplained mismatches before the command fails.
    #[arg(long, default_value_t = 0)]
    pub max_unexplained: usize,
    /// Requests in flight per side.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Deadline of one request (`10s`).
    #[arg(long, default_value = "10s", value_parser = crate::units::parse_duration)]
    pub request_timeout: Duration,
    /// Deadline of one pass through one side (`10m`).
    #[arg(long, default_value = "10m", value_parser = crate::units::parse_duration)]
    pub pass_timeout: Duration,
    /// The `filter-proxy` binary (rig); default: beside this binary.
    #[arg(long)]
    pub proxy_bin: Option<PathBuf>,
    /// The candidate's base config (rig).
    #[arg(long, default_value = "scenarios/demo/proxy.toml")]
    pub proxy_config: PathBuf,
    /// The e2guardian program (rig).
    #[arg(long, default_value = "e2guardian")]
    pub e2guardian_bin: PathBuf,
    /// e2guardian's packaged configuration, copied as the template (rig).
    #[arg(long, default_value = "/etc/e2guardian")]
    pub e2guardian_template: PathBuf,
}
