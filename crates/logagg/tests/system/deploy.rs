//! The deployment files: the compose file parsed by a real compose
//! implementation, the Dockerfiles' build matching CI's, the Prometheus
//! configuration naming both services.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whether a tool `.ci/run` installs answers `probe`. Missing is a failure
/// in CI and a notice elsewhere (`skipped` says what was not checked).
fn installed(probe: &mut Command, tool: &str, skipped: &str) -> bool {
    if probe.output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is not installed; .ci/run installs it");
    }
    eprintln!("{tool} is not installed: {skipped}");
    false
}

/// `docker-compose` (the Debian package).
fn compose() -> Option<Command> {
    installed(
        Command::new("docker-compose").arg("version"),
        "docker-compose",
        "the compose file was not parsed (apt-get install docker-compose)",
    )
    .then(|| Command::new("docker-compose"))
}

#[test]
fn compose_file_is_valid_and_scales_each_service() {
    let Some(config) = compose_config(&["docker-compose.yml"]) else {
        return;
    };
    let services = Command::new("docker-compose")
        .current_dir(root())
        .args(["-f", "docker-compose.yml", "config", "--services"])
        .output()
        .unwrap();
    let services = String::from_utf8(services.stdout).unwrap();
    for service in [
        "elasticsearch",
        "ingestd",
        "queryd",
        "jaeger",
        "prometheus",
        "gateway",
    ] {
        assert!(
            services.lines().any(|l| l == service),
            "{service} missing:\n{services}"
        );
    }
    // The scaled services publish no fixed host port (that would stop --scale);
    // the gateway publishes 8080 and 8081 for them.
    let ingestd_section = section(&config, "ingestd");
    let queryd_section = section(&config, "queryd");
    assert!(
        !ingestd_section.contains("published"),
        "ingestd publishes a port:\n{ingestd_section}"
    );
    assert!(
        !queryd_section.contains("published"),
        "queryd publishes a port:\n{queryd_section}"
    );
    assert!(ingestd_section.contains("Dockerfile.ingest"));
    assert!(queryd_section.contains("Dockerfile.query"));
    assert!(ingestd_section.contains("condition: service_healthy"));
    assert!(
        ingestd_section.contains("ingest-wal"),
        "the WAL sits on a named volume"
    );
    assert!(section(&config, "elasticsearch").contains("healthcheck"));
    assert!(section(&config, "jaeger").contains("COLLECTOR_OTLP_ENABLED"));
}

/// `docker-compose config` of `files`, which must succeed.
fn compose_config(files: &[&str]) -> Option<String> {
    let mut cmd = compose()?;
    cmd.current_dir(root());
    for file in files {
        cmd.args(["-f", file]);
    }
    let out = cmd.arg("config").output().unwrap();
    assert!(
        out.status.success(),
        "docker-compose config of {files:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The value of `key: value` in a service's text, unquoted.
fn setting<'a>(section: &'a str, key: &str) -> Option<&'a str> {
    section.lines().find_map(|l| {
        l.trim()
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(": "))
            .map(|v| v.trim_matches(|c| c == '\'' || c == '"'))
    })
}

