//! Slow clients: connections that send a request head a few bytes at a time and never
//! finish it, the way slowloris ties up servers that wait for whole heads.
//!
//! The proxy must cut them with its header read timeout; each connection records when
//! it was cut (the proxy closed it) or that it was still open when the fault ended.
//! Loopback only, bounded in count by the profile and in time by the fault's end.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Pause between two trickled header lines.
const TRICKLE: Duration = Duration::from_millis(500);

/// What one slow client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowOutcome {
    /// The proxy closed the connection this long after it was opened.
    Cut(Duration),
    /// Still open when the fault ended.
    StillOpen,
    /// Could not connect.
    ConnectFailed,
}

/// Summary of the slow clients of one fault.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SlowReport {
    /// Connections attempted.
    pub attempted: u64,
    /// Connections opened.
    pub opened: u64,
    /// Connections the proxy cut.
    pub cut: u64,
    /// Connections still open at the fault's end.
    pub still_open: u64,
    /// Longest time from connect to cut, ms.
    pub max_cut_ms: Option<u64>,
}

impl SlowReport {
    /// Summarises outcomes.
    pub fn of(outcomes: &[SlowOutcome]) -> SlowReport {
        let mut r = SlowReport {
            attempted: outcomes.len() as u64,
            ..SlowReport::default()
        };
        for o in outcomes {
            match o {
                SlowOutcome::Cut(d) => {
                    r.opened += 1;
                    r.cut += 1;
                    let ms = d.as_millis() as u64;
                    r.max_cut_ms = Some(r.max_cut_ms.map_or(ms, |m| m.max(ms)));
                }
                SlowOutcome::StillOpen => {
                    r.opened += 1;
                    r.still_open += 1;
                }
                SlowOutcome::ConnectFailed => {}
            }
        }
        r
    }
}

/// Opens `count` slow clients against `proxy` and holds each until the proxy cuts it
/// or `until` passes.
pub async fn run(proxy: SocketAddr, count: u64, until: Instant) -> Vec<SlowOutcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        tasks.spawn(one(proxy, i, until));
    }
    let mut outcomes = Vec::with_capacity(count as usize);
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.unwrap_or(SlowOutcome::ConnectFailed));
    }
    outcomes
}

async fn one(proxy: SocketAddr, i: u64, until: Instant) -> SlowOutcome {
    let opened = Instant::now();
    let connect = tokio::time::timeout_at(until.into(), TcpStream::connect(proxy)).await;
    let Ok(Ok(mut stream)) = connect else {
        return SlowOutcome::ConnectFailed;
    };
    let head = format!("GET http://slow-{i}.example/ HTTP/1.1\r\nHost: slow-{i}.example\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return SlowOutcome::Cut(opened.elapsed());
    }
    let mut buf = [0u8; 512];
    loop {
        let next = (Instant::now() + TRICKLE).min(until);
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                // An answer (408/400) or a close both end the connection's life.
                Ok(0) | Err(_) => return SlowOutcome::Cut(opened.elapsed()),
                Ok(_) => continue,
            },
            _ = tokio::time::sleep_until(next.into()) => {
                if Instant::now() >= until {
                    return SlowOutcome::StillOpen;
                }
                if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return SlowOutcome::Cut(opened.elapsed());
                }
            }
        }
    }
}
