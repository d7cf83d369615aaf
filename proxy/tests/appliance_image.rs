//! Keeps the image and the local rig honest without a Docker engine: the Dockerfile builds
//! with the same command CI uses, runs non-root on a distroless base with a health check,
//! and the rig's configs are valid and agree with each other and with docker-compose.yml.

use std::path::{Path, PathBuf};

use appliance::ApplianceConfig;
use filter_proxy::proxy_protocol::ProxyProtocolConfig;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Dockerfile instructions with line continuations joined.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    out
}

#[test]
fn dockerfile_builds_what_ci_builds_and_runs_minimal_non_root() {
    let ins = instructions(&read("proxy/Dockerfile"));
    let build = ins
        .iter()
        .find(|i| i.contains("-p filter-proxy"))
        .expect("a RUN that builds filter-proxy");
    assert!(
        build.contains("cargo build --release --locked -p filter-proxy "),
        "{build}"
    );
    // The final stage is the default build target: it must be the runtime image.
    let stages: Vec<&String> = ins.iter().filter(|i| i.starts_with("FROM ")).collect();
    let last = stages.last().expect("stages");
    assert!(
        last.contains("distroless") && last.ends_with("AS runtime"),
        "{last}"
    );
    let runtime = ins
        .iter()
        .skip_while(|i| !i.ends_with("AS runtime"))
        .collect::<Vec<_>>();
    assert!(runtime.iter().any(|i| i.starts_with("USER nonroot")));
    let health = runtime
        .iter()
        .find(|i| i.starts_with("HEALTHCHECK"))
        .expect("health check");
    assert!(health.contains("/healthz"), "{health}");
    assert!(runtime
        .iter()
        .any(|i| i.contains("ENTRYPOINT [\"/usr/local/bin/filter-proxy\"]")));
    assert!(runtime
        .iter()
        .any(|i| i.contains("COPY --from=build /out/filter-proxy /usr/local/bin/filter-proxy")));
    // The build context must not ship the target dir.
    let ignore = read("proxy/Dockerfile.dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target"));
}

#[test]
fn rig_configs_are_valid_and_agree() {
    let rig = repo().join("proxy/compose");
    let appliance =
        ApplianceConfig::load(&rig.join("appliance.toml")).expect("valid appliance config");
    let compose = read("docker-compose.yml");

    // The cloud proxy's [proxy_protocol] section validates and trusts the appliance.
    let proxy_text = read("proxy/compose/proxy.toml");
    let table: toml::Table = toml::from_str(&proxy_text).expect("proxy.toml parses");
    let section = table
        .get("proxy_protocol")
        .expect("[proxy_protocol] in the rig's proxy config")
        .clone();
    let pp: ProxyProtocolConfig = section.try_into().expect("section matches the schema");
    let cloud = pp.validate(&rig, "proxy_protocol").expect("valid section");
    assert_eq!(
        cloud.key.as_bytes(),
        appliance.key.as_bytes(),
        "both sides share one key"
    );

    // Addresses named in the configs are the ones compose assigns.
    let appliance_ip = "10.89.0.13";
    assert!(compose.contains(&format!("ipv4_address: {appliance_ip}")));
    assert!(cloud
        .trusted_cidrs
        .iter()
        .any(|n| n.contains(&appliance_ip.parse::<std::net::IpAddr>().expect("ip"))));
    let (proxy_ip, _) = appliance.upstream.rsplit_once(':').expect("host:port");
    assert!(compose.contains(&format!("ipv4_address: {proxy_ip}")));
    // Both roles serve admin on 9090 inside their container, as the HEALTHCHECK expects.
    assert_eq!(appliance.admin_listen.map(|a| a.port()), Some(9090));
    assert!(proxy_text.contains("admin_listen = \"0.0.0.0:9090\""));
    // The published admin port guards its debug and reload routes with a token compose
    // passes in.
    let token_env = table
        .get("admin")
        .and_then(|a| a.get("token_env"))
        .and_then(toml::Value::as_str)
        .expect("[admin] token_env in the rig's proxy config");
    assert!(compose.contains(&format!("{token_env}: ${{{token_env}:?")));
    for path in ["proxy/compose/appliance.toml", "proxy/compose/proxy.toml"] {
        let in_container = path.replace("proxy/compose/", "/etc/filter-proxy/rig/");
        assert!(
            compose.contains(&in_container),
            "{in_container} not used by compose"
        );
    }
}
