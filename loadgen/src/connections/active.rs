//! The active browsing users of the storm: a few users, each on its own keep-alive
//! connection, sending a GET of 1 KiB every interval while thousands of devices connect
//! around them. Their latency is what a pupil already working notices when the rest of
//! the school arrives.
//!
//! Each request is timed from its intended send time (the interval's tick), so a proxy
//! that stalls is charged for the requests that could not be sent meanwhile
//! (coordinated omission corrected). Every loop ends at the stop signal or its deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::open::{connect_from, get_request, read_answer, source_addr};

/// What the active users measured.
pub struct Measured {
    /// Requests answered 200 with the whole body.
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Latency from the intended send, µs.
    pub latency_us: Histogram<u64>,
}

/// One request on `conn` (reconnecting when it is gone).
async fn one(conn: &mut Option<TcpStream>, proxy: SocketAddr, user: u64) -> Result<(), String> {
    if conn.is_none() {
        *conn = Some(
            connect_from(source_addr(1, user), proxy)
                .await
                .map_err(|e| format!("connect: {e}"))?,
        );
    }
    let stream = conn.as_mut().expect("set just above");
    stream
        .write_all(get_request().as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    match read_answer(stream).await? {
        (200, 1024) => Ok(()),
        (status, len) => Err(format!("answer {status}, {len} bytes")),
    }
}

/// Runs `users` users until `stop` turns true or `deadline` passes.
pub async fn run(
    users: u64,
    interval: Duration,
    proxy: SocketAddr,
    stop: watch::Receiver<bool>,
    deadline: Instant,
) -> Measured {
    let mut tasks = JoinSet::new();
    for user in 0..users {
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("3 significant figures are valid");
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut conn = None;
            // Users start spread over one interval, not all on the same tick.
            let phase = interval.mul_f64(user as f64 / users.max(1) as f64);
            let mut tick = tokio::time::interval_at((Instant::now() + phase).into(), interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            loop {
                let intended = tokio::select! {
                    t = tick.tick() => t.into_std(),
                    _ = stop.changed() => break,
                };
                if *stop.borrow() || Instant::now() >= deadline {
                    break;
                }
                let result =
                    tokio::time::timeout(Duration::from_secs(10), one(&mut conn, proxy, user))
                        .await
                        .unwrap_or_else(|_| Err("timed out".into()));
                match result {
                    Ok(()) => {
                        ok += 1;
                        let _ = hist.record(intended.elapsed().as_micros().max(1) as u64);
                    }
                    Err(_) => {
                        failed += 1;
                        conn = None;
                    }
                }
            }
            (ok, failed, hist)
        });
    }
    let mut out = Measured {
        requests: 0,
        failures: 0,
        latency_us: Histogram::new(3).expect("3 significant figures are valid"),
    };
    while let Some(done) = tasks.join_next().await {
        if let Ok((ok, failed, hist)) = done {
            out.requests += ok;
            out.failures += failed;
            let _ = out.latency_us.add(&hist);
        }
    }
    out
}
