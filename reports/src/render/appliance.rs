//! The appliance section of the run report: the latency the appliance hop adds, identity
//! correctness, the RADIUS stream and the appliance's counters. Present only for runs with
//! appliance results.

use super::doc::Doc;
use super::tables::{opt, NOT_MEASURED};
use crate::rules::fmt_num;
use crate::rundir::RunDir;
use rundir::run::Percentiles;

fn pct(p: Option<Percentiles>, f: fn(&Percentiles) -> Option<f64>) -> String {
    opt(p.as_ref().and_then(f))
}

/// Adds the section when the run has appliance results.
pub fn section(doc: &mut Doc, run: &RunDir) {
    let Some(a) = &run.run.appliance else {
        return;
    };
    doc.heading(1, "Appliance hop");
    match &a.verdict {
        Some(v) if v.pass => {
            doc.para("Verdict: pass (every request answered as expected, every answer through the appliance carried its user).");
        }
        Some(v) => {
            doc.para(format!("Verdict: FAIL: {}", v.reasons.join("; ")));
        }
        None => {
            doc.para(format!("Verdict: {NOT_MEASURED}."));
        }
    }
    doc.para(
        "The same requests (same mix, same rate, same time) went half through the appliance \
         and half straight to the proxy, each on a new connection from its user's own address; \
         the added latency is the difference of the two routes' percentiles.",
    );
    let added = a.added_latency_us.clone().unwrap_or_default();
    let (through, direct) = (a.through_appliance_us, a.direct_to_proxy_us);
    doc.table(
        &["latency (µs)", "p50", "p90", "p99", "max"],
        vec![
            vec![
                "through the appliance".into(),
                pct(through, |p| p.p50),
                pct(through, |p| p.p90),
                pct(through, |p| p.p99),
                pct(through, |p| p.max),
            ],
            vec![
                "straight to the proxy".into(),
                pct(direct, |p| p.p50),
                pct(direct, |p| p.p90),
                pct(direct, |p| p.p99),
                pct(direct, |p| p.max),
            ],
            vec![
                "added by the appliance".into(),
                opt(added.p50),
                "".into(),
                opt(added.p99),
                "".into(),
            ],
        ],
    );
    let id = a.identity.clone().unwrap_or_default();
    let req = a.requests.clone().unwrap_or_default();
    doc.heading(2, "Identity");
    doc.table(
        &["checked", "matched", "mismatched", "missing", "matched %"],
        vec![vec![
            id.checked.to_string(),
            id.matched.to_string(),
            id.mismatched.to_string(),
            id.missing.to_string(),
            if id.checked > 0 {
                fmt_num(100.0 * id.matched as f64 / id.checked as f64)
            } else {
                NOT_MEASURED.into()
            },
        ]],
    );
    if !id.examples.is_empty() {
        doc.para(format!("Mismatches: {}", id.examples.join("; ")));
    }
    doc.table(
        &["route", "requests", "failures"],
        vec![
            vec![
                "through the appliance".into(),
                req.through_appliance.to_string(),
                req.through_appliance_failures.to_string(),
            ],
            vec![
                "straight to the proxy".into(),
                req.direct.to_string(),
                req.direct_failures.to_string(),
            ],
        ],
    );
    doc.heading(2, "RADIUS accounting");
    let r = a.radius.clone().unwrap_or_default();
    let mut rows: Vec<Vec<String>> = r
        .sent
        .iter()
        .map(|(kind, sent)| {
            vec![
                kind.clone(),
                sent.to_string(),
                r.acked.get(kind).copied().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "all".into(),
        r.sent.values().sum::<u64>().to_string(),
        r.acked.values().sum::<u64>().to_string(),
    ]);
    doc.para(format!(
        "{} users with traffic, {} churn sessions; {} requests unanswered.",
        r.users, r.churn_users, r.unanswered
    ));
    doc.table(&["Accounting-Request", "sent", "acked"], rows);
    doc.heading(2, "Appliance counters");
    let c = a.appliance_metrics.clone().unwrap_or_default();
    let mut rows = vec![
        vec!["connections".into(), opt(c.connections)],
        vec!["connections refused".into(), opt(c.connections_rejected)],
        vec!["bytes client → proxy".into(), opt(c.bytes_up)],
        vec!["bytes proxy → client".into(), opt(c.bytes_down)],
    ];
    for (result, n) in &c.identity_lookups {
        rows.push(vec![format!("identity lookups: {result}"), fmt_num(*n)]);
    }
    let h = a.proxy_protocol.clone().unwrap_or_default();
    rows.push(vec![
        "proxy: PROXY v2 headers accepted".into(),
        opt(h.accepted),
    ]);
    for (reason, n) in &h.refused {
        rows.push(vec![
            format!("proxy: PROXY v2 headers refused ({reason})"),
            fmt_num(*n),
        ]);
    }
    doc.table(&["counter", "value"], rows);
}
