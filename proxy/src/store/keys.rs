//! The Redis key layout of the store (all keys under a configurable prefix, default `fp:`):
//!
//! | key                    | value                                   | example                                   |
//! |------------------------|-----------------------------------------|-------------------------------------------|
//! | `<prefix>ip:<addr>`    | user name                               | `fp:ip:127.16.0.1` -> `student0001`       |
//! | `<prefix>user:<name>`  | group name                              | `fp:user:student0001` -> `students`       |
//! | `<prefix>group:<name>` | the group's policy as JSON              | `fp:group:students` -> `{"blocked_categories":["adult"],"always_allow":[],"always_deny":[]}` |
//!
//! Addresses are written canonically (`::ffff:10.0.0.1` as `10.0.0.1`). Plain string
//! values keep every lookup a single `GET`. A key absent from Redis falls back to the
//! embedded data (users table, policy file), so Redis can hold overrides only.

use std::net::IpAddr;

/// `<prefix>ip:<addr>`.
pub fn ip(prefix: &str, addr: IpAddr) -> String {
    format!("{prefix}ip:{}", addr.to_canonical())
}

/// `<prefix>user:<name>`.
pub fn user(prefix: &str, name: &str) -> String {
    format!("{prefix}user:{name}")
}

/// `<prefix>group:<name>`.
pub fn group(prefix: &str, name: &str) -> String {
    format!("{prefix}group:{name}")
}
