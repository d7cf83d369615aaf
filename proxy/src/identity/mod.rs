//! Who sent a request: resolves user and group from, in configured order, a
//! `Proxy-Authorization: Basic` header (checked against the user table), a trusted
//! identity header (honoured only from trusted source CIDRs), and a client-IP -> user map.
//! Unknown identities get the `default` group.
//!
//! Users file format (`scenarios/demo/users.csv`): `user,group,password` with a header row.

mod config;
mod error;
mod ip_map;
mod resolved;
mod resolver;
mod users;

pub use config::{IdentityConfig, IpUser};
pub use error::IdentityError;
pub use ip_map::IpMap;
pub use resolved::{Identity, IdentitySource};
pub use resolver::IdentityResolver;
pub use users::{load_users, parse_users, UserRecord};

#[cfg(test)]
mod tests;
