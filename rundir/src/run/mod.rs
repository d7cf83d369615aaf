//! The typed `run.json`: what a run directory's summary document holds, as the reports
//! read it and as baselines store parts of it.
//!
//! One type for both sides: since schema version 2 the attack, the harness and the
//! appliance run build [`RunJson`] (and the section types it holds) and serialise it, so
//! the file as written is the layout the reports read and a document read and written
//! again is unchanged. Reading is two steps: [`migrate`] brings a document of an older
//! `schema_version` (and any of the shapes older writers gave version 1) to the current
//! layout, then serde reads it into [`RunJson`] with no further interpretation. Everything
//! beyond the profile is optional, and a missing figure is "not measured", never zero.

pub mod appliance;
pub mod attack;
pub mod class;
pub mod connections;
pub mod document;
pub mod file;
pub mod harness;
pub mod latency;
pub mod migrate;
pub mod window;
pub mod worker;

pub use appliance::ApplianceResults;
pub use attack::{CoordinatedOmission, DriverFacts, Files, GooseTotals, Samples};
pub use class::ClassStats;
pub use connections::ConnectionResults;
pub use document::*;
pub use file::RunFileError;
pub use harness::{ClassInstructions, HarnessReport, Instructions, Placement};
pub use latency::{AddedLatency, Percentiles};
pub use migrate::DocError;
pub use window::SteadyWindow;
pub use worker::{MergeFacts, MergedWorker, WorkerFacts};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn reads_the_documented_shape() {
        let doc = serde_json::json!({
            "schema_version": 1, "profile": {"name": "ci", "settings": {"users": 5}}, "complete": true,
            "classes": {"allowed": {"count": 10, "failures": 1, "errors": {"timeout": 1}, "rps": 2.0,
                        "latency_us": {"min": 1, "p50": 5, "p90": 9, "p99": 20, "p99.9": 30, "max": 40}}},
            "totals": {"requests": 10, "failures": 1, "rps": 2.0, "target_rps": 3.0},
            "steady_window": {"start": 1, "end": 9}, "unknown": [1, 2]
        });
        let run = RunJson::from_json(doc).unwrap();
        let c = &run.classes["allowed"];
        assert_eq!((c.count, c.failures, c.errors["timeout"]), (10, 1, 1));
        assert_eq!(c.latency_us.unwrap().p999, Some(30.0));
        assert_eq!(run.totals.unwrap().offered_rps, Some(3.0));
        assert_eq!(run.profile.settings["users"], 5);
        assert_eq!(
            run.steady_window,
            Some(SteadyWindow {
                start: 1.0,
                end: 9.0
            })
        );
    }

    #[test]
    fn stages_from_spans_or_from_the_profile_settings() {
        let doc = serde_json::json!({
            "schema_version": 1,
            "profile": {"name": "spike", "settings": {"stages": [
                {"name": "calm", "users": 2, "over": "10s"},
                {"name": "surge", "users": 8, "over": "1m30s"}]}}
        });
        let run: RunJson = serde_json::from_value(doc.clone()).unwrap();
        let spans: Vec<(String, u64, f64, f64)> = run
            .stages()
            .into_iter()
            .map(|s| (s.name, s.users, s.start_s, s.end_s))
            .collect();
        assert_eq!(
            spans,
            [
                ("calm".to_owned(), 2, 0.0, 10.0),
                ("surge".to_owned(), 8, 10.0, 100.0)
            ]
        );
        let mut with_spans = doc;
        with_spans["stage_spans"] =
            serde_json::json!([{"name": "x", "users": 1, "start_s": 0.5, "end_s": 3.0}]);
        let run: RunJson = serde_json::from_value(with_spans).unwrap();
        assert_eq!(run.stages().len(), 1);
        assert_eq!(run.stages()[0].start_s, 0.5);
        assert_eq!(parse_seconds("4m"), Some(240.0));
        assert_eq!(parse_seconds("12"), Some(12.0));
        assert_eq!(parse_seconds("5 parsecs"), None);
    }

    #[test]
    fn reads_the_load_generator_and_harness_shapes() {
        let doc = serde_json::json!({
            "schema_version": 1, "profile": "peak", "complete": false,
            "classes": [{"class": "cors", "count": 0, "latency_us": {"count": 0, "p99": 0}},
                        {"class": "blocked", "requests": 50, "errors": 2, "outcomes": [48, 1, 0, 0, 0, 1],
                         "ttfb": {"count": 50, "p50": 300, "p99": 900, "p99_9": 950, "mean": 310.5},
                         "ttlb": {"count": 50, "p50": 320, "p99": 990, "p99_9": 999}}],
            "throughput_rps": 12.5,
            "provenance": {"commit": "abc", "dirty": true, "cores": 2, "started_at": "t0", "ended_at": "t1"},
            "resources": {"peak_rss_bytes": 1048576, "fds_start": 10, "fds_end": 12, "threads_max": 9},
            "steady_window": {"start_s": 5.0, "end_s": 25.0},
            "harness": {"target_rps": 20.0, "proxy_achieved_rps": 12.0, "notes": []}
        });
        let run = RunJson::from_json(doc).unwrap();
        assert_eq!(run.profile.name, "peak");
        let b = &run.classes["blocked"];
        assert_eq!((b.count, b.failures), (50, 2));
        assert_eq!(
            b.errors,
            BTreeMap::from([("status".to_owned(), 1), ("timeout".to_owned(), 1)])
        );
        assert_eq!(
            b.latency_us.unwrap().p99,
            Some(990.0),
            "latency is time to last byte"
        );
        assert_eq!(b.ttfb_us.unwrap().p999, Some(950.0));
        assert_eq!(
            run.classes["cors"].latency_us, None,
            "an empty class has no latency"
        );
        let t = run.totals.clone().unwrap();
        assert_eq!(
            (t.requests, t.failures, t.rps, t.offered_rps),
            (50, 2, Some(12.5), Some(20.0))
        );
        let p = run.provenance.clone().unwrap();
        assert_eq!(
            (p.git_commit.as_deref(), p.git_dirty),
            (Some("abc"), Some(true))
        );
        assert_eq!(
            (run.started_at.as_deref(), run.ended_at.as_deref()),
            (Some("t0"), Some("t1"))
        );
        assert_eq!(run.resources.unwrap().fds, Some(12.0));
        assert!(
            run.stages().is_empty(),
            "no spans and no settings: no stages"
        );
        assert_eq!(
            run.steady_window,
            Some(SteadyWindow {
                start: 5.0,
                end: 25.0
            })
        );
    }
}
