//! What a new baseline changes against the one it replaces: the machine, the commit and
//! the headline figures, each with the ratio new / old, in human units.

use rundir::baseline::Baseline;

/// The new baseline against the one it replaces.
pub use rundir::baseline::Replaced as Comparison;
/// One row of the comparison (recorded in the new document as well).
pub use rundir::baseline::ReplacedRow as Row;

#[derive(Clone, Copy)]
enum Unit {
    Rate,
    Micros,
    Bytes,
    Count,
}

/// The headline figures, in the order printed.
fn headline(b: &Baseline) -> Vec<(String, String, Unit)> {
    let mut out = vec![(
        "throughput_rps".to_owned(),
        "throughput".to_owned(),
        Unit::Rate,
    )];
    let classes = b.metrics.keys().filter_map(|k| k.strip_prefix("p99_us."));
    out.extend(classes.map(|c| (format!("p99_us.{c}"), format!("p99 {c}"), Unit::Micros)));
    out.extend([
        (
            "proxy_added_p99_us".to_owned(),
            "p99 the proxy adds".to_owned(),
            Unit::Micros,
        ),
        (
            "proxy_cpu_us_per_request".to_owned(),
            "CPU per request".to_owned(),
            Unit::Micros,
        ),
        (
            "proxy_instructions_per_request".to_owned(),
            "instructions per request".to_owned(),
            Unit::Count,
        ),
        (
            "allocs_per_request".to_owned(),
            "allocations per request".to_owned(),
            Unit::Count,
        ),
        (
            "peak_rss_bytes".to_owned(),
            "peak RSS".to_owned(),
            Unit::Bytes,
        ),
    ]);
    out
}

/// Compares `new` with the `old` document it replaces.
pub fn compare(old: &Baseline, new: &Baseline) -> Comparison {
    let commit = |b: &Baseline| {
        let p = &b.provenance;
        let short = p
            .git_commit
            .as_deref()
            .map_or("not recorded", |c| &c[..c.len().min(12)]);
        format!(
            "{short}{}",
            if p.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        )
    };
    let mut rows = vec![
        Row {
            what: "machine".to_owned(),
            old: old.machine_fingerprint.clone(),
            new: new.machine_fingerprint.clone(),
            ratio: None,
        },
        Row {
            what: "commit".to_owned(),
            old: commit(old),
            new: commit(new),
            ratio: None,
        },
    ];
    // Per-class rows of either side: a class one side lacks shows as not measured.
    let mut figures = headline(new);
    for f in headline(old) {
        if !figures.iter().any(|(k, _, _)| *k == f.0) {
            figures.push(f);
        }
    }
    for (key, what, unit) in figures {
        let value = |b: &Baseline| b.metrics.get(&key).and_then(|v| v.value());
        let (o, n) = (value(old), value(new));
        if o.is_none() && n.is_none() {
            continue;
        }
        let ratio = match (o, n) {
            (Some(o), Some(n)) if o != 0.0 => Some(n / o),
            _ => None,
        };
        rows.push(Row {
            what,
            old: human(o, unit),
            new: human(n, unit),
            ratio,
        });
    }
    Comparison {
        old_promoted_at: old.promoted_at.clone(),
        rows,
    }
}

/// Aligned lines for the terminal: `what  old -> new  ×ratio`.
pub fn lines(comparison: &Comparison) -> Vec<String> {
    let rows = &comparison.rows;
    let w = |f: fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (what, old, new) = (
        w(|r| r.what.chars().count()),
        w(|r| r.old.chars().count()),
        w(|r| r.new.chars().count()),
    );
    let mut out = vec![format!(
        "{:what$}  {:old$}    {:new$}  new/old",
        "",
        format!("replaced ({})", comparison.old_promoted_at),
        "new",
    )];
    out.extend(rows.iter().map(|r| {
        let ratio = r
            .ratio
            .map_or_else(|| "-".to_owned(), |x| format!("×{x:.2}"));
        let changed = if r.ratio.is_none() && r.old != r.new {
            "changed"
        } else if r.ratio.is_none() {
            "same"
        } else {
            &ratio
        };
        format!(
            "{:what$}  {:old$} -> {:new$}  {changed}",
            r.what, r.old, r.new
        )
        .trim_end()
        .to_owned()
    }));
    out
}

/// A value in human units; "not measured" when absent.
fn human(v: Option<f64>, unit: Unit) -> String {
    let Some(v) = v else {
        return "not measured".to_owned();
    };
    match unit {
        Unit::Rate => format!("{} req/s", sig(v)),
        Unit::Micros if v >= 1e6 => format!("{} s", sig(v / 1e6)),
        Unit::Micros if v >= 1e3 => format!("{} ms", sig(v / 1e3)),
        Unit::Micros => format!("{} µs", sig(v)),
        Unit::Bytes if v >= 1024.0 * 1024.0 * 1024.0 => {
            format!("{} GiB", sig(v / (1024.0 * 1024.0 * 1024.0)))
        }
        Unit::Bytes if v >= 1024.0 * 1024.0 => format!("{} MiB", sig(v / (1024.0 * 1024.0))),
        Unit::Bytes if v >= 1024.0 => format!("{} KiB", sig(v / 1024.0)),
        Unit::Bytes => format!("{v:.0} B"),
        Unit::Count if v >= 1e6 => format!("{}M", sig(v / 1e6)),
        Unit::Count if v >= 1e4 => format!("{}k", sig(v / 1e3)),
        Unit::Count => sig(v),
    }
}

/// Three significant figures, no trailing zeros (`590.7` → `591`, `8.663` → `8.66`).
fn sig(v: f64) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human(Some(590.73), Unit::Rate), "591 req/s");
        assert_eq!(human(Some(8663.0), Unit::Micros), "8.66 ms");
        assert_eq!(human(Some(428.39), Unit::Micros), "428 µs");
        assert_eq!(human(Some(2_500_000.0), Unit::Micros), "2.5 s");
        assert_eq!(human(Some(510_537_728.0), Unit::Bytes), "487 MiB");
        assert_eq!(human(Some(41_265.4), Unit::Count), "41.3k");
        assert_eq!(human(Some(35.159), Unit::Count), "35.2");
        assert_eq!(human(None, Unit::Count), "not measured");
    }
}
