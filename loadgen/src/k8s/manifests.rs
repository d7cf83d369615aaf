//! The manifests of a distributed run, from a checked plan.

use std::time::Duration;

use serde_json::{json, Value};

use super::args::RenderArgs;
use super::error::K8sError;
use super::inputs::{Content, Inputs};
use super::sizing::{Cost, Resources};
use crate::profile::Profile;

/// Where the inputs ConfigMap is mounted in every pod.
pub const INPUTS_MOUNT: &str = "/etc/loadgen/inputs";
/// Where the results volume is mounted in every pod.
pub const RESULTS_MOUNT: &str = "/results";
/// The origin's plain HTTP port (it also answers TLS there).
pub const ORIGIN_HTTP_PORT: u16 = 8080;
/// The origin's HTTPS port.
pub const ORIGIN_TLS_PORT: u16 = 8443;
/// The distroless "nonroot" user, as the proxy's image uses.
pub const NONROOT: u64 = 65532;
/// Beyond the run itself, how long the workers' Job may take: pulling the image,
/// setting up, waiting for the shared start.
pub const JOB_SLACK: Duration = Duration::from_secs(15 * 60);
/// The image the fetch pod uses to copy results out: `kubectl cp` needs `tar`, which
/// the FROM-scratch loadgen image does not have.
pub const FETCH_IMAGE: &str = "busybox:1.36";

/// One manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// File name, apply order first.
    pub file: String,
    /// The object.
    pub body: Value,
}

/// Everything the manifests are made from, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Run name (a DNS label).
    pub name: String,
    /// Worker pods.
    pub workers: u32,
    /// The proxy as the workers reach it.
    pub proxy: String,
    /// Total rate, requests per second.
    pub rate: f64,
    /// Total users, when overridden.
    pub users: Option<u64>,
    /// Run length as given, when overridden.
    pub duration_arg: Option<String>,
    /// Run length.
    pub duration: Duration,
    /// The loadgen image.
    pub image: String,
    /// Storage class of the results volume.
    pub storage_class: Option<String>,
    /// The profile's files.
    pub inputs: Inputs,
    /// What a worker was measured to cost.
    pub cost: Cost,
    /// One worker's resources.
    pub worker: Resources,
    /// The origin's resources (it serves the whole rate).
    pub origin: Resources,
}

impl Plan {
    /// Checks the arguments and reads the profile and the measured cost.
    pub fn from_args(args: &RenderArgs) -> Result<Plan, K8sError> {
        check_name(&args.name)?;
        if args.workers == 0 || args.workers > 1000 {
            return Err(K8sError::Argument(format!(
                "--workers {}: must be 1 to 1000",
                args.workers
            )));
        }
        check_host_port(&args.proxy)?;
        let profile =
            Profile::load(&args.profile).map_err(|e| K8sError::Input(format!("profile: {e}")))?;
        let rate = match args.rate.or(profile.target_rate) {
            Some(r) if r.is_finite() && r > 0.0 => r,
            Some(r) => return Err(K8sError::Argument(format!("--rate {r}: must be above 0"))),
            None => {
                return Err(K8sError::Argument(format!(
                    "profile {} has no target_rate; give --rate",
                    profile.name
                )))
            }
        };
        let duration = match &args.duration {
            Some(text) => crate::units::parse_duration(text)
                .map_err(|e| K8sError::Argument(format!("--duration: {e}")))?,
            None => profile.duration,
        };
        if args.users == Some(0) {
            return Err(K8sError::Argument("--users: must be above 0".into()));
        }
        let users = args.users.unwrap_or(profile.users);
        if users < u64::from(args.workers) {
            return Err(K8sError::Argument(format!(
                "{users} users cannot be split over {} workers: each needs one",
                args.workers
            )));
        }
        let inputs = Inputs::collect(&args.profile, &profile)?;
        let cost = Cost::measure(&args.cost_from)?;
        let per_worker = rate / f64::from(args.workers);
        Ok(Plan {
            name: args.name.clone(),
            workers: args.workers,
            proxy: args.proxy.clone(),
            rate,
            users: args.users,
            duration_arg: args.duration.clone(),
            duration,
            image: args.image.clone(),
            storage_class: args.storage_class.clone(),
            inputs,
            worker: cost.resources(per_worker),
            origin: cost.resources(rate),
            cost,
        })
    }

