//! The access log: one structured line per request and per tunnel, for the audits a
//! filtering product answers to (who reached what, in which category, what was blocked).
//!
//! Off the hot path, with bounded memory: a request hands its [`Entry`] (plain values and
//! shared pointers, no allocation on the allowed path) to a bounded channel with
//! `try_send`, and a writer thread formats and writes the lines. The writer wakes on a
//! short tick rather than on every line, so a request never pays for waking it; when the
//! channel is full (the disk or the log pipe cannot keep up), the line is dropped and
//! counted in `filter_proxy_access_log_dropped_total`, never waited for.
//!
//! Formats: JSON lines, or the Splunk HTTP Event Collector envelope (`time`, `host`,
//! `source`, `sourcetype`, optional `index`, `event`), one envelope per line, which HEC
//! accepts concatenated in one body.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use http::{Method, Uri};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::metrics::DecisionLabel;
use line::LineWriter;

mod line;

/// How often the writer drains the channel.
const TICK: Duration = Duration::from_millis(50);

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// One Splunk HEC event envelope per line.
    SplunkHec,
}

/// `[access_log]` settings, validated.
#[derive(Debug, Clone)]
pub struct AccessLogSettings {
    /// Where lines go: a file (appended to), or standard output when None.
    pub path: Option<PathBuf>,
    /// The line format.
    pub format: AccessLogFormat,
    /// Entries held for the writer; beyond it lines are dropped and counted.
    pub buffer: usize,
    /// HEC `host` (default: the machine's host name).
    pub host: String,
    /// HEC `source`.
    pub source: String,
    /// HEC `sourcetype`.
    pub sourcetype: String,
    /// HEC `index`, when set.
    pub index: Option<String>,
}

/// What a line records. Built on the request path from values the request already has.
#[derive(Debug)]
pub struct Entry {
    /// When the request (or tunnel) started.
    pub start: SystemTime,
    /// The client's address (the PROXY header's source behind an appliance).
    pub client: IpAddr,
    /// The authenticated user, when known.
    pub user: Option<Arc<str>>,
    /// The group whose policy applied, when resolved.
    pub group: Option<Arc<str>>,
    /// The request method (`CONNECT` for tunnels).
    pub method: Method,
    /// The target as requested (absolute-form URL, or `host:port` for CONNECT).
    pub uri: Uri,
    /// The category of the target, when the database knows it.
    pub category: Option<Arc<str>>,
    /// The rule or list entry that blocked the request.
    pub rule: Option<String>,
    /// Allowed, blocked or error.
    pub decision: DecisionLabel,
    /// The status sent to the client.
    pub status: u16,
    /// Request body bytes from the client (its `Content-Length`; None when chunked);
    /// for tunnels, bytes client to origin.
    pub bytes_in: Option<u64>,
    /// Response body bytes to the client; for tunnels, bytes origin to client.
    pub bytes_out: u64,
    /// Time to the response head (for tunnels, to the 200).
    pub head: Duration,
    /// Time until the response body (or tunnel) ended.
    pub total: Duration,
    /// The TLS SNI a tunnel carried.
    pub sni: Option<String>,
    /// Why the request failed (an error's kind), for errors.
    pub error: Option<&'static str>,
}

