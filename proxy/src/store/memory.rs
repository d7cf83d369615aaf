//! The embedded store: identities from the identity resolver's tables (users CSV, IP map)
//! and policies from the loaded policy file. No network, nothing that can fail, so it has
//! no cache, breaker or fail mode. It answers from the snapshot it is handed, which keeps
//! it consistent with the proxy's atomic reload.

use std::net::IpAddr;

use http::HeaderMap;

use super::verdict::{Resolution, Verdict};
use crate::identity::IdentityResolver;
use crate::policy::PolicySet;

/// The embedded (memory) store.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStore;

impl MemoryStore {
    /// Resolves identity and policy from the loaded files.
    pub async fn resolve(
        &self,
        resolver: &IdentityResolver,
        headers: &HeaderMap,
        client_ip: IpAddr,
        local: &PolicySet,
    ) -> Resolution {
        let identity = resolver.resolve(headers, client_ip).await;
        let policy = local.for_group(&identity.group).clone();
        Resolution {
            identity,
            verdict: Verdict::Decide(policy),
        }
    }
}
