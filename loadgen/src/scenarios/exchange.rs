//! One checked, timed request: send it (through Goose, so its report counts
//! it), read the body to the last byte, judge the answer and record the sample.
//!
//! Goose's timer stops at the response head; this one also times the body and
//! keeps microseconds. Hot scenarios only count and spot-check body bytes; the
//! inspection scenarios (CORS, identity, block pages) keep a small body copy.

use std::time::{Duration, Instant};

use goose::metrics::GooseRequestMetric;
use goose::prelude::*;
use http::HeaderMap;

use super::context::RunContext;
use super::user::state;
use crate::origin::body::payload_byte;
use crate::record::{Class, Outcome, Sample};

/// Most body bytes kept for inspection.
const KEEP_MAX: usize = 64 * 1024;
/// Leading payload bytes compared with the origin's pattern.
const SPOT_CHECK: u64 = 64;

/// What to do with the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCheck {
    /// The origin's payload of exactly this length.
    Payload(u64),
    /// Keep the head and the body (up to 64 KiB) for the scenario to inspect.
    Keep,
}

/// How the request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Through `GooseUser::request` (GET, POST, ...).
    Goose,
    /// Straight on the user's client, reported to Goose as a custom request
    /// (methods Goose cannot send, such as OPTIONS).
    Custom(&'static str),
}

/// The outcome and timings of one request.
#[derive(Debug)]
pub struct Done {
    /// Verdict so far (the scenario may refine an `Ok`).
    pub outcome: Outcome,
    /// Status code, if an answer came.
    pub status: u16,
    /// Response headers (with [`BodyCheck::Keep`] only).
    pub headers: HeaderMap,
    /// Kept body bytes (with [`BodyCheck::Keep`] only).
    pub body: Vec<u8>,
    /// Body bytes received.
    pub body_len: u64,
    /// Time to first byte.
    pub ttfb: Duration,
    /// Time to last byte.
    pub ttlb: Duration,
    metric: Option<GooseRequestMetric>,
    name: &'static str,
    via: Via,
}

impl Done {
    /// Refines an `Ok` verdict with the scenario's own check.
    pub fn require(&mut self, ok: bool, otherwise: Outcome) {
        if self.outcome == Outcome::Ok && !ok {
            self.outcome = otherwise;
        }
    }

    /// A response header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn error_outcome(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::Transport
    }
}

/// Sends `rb` (built from `user.client`), reads the whole answer and judges
/// status and body.
pub async fn fetch(
    user: &mut GooseUser,
    rb: reqwest::RequestBuilder,
    name: &'static str,
    via: Via,
    expect_status: u16,
    check: BodyCheck,
) -> Result<Done, Box<TransactionError>> {
    let started = Instant::now();
    let (response, metric) = match via {
        Via::Goose => {
            let goose = user
                .request(
                    GooseRequest::builder()
                        .set_request_builder(rb)
                        .name(name)
                        .expect_status_code(expect_status)
                        .build(),
                )
                .await?;
            (goose.response, Some(goose.request))
        }
        Via::Custom(_) => (rb.send().await, None),
    };
    let ttfb = started.elapsed();
    let mut done = Done {
        outcome: Outcome::Ok,
        status: 0,
        headers: HeaderMap::new(),
        body: Vec::new(),
        body_len: 0,
        ttfb,
        ttlb: ttfb,
        metric,
        name,
        via,
    };
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            done.outcome = error_outcome(&e);
            return Ok(done);
        }
    };
    done.status = response.status().as_u16();
    if check == BodyCheck::Keep {
        done.headers = response.headers().clone();
    }
    let mut pattern_ok = true;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                match check {
                    BodyCheck::Payload(_) if done.body_len < SPOT_CHECK => {
                        for (i, b) in chunk.iter().take(SPOT_CHECK as usize).enumerate() {
                            pattern_ok &= *b == payload_byte(done.body_len + i as u64);
                        }
                    }
                    BodyCheck::Keep if done.body.len() < KEEP_MAX => {
                        let room = KEEP_MAX - done.body.len();
                        done.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    _ => {}
                }
                done.body_len += chunk.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                done.outcome = error_outcome(&e);
                done.ttlb = started.elapsed();
                return Ok(done);
            }
        }
    }
    done.ttlb = started.elapsed();
    if done.status != expect_status {
        done.outcome = Outcome::Status;
    } else if let BodyCheck::Payload(len) = check {
        done.require(done.body_len == len && pattern_ok, Outcome::Body);
    }
    Ok(done)
}

/// Records `done` as a sample of `class` (latency from `intended` when the
/// run is paced) and reports a failure to Goose, ending the transaction.
pub async fn finish(
    ctx: &RunContext,
    user: &mut GooseUser,
    class: Class,
    done: Done,
    intended: Option<Instant>,
) -> TransactionResult {
    let now = Instant::now();
    let sample = Sample {
        class,
        outcome: done.outcome,
        done_us: ctx.clock.micros(now),
        ttfb_us: done.ttfb.as_micros() as u64,
        ttlb_us: done.ttlb.as_micros() as u64,
        corrected_us: intended.map(|i| now.saturating_duration_since(i).as_micros() as u64),
    };
    state(user).recorder.record(sample);
    let ok = done.outcome == Outcome::Ok;
    match (done.via, done.metric) {
        (Via::Custom(method), _) => {
            let status = (done.status != 0).then_some(done.status);
            let error = (!ok).then(|| done.outcome.as_str());
            user.record_custom_request_duration(method, done.name, done.ttlb, ok, status, error)
                .await?;
            if ok {
                Ok(())
            } else {
                Err(Box::new(TransactionError::Custom(format!(
                    "{}: {}",
                    done.name,
                    done.outcome.as_str()
                ))))
            }
        }
        (Via::Goose, Some(mut metric)) if !ok => {
            user.set_failure(done.outcome.as_str(), &mut metric, None, None)
        }
        (Via::Goose, _) => Ok(()),
    }
}