/// The running access log (or a disabled one, whose `send` does nothing).
#[derive(Debug)]
pub struct AccessLog {
    tx: Option<SyncSender<Entry>>,
    dropped: Counter,
    stop: Arc<AtomicBool>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl AccessLog {
    /// A log that records nothing.
    pub fn disabled() -> Self {
        AccessLog {
            tx: None,
            dropped: Counter::default(),
            stop: Arc::default(),
            writer: Mutex::new(None),
        }
    }

    /// Opens the destination and starts the writer thread; registers the counters.
    pub fn start(settings: &AccessLogSettings, registry: &mut Registry) -> std::io::Result<Self> {
        let out: Box<dyn Write + Send> = match &settings.path {
            Some(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => Box::new(std::io::stdout()),
        };
        let dropped = Counter::default();
        let written = Counter::default();
        registry.register(
            "access_log_dropped",
            "Access log lines dropped because the writer could not keep up",
            dropped.clone(),
        );
        registry.register(
            "access_log_lines",
            "Access log lines written",
            written.clone(),
        );
        let (tx, rx) = mpsc::sync_channel(settings.buffer);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            out: std::io::BufWriter::with_capacity(64 * 1024, out),
            settings: settings.clone(),
            written,
            line: Vec::with_capacity(512),
            format: LineWriter::default(),
        };
        let stop_w = stop.clone();
        let handle = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run(rx, &stop_w))?;
        Ok(AccessLog {
            tx: Some(tx),
            dropped,
            stop,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// True when lines are recorded (callers skip building entries otherwise).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Hands `entry` to the writer; drops and counts it when the buffer is full.
    #[inline]
    pub fn send(&self, entry: Entry) {
        if let Some(tx) = &self.tx {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(entry) {
                self.dropped.inc();
            }
        }
    }

    /// An entry to send when a streamed body ends (its bytes and duration known then);
    /// None when the log is off.
    /// Boxed: it rides in every response body, which stays small when the log is off.
    pub fn pending(&self, entry: Entry, started: std::time::Instant) -> Option<Box<Pending>> {
        self.tx.as_ref().map(|tx| {
            Box::new(Pending {
                entry,
                started,
                tx: tx.clone(),
                dropped: self.dropped.clone(),
            })
        })
    }

    /// Writes what is queued and stops the writer (at shutdown, so no line is lost).
    pub fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self
            .writer
            .lock()
            .expect("access log lock is never poisoned")
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// An entry waiting for its response body to end: sent by [`Pending::finish`], which the
/// body calls when it ends or is dropped.
#[derive(Debug)]
pub struct Pending {
    entry: Entry,
    started: std::time::Instant,
    tx: SyncSender<Entry>,
    dropped: Counter,
}

impl Pending {
    /// Sends the entry with the body's byte count and the time since the request started.
    pub fn finish(self: Box<Self>, bytes_out: u64) {
        let Pending {
            mut entry,
            started,
            tx,
            dropped,
        } = *self;
        entry.bytes_out = bytes_out;
        entry.total = started.elapsed();
        if tx.try_send(entry).is_err() {
            dropped.inc();
        }
    }

    /// The entry, to fill in before it is sent.
    pub fn entry_mut(&mut self) -> &mut Entry {
        &mut self.entry
    }
}

struct Writer {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    settings: AccessLogSettings,
    written: Counter,
    line: Vec<u8>,
    format: LineWriter,
}

impl Writer {
    fn run(mut self, rx: Receiver<Entry>, stop: &AtomicBool) {
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            let mut wrote = false;
            loop {
                match rx.try_recv() {
                    Ok(entry) => {
                        self.write(&entry);
                        wrote = true;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        let _ = self.out.flush();
                        return;
                    }
                }
            }
            if wrote {
                let _ = self.out.flush();
            }
            if stopping {
                return;
            }
            std::thread::sleep(TICK);
        }
    }

    fn write(&mut self, entry: &Entry) {
        self.line.clear();
        match self.settings.format {
            AccessLogFormat::Json => self.format.event(&mut self.line, entry),
            AccessLogFormat::SplunkHec => {
                self.format.envelope(&mut self.line, entry, &self.settings)
            }
        }
        self.line.push(b'\n');
        if self.out.write_all(&self.line).is_ok() {
            self.written.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn entry() -> Entry {
        Entry {
            start: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            client: "10.1.2.3".parse().unwrap(),
            user: Some(Arc::from("student0001")),
            group: Some(Arc::from("students")),
            method: Method::GET,
            uri: "http://news.example/a?b=1".parse().unwrap(),
            category: Some(Arc::from("news")),
            rule: None,
            decision: DecisionLabel::Allowed,
            status: 200,
            bytes_in: Some(0),
            bytes_out: 1024,
            head: Duration::from_micros(850),
            total: Duration::from_micros(1200),
            sni: None,
            error: None,
        }
    }

    fn settings(path: PathBuf, format: AccessLogFormat, buffer: usize) -> AccessLogSettings {
        AccessLogSettings {
            path: Some(path),
            format,
            buffer,
            host: "proxy-1".into(),
            source: "filter-proxy".into(),
            sourcetype: "filter-proxy:access".into(),
            index: Some("proxy".into()),
        }
    }

    #[test]
    fn json_lines_carry_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(
            &settings(path.clone(), AccessLogFormat::Json, 16),
            &mut Registry::default(),
        )
        .unwrap();
        log.send(entry());
        log.close();
        let text = std::fs::read_to_string(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["time"], "2023-11-14T22:13:20.123000Z");
        assert_eq!(line["client"], "10.1.2.3");
        assert_eq!(line["user"], "student0001");
        assert_eq!(line["group"], "students");
        assert_eq!(line["url"], "http://news.example/a?b=1");
        assert_eq!(line["host"], "news.example");
        assert_eq!(line["category"], "news");
        assert_eq!(line["decision"], "allowed");
        assert_eq!(line["status"], 200);
        assert_eq!(line["bytes_out"], 1024);
        assert_eq!(line["head_us"], 850);
        assert_eq!(line["duration_us"], 1200);
        assert_eq!(line["upstream"], "news.example:80");
        assert_eq!(line["kind"], "http");
    }

    #[test]
    fn splunk_envelopes_wrap_the_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(
            &settings(path.clone(), AccessLogFormat::SplunkHec, 16),
            &mut Registry::default(),
        )
        .unwrap();
        log.send(entry());
        log.send(entry());
        log.close();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let env: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(env["time"], 1_700_000_000.123);
        assert_eq!(env["host"], "proxy-1");
        assert_eq!(env["source"], "filter-proxy");
        assert_eq!(env["sourcetype"], "filter-proxy:access");
        assert_eq!(env["index"], "proxy");
        assert_eq!(env["event"]["user"], "student0001");
    }

    #[test]
    fn a_full_buffer_drops_and_counts_instead_of_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::sync_channel(2);
        let log = AccessLog {
            tx: Some(tx),
            dropped: Counter::default(),
            stop: Arc::default(),
            writer: Mutex::new(None),
        };
        // Nobody drains: two fit, the rest are dropped at once.
        for _ in 0..5 {
            log.send(entry());
        }
        assert_eq!(log.dropped.get(), 3);
        drop(dir);
    }
}