    fn object(&self, part: &str) -> String {
        format!("loadgen-{}-{part}", self.name)
    }

    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": "loadgen",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": component,
        })
    }

    fn results_dir(&self) -> String {
        format!("{RESULTS_MOUNT}/{}", self.name)
    }

    fn origin_ca(&self) -> String {
        format!("{}/origin-ca.pem", self.results_dir())
    }

    /// Worker I's run directory (I is the 0-based completion index).
    fn worker_dir(&self, index: &str) -> String {
        format!("{}/worker-{index}", self.results_dir())
    }

    fn metadata(&self, part: &str, component: &str) -> Value {
        json!({"name": self.object(part), "labels": self.labels(component)})
    }

    fn pod_security() -> Value {
        json!({
            "runAsNonRoot": true,
            "runAsUser": NONROOT,
            "runAsGroup": NONROOT,
            "fsGroup": NONROOT,
            "seccompProfile": {"type": "RuntimeDefault"},
        })
    }

    fn container_security() -> Value {
        json!({
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
        })
    }

    fn results_volume(&self) -> Value {
        json!({"name": "results", "persistentVolumeClaim": {"claimName": self.object("results")}})
    }

    fn inputs_volume(&self) -> Value {
        let items: Vec<Value> = self
            .inputs
            .files
            .iter()
            .map(|f| json!({"key": f.key, "path": f.path}))
            .collect();
        json!({"name": "inputs", "configMap": {"name": self.object("inputs"), "items": items}})
    }

    /// Every manifest, in apply order.
    pub fn manifests(&self) -> Vec<Manifest> {
        vec![
            Manifest {
                file: "10-inputs.configmap.json".into(),
                body: self.configmap(),
            },
            Manifest {
                file: "20-results.pvc.json".into(),
                body: self.pvc(),
            },
            Manifest {
                file: "30-origin.deployment.json".into(),
                body: self.origin_deployment(),
            },
            Manifest {
                file: "31-origin.service.json".into(),
                body: self.origin_service(),
            },
            Manifest {
                file: "40-workers.job.json".into(),
                body: self.workers_job(),
            },
            Manifest {
                file: "50-merge.job.json".into(),
                body: self.merge_job(),
            },
            Manifest {
                file: "60-fetch.pod.json".into(),
                body: self.fetch_pod(),
            },
        ]
    }

    fn configmap(&self) -> Value {
        use base64::Engine;
        let mut data = serde_json::Map::new();
        let mut binary = serde_json::Map::new();
        for f in &self.inputs.files {
            match &f.content {
                Content::Text(text) => data.insert(f.key.clone(), json!(text)),
                Content::Gzip(bytes) => binary.insert(
                    f.key.clone(),
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
                ),
            };
        }
        let mut body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata("inputs", "inputs"),
            "data": data,
        });
        if !binary.is_empty() {
            body["binaryData"] = Value::Object(binary);
        }
        body
    }

    /// Size of the results volume: a worker's run directory is a few MiB plus its
    /// per-second series and interval log; a floor of 1 GiB.
    pub fn storage_gib(&self) -> u64 {
        let per_worker_mib = 32 + self.duration.as_secs() / 64;
        let mib = per_worker_mib * (u64::from(self.workers) + 1);
        mib.div_ceil(1024).max(1)
    }

    fn pvc(&self) -> Value {
        let mut spec = json!({
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": format!("{}Gi", self.storage_gib())}},
        });
        if let Some(class) = &self.storage_class {
            spec["storageClassName"] = json!(class);
        }
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": self.metadata("results", "results"),
            "spec": spec,
        })
    }

    fn origin_deployment(&self) -> Value {
        let labels = self.labels("origin");
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata("origin", "origin"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": Self::pod_security(),
                        "containers": [{
                            "name": "origin",
                            "image": self.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/usr/local/bin/loadgen"],
                            "args": [
                                "origin",
                                "--listen", format!("0.0.0.0:{ORIGIN_HTTP_PORT}"),
                                "--tls-listen", format!("0.0.0.0:{ORIGIN_TLS_PORT}"),
                                "--ca-out", self.origin_ca(),
                            ],
                            "ports": [
                                {"name": "http", "containerPort": ORIGIN_HTTP_PORT},
                                {"name": "https", "containerPort": ORIGIN_TLS_PORT},
                            ],
                            // The CA is written before the listeners serve, so a ready
                            // origin has its CA on the volume for the workers.
                            "readinessProbe": {
                                "tcpSocket": {"port": ORIGIN_HTTP_PORT},
                                "periodSeconds": 2,
                            },
                            "resources": self.origin.to_json(),
                            "securityContext": Self::container_security(),
                            "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT}],
                        }],
                        "volumes": [self.results_volume()],
                    },
                },
            },
        })
    }

    fn origin_service(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata("origin", "origin"),
            "spec": {
                "selector": self.labels("origin"),
                "ports": [
                    {"name": "http", "port": ORIGIN_HTTP_PORT, "targetPort": "http"},
                    {"name": "https", "port": ORIGIN_TLS_PORT, "targetPort": "https"},
                ],
            },
        })
    }

    /// The worker's command line; `$(VAR)` is expanded by the kubelet from the
    /// container's environment.
    pub fn worker_args(&self) -> Vec<String> {
        let origin = self.object("origin");
        let mut args: Vec<String> = [
            "attack",
            "--driver",
            "open-loop",
            "--quiet",
            "--profile",
            &format!("{INPUTS_MOUNT}/{}", self.inputs.profile),
            "--proxy",
            &self.proxy,
            "--origin",
            &format!("{origin}:{ORIGIN_HTTP_PORT}"),
            "--origin-tls",
            &format!("{origin}:{ORIGIN_TLS_PORT}"),
            "--origin-ca",
            &self.origin_ca(),
            "--rate",
            &self.rate.to_string(),
            // N alone: the index comes from JOB_COMPLETION_INDEX.
            "--segment",
            &self.workers.to_string(),
            "--start-at",
            "$(START_AT)",
            "--out",
            &self.worker_dir("$(JOB_COMPLETION_INDEX)"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(users) = self.users {
            args.extend(["--users".to_string(), users.to_string()]);
        }
        if let Some(d) = &self.duration_arg {
            args.extend(["--duration".to_string(), d.clone()]);
        }
        args
    }

    fn workers_job(&self) -> Value {
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.metadata("workers", "worker"),
            "spec": {
                "completionMode": "Indexed",
                "completions": self.workers,
                "parallelism": self.workers,
                // A retried worker would start after the shared start and measure another
                // window; the merge would call the run invalid. Better to fail visibly.
                "backoffLimit": 0,
                "activeDeadlineSeconds": (self.duration + JOB_SLACK).as_secs(),
                "template": {
                    "metadata": {"labels": self.labels("worker")},
                    "spec": {
                        "restartPolicy": "Never",
                        "securityContext": Self::pod_security(),
                        // One generator per node where the cluster allows it: two on one
                        // node share its CPU and network, as one bigger process would.
                        "topologySpreadConstraints": [{
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": self.labels("worker")},
                        }],
                        "containers": [{
                            "name": "worker",
                            "image": self.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/usr/local/bin/loadgen"],
                            "args": self.worker_args(),
                            "env": [
                                // Set by the Job controller too; spelled out so the
                                // `$(JOB_COMPLETION_INDEX)` in the arguments expands.
                                {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                                    "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                                }}},
                                {"name": "START_AT", "valueFrom": {"configMapKeyRef": {
                                    "name": self.object("start"), "key": "start-at"
                                }}},
                            ],
                            "resources": self.worker.to_json(),
                            "securityContext": Self::container_security(),
                            "volumeMounts": [
                                {"name": "inputs", "mountPath": INPUTS_MOUNT, "readOnly": true},
                                {"name": "results", "mountPath": RESULTS_MOUNT},
                            ],
                        }],
                        "volumes": [self.inputs_volume(), self.results_volume()],
                    },
                },
            },
        })
    }

    /// `perf-report merge`'s command line.
    pub fn merge_args(&self) -> Vec<String> {
        let mut args = vec![
            "merge".to_string(),
            format!("{}/merged", self.results_dir()),
        ];
        args.extend((0..self.workers).map(|i| self.worker_dir(&i.to_string())));
        args
    }

    fn merge_job(&self) -> Value {
        let perf_report = |name: &str, args: Vec<String>| {
            json!({
                "name": name,
                "image": self.image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/usr/local/bin/perf-report"],
                "args": args,
                "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}},
                "securityContext": Self::container_security(),
                "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT}],
            })
        };
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.metadata("merge", "merge"),
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": 900,
                "template": {
                    "metadata": {"labels": self.labels("merge")},
                    "spec": {
                        "restartPolicy": "Never",
                        "securityContext": Self::pod_security(),
                        // The merge first (an incomplete or invalid run stops here, named
                        // in the pod's log), then the report of the merged run.
                        "initContainers": [perf_report("merge", self.merge_args())],
                        "containers": [perf_report("render", vec![
                            "render".into(),
                            format!("{}/merged", self.results_dir()),
                        ])],
                        "volumes": [self.results_volume()],
                    },
                },
            },
        })
    }

    fn fetch_pod(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": self.metadata("fetch", "fetch"),
            "spec": {
                "restartPolicy": "Never",
                "securityContext": Self::pod_security(),
                "containers": [{
                    "name": "fetch",
                    "image": FETCH_IMAGE,
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                  "limits": {"cpu": "100m", "memory": "64Mi"}},
                    "securityContext": Self::container_security(),
                    "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT, "readOnly": true}],
                }],
                "volumes": [self.results_volume()],
            },
        })
    }

    /// The render's README: the commands for these manifests, and the sizing.
    pub fn readme(&self) -> String {
        let ns = "loadtest";
        let workers_wait = (self.duration + JOB_SLACK).as_secs();
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let sources: Vec<String> = self
            .cost
            .sources
            .iter()
            .map(|p| format!("`{}`", p.file_name().unwrap_or_default().to_string_lossy()))
            .collect();
        format!(
            "# Distributed run `{name}`: {workers} workers, {rate} req/s in all\n\
             \n\
             Rendered by `loadgen k8s render` from the profile `{profile}`. Plain manifests:\n\
             read them, change what your cluster needs (namespace, storage class, image),\n\
             then apply them in order. The commands use the namespace `{ns}`.\n\
             \n\
             ```sh\n\
             kubectl create namespace {ns}\n\
             kubectl -n {ns} apply -f 10-inputs.configmap.json -f 20-results.pvc.json \\\n\
             \x20 -f 30-origin.deployment.json -f 31-origin.service.json\n\
             kubectl -n {ns} rollout status deployment/{origin} --timeout=300s\n\
             # The proxy under test must send the test hosts to the origin: in its config,\n\
             #   [upstream.resolve] \"*\" = \"<this address>:{http}\"\n\
             kubectl -n {ns} get service {origin} -o jsonpath='{{.spec.clusterIP}}'\n\
             # One start for every worker, far enough ahead for every pod to be scheduled.\n\
             kubectl -n {ns} create configmap {start} \\\n\
             \x20 --from-literal=start-at=$(date -u -d '+2 min' +%Y-%m-%dT%H:%M:%SZ)\n\
             kubectl -n {ns} apply -f 40-workers.job.json\n\
             kubectl -n {ns} wait --for=condition=complete job/{workers_job} --timeout={workers_wait}s\n\
             kubectl -n {ns} apply -f 50-merge.job.json\n\
             kubectl -n {ns} wait --for=condition=complete job/{merge_job} --timeout=900s\n\
             kubectl -n {ns} logs job/{merge_job} -c merge\n\
             # Copy the merged run directory out (the loadgen image has no tar).\n\
             kubectl -n {ns} apply -f 60-fetch.pod.json\n\
             kubectl -n {ns} wait --for=condition=ready pod/{fetch} --timeout=300s\n\
             kubectl -n {ns} cp {fetch}:{results}/merged ./{name}-merged\n\
             kubectl -n {ns} delete pod {fetch}\n\
             ```\n\
             \n\
             `{name}-merged/report.md` is the report. A worker that was late, saturated, killed\n\
             or short makes the merge name it and exit non-zero: the merged run is then invalid\n\
             or incomplete, never silently smaller. Run it again with a new start\n\
             (`kubectl -n {ns} delete job {workers_job} {merge_job}` and the start ConfigMap first).\n\
             \n\
             ## Sizing\n\
             \n\
             {build_warning}Measured in {sources}: {us:.1} us of load-generator CPU per request over {requests}\n\
             requests, peak RSS {rss:.0} MiB per worker at {measured_users} connections. Requests\n\
             are the need times {headroom}, limits twice the request.\n\
             \n\
             | pod | rate (req/s) | CPU request / limit | memory request / limit |\n\
             | --- | ---: | --- | --- |\n\
             | worker (each of {workers}) | {per_worker:.1} | {wc}m / {wcl}m | {wm} Mi / {wml} Mi |\n\
             | origin | {rate} | {oc}m / {ocl}m | {om} Mi / {oml} Mi |\n\
             \n\
             The origin is sized as a worker carrying the whole rate: its work per request\n\
             (body generation, TLS) is of the same order as the client's. Watch its CPU in a\n\
             first run. A worker holding many more connections than {measured_users} needs more\n\
             memory than measured.\n",
            name = self.name,
            workers = self.workers,
            rate = self.rate,
            profile = self.inputs.profile,
            origin = self.object("origin"),
            start = self.object("start"),
            workers_job = self.object("workers"),
            merge_job = self.object("merge"),
            fetch = self.object("fetch"),
            results = self.results_dir(),
            http = ORIGIN_HTTP_PORT,
            sources = sources.join(", "),
            build_warning = if self.cost.optimized {
                ""
            } else {
                "**Measured on a debug build**, whose CPU per request is several times a release\n\
                 build's: the CPU below is overstated. Measure with `cargo build --release` and\n\
                 `target/release/loadgen fleet`.\n\n"
            },
            us = self.cost.cpu_s_per_request * 1e6,
            requests = self.cost.requests,
            rss = mib(self.cost.peak_rss_bytes),
            measured_users = self.cost.users_per_worker,
            headroom = super::sizing::HEADROOM,
            per_worker = self.rate / f64::from(self.workers),
            wc = self.worker.cpu_milli,
            wcl = self.worker.cpu_limit_milli,
            wm = self.worker.memory_mib,
            wml = self.worker.memory_limit_mib,
            oc = self.origin.cpu_milli,
            ocl = self.origin.cpu_limit_milli,
            om = self.origin.memory_mib,
            oml = self.origin.memory_limit_mib,
        )
    }
}

/// Object names are `loadgen-NAME-<part>`, DNS labels of at most 63 characters.
fn check_name(name: &str) -> Result<(), K8sError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(K8sError::Argument(format!(
            "--name {name:?}: lower-case letters, digits and '-', at most 40, not starting \
             or ending with '-'"
        )))
    }
}

fn check_host_port(text: &str) -> Result<(), K8sError> {
    let bad = || K8sError::Argument(format!("--proxy {text:?}: expected HOST:PORT"));
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_proxy_addresses_are_checked() {
        assert!(check_name("district-7").is_ok());
        for bad in ["", "District", "-a", "a-", "a_b", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_host_port("filter-proxy.proxy.svc:3128").is_ok());
        assert!(check_host_port("10.0.0.7:3128").is_ok());
        for bad in ["proxy", ":3128", "proxy:0", "proxy:http"] {
            assert!(check_host_port(bad).is_err(), "{bad:?}");
        }
    }
}
