//! `loadgen k8s render` from a real measured run: the manifests say what a distributed run
//! needs (an Indexed Job of segmented workers, one shared start, a merge of exactly their
//! directories), the inputs ConfigMap gives back the profile, mix, roster and category
//! database a worker loads, and the pods are sized from what the workers recorded.
//! Schema validation against the Kubernetes API is `scripts/k8s-check.sh` (CI).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use loadgen::attack::{attack_as, AttackOptions, Driver, Worker};
use loadgen::corpus::{Addressing, Corpus};
use loadgen::k8s::{render, Cost, K8sError, RenderArgs};
use loadgen::mix::Mix;
use loadgen::profile::Profile;
use loadgen::segment::Segment;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Two real workers of the ci profile (open loop, straight to an in-process origin),
/// one after the other so each measures only its own CPU.
async fn measured_run(dir: &Path) {
    for i in 1..=2u64 {
        let opts = AttackOptions {
            profile: repo().join("profiles/ci.toml"),
            proxy: None,
            origin: None,
            out: dir.join(format!("worker-{i}")),
            duration: Some(Duration::from_secs(3)),
            users: Some(4),
            driver: Driver::OpenLoop,
            rate: Some(60.0),
            quiet: true,
        };
        let worker = Worker {
            segment: Segment::new(i, 2).unwrap(),
            start_at: None,
        };
        attack_as(&opts, &worker).await.unwrap();
    }
}

fn args(cost_from: &Path, out: &Path) -> RenderArgs {
    RenderArgs {
        profile: repo().join("profiles/ci.toml"),
        workers: 3,
        proxy: "filter-proxy.proxy.svc:3128".into(),
        rate: Some(3000.0),
        users: None,
        duration: Some("5m".into()),
        cost_from: cost_from.to_path_buf(),
        image: "registry.example/loadgen:1".into(),
        name: "district".into(),
        storage_class: None,
        out: out.to_path_buf(),
    }
}

