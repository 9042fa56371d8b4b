//! The deployment files in `deploy/` stay usable: the Kubernetes manifests parse and their
//! worker file passes sluice's own validation, the image recipe builds the way CI does (same
//! toolchain, system packages and `--locked`) and warms every built-in parser, and the systemd
//! unit runs `sluice distributed` on the worker file.

use std::path::Path;

use serde::Deserialize as _;
use serde_yaml::Value as Yaml;
use sluice::config::{parse_text, DistributedConfig, WorkerConfig};

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

fn documents(text: &str) -> Vec<Yaml> {
    serde_yaml::Deserializer::from_str(text).map(|d| Yaml::deserialize(d).unwrap()).collect()
}

fn kind<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap_or_else(|| panic!("no {kind} in kubernetes.yaml"))
}

#[test]
fn kubernetes_manifests_run_a_valid_distributed_worker_behind_a_service() {
    let docs = documents(&read("deploy/kubernetes.yaml"));
    assert_eq!(docs.len(), 3, "ConfigMap, Deployment and Service");
    let config_map = kind(&docs, "ConfigMap");
    let deployment = kind(&docs, "Deployment");
    let service = kind(&docs, "Service");

    // The worker file in the ConfigMap is accepted by `sluice distributed`'s own checks.
    let (file_name, text) = config_map["data"].as_mapping().unwrap().iter().next().unwrap();
    let file_name = file_name.as_str().unwrap();
    let map = parse_text(file_name, text.as_str().unwrap()).unwrap();
    let worker = WorkerConfig::from_map(&map).unwrap();
    let cluster = DistributedConfig::from_map(&map).unwrap();
    assert!(cluster.config_replication >= 3 && cluster.status_replication >= 3, "production replication");
    assert!(worker.rest.host.is_empty(), "listens on every interface (the pod name is advertised)");

    let spec = &deployment["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2, "several workers");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "distributed");
    // The file named in the args is the ConfigMap's key, mounted where the args say.
    let mount = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"] == pod["volumes"][0]["name"])
        .unwrap();
    assert_eq!(pod["volumes"][0]["configMap"]["name"], config_map["metadata"]["name"]);
    assert_eq!(args[1], format!("{}/{file_name}", mount["mountPath"].as_str().unwrap()));
    let port = container["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(port, u64::from(worker.rest.port), "the container port is the worker's listener");
    assert_eq!(service["spec"]["selector"], spec["selector"]["matchLabels"]);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], container["ports"][0]["name"]);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/health"));
}

#[test]
fn the_image_recipe_builds_as_ci_does_and_runs_unprivileged() {
    let dockerfile = read("deploy/Dockerfile");
    let ci = read(".ci/run");
    let toolchain = read("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"'))
        .expect("rust-toolchain.toml names its channel");
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "multi-stage: build, then a slim runtime");
    assert!(stages[0].starts_with(&format!("FROM rust:{channel}-")), "the build stage uses CI's toolchain {channel}");

    // The system packages the build installs are the ones .ci/run installs.
    let packages = |text: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.contains("apt-get install") && l.contains("build-essential")).unwrap();
        let mut words: Vec<String> = line
            .split_whitespace()
            .skip_while(|w| *w != "install")
            .skip(1)
            .filter(|w| !w.starts_with('-') && *w != "\\")
            .map(String::from)
            .collect();
        words.sort();
        words
    };
    assert_eq!(packages(&dockerfile), packages(&ci), "the image installs what CI installs");

    // Cargo commands: `--locked` as in CI, and a release build of the binary.
    let cargo: Vec<&str> = dockerfile.lines().filter(|l| l.contains("cargo ")).collect();
    assert!(!cargo.is_empty() && cargo.iter().all(|l| l.contains("--locked")), "{cargo:?}");
    assert!(ci.contains("--locked"), "CI builds with --locked");
    assert!(cargo.iter().any(|l| l.contains("cargo build --release --locked")));

    // Every built-in parser is compiled into the image's component cache.
    for parser in sluice::plugin::BUILTIN_PARSERS {
        assert!(dockerfile.contains(&format!("sluice plugin inspect builtin:{parser}")), "{parser} not warmed");
    }
    let runtime = &dockerfile[dockerfile.rfind("FROM ").unwrap()..];
    let user = runtime.lines().find_map(|l| l.strip_prefix("USER ")).expect("the runtime stage sets USER");
    assert!(!user.starts_with("root") && !user.starts_with("0"), "runs as {user}");
    assert!(runtime.contains("COPY --from=build /usr/local/bin/sluice"));
    assert!(runtime.contains("distributed"), "the default command runs a distributed worker");
    // The build context leaves local build output out (BuildKit reads `<Dockerfile>.dockerignore`).
    let ignore = read("deploy/Dockerfile.dockerignore");
    for excluded in ["target", "plugins/target", "**/node_modules"] {
        assert!(ignore.lines().any(|l| l == excluded), "{excluded} is not excluded from the build context");
    }
}

#[test]
fn the_systemd_unit_runs_a_distributed_worker_unprivileged() {
    let unit = read("deploy/sluice.service");
    let value = |key: &str| {
        unit.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key}="))
    };
    let exec: Vec<&str> = value("ExecStart").split_whitespace().collect();
    assert!(exec[0].ends_with("/sluice") && exec[1] == "distributed" && exec[2].ends_with(".properties"), "{exec:?}");
    assert!(unit.contains("DynamicUser=yes") || !value("User").is_empty());
    assert_eq!(value("KillSignal"), "SIGTERM", "a graceful stop commits");
    assert!(value("Environment").contains("SLUICE_CACHE_DIR=/var/cache/sluice") && value("CacheDirectory") == "sluice");
    assert_eq!(value("WantedBy"), "multi-user.target");
}
