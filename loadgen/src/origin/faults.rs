//! Fault injection of the test origin, changed at run time through its admin route.
//!
//! Fault profiles (slow or failing upstream) need the origin to misbehave on
//! demand without a restart, so the settings live in atomics read on every
//! request: no lock on the hot path.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Parts per million, the unit of the fault rates.
const PPM: f64 = 1_000_000.0;

/// The fault settings as the admin route reads and writes them (JSON).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSettings {
    /// Extra delay added before every answer, in milliseconds.
    pub delay_ms: u64,
    /// Fraction (0 to 1) of requests answered with `error_status` instead.
    pub error_rate: f64,
    /// Status of injected errors (500 to 599).
    pub error_status: u16,
    /// Fraction (0 to 1) of requests whose connection is closed without an answer.
    pub reset_rate: f64,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            delay_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            reset_rate: 0.0,
        }
    }
}

impl FaultSettings {
    /// Checks every field, naming each one that is out of range.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if self.delay_ms > 60_000 {
            errors.push("delay_ms: must be at most 60000".to_string());
        }
        for (key, rate) in [
            ("error_rate", self.error_rate),
            ("reset_rate", self.reset_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                errors.push(format!("{key}: must be between 0 and 1"));
            }
        }
        if !(500..=599).contains(&self.error_status) {
            errors.push("error_status: must be a 5xx status".to_string());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// What a request suffers from the current fault settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer normally.
    None,
    /// Answer with this status instead.
    Error(u16),
    /// Close the connection without an answer.
    Reset,
}

/// The live fault settings, shared by every connection of the origin.
#[derive(Debug, Default)]
pub struct Faults {
    delay_ms: AtomicU64,
    error_ppm: AtomicU32,
    error_status: AtomicU16,
    reset_ppm: AtomicU32,
}

impl Faults {
    /// Replaces the settings (already validated).
    pub fn set(&self, s: &FaultSettings) {
        self.delay_ms.store(s.delay_ms, Ordering::Relaxed);
        self.error_ppm
            .store((s.error_rate * PPM) as u32, Ordering::Relaxed);
        self.error_status.store(s.error_status, Ordering::Relaxed);
        self.reset_ppm
            .store((s.reset_rate * PPM) as u32, Ordering::Relaxed);
    }

    /// The current settings.
    pub fn get(&self) -> FaultSettings {
        let status = self.error_status.load(Ordering::Relaxed);
        FaultSettings {
            delay_ms: self.delay_ms.load(Ordering::Relaxed),
            error_rate: f64::from(self.error_ppm.load(Ordering::Relaxed)) / PPM,
            error_status: if status == 0 { 503 } else { status },
            reset_rate: f64::from(self.reset_ppm.load(Ordering::Relaxed)) / PPM,
        }
    }

    /// The injected delay, if any.
    pub fn delay(&self) -> Option<Duration> {
        match self.delay_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Draws what happens to one request.
    pub fn draw(&self) -> FaultAction {
        let reset = self.reset_ppm.load(Ordering::Relaxed);
        let error = self.error_ppm.load(Ordering::Relaxed);
        if reset == 0 && error == 0 {
            return FaultAction::None;
        }
        let roll = rand::random_range(0..1_000_000u32);
        if roll < reset {
            FaultAction::Reset
        } else if roll < reset.saturating_add(error) {
            FaultAction::Error(self.error_status.load(Ordering::Relaxed))
        } else {
            FaultAction::None
        }
    }
}
