//! The canary's verdict from its judged metrics: a Kayenta-style score and the gate's
//! three verdicts.
//!
//! The score is the weighted share of passing metrics among those judged (`nodata` is
//! left out of it, as in Kayenta, and is never counted as a pass). The score maps to a
//! verdict: at or above `pass_score` pass, at or above `marginal_score` hotfix, below it
//! rollback. Critical metrics decide on their own: one beyond a threshold makes the
//! verdict at least that bad whatever the score, and one without data is the `missing`
//! verdict, since an unmeasured release is unproven.

use super::classify::{Class, Judgement};
use super::config::CanaryConfig;
use super::error::CanaryError;
use rundir::verdict::Verdict;

/// The score and the verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// Weighted share of passing metrics among the judged, 0..=100.
    pub score: f64,
    /// The verdict the score alone gives.
    pub score_verdict: Verdict,
    /// The final verdict (the score's, or a critical metric's if worse).
    pub verdict: Verdict,
    /// Why the verdict is what it is, one line per reason.
    pub reasons: Vec<String>,
}

/// Decides from the judgements; Err when nothing could be judged.
pub fn decide(judgements: &[Judgement], config: &CanaryConfig) -> Result<Decision, CanaryError> {
    let judged: Vec<&Judgement> = judgements
        .iter()
        .filter(|j| j.class != Class::NoData)
        .collect();
    let total: f64 = judged.iter().map(|j| j.rule.weight).sum();
    if total <= 0.0 {
        return Err(CanaryError::NoData);
    }
    let passed: f64 = judged
        .iter()
        .filter(|j| j.class == Class::Pass)
        .map(|j| j.rule.weight)
        .sum();
    let score = 100.0 * passed / total;
    let score_verdict = if score >= config.pass_score {
        Verdict::Pass
    } else if score >= config.marginal_score {
        Verdict::Hotfix
    } else {
        Verdict::Rollback
    };
    let mut reasons = vec![format!(
        "score {score:.1} (pass at {}, marginal at {}): {}",
        config.pass_score,
        config.marginal_score,
        word(score_verdict)
    )];
    let mut verdict = score_verdict;
    for j in judgements.iter().filter(|j| j.rule.critical) {
        let v = j.class.verdict(config.missing);
        if v > Verdict::Pass {
            reasons.push(format!(
                "critical {} is {}: {}",
                j.metric,
                match j.class {
                    Class::NoData => "without data",
                    _ => "beyond its threshold",
                },
                word(v)
            ));
        }
        verdict = verdict.max(v);
    }
    Ok(Decision {
        score,
        score_verdict,
        verdict,
        reasons,
    })
}

/// The verdict's word in reports.
pub fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass | Verdict::NotApplicable => "pass",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Hotfix => "hotfix",
        Verdict::Rollback => "rollback",
        Verdict::Missing => "missing",
    }
}

/// The gate's exit code of a verdict: 0 pass, 1 rollback, 3 hotfix.
pub fn exit_code(v: Verdict) -> u8 {
    match v {
        Verdict::Rollback | Verdict::Missing => 1,
        Verdict::Hotfix => 3,
        Verdict::Inconclusive => 4,
        Verdict::Pass | Verdict::NotApplicable => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::config::{Direction, Kind, MetricRule};

    fn j(metric: &str, class: Class, critical: bool) -> Judgement {
        Judgement {
            metric: metric.into(),
            rule: MetricRule {
                metric: metric.into(),
                direction: Direction::Lower,
                kind: Kind::Relative,
                hotfix: 0.1,
                rollback: 0.2,
                weight: 1.0,
                critical,
                why: None,
            },
            intervals: [10, 10],
            medians: None,
            shift: None,
            p_value: None,
            effect: None,
            significant: class > Class::Pass,
            class,
        }
    }

    fn config() -> CanaryConfig {
        CanaryConfig::for_tests()
    }

    #[test]
    fn score_and_critical_metrics() {
        let c = config();
        let mut all: Vec<Judgement> = (0..19)
            .map(|i| j(&format!("m{i}"), Class::Pass, false))
            .collect();
        all.push(j("extra", Class::NoData, false));
        let d = decide(&all, &c).unwrap();
        assert_eq!(
            (d.score, d.verdict),
            (100.0, Verdict::Pass),
            "nodata is left out"
        );
        all.push(j("slow", Class::Hotfix, false));
        let d = decide(&all, &c).unwrap();
        assert_eq!((d.score, d.verdict), (95.0, Verdict::Pass));
        all.push(j("slower", Class::Rollback, false));
        assert_eq!(decide(&all, &c).unwrap().verdict, Verdict::Hotfix);
        all.push(j("critical", Class::Rollback, true));
        assert_eq!(decide(&all, &c).unwrap().verdict, Verdict::Rollback);
        let lone = [j("a", Class::Pass, false), j("b", Class::NoData, true)];
        let d = decide(&lone, &c).unwrap();
        assert_eq!(
            d.verdict,
            Verdict::Rollback,
            "a critical metric without data"
        );
        assert!(d.reasons[1].contains("without data"), "{d:?}");
        let none = [j("a", Class::NoData, false)];
        assert!(matches!(decide(&none, &c), Err(CanaryError::NoData)));
        let half: Vec<Judgement> = (0..4)
            .map(|i| {
                j(
                    &format!("m{i}"),
                    if i < 2 { Class::Pass } else { Class::Hotfix },
                    false,
                )
            })
            .collect();
        assert_eq!(decide(&half, &c).unwrap().verdict, Verdict::Rollback);
        assert_eq!(
            (exit_code(Verdict::Hotfix), exit_code(Verdict::Rollback)),
            (3, 1)
        );
    }
}
