//! Execution segments: one worker's deterministic slice of a run, as k6 defines them.
//!
//! Worker `i` of `n` runs the segment `(i-1)/n .. i/n` of the whole load. A whole
//! quantity `v` (users, connections, identities) is cut at `round(v * k / n)` for every
//! `k`, rounding half to even as k6's `ExecutionSegment.Scale` does, so a worker's share
//! is `round(v * i / n) - round(v * (i-1) / n)`: the shares telescope to exactly `v`, and
//! no user is lost or doubled to rounding whatever `n`. A rate is split in proportion
//! (`rate / n`), since it need not be whole. Integer arithmetic throughout, so the cut
//! points are exact even for large `v`.
//!
//! The index comes from `--segment I/N`, or from `JOB_COMPLETION_INDEX` (0-based, as an
//! Indexed Job sets it) when `--segment` gives only `N`: the worker with completion index
//! `k` runs segment `k+1` of `N`.

use std::fmt;
use std::ops::Range;

/// The variable an Indexed Job sets to the worker's 0-based index.
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// A `--segment` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Not `I/N` or `N`.
    #[error("--segment {0:?}: expected I/N (1 <= I <= N) or N with {INDEX_VAR} set")]
    Syntax(String),
    /// The index is outside `1..=N`.
    #[error("--segment: index {index} is outside 1..={count}")]
    Range {
        /// The 1-based index.
        index: u64,
        /// Workers.
        count: u64,
    },
    /// Only `N` was given and the index variable is missing or not a number.
    #[error("--segment {count}: the index comes from {INDEX_VAR}, which is {found}")]
    NoIndex {
        /// Workers.
        count: u64,
        /// What the variable held.
        found: String,
    },
    /// The worker's share of something it needs at least one of is empty.
    #[error("segment {segment} gets no {what}: {total} cannot be shared by {count} workers")]
    Empty {
        /// The segment.
        segment: Segment,
        /// Users, identities, ...
        what: &'static str,
        /// The whole quantity.
        total: u64,
        /// Workers.
        count: u32,
    },
}

