//! The lean open-loop driver (`loadgen attack --driver open-loop`).
//!
//! Goose runs closed-loop users through reqwest and its own metrics pipeline,
//! which costs CPU per request; to find what the machine (and the proxy) can
//! take, this driver sends allowed-browsing GETs over raw hyper HTTP/1.1
//! connections on a fixed schedule: request k is *intended* to start at
//! `start + k / rate`, whether or not earlier answers came back. Latency is
//! recorded from the actual send (TTFB, TTLB) and from the intended start
//! (the coordinated-omission corrected histogram). With no rate, every
//! connection sends back to back (closed loop, for peak throughput). When the
//! schedule falls behind, late requests are still sent until a tenth of the
//! duration (at least 2 s) past its end; the rest are counted as `unsent`.
//!
//! The schedule is [`crate::schedule`]'s and the connections run [`crate::get_loop`]; what
//! is this driver's own is its sink: one latency sample per request.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::plan::{AttackError, AttackOptions, AttackReport, OriginAddrs};
use super::worker::Worker;
use crate::corpus::{Addressing, Corpus};
use crate::get_loop::{self, Answer, Ending, GetTarget, Gets, Sink};
use crate::mix::Mix;
use crate::output::{self, RunFacts};
use crate::profile::Profile;
use crate::record::{Aggregator, Class, Outcome, Sample, UserRecorder};
use crate::roster::Roster;
use crate::schedule::{Schedule, Ticket};

/// Most connections the driver opens.
const MAX_CONNECTIONS: u64 = 4096;

/// Runs the open-loop driver and writes the run directory.
pub async fn attack(
    opts: &AttackOptions,
    worker: &Worker,
    profile: &Profile,
    origin: &OriginAddrs,
) -> Result<AttackReport, AttackError> {
    let mix = Mix::load(&profile.scenario_mix)?;
    // `--rate` is the whole run's; the profile's target rate is already this segment's.
    let rate = opts
        .rate
        .map(|r| worker.segment.scale_rate(r))
        .or(profile.target_rate)
        .filter(|r| *r > 0.0);
    let (addressing, connect_to) = match opts.proxy {
        Some(p) => (Addressing::Proxy, p),
        None => (
            Addressing::Direct {
                http: origin.http,
                https: origin.https.unwrap_or(origin.http),
            },
            origin.http,
        ),
    };
    let corpus = Corpus::build(&mix, addressing)?;
    let targets = Gets::targets(&corpus, opts.proxy.is_some())?;
    // Every connection browses as the first identity of this worker's share of the
    // roster, so workers never share one.
    let (roster, roster_range) =
        Roster::load(&mix.roster, mix.roster_seed)?.segment(worker.segment)?;
    let auth = opts
        .proxy
        .map(|_| roster.get(0).proxy_authorization.clone());
    let connections = profile.users.clamp(1, MAX_CONNECTIONS);
    let (aggregator, samples) = Aggregator::spawn(profile.warmup);
    let started = worker.start().await?;
    let clock = started.clock;
    let schedule = Arc::new(Schedule::new(
        clock.start,
        rate,
        profile.duration,
        Some((profile.duration / 10).max(Duration::from_secs(2))),
    ));
    let gets = Arc::new(Gets {
        connect_to,
        targets,
        corpus,
        auth,
        timeout: mix.request_timeout,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        let sink = Samples {
            recorder: UserRecorder::new(clock, samples.clone()),
            paced: schedule.is_paced(),
        };
        tasks.spawn(get_loop::connection_loop(
            Arc::clone(&schedule),
            Arc::clone(&gets),
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            sink,
        ));
    }
    drop(samples);
    while tasks.join_next().await.is_some() {}
    let elapsed = clock.start.elapsed();
    let ended_wall = SystemTime::now();
    let summary = tokio::task::spawn_blocking(move || aggregator.finish(Duration::from_secs(3)))
        .await
        .map_err(|e| AttackError::Setup(format!("collecting samples: {e}")))?;
    let extra = rundir::run::DriverFacts {
        connections: Some(connections),
        unsent: Some(schedule.unsent()),
        ..Default::default()
    };
    let facts = RunFacts {
        driver: "open-loop",
        profile,
        mix: Some(&mix),
        proxy: opts.proxy.map(|p| p.to_string()),
        origin: origin.http.to_string(),
        started: started.wall,
        ended: ended_wall,
        elapsed,
        complete: true,
        offered_rps: rate,
        extra,
        worker: worker.facts(&started, connections, rate, Some(roster_range)),
    };
    let run_json = output::write_run_dir(&opts.out, &facts, &summary)?;
    Ok(AttackReport {
        dir: opts.out.clone(),
        run_json,
        summary,
    })
}

/// The driver's sink: one latency sample per request into the connection's recorder.
struct Samples {
    recorder: UserRecorder,
    /// Open loop: the coordinated-omission corrected latency is recorded too.
    paced: bool,
}

impl Sink for Samples {
    fn record(&mut self, ticket: &Ticket, target: &GetTarget, answer: &Answer) {
        let outcome = match answer.ending {
            Ending::Transport => Outcome::Transport,
            Ending::Timeout => Outcome::Timeout,
            Ending::Answered(s) if s != 200 => Outcome::Status,
            Ending::Answered(_) if answer.body_len != target.size => Outcome::Body,
            Ending::Answered(_) => Outcome::Ok,
        };
        let done = answer.done;
        self.recorder.record(Sample {
            class: Class::Allowed,
            outcome,
            done_us: self.recorder.clock().micros(done),
            ttfb_us: answer.ttfb.as_micros() as u64,
            ttlb_us: (done - answer.sent).as_micros() as u64,
            corrected_us: self
                .paced
                .then(|| done.saturating_duration_since(ticket.intended).as_micros() as u64),
        });
    }
}
