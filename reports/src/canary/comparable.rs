//! The refusal to judge sides that served different traffic.
//!
//! A canary is judged against a control serving the same traffic at the same time. If a
//! balancer sent it fewer requests, or an easier mix (say, only block pages, which never
//! reach an origin), its latency and CPU per request would look better for reasons that
//! have nothing to do with its build. So before any metric is judged, the rate per
//! instance and every share of the mix are compared; beyond the `[canary]` tolerances
//! the judge refuses (bad input, exit 2) and says which figure differed.

use super::config::CanaryConfig;
use super::intervals::Traffic;

/// Whether the two sides are comparable; Err names the first figure that is not.
pub fn check(control: &Traffic, canary: &Traffic, config: &CanaryConfig) -> Result<(), String> {
    for (side, t) in [("control", control), ("canary", canary)] {
        if t.instances == 0 {
            // Nothing matched: a selector naming no instance, or a build older than the
            // series the judge reads (the per-decision request histogram, process CPU).
            return Err(format!(
                "no {side} instance exposed the series the judge reads in the window \
                 (`filter_proxy_request_duration_seconds` by decision, \
                 `process_cpu_seconds_total`): check the selector, and that the build \
                 exports them"
            ));
        }
        if t.requests <= 0.0 {
            return Err(format!("the {side} served no request in the window"));
        }
    }
    let (a, b) = (control.rate_per_instance, canary.rate_per_instance);
    let rate_diff = (a - b).abs() / a.max(b);
    if rate_diff > config.rate_tolerance {
        return Err(format!(
            "request rate per instance differs by {:.0}% (control {a:.1}/s, canary {b:.1}/s; \
             tolerance {:.0}%)",
            rate_diff * 100.0,
            config.rate_tolerance * 100.0
        ));
    }
    let keys = control.mix.keys().chain(canary.mix.keys());
    for k in keys {
        // Errors are an outcome the judge must see, not part of the offered mix.
        if k == "error" {
            continue;
        }
        let x = control.mix.get(k).copied().unwrap_or(0.0);
        let y = canary.mix.get(k).copied().unwrap_or(0.0);
        if (x - y).abs() > config.mix_tolerance {
            return Err(format!(
                "share of {k} requests differs: control {:.1}%, canary {:.1}% (tolerance \
                 {:.1} points)",
                x * 100.0,
                y * 100.0,
                config.mix_tolerance * 100.0
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(rate: f64, blocked: f64) -> Traffic {
        Traffic {
            requests: rate * 100.0,
            seconds: 100.0,
            instances: 1,
            rate_per_instance: rate,
            mix: [
                ("allowed".to_string(), 1.0 - blocked),
                ("blocked".to_string(), blocked),
            ]
            .into(),
            intervals: 10,
        }
    }

    #[test]
    fn refuses_other_rates_and_easier_mixes() {
        let config = CanaryConfig::for_tests();
        let base = traffic(100.0, 0.2);
        assert!(check(&base, &traffic(110.0, 0.22), &config).is_ok());
        let err = check(&base, &traffic(70.0, 0.2), &config).unwrap_err();
        assert!(err.contains("rate"), "{err}");
        let err = check(&base, &traffic(100.0, 0.6), &config).unwrap_err();
        assert!(err.contains("share of"), "{err}");
        let err = check(&base, &traffic(0.0, 0.2), &config).unwrap_err();
        assert!(err.contains("no request"), "{err}");
        let silent = Traffic {
            instances: 0,
            requests: 0.0,
            ..traffic(0.0, 0.0)
        };
        let err = check(&silent, &base, &config).unwrap_err();
        assert!(err.starts_with("no control instance exposed"), "{err}");
    }
}
