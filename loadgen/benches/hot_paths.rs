//! The load generator's and origin's per-request work: route parsing, sample
//! recording (per-user buffer), histogram recording and the Zipf draw.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use loadgen::origin::routes;
use loadgen::record::{
    new_histogram, record_clamped, Aggregator, Class, Outcome, RunClock, Sample, UserRecorder,
};

fn origin_routes(c: &mut Criterion) {
    c.bench_function("origin route parse /bytes/1024", |b| {
        b.iter(|| routes::parse(black_box("/learn/bytes/1024")))
    });
}

fn recording(c: &mut Criterion) {
    let (agg, tx) = Aggregator::spawn(Duration::ZERO);
    let mut rec = UserRecorder::new(RunClock::start_now(), tx);
    let mut i = 0u64;
    c.bench_function("user recorder record", |b| {
        b.iter(|| {
            i += 1;
            rec.record(black_box(Sample {
                class: Class::Allowed,
                outcome: Outcome::Ok,
                done_us: i,
                ttfb_us: 200 + i % 1000,
                ttlb_us: 300 + i % 1000,
                corrected_us: None,
            }))
        })
    });
    drop(rec);
    drop(agg.finish(Duration::from_secs(5)));
    let mut h = new_histogram();
    c.bench_function("hdr record clamped", |b| {
        b.iter(|| {
            i += 7;
            record_clamped(&mut h, black_box(i % 5_000_000))
        })
    });
}

criterion_group!(benches, origin_routes, recording);
criterion_main!(benches);
