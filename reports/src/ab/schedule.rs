//! The order of an A/B session's trials: control and candidate alternate, pair by pair,
//! with the order inside a pair reversed every other pair: A B, B A, A B, ...
//!
//! Why alternate rather than all A then all B: a machine's speed drifts over minutes
//! (thermal state, a neighbour's build, page cache); back-to-back blocks would turn that
//! drift into a difference between the arms. Alternating puts each candidate trial next
//! to its control, and the decision compares them pair by pair.
//!
//! Why reverse every other pair (A B B A) rather than A B A B: a strict A B A B puts the
//! candidate second in every pair, so anything that makes a trial slower than the one
//! before it (sockets left in TIME_WAIT, a load that grows during the session) counts
//! against the candidate in every pair, and "worse in every pair" is exactly what the
//! decision looks for. A/A sessions on a busy 2-core machine showed that bias; reversing
//! the order cancels a steady drift between pairs instead of accumulating it.

use serde::Serialize;
use std::fmt;

/// Which build a trial measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// The baseline's build (A).
    Control,
    /// The build under test (B).
    Candidate,
}

impl Arm {
    /// "A" or "B".
    pub fn letter(self) -> char {
        match self {
            Arm::Control => 'A',
            Arm::Candidate => 'B',
        }
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arm::Control => "control",
            Arm::Candidate => "candidate",
        })
    }
}

/// One trial of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trial {
    /// Position in the session, from 0.
    pub index: usize,
    /// Which pair it belongs to, from 0.
    pub pair: usize,
    /// Which build it measures.
    pub arm: Arm,
}

impl Trial {
    /// The trial's directory name, e.g. `01-A` (sorts in run order).
    pub fn dir_name(&self) -> String {
        format!("{:02}-{}", self.index + 1, self.arm.letter())
    }
}

/// The session's trials in run order: A B, B A, A B, ..., `pairs` of each.
pub fn plan(pairs: usize) -> Vec<Trial> {
    (0..pairs)
        .flat_map(|pair| {
            let order = if pair % 2 == 0 {
                [Arm::Control, Arm::Candidate]
            } else {
                [Arm::Candidate, Arm::Control]
            };
            order.into_iter().enumerate().map(move |(k, arm)| Trial {
                index: 2 * pair + k,
                pair,
                arm,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trials_alternate_and_pair_up() {
        let trials = plan(3);
        let letters: String = trials.iter().map(|t| t.arm.letter()).collect();
        assert_eq!(letters, "ABBAAB");
        for pair in trials.chunks(2) {
            assert_ne!(
                pair[0].arm, pair[1].arm,
                "each pair has one trial of each arm"
            );
        }
        for (i, t) in trials.iter().enumerate() {
            assert_eq!(t.index, i);
            assert_eq!(t.pair, i / 2);
        }
        assert_eq!(trials[3].dir_name(), "04-A");
        assert!(plan(0).is_empty());
    }
}
