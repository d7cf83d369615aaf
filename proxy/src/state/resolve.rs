//! Who sent a request and which policy applies to it: one store call per request (or a
//! verified appliance's word), shared by plain HTTP, CONNECT and transparently
//! intercepted TLS.

use std::sync::Arc;

use crate::error::ProxyError;
use crate::identity::{Identity, IdentitySource};
use crate::policy::Policy;
use crate::reload::Snapshot;
use crate::store::Verdict;

use super::client::{ApplianceInfo, ClientCtx};
use super::shared::Shared;

/// Who sent the request and the policy that applies, from the store (one call per
/// request); a fail-closed store that cannot answer refuses the request.
///
/// With `identity.require_auth`, a request no source identified is refused with
/// [`ProxyError::AuthRequired`] (a 407) — but only when the store answered (a store that
/// is down loses every identity; challenging then would prompt users who did send their
/// credentials) and never for a client behind an appliance (a transparently intercepted
/// browser does not know there is a proxy to authenticate to).
pub(crate) async fn resolve(
    shared: &Shared,
    snapshot: &Snapshot,
    headers: &http::HeaderMap,
    client: &ClientCtx,
) -> Result<(Identity, Arc<Policy>), ProxyError> {
    if let Some(identity) = client
        .appliance
        .as_ref()
        .and_then(|a| appliance_identity(shared, a))
    {
        shared.metrics.identity(identity.source);
        let policy = snapshot.policies.for_group(&identity.group).clone();
        return Ok((identity, policy));
    }
    let resolution = shared
        .store
        .resolve(
            &shared.resolver,
            headers,
            client.client_ip,
            &snapshot.policies,
            &snapshot.db,
        )
        .await;
    shared.metrics.identity(resolution.identity.source);
    let challenge = match (
        &resolution.verdict,
        resolution.identity.source,
        &client.appliance,
    ) {
        (Verdict::Decide(_), IdentitySource::Unknown, None) => shared.resolver.challenge(),
        _ => None,
    };
    if let Some(challenge) = challenge {
        return Err(ProxyError::AuthRequired(challenge.clone()));
    }
    match resolution.verdict {
        Verdict::Decide(policy) | Verdict::FailOpen(policy) => Ok((resolution.identity, policy)),
        Verdict::FailClosed => Err(ProxyError::FilteringUnavailable),
    }
}

/// The identity a verified appliance header vouches for: its group, or the group of its
/// user in the user table (the default group for an unknown user). None when the header
/// named nobody, so the usual sources (client IP = the header's source) apply.
fn appliance_identity(shared: &Shared, appliance: &ApplianceInfo) -> Option<Identity> {
    let group = match (&appliance.group, &appliance.user) {
        (Some(group), _) => group.clone(),
        (None, Some(user)) => shared
            .resolver
            .user_group(user)
            .cloned()
            .unwrap_or_else(|| shared.resolver.unknown().group),
        (None, None) => return None,
    };
    Some(Identity {
        user: appliance.user.clone(),
        group,
        source: IdentitySource::TrustedHeader,
    })
}
