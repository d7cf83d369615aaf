//! Why the store could not answer.

/// Why the store could not answer. Cloneable: one in-flight fetch answers many waiters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer within the per-call timeout.
    #[error("redis did not answer within the timeout")]
    Timeout,
    /// The circuit breaker is open: Redis was not asked.
    #[error("redis circuit breaker is open")]
    BreakerOpen,
    /// Redis refused the connection or answered with an error.
    #[error("redis: {0}")]
    Redis(String),
    /// A value in Redis is malformed (e.g. a policy naming an unknown category).
    #[error("bad data in redis: {0}")]
    BadData(String),
}
