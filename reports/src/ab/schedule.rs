//! The order of an A/B session's trials: control and candidate alternate, A B A B ...
//!
//! Why alternate rather than all A then all B: a machine's speed drifts over minutes
//! (thermal state, a neighbour's build, page cache); back-to-back blocks would turn that
//! drift into a difference between the arms. Alternating puts each candidate trial next
//! to its control, and the decision compares them pair by pair.

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

/// The session's trials in run order: A B A B ..., `pairs` of each.
pub fn plan(pairs: usize) -> Vec<Trial> {
    (0..pairs)
        .flat_map(|pair| {
            [Arm::Control, Arm::Candidate]
                .into_iter()
                .enumerate()
                .map(move |(k, arm)| Trial {
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
        assert_eq!(letters, "ABABAB");
        for (i, t) in trials.iter().enumerate() {
            assert_eq!(t.index, i);
            assert_eq!(t.pair, i / 2);
        }
        assert_eq!(trials[3].dir_name(), "04-B");
        assert!(plan(0).is_empty());
    }
}
