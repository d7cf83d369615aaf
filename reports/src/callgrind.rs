//! Reading callgrind dumps: instructions per function, so an instruction regression comes
//! with the functions that got more expensive.
//!
//! Why: the gate enforces instructions per request (counted under callgrind by the
//! harness's instruction pass, which leaves its dump in `RUN/instructions/`). A verdict
//! of "+4% instructions" is only actionable with where they went; the dumps of the same
//! session already say it, function by function, without sampling error.
//!
//! The format (valgrind's "Callgrind Format Specification"): `fn=(id) name` opens a
//! function (later `fn=(id)` refers back to it), cost lines are a position followed by
//! the event counts (only `Ir` here), and a `calls=` line means the cost line after it is
//! the inclusive cost of a call, which belongs to the callee, not to the caller's self
//! cost.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Self (exclusive) instructions per function name.
pub type SelfCost = BTreeMap<String, u64>;

/// Parses a dump into self instructions per function.
pub fn self_costs(text: &str) -> SelfCost {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut costs = SelfCost::new();
    let mut current: Option<String> = None;
    let mut after_calls = false;
    for line in text.lines() {
        if let Some(spec) = line.strip_prefix("fn=") {
            current = Some(resolve(spec, &mut names));
            after_calls = false;
        } else if let Some(spec) = line.strip_prefix("cfn=") {
            // Defines a name too (a callee may be named first here).
            resolve(spec, &mut names);
        } else if line.starts_with("calls=") {
            after_calls = true;
        } else if line
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '*'))
        {
            if after_calls {
                after_calls = false;
                continue;
            }
            let (Some(f), Some(ir)) = (
                current.as_ref(),
                line.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok()),
            ) else {
                continue;
            };
            *costs.entry(f.clone()).or_insert(0) += ir;
        }
    }
    costs
}

/// `(id) name` defines and returns `name`; `(id)` looks it up; a bare name is itself.
fn resolve(spec: &str, names: &mut HashMap<String, String>) -> String {
    let spec = spec.trim();
    match spec.strip_prefix('(').and_then(|s| s.split_once(')')) {
        Some((id, rest)) => {
            let rest = rest.trim();
            if rest.is_empty() {
                names.get(id).cloned().unwrap_or_else(|| format!("({id})"))
            } else {
                names.insert(id.to_owned(), rest.to_owned());
                rest.to_owned()
            }
        }
        None => spec.to_owned(),
    }
}

/// The counted dumps of a run's instruction pass (`instructions/callgrind.out.PID.N`, the
/// numbered dumps, each taken after the counters were zeroed: one per request class since
/// the pass counts per class, one before), in dump order.
pub fn counted_dumps(run_dir: &Path) -> Vec<PathBuf> {
    let dir = run_dir.join("instructions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut dumps: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("callgrind.out."))
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(_, n)| n.parse::<u64>().ok())?;
            Some((n, p))
        })
        .collect();
    dumps.sort();
    dumps.into_iter().map(|(_, p)| p).collect()
}

/// Self instructions per function over all counted dumps of a run's instruction pass
/// (every class's requests, as `instructions.requests` counts them), if it has any.
pub fn counted_costs(run_dir: &Path) -> Option<SelfCost> {
    let dumps = counted_dumps(run_dir);
    if dumps.is_empty() {
        return None;
    }
    let mut total = SelfCost::new();
    for dump in dumps {
        let text = std::fs::read_to_string(dump).ok()?;
        for (name, ir) in self_costs(&text) {
            *total.entry(name).or_insert(0) += ir;
        }
    }
    Some(total)
}

/// A function whose instructions per request changed between two arms.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionChange {
    /// Function name.
    pub name: String,
    /// Control: median over trials of self instructions per request.
    pub control: f64,
    /// Candidate: the same.
    pub candidate: f64,
}

impl FunctionChange {
    /// Candidate minus control, instructions per request.
    pub fn delta(&self) -> f64 {
        self.candidate - self.control
    }
}

/// The `top` functions by the size of their change in self instructions per request,
/// from per-trial costs and request counts of each arm (medians over the trials).
pub fn top_changes(
    control: &[(SelfCost, u64)],
    candidate: &[(SelfCost, u64)],
    top: usize,
) -> Vec<FunctionChange> {
    let names: std::collections::BTreeSet<&String> = control
        .iter()
        .chain(candidate)
        .flat_map(|(c, _)| c.keys())
        .collect();
    let median_per_request = |arm: &[(SelfCost, u64)], name: &str| -> f64 {
        let mut v: Vec<f64> = arm
            .iter()
            .map(|(c, n)| c.get(name).copied().unwrap_or(0) as f64 / (*n).max(1) as f64)
            .collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    };
    let mut changes: Vec<FunctionChange> = names
        .into_iter()
        .map(|name| FunctionChange {
            name: name.clone(),
            control: median_per_request(control, name),
            candidate: median_per_request(candidate, name),
        })
        .filter(|c| c.delta() != 0.0)
        .collect();
    changes.sort_by(|a, b| b.delta().abs().total_cmp(&a.delta().abs()));
    changes.truncate(top);
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "\
version: 1
creator: callgrind-3.19.0
events: Ir
fl=(1) src/main.rs
fn=(1) main
0 10
cfl=(1)
cfn=(2) work
calls=3 0
0 600
0 5
fn=(2)
0 600
fn=(3) idle
+1 7
* 1
totals: 623
";

    #[test]
    fn self_cost_excludes_calls_and_follows_compressed_names() {
        let costs = self_costs(DUMP);
        assert_eq!(costs.get("main"), Some(&15));
        assert_eq!(costs.get("work"), Some(&600));
        assert_eq!(costs.get("idle"), Some(&8));
        assert_eq!(
            costs.values().sum::<u64>(),
            623,
            "self costs add up to the total"
        );
    }

    #[test]
    fn counted_costs_add_every_numbered_dump_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("instructions");
        std::fs::create_dir(&pass).unwrap();
        for (name, text) in [
            ("callgrind.out.7.2", DUMP),
            ("callgrind.out.7.10", DUMP),
            ("callgrind.out.7.1", DUMP),
            ("callgrind.out.7", "fn=(1) exit\n0 999\n"),
        ] {
            std::fs::write(pass.join(name), text).unwrap();
        }
        let names: Vec<String> = counted_dumps(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "callgrind.out.7.1",
                "callgrind.out.7.2",
                "callgrind.out.7.10"
            ]
        );
        let costs = counted_costs(dir.path()).expect("costs");
        assert_eq!(costs.get("work"), Some(&1800));
        assert_eq!(
            costs.get("exit"),
            None,
            "the unnumbered final dump is not counted"
        );
        assert_eq!(counted_costs(&dir.path().join("none")), None);
    }

    #[test]
    fn changes_are_per_request_medians_largest_first() {
        let arm = |work: u64, idle: u64| -> SelfCost {
            [("work".to_owned(), work), ("idle".to_owned(), idle)]
                .into_iter()
                .collect()
        };
        let control = vec![
            (arm(1000, 100), 10),
            (arm(1010, 100), 10),
            (arm(990, 100), 10),
        ];
        let candidate = vec![
            (arm(1500, 100), 10),
            (arm(1490, 120), 10),
            (arm(9000, 100), 10),
        ];
        let top = top_changes(&control, &candidate, 5);
        assert_eq!(top[0].name, "work");
        assert_eq!(top[0].control, 100.0);
        assert_eq!(top[0].candidate, 150.0, "the median ignores the wild trial");
        assert!(
            top.iter().all(|c| c.name != "idle"),
            "no change, not listed"
        );
    }
}
