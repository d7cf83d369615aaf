//! RADIUS accounting (RFC 2866): who is behind each school IP.
//!
//! The school's NAS (Wi-Fi controller, VPN, 802.1X switch) reports sessions to the
//! appliance; [`listener`] verifies and applies them to the [`table::SessionTable`] that
//! the forwarder consults for every new connection.

pub mod client;
pub mod codec;
pub mod listener;
pub mod record;
pub mod table;

pub use client::{AccountingClient, AccountingEvent};
pub use listener::{GroupAttribute, RadiusClient, RadiusListener, RadiusSettings};
pub use table::SessionTable;
