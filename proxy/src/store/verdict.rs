//! What a store lookup tells the request path: who sent the request and the policy to
//! decide with, or that it must be refused (fail closed).

use std::sync::Arc;

use crate::identity::Identity;
use crate::policy::Policy;

/// What the request path does next.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Decide with this policy.
    Decide(Arc<Policy>),
    /// The store could not answer and the fail mode is `open`: decide with the `default`
    /// group's policy.
    FailOpen(Arc<Policy>),
    /// The store could not answer and the fail mode is `closed`: answer with the
    /// "filtering unavailable" block page.
    FailClosed,
}

impl Verdict {
    /// The policy to decide with, unless the request must be blocked.
    pub fn policy(&self) -> Option<&Arc<Policy>> {
        match self {
            Verdict::Decide(policy) | Verdict::FailOpen(policy) => Some(policy),
            Verdict::FailClosed => None,
        }
    }
}

/// The identity of a request and what to do with it.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Who sent the request (the unknown identity when the store failed).
    pub identity: Identity,
    /// The policy to decide with, or the fail-closed block.
    pub verdict: Verdict,
}
