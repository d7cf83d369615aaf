//! Recording: per-user recorders feeding one aggregator, per-second rows,
//! warm-up exclusion and histogram files that round-trip.

use std::time::Duration;

use loadgen::record::timeseries::write_csv;
use loadgen::record::{Aggregator, Class, Outcome, RunClock, Sample, UserRecorder};

fn sample(class: Class, outcome: Outcome, done_us: u64, ttlb_us: u64) -> Sample {
    Sample {
        class,
        outcome,
        done_us,
        ttfb_us: ttlb_us / 2,
        ttlb_us,
        corrected_us: None,
    }
}

#[test]
fn users_on_threads_feed_one_aggregator_without_losing_samples() {
    let (agg, tx) = Aggregator::spawn(Duration::from_secs(1));
    let clock = RunClock::start_now();
    let threads: Vec<_> = (0..4u64)
        .map(|u| {
            let mut rec = UserRecorder::new(clock, tx.clone());
            std::thread::spawn(move || {
                for i in 0..1000u64 {
                    // Seconds 0..3; second 0 is warm-up.
                    let done = (i % 4) * 1_000_000 + u;
                    let outcome = if i % 100 == 0 {
                        Outcome::Status
                    } else {
                        Outcome::Ok
                    };
                    rec.record(sample(Class::Allowed, outcome, done, 100 + i));
                }
                rec.record(Sample {
                    corrected_us: Some(5_000),
                    ..sample(Class::Blocked, Outcome::Ok, 2_500_000, 700)
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(tx);
    let summary = agg.finish(Duration::from_secs(5));
    let allowed = summary.class(Class::Allowed);
    assert_eq!(summary.warmup_samples, 4 * 250);
    assert_eq!(allowed.requests, 4 * 750);
    // i % 100 == 0 lands on i % 4 == 0 (warm-up) only: all failures were warm-up.
    assert_eq!(allowed.errors, 0);
    assert_eq!(allowed.ttlb.len(), 3000);
    let blocked = summary.class(Class::Blocked);
    assert_eq!(blocked.requests, 4);
    assert_eq!(blocked.corrected.as_ref().map(|h| h.len()), Some(4));
    assert_eq!(summary.rows.len(), 4);
    assert!(summary.rows[0].warmup && !summary.rows[1].warmup);
    assert_eq!(summary.rows[0].classes[Class::Allowed.index()].errors, 40);
    assert_eq!(summary.rows[2].classes[Class::Blocked.index()].requests, 4);
    assert_eq!(summary.late_samples, 0);

    let mut csv = Vec::new();
    write_csv(&summary.rows, &mut csv).unwrap();
    let text = String::from_utf8(csv).unwrap();
    assert!(text.starts_with(
        "second,warmup,requests,errors,allowed_requests,allowed_errors,allowed_p50_us"
    ));
    // Second 1 has allowed requests but no blocked ones: blank blocked percentiles.
    let second_1: Vec<&str> = text.lines().nth(2).unwrap().split(',').collect();
    assert_eq!(second_1[2], "1000");
    assert_eq!((second_1[10], second_1[11]), ("", ""));
    assert_eq!(text.lines().count(), 5);
}

#[test]
fn seconds_without_requests_still_get_a_row() {
    let (agg, tx) = Aggregator::spawn(Duration::ZERO);
    let mut rec = UserRecorder::new(RunClock::start_now(), tx);
    rec.record(sample(Class::Tunnel, Outcome::Ok, 500_000, 10));
    rec.record(sample(Class::Tunnel, Outcome::Timeout, 3_200_000, 10));
    drop(rec);
    let s = agg.finish(Duration::from_secs(5));
    let seconds: Vec<u64> = s.rows.iter().map(|r| r.second).collect();
    assert_eq!(seconds, vec![0, 1, 2, 3]);
    assert_eq!(s.rows[1].classes[Class::Tunnel.index()].requests, 0);
    assert_eq!(s.class(Class::Tunnel).outcomes[5], 1);
}

#[test]
fn histogram_files_round_trip_in_the_v2_encoding() {
    let mut h = loadgen::record::new_histogram();
    for v in [1u64, 17, 250, 999, 12_345, 1_000_000, 59_000_000] {
        h.record(v).unwrap();
    }
    loadgen::record::record_clamped(&mut h, 90_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allowed.ttlb.hdr");
    rundir::hdr::write(&path, &h).unwrap();
    let back = rundir::hdr::read(&path).unwrap();
    assert_eq!(back, h);
    assert_eq!(back.len(), 8);
    assert_eq!(back.max(), h.max());
    std::fs::write(&path, b"not a histogram").unwrap();
    assert!(rundir::hdr::read(&path).is_err());
}