fn read(dir: &Path, file: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// The value after `flag` in a command line.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[i + 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_manifests_run_segmented_workers_and_merge_exactly_them() {
    let dir = tempfile::tempdir().unwrap();
    let measured = dir.path().join("fleet");
    measured_run(&measured).await;
    let out = dir.path().join("manifests");
    let rendered = render(&args(&measured, &out)).unwrap();
    assert_eq!(rendered.files.len(), 8, "{:?}", rendered.files);

    // The workers: an Indexed Job of 3, each a segment of the whole rate, one start.
    let job = read(&out, "40-workers.job.json");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 3);
    assert_eq!(job["spec"]["parallelism"], 3);
    let pod = &job["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/loadgen:1");
    let worker_args = strings(&container["args"]);
    assert_eq!(worker_args[0], "attack");
    assert_eq!(
        flag(&worker_args, "--segment"),
        "3",
        "the index comes from the Job"
    );
    assert_eq!(
        flag(&worker_args, "--rate"),
        "3000",
        "the whole run's rate: split by segment"
    );
    assert_eq!(flag(&worker_args, "--proxy"), "filter-proxy.proxy.svc:3128");
    assert_eq!(flag(&worker_args, "--start-at"), "$(START_AT)");
    let worker_out = flag(&worker_args, "--out");
    assert_eq!(
        worker_out,
        "/results/district/worker-$(JOB_COMPLETION_INDEX)"
    );
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"JOB_COMPLETION_INDEX") && env.contains(&"START_AT"),
        "{env:?}"
    );
    // A worker's origin is the rendered Service, its CA on the shared volume.
    let service = read(&out, "31-origin.service.json");
    let origin_name = service["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        flag(&worker_args, "--origin"),
        format!("{origin_name}:8080")
    );
    let origin = read(&out, "30-origin.deployment.json");
    let origin_args = strings(&origin["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert_eq!(
        flag(&origin_args, "--ca-out"),
        flag(&worker_args, "--origin-ca")
    );

    // The merge takes exactly the directories the 3 indexes write, then renders.
    let merge = read(&out, "50-merge.job.json");
    let merge_spec = &merge["spec"]["template"]["spec"];
    let merge_args = strings(&merge_spec["initContainers"][0]["args"]);
    assert_eq!(merge_args[0], "merge");
    let expected: Vec<String> = (0..3)
        .map(|i| worker_out.replace("$(JOB_COMPLETION_INDEX)", &i.to_string()))
        .collect();
    assert_eq!(merge_args[2..], expected[..]);
    let render_args = strings(&merge_spec["containers"][0]["args"]);
    assert_eq!(render_args, ["render", merge_args[1].as_str()]);

    // Every pod's claim is the rendered PVC.
    let pvc = read(&out, "20-results.pvc.json");
    let claim = pvc["metadata"]["name"].as_str().unwrap();
    for spec in [pod, merge_spec, &origin["spec"]["template"]["spec"]] {
        let claims: Vec<&str> = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
            .collect();
        assert_eq!(claims, [claim]);
    }

    // Sized from the measured run: the CPU request follows the rate per worker.
    let cost = Cost::measure(&measured).unwrap();
    assert_eq!(cost.sources.len(), 2);
    assert!(
        cost.cpu_s_per_request > 0.0 && cost.peak_rss_bytes > 0,
        "{cost:?}"
    );
    let expected = cost.resources(1000.0);
    assert_eq!(
        container["resources"]["requests"]["cpu"],
        format!("{}m", expected.cpu_milli)
    );
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.contains("worker-1") && readme.contains("kubectl -n loadtest apply"),
        "{readme}"
    );
    assert_eq!(
        readme.contains("debug build"),
        cfg!(debug_assertions),
        "the README says when the cost came from a debug build"
    );

    // The inputs, put back where the pod's volume puts them, load as in the checkout.
    let mounted = dir.path().join("mounted");
    materialize(&read(&out, "10-inputs.configmap.json"), pod, &mounted);
    let profile_path = mounted.join(
        flag(&worker_args, "--profile")
            .strip_prefix("/etc/loadgen/inputs/")
            .unwrap(),
    );
    let in_pod = Profile::load(&profile_path).unwrap();
    let here = Profile::load(&repo().join("profiles/ci.toml")).unwrap();
    assert_eq!(
        (in_pod.users, in_pod.target_rate),
        (here.users, here.target_rate)
    );
    let corpus = |p: &Profile| {
        let mix = Mix::load(&p.scenario_mix).unwrap();
        Corpus::build(&mix, Addressing::Proxy).unwrap()
    };
    let (a, b) = (corpus(&in_pod), corpus(&here));
    assert_eq!(
        a.allowed, b.allowed,
        "the gzipped category database reads back whole"
    );
    assert_eq!(a.blocked, b.blocked);
}

/// Writes a ConfigMap's keys where the pod's `items` mount them.
fn materialize(configmap: &Value, pod: &Value, root: &Path) {
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"].is_object())
        .unwrap();
    for item in volume["configMap"]["items"].as_array().unwrap() {
        let key = item["key"].as_str().unwrap();
        let bytes = match configmap["data"][key].as_str() {
            Some(text) => text.as_bytes().to_vec(),
            None => base64::engine::general_purpose::STANDARD
                .decode(configmap["binaryData"][key].as_str().unwrap())
                .unwrap(),
        };
        let path = root.join(item["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // No measured run: the error says how to make one.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = render(&args(&empty, &out)).unwrap_err();
    assert!(matches!(err, K8sError::Cost(_)), "{err}");
    assert!(err.to_string().contains("loadgen fleet"), "{err}");
    assert!(!out.exists(), "nothing written");

    let mut bad = args(&empty, &out);
    bad.name = "District_7".into();
    assert!(matches!(render(&bad).unwrap_err(), K8sError::Argument(_)));
    let mut bad = args(&empty, &out);
    bad.proxy = "filter-proxy".into();
    assert!(render(&bad).unwrap_err().to_string().contains("HOST:PORT"));
    let mut bad = args(&empty, &out);
    bad.workers = 0;
    assert!(matches!(render(&bad).unwrap_err(), K8sError::Argument(_)));
    assert!(!out.exists(), "nothing written");
}
