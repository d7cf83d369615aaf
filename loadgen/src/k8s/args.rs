//! The arguments of `loadgen k8s render`.

use std::path::PathBuf;

/// Arguments of `loadgen k8s render`.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Load profile (TOML); it and the files it names go into a ConfigMap.
    #[arg(long)]
    pub profile: PathBuf,
    /// Worker pods (the Indexed Job's completions and parallelism).
    #[arg(long)]
    pub workers: u32,
    /// The proxy under test as the workers reach it: `HOST:PORT`, e.g. a Service name.
    #[arg(long)]
    pub proxy: String,
    /// Total open-loop rate, requests per second (split over the workers); default: the
    /// profile's target rate.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Total connections (split over the workers; default: the profile's users).
    #[arg(long)]
    pub users: Option<u64>,
    /// Length of the run (`60s`, `10m`; default: the profile's).
    #[arg(long)]
    pub duration: Option<String>,
    /// A measured distributed run (a `loadgen fleet` directory or worker run
    /// directories) whose recorded CPU and memory per request size the pods.
    #[arg(long)]
    pub cost_from: PathBuf,
    /// The loadgen image (`loadgen/Containerfile`), as your cluster pulls it.
    #[arg(long, default_value = "localhost/loadgen:latest")]
    pub image: String,
    /// Name of the run: the Jobs' names and the results directory.
    #[arg(long, default_value = "district")]
    pub name: String,
    /// Storage class of the results volume (default: the cluster's default). It must
    /// offer ReadWriteMany when the workers land on several nodes.
    #[arg(long)]
    pub storage_class: Option<String>,
    /// Directory to write (new or empty).
    #[arg(long)]
    pub out: PathBuf,
}
