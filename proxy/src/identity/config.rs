//! `[identity]` as written in the proxy config: which sources to try and in what order,
//! the user table, the trusted appliance headers and the client-IP map.

use serde::Deserialize;

use super::resolved::IdentitySource;

/// Raw identity settings, as they appear in the proxy config's `[identity]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Sources to try, in order. Default: `["basic", "trusted_header", "client_ip"]`.
    #[serde(default = "default_order")]
    pub order: Vec<IdentitySource>,
    /// The user table (`user,group,password` CSV). Relative paths are relative to the config file.
    pub users_file: Option<std::path::PathBuf>,
    /// Header carrying the user, from a trusted appliance.
    #[serde(default = "default_trusted_user_header")]
    pub trusted_user_header: String,
    /// Header carrying the group, from a trusted appliance.
    #[serde(default = "default_trusted_group_header")]
    pub trusted_group_header: String,
    /// Source networks whose trusted identity headers are honoured.
    #[serde(default)]
    pub trusted_cidrs: Vec<ipnet::IpNet>,
    /// Client network -> user name.
    #[serde(default)]
    pub ip_users: Vec<IpUser>,
    /// Answer a request that no source identified with `407 Proxy Authentication Required`
    /// and a Basic challenge, instead of filtering it with the `default` group. CORS
    /// preflights are never challenged (browsers send no credentials on them; see
    /// `crate::respond::unauthenticated_preflight`). Needs `basic` in `order`.
    #[serde(default)]
    pub require_auth: bool,
    /// The realm named in the challenge (browsers show it in their login prompt).
    #[serde(default = "default_auth_realm")]
    pub auth_realm: String,
}

/// One entry of the client-IP map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpUser {
    /// Client network (longest prefix wins).
    pub net: ipnet::IpNet,
    /// User name; must be in the users table when one is configured.
    pub user: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            order: default_order(),
            users_file: None,
            trusted_user_header: default_trusted_user_header(),
            trusted_group_header: default_trusted_group_header(),
            trusted_cidrs: Vec::new(),
            ip_users: Vec::new(),
            require_auth: false,
            auth_realm: default_auth_realm(),
        }
    }
}

fn default_order() -> Vec<IdentitySource> {
    vec![
        IdentitySource::Basic,
        IdentitySource::TrustedHeader,
        IdentitySource::ClientIp,
    ]
}
fn default_trusted_user_header() -> String {
    "x-appliance-user".to_string()
}
fn default_trusted_group_header() -> String {
    "x-appliance-group".to_string()
}
fn default_auth_realm() -> String {
    "web filter".to_string()
}
