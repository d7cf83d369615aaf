//! PROXY protocol v2 with authenticated identity, shared by the on-premise appliance
//! (which writes the header) and the cloud proxy (which verifies it).
//!
//! # Layout
//! - [`tlv`]: our identity TLVs (subtype byte, payload) inside the custom TLV type.
//! - [`sign`]: the HMAC-SHA256 tag over addresses, identity and timestamp; the clock.
//! - [`build`]: the header the appliance writes.
//! - [`accept`]: reading and verifying the header on the cloud proxy's accept path.
//! - [`config`]: both sides' settings and the helpers their config files share (key
//!   loading, the TLV type check).
//!
//! A crate of its own so that the appliance and the cloud proxy each depend on it and not
//! on each other.
//!
//! Why: the appliance knows *who* is behind a school IP (RADIUS accounting, a static map);
//! the cloud proxy only sees the appliance's address. The header carries the original
//! source and destination, plus the user and group in custom TLVs. Trusting a source CIDR
//! alone would let anyone on that network claim any identity, so the identity, addresses
//! and a timestamp are signed with HMAC-SHA256 under a key both sides share.
//!
//! # Wire layout of our TLVs
//! All our TLVs use one type from the custom range 0xE0-0xEF (default 0xE0). The first
//! value byte is our subtype ([`Subtype`]), the rest is the payload. Cloud vendors also use
//! 0xE* types; a TLV of our type whose first byte is not one of our subtypes is ignored, so
//! the two cannot be confused.
//!
//! The header encoding and decoding use the `ppp` crate; this crate adds the identity
//! layer ([`tlv`], [`sign`]), the header builder for the appliance ([`build`]) and the
//! accepting side for the cloud proxy ([`accept`]).

pub mod accept;
pub mod build;
pub mod config;
pub mod sign;
pub mod tlv;

pub use accept::{accept, AcceptError, ProxiedIdentity};
pub use build::build_header;
pub use config::{CloudSideConfig, ConfigIssue, HmacKey, ProxyProtocolConfig};
pub use sign::unix_now;
pub use tlv::{IdentityTlvs, Subtype, DEFAULT_TLV_TYPE};
