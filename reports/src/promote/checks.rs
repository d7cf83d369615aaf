//! Whether a run may replace the committed baseline: the run's own fitness (complete, no
//! failures, measured through the proxy by an unsaturated load generator, on a quiet
//! machine) and whether it was measured on the committed document's kind of machine.

use crate::machine;
use crate::rundir::RunDir;
use rundir::run::Provenance;

/// A run with more than this share of its steady window's seconds contended is refused.
///
/// A second is contended when some task waited at least half of it for a CPU, or the
/// hypervisor stole 100 ms ([`machine::Second::contended`], the run report's machine
/// section). The gate compares medians of per-second samples and the baseline's p99 is
/// set by its slowest seconds: one contended second in ten barely moves a median, more
/// than that and the figures measure the machine's neighbours as much as the proxy, and
/// every later release would be held to a bar set by them.
pub const MAX_CONTENDED_SHARE: f64 = 0.10;

/// Contended seconds over the run's steady window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contention {
    /// Seconds counted as contended.
    pub contended: usize,
    /// Seconds of the steady window with machine samples.
    pub seconds: usize,
}

impl Contention {
    /// The share of seconds contended.
    pub fn share(&self) -> f64 {
        self.contended as f64 / self.seconds.max(1) as f64
    }

    /// Whether the share is beyond [`MAX_CONTENDED_SHARE`].
    pub fn too_much(&self) -> bool {
        self.share() > MAX_CONTENDED_SHARE
    }
}

/// The run's contention; `None` when it recorded no machine columns (then nothing is
/// known, and nothing is refused for it).
pub fn contention(run: &RunDir) -> Option<Contention> {
    let m = machine::summarise(run.timeseries.as_ref()?, run.run.steady_window)?;
    Some(Contention {
        contended: m.contended_seconds,
        seconds: m.seconds,
    })
}

/// Why a run is unfit to be a baseline on its own (empty: fit); the machine's identity is
/// [`machine_differences`].
pub fn unfit_reasons(run: &RunDir) -> Vec<String> {
    let r = &run.run;
    let mut reasons = Vec::new();
    match r.complete {
        Some(true) => {}
        Some(false) => reasons.push("the run is incomplete (interrupted)".to_owned()),
        None => reasons.push("the run does not say it completed".to_owned()),
    }
    let failures: u64 = r
        .classes
        .values()
        .map(|c| c.failures)
        .sum::<u64>()
        .max(r.totals.as_ref().map_or(0, |t| t.failures));
    if failures > 0 {
        reasons.push(format!("the run had {failures} failed requests"));
    }
    if let Some(m) = &r.merge {
        reasons.extend(
            m.invalid
                .iter()
                .map(|why| format!("the merged run is invalid: {why}")),
        );
    }
    if r.route.as_deref() == Some("direct") {
        reasons.push(
            "the run went straight to the origin (route: direct), not through the proxy".to_owned(),
        );
    }
    if r.load_generator_saturated == Some(true) {
        reasons.push(
            "the load generator was saturated (the numbers measure it, not the proxy)".to_owned(),
        );
    }
    if let Some(c) = contention(run).filter(Contention::too_much) {
        reasons.push(format!(
            "the machine was contended in {} of {} steady seconds ({:.0}%, more than {:.0}%)",
            c.contended,
            c.seconds,
            c.share() * 100.0,
            MAX_CONTENDED_SHARE * 100.0
        ));
    }
    reasons
}

/// How the run's machine differs from the committed document's (empty: the same kind).
///
/// Compared: the CPU model and the logical core count, which set what a request costs and
/// how many run at once, and the kernel series (`major.minor`), whose scheduler and network
/// stack are in every figure. Not compared: the rest of the kernel release (patch level and
/// local build string, e.g. `-fc-v595`), which changes with routine updates and rebuilds of
/// the same machine image between boots without changing the figures; it stays in the
/// fingerprint the documents show. A part not recorded on either side cannot be shown to
/// match, so it differs.
pub fn machine_differences(committed: &Provenance, run: &Provenance) -> Vec<String> {
    let mut out = Vec::new();
    let shown = |v: Option<String>| v.unwrap_or_else(|| "not recorded".to_owned());
    let cpu = |p: &Provenance| {
        p.cpu_model
            .as_deref()
            .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    let (a, b) = (cpu(committed), cpu(run));
    if a.is_none() || a != b {
        out.push(format!("CPU {} vs {}", shown(a), shown(b)));
    }
    if committed.cores.is_none() || committed.cores != run.cores {
        out.push(format!(
            "cores {} vs {}",
            shown(committed.cores.map(|c| c.to_string())),
            shown(run.cores.map(|c| c.to_string()))
        ));
    }
    let series = |p: &Provenance| p.kernel.as_deref().and_then(kernel_series);
    let (a, b) = (series(committed), series(run));
    if a.is_none() || a != b {
        out.push(format!(
            "kernel {} vs {}",
            shown(committed.kernel.clone()),
            shown(run.kernel.clone())
        ));
    }
    out
}

/// `major.minor` of a kernel release (`6.18.44-fc-v595` → `6.18`).
fn kernel_series(release: &str) -> Option<String> {
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next().filter(|p| p.parse::<u32>().is_ok())?;
    let minor = parts.next().filter(|p| p.parse::<u32>().is_ok())?;
    Some(format!("{major}.{minor}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(cpu: &str, cores: u32, kernel: &str) -> Provenance {
        Provenance {
            cpu_model: Some(cpu.to_owned()),
            cores: Some(cores),
            kernel: Some(kernel.to_owned()),
            ..Provenance::default()
        }
    }

    #[test]
    fn the_kernel_build_string_does_not_make_another_machine() {
        let a = machine("AMD EPYC", 2, "6.18.44-fc-v595");
        assert!(machine_differences(&a, &machine("AMD  EPYC ", 2, "6.18.51-fc-v612")).is_empty());
        assert_eq!(
            machine_differences(&a, &machine("AMD EPYC", 2, "6.19.1")),
            vec!["kernel 6.18.44-fc-v595 vs 6.19.1"]
        );
        assert_eq!(
            machine_differences(&a, &machine("Intel Xeon", 8, "6.18.44-fc-v595")),
            vec!["CPU AMD EPYC vs Intel Xeon", "cores 2 vs 8"]
        );
    }

    #[test]
    fn an_unrecorded_machine_is_not_the_same_machine() {
        let a = machine("AMD EPYC", 2, "6.18.44");
        assert_eq!(machine_differences(&a, &Provenance::default()).len(), 3);
        assert_eq!(
            machine_differences(&Provenance::default(), &Provenance::default()).len(),
            3
        );
        assert_eq!(kernel_series("6"), None);
        assert_eq!(kernel_series("6.1-rc2").as_deref(), Some("6.1"));
    }

    #[test]
    fn the_contention_threshold_is_a_share_of_the_window() {
        let c = |contended| Contention {
            contended,
            seconds: 50,
        };
        assert!(!c(5).too_much(), "exactly a tenth is allowed");
        assert!(c(6).too_much());
    }
}