/// Segment `index` (1-based) of `count`: the interval `(index-1)/count .. index/count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    index: u32,
    count: u32,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Segment {
    /// The whole run (one worker).
    pub const WHOLE: Segment = Segment { index: 1, count: 1 };

    /// Segment `index` (1-based) of `count`.
    pub fn new(index: u64, count: u64) -> Result<Segment, SegmentError> {
        if count == 0 || index == 0 || index > count || count > u64::from(u32::MAX) {
            return Err(SegmentError::Range { index, count });
        }
        Ok(Segment {
            index: index as u32,
            count: count as u32,
        })
    }

    /// Parses `I/N`, or `N` with the 0-based index from `job_index` (the value of
    /// [`INDEX_VAR`], passed in so callers and tests need not touch the environment).
    pub fn parse(text: &str, job_index: Option<&str>) -> Result<Segment, SegmentError> {
        let syntax = || SegmentError::Syntax(text.to_owned());
        let number = |t: &str| t.trim().parse::<u64>().map_err(|_| syntax());
        match text.split_once('/') {
            Some((i, n)) => Segment::new(number(i)?, number(n)?),
            None => {
                let count = number(text)?;
                let k = job_index
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or_else(|| SegmentError::NoIndex {
                        count,
                        found: job_index.map_or("unset".to_owned(), |v| format!("{v:?}")),
                    })?;
                Segment::new(k.saturating_add(1), count)
            }
        }
    }

    /// The 1-based index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// Workers.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this is the whole run.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// `round(v * k / n)`, half to even: the cut point `k` of `n` in `0..v`.
    fn cut(v: u64, k: u32, n: u32) -> u64 {
        let num = u128::from(v) * u128::from(k);
        let n = u128::from(n);
        let (q, r) = (num / n, num % n);
        let up = match (2 * r).cmp(&n) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => q % 2 == 1,
            std::cmp::Ordering::Less => false,
        };
        (q + u128::from(up)) as u64
    }

    /// This worker's part of `0..v`: disjoint from every other worker's, and together
    /// they cover it.
    pub fn range(self, v: u64) -> Range<u64> {
        Self::cut(v, self.index - 1, self.count)..Self::cut(v, self.index, self.count)
    }

    /// This worker's share of a whole quantity (users, connections).
    pub fn scale(self, v: u64) -> u64 {
        let r = self.range(v);
        r.end - r.start
    }

    /// This worker's share of a rate.
    pub fn scale_rate(self, rate: f64) -> f64 {
        rate / f64::from(self.count)
    }

    /// [`Segment::scale`], refusing an empty share of something the worker needs.
    pub fn scale_nonzero(self, v: u64, what: &'static str) -> Result<u64, SegmentError> {
        match self.scale(v) {
            0 => Err(SegmentError::Empty {
                segment: self,
                what,
                total: v,
                count: self.count,
            }),
            n => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every quantity up to 1000 over every worker count up to 40 (uneven ones
    /// included): the shares are disjoint, contiguous, add up exactly, and differ by at
    /// most one.
    #[test]
    fn shares_add_up_exactly_for_every_split() {
        for n in 1..=40u64 {
            for v in (0..=1000u64).chain([u64::MAX / 3, u64::MAX]) {
                let mut next = 0;
                let mut sizes = Vec::new();
                for i in 1..=n {
                    let s = Segment::new(i, n).unwrap();
                    let r = s.range(v);
                    assert_eq!(r.start, next, "segment {s} of {v} is not contiguous");
                    next = r.end;
                    sizes.push(s.scale(v));
                }
                assert_eq!(next, v, "segments of {v} over {n} do not cover it");
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "{v} over {n}: shares {sizes:?} are uneven");
            }
        }
    }

    #[test]
    fn rounds_half_to_even_as_k6() {
        // 5 users over 2: the cut is round(2.5) = 2, so 2 and 3.
        assert_eq!(Segment::new(1, 2).unwrap().scale(5), 2);
        assert_eq!(Segment::new(2, 2).unwrap().scale(5), 3);
        // 7 over 3: cuts round(2.33) = 2, round(4.67) = 5: 2, 3, 2.
        let shares: Vec<u64> = (1..=3)
            .map(|i| Segment::new(i, 3).unwrap().scale(7))
            .collect();
        assert_eq!(shares, [2, 3, 2]);
        let rates: f64 = (1..=3)
            .map(|i| Segment::new(i, 3).unwrap().scale_rate(900.0))
            .sum();
        assert!((rates - 900.0).abs() < 1e-9);
    }

    #[test]
    fn parses_both_forms_and_refuses_the_rest() {
        assert_eq!(
            Segment::parse("2/3", None).unwrap(),
            Segment { index: 2, count: 3 }
        );
        assert_eq!(
            Segment::parse("3", Some("0")).unwrap(),
            Segment { index: 1, count: 3 },
            "completion index 0 is the first segment"
        );
        assert_eq!(Segment::parse("2/3", Some("0")).unwrap().index(), 2);
        assert!(matches!(
            Segment::parse("3", None),
            Err(SegmentError::NoIndex { .. })
        ));
        assert!(matches!(
            Segment::parse("3", Some("3")),
            Err(SegmentError::Range { index: 4, count: 3 })
        ));
        for bad in ["0/3", "4/3", "1/0", "a/3", "", "1/2/3"] {
            assert!(Segment::parse(bad, None).is_err(), "{bad}");
        }
        // 2 over 3: cuts at round(2/3) = 1 and round(4/3) = 1, so segment 2 is empty.
        let empty = Segment::new(2, 3).unwrap().scale_nonzero(2, "users");
        assert!(empty.unwrap_err().to_string().contains("gets no users"));
    }
}
