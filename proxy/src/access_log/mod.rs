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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use line::LineWriter;

mod entry;
mod line;
mod settings;

pub use entry::Entry;
pub use settings::{AccessLogFormat, AccessLogSettings};

/// How often the writer drains the channel.
const TICK: Duration = Duration::from_millis(50);

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
    use std::path::PathBuf;
    use std::time::UNIX_EPOCH;

    use http::Method;

    use crate::metrics::DecisionLabel;

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