#[test]
fn the_cluster_file_makes_three_nodes_that_hold_a_replica() {
    let Some(single) = compose_config(&["docker-compose.yml"]) else {
        return;
    };
    // One node cannot hold a replica: the single-node file asks for none.
    assert_eq!(
        setting(&section(&single, "ingestd"), "ELASTICSEARCH_REPLICAS"),
        Some("0")
    );
    assert_eq!(
        setting(&section(&single, "elasticsearch"), "discovery.type"),
        Some("single-node")
    );
    let config = compose_config(&["docker-compose.yml", "docker-compose.cluster.yml"]).unwrap();
    let nodes = ["elasticsearch", "es02", "es03"];
    let mut names = Vec::new();
    for node in nodes {
        let text = section(&config, node);
        assert_ne!(
            setting(&text, "discovery.type"),
            Some("single-node"),
            "{node}"
        );
        assert_eq!(setting(&text, "cluster.name"), Some("logagg"), "{node}");
        assert_eq!(
            setting(&text, "cluster.initial_master_nodes"),
            Some("es01,es02,es03"),
            "{node}"
        );
        let name = setting(&text, "node.name").unwrap_or_else(|| panic!("{node}: no node.name"));
        // Every node finds the two others.
        let seeds = setting(&text, "discovery.seed_hosts").unwrap();
        for other in ["es01", "es02", "es03"].iter().filter(|n| **n != name) {
            assert!(
                seeds.split(',').any(|s| s == *other),
                "{node} does not seed {other}"
            );
        }
        names.push(name.to_string());
        // One snapshot repository every node sees at its path.repo.
        let repo = setting(&text, "path.repo").unwrap();
        assert!(
            text.contains(&format!("es-snapshots:{repo}")),
            "{node} does not mount the shared snapshot volume at {repo}:\n{text}"
        );
        assert!(
            text.contains("/usr/share/elasticsearch/data"),
            "{node} keeps no data volume"
        );
        assert!(text.contains("healthcheck"), "{node}");
    }
    names.sort();
    assert_eq!(names, ["es01", "es02", "es03"]);
    // Each node has its own data volume.
    let volumes: std::collections::HashSet<String> = nodes
        .iter()
        .map(|n| {
            let text = section(&config, n);
            text.lines()
                .find(|l| l.contains(":/usr/share/elasticsearch/data"))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(volumes.len(), 3, "{volumes:?}");
    // The services' URL names every node.
    for node in ["es02", "es03"] {
        assert!(
            section(&config, node).contains("- elasticsearch"),
            "{node} does not answer to `elasticsearch`"
        );
    }
    let ingestd = section(&config, "ingestd");
    let replicas: usize = setting(&ingestd, "ELASTICSEARCH_REPLICAS")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..nodes.len()).contains(&replicas),
        "{replicas} replicas on {} nodes",
        nodes.len()
    );
    assert_eq!(setting(&ingestd, "ELASTICSEARCH_SHARDS"), Some("3"));
    assert!(setting(&ingestd, "ELASTICSEARCH_SNAPSHOT_REPOSITORY").is_some());
    assert_eq!(
        setting(&ingestd, "ELASTICSEARCH_URL"),
        Some("http://elasticsearch:9200")
    );
}

/// The text of one service in `docker-compose config` output.
fn section(config: &str, service: &str) -> String {
    let services = &config[config.find("services:").expect("services")..];
    let header = format!("\n  {service}:\n");
    let start = services
        .find(&header)
        .unwrap_or_else(|| panic!("no service {service}"))
        + header.len();
    services[start..]
        .lines()
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dockerfiles_build_as_ci_does_and_run_unprivileged() {
    let ci = read(".ci/run");
    for (file, bin) in [
        ("Dockerfile.ingest", "ingestd"),
        ("Dockerfile.query", "queryd"),
    ] {
        let dockerfile = read(file);
        let build = dockerfile
            .lines()
            .find_map(|l| {
                l.strip_prefix("RUN ")
                    .filter(|c| c.starts_with("cargo build"))
            })
            .unwrap_or_else(|| panic!("{file} has no cargo build"));
        assert_eq!(build, format!("cargo build --locked --release --bin {bin}"));
        assert!(
            ci.contains("cargo build --locked --release") && ci.contains(&format!("--bin {bin}")),
            ".ci/run does not build {bin} as {file} does"
        );
        assert!(
            dockerfile.matches("FROM ").count() >= 2,
            "{file} is not multi-stage"
        );
        assert!(
            dockerfile.contains("\nUSER logagg\n"),
            "{file} runs as root"
        );
    }
}

#[test]
fn prometheus_scrapes_every_replica_of_both_services() {
    let config = read("deploy/prometheus.yml");
    for (job, port) in [("ingestd", "8080"), ("queryd", "8081")] {
        let at = config
            .find(&format!("job_name: {job}"))
            .unwrap_or_else(|| panic!("no {job} job"));
        let job_text = &config[at..];
        assert!(
            job_text.contains(&format!("names: [{job}]"))
                && job_text.contains(&format!("port: {port}")),
            "{job}"
        );
    }
}

// ---- deploy/kubernetes ----

const KUBERNETES: &str = "deploy/kubernetes";

/// The manifests the kustomization lists, in its order.
fn kubernetes_files() -> Vec<String> {
    let kustomization = read(&format!("{KUBERNETES}/kustomization.yaml"));
    let listed: Vec<String> = kustomization
        .lines()
        .skip_while(|l| !l.starts_with("resources:"))
        .skip(1)
        .map_while(|l| l.trim().strip_prefix("- "))
        .map(|f| format!("{KUBERNETES}/{f}"))
        .collect();
    // Every manifest in the folder is applied, and only those.
    let mut present: Vec<String> = std::fs::read_dir(root().join(KUBERNETES))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .map(|f| format!("{KUBERNETES}/{f}"))
        .collect();
    present.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, present, "kustomization.yaml's resources");
    listed
}

/// Python with the `kubernetes-validate` package (and the PyYAML it brings;
/// from crates/logagg/tests/clients/requirements.txt).
fn kubernetes_validate() -> bool {
    installed(
        Command::new("python3").args(["-m", "kubernetes_validate", "--version"]),
        "kubernetes-validate",
        "deploy/kubernetes was not checked (pip install kubernetes-validate)",
    )
}

/// `kubernetes-validate --strict --quiet` with `args` (files, a version).
fn validate<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new("python3")
        .current_dir(root())
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .args(args)
        .output()
        .unwrap()
}

/// Every object of the manifests, as JSON (read by PyYAML).
fn kubernetes_objects(files: &[String]) -> Vec<serde_json::Value> {
    let script = "import json, sys, yaml\n\
                  docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
                  json.dump(docs, sys.stdout)";
    let out = Command::new("python3")
        .current_dir(root())
        .arg("-c")
        .arg(script)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kubernetes_manifests_validate_against_the_api_schemas() {
    let files = kubernetes_files();
    if !kubernetes_validate() {
        return;
    }
    // Strict: a misspelt or misplaced field is an error, not ignored. The
    // oldest and newest API versions the validator knows that have every
    // kind used here (autoscaling/v2, policy/v1).
    for version in ["1.29.0", "1.37.0"] {
        let out = validate(
            ["-k", version]
                .into_iter()
                .chain(files.iter().map(String::as_str)),
        );
        assert!(
            out.status.success(),
            "deploy/kubernetes does not validate against Kubernetes {version}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // kustomize renders them (when kubectl is here; CI machines may lack it:
    // Debian does not package it), every object in the namespace.
    match Command::new("kubectl")
        .current_dir(root())
        .args(["kustomize", KUBERNETES])
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "kubectl kustomize: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rendered = String::from_utf8(out.stdout).unwrap();
            let objects =
                rendered.matches("\nkind: ").count() + usize::from(rendered.starts_with("kind: "));
            assert_eq!(
                rendered.matches("  namespace: logagg\n").count() + 1,
                objects,
                "every object but the Namespace is in logagg:\n{rendered}"
            );
        }
        Err(_) => eprintln!("kubectl is not installed: the kustomization was not rendered"),
    }
    // The validator itself refuses a bad manifest (so the pass above means
    // something): an unknown container field.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let queryd = read(&format!("{KUBERNETES}/queryd.yaml"));
    std::fs::write(
        &bad,
        queryd.replacen(
            "          image: logagg/queryd\n",
            "          image: logagg/queryd\n          imagePullPolice: Always\n",
            1,
        ),
    )
    .unwrap();
    let out = validate([&bad]);
    assert!(!out.status.success(), "a misspelt field passed");
}

fn object<'a>(objects: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Whether `selector` (matchLabels or a Service's selector) selects `labels`.
fn selects(selector: &serde_json::Value, labels: &serde_json::Value) -> bool {
    let selector = selector.as_object().expect("a selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The value of an env var set on the container or by the ConfigMap.
fn env_value(
    container: &serde_json::Value,
    config: &serde_json::Value,
    name: &str,
) -> Option<String> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .or_else(|| config["data"][name].as_str())
        .map(str::to_string)
}

#[test]
fn kubernetes_manifests_wire_the_services_as_they_run() {
    let files = kubernetes_files();
    if !kubernetes_validate() {
        return;
    }
    let objects = kubernetes_objects(&files);
    let config = object(&objects, "ConfigMap", "logagg");
    // Every setting named is one the binaries read (`logagg --help` lists
    // the settings of both services) or one OpenTelemetry and tracing read.
    let help = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let known = |name: &str| {
        help.contains(&format!("[env: {name}="))
            || help.contains(&format!("[env: {name}]"))
            || [
                "RUST_LOG",
                "OTEL_SERVICE_NAME",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ]
            .contains(&name)
    };
    for key in config["data"].as_object().unwrap().keys() {
        assert!(known(key), "the ConfigMap sets {key}, which nothing reads");
    }
    let dockerfile_uid: u64 = read("Dockerfile.ingest")
        .split("--uid ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();

    for (kind, name, port) in [
        ("StatefulSet", "ingestd", 8080),
        ("Deployment", "queryd", 8081),
    ] {
        let workload = object(&objects, kind, name);
        let pod = &workload["spec"]["template"];
        let labels = &pod["metadata"]["labels"];
        assert!(
            selects(&workload["spec"]["selector"]["matchLabels"], labels),
            "{name}"
        );
        let container = &pod["spec"]["containers"][0];
        for env in container["env"].as_array().unwrap() {
            let var = env["name"].as_str().unwrap();
            assert!(known(var), "{name} sets {var}, which nothing reads");
        }
        assert_eq!(
            container["envFrom"][0]["configMapRef"]["name"], "logagg",
            "{name} reads the ConfigMap"
        );
        // The port it listens on is the one declared, probed and scraped.
        let addr = env_value(
            container,
            config,
            if name == "ingestd" {
                "INGEST_ADDR"
            } else {
                "QUERY_ADDR"
            },
        )
        .unwrap_or_else(|| panic!("{name}: no listen address"));
        assert_eq!(addr, format!("0.0.0.0:{port}"), "{name}");
        let declared = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["containerPort"] == port)
            .unwrap_or_else(|| panic!("{name} does not declare {port}"));
        let port_name = declared["name"].as_str().unwrap();
        for (probe, path) in [("livenessProbe", "/health"), ("readinessProbe", "/ready")] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], path, "{name} {probe}");
            assert!(
                get["port"] == port_name || get["port"] == port,
                "{name} {probe}"
            );
        }
        let annotations = &pod["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true", "{name}");
        assert_eq!(
            annotations["prometheus.io/port"],
            port.to_string(),
            "{name}"
        );
        assert_eq!(annotations["prometheus.io/path"], "/metrics", "{name}");
        // Requests for the scheduler and the autoscaler, a memory limit.
        let resources = &container["resources"];
        assert!(resources["requests"]["cpu"].is_string(), "{name}");
        assert!(resources["requests"]["memory"].is_string(), "{name}");
        assert!(resources["limits"]["memory"].is_string(), "{name}");
        // The image's user, not root.
        let security = &pod["spec"]["securityContext"];
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert_eq!(security["runAsUser"], dockerfile_uid, "{name}");
        // A Service reaches it on its port.
        let service = object(&objects, "Service", name);
        assert!(
            selects(&service["spec"]["selector"], labels),
            "{name} service"
        );
        assert!(
            service["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == port
                    && (p["targetPort"] == port_name || p["targetPort"] == port)),
            "{name} service port"
        );
        // A disruption budget keeps some of it up through node drains.
        let pdb = object(&objects, "PodDisruptionBudget", name);
        assert!(
            selects(&pdb["spec"]["selector"]["matchLabels"], labels),
            "{name} pdb"
        );
    }

    // ingestd: each replica has its own volume, mounted where the WAL is.
    let ingestd = object(&objects, "StatefulSet", "ingestd");
    let claim = &ingestd["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["spec"]["accessModes"][0], "ReadWriteOnce");
    let container = &ingestd["spec"]["template"]["spec"]["containers"][0];
    let data_dir = env_value(container, config, "DATA_DIR").expect("DATA_DIR");
    assert!(
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == claim["metadata"]["name"] && m["mountPath"] == data_dir.as_str()),
        "the claim is not mounted at DATA_DIR {data_dir}"
    );
    // The WAL's cap fits on the volume.
    let wal_max: u64 = env_value(container, config, "WAL_MAX_BYTES")
        .expect("WAL_MAX_BYTES")
        .parse()
        .unwrap();
    let storage = claim["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .unwrap();
    let gib: u64 = storage
        .strip_suffix("Gi")
        .expect("storage in Gi")
        .parse()
        .unwrap();
    assert!(
        wal_max < gib << 30,
        "WAL cap {wal_max} on a {storage} volume"
    );
    // The pod is given longer to stop than ingestd's own shutdown grace.
    let grace: u64 = env_value(container, config, "SHUTDOWN_GRACE_SECS")
        .unwrap_or_else(|| "10".into())
        .parse()
        .unwrap();
    let termination = ingestd["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        termination > grace + 5,
        "{termination} s to stop, {grace} s of grace"
    );
    // The StatefulSet's governing Service is headless.
    let governing = object(
        &objects,
        "Service",
        ingestd["spec"]["serviceName"].as_str().unwrap(),
    );
    assert_eq!(governing["spec"]["clusterIP"], "None");
    assert!(ingestd["spec"]["replicas"].as_u64().unwrap() >= 2);

    // queryd scales on CPU between at least two replicas.
    let hpa = object(&objects, "HorizontalPodAutoscaler", "queryd");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "queryd");
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    assert!(hpa["spec"]["maxReplicas"].as_u64() > hpa["spec"]["minReplicas"].as_u64());
    assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
    // Both use Elasticsearch: the embedded store is one machine's.
    assert!(config["data"]["ELASTICSEARCH_URL"].is_string());
    let replicas: u64 = config["data"]["ELASTICSEARCH_REPLICAS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(replicas >= 1, "a cluster keeps a replica of each shard");
}
