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

/// `docker-compose` (the Debian package; `.ci/run` installs it). Missing is
/// a failure in CI and a notice elsewhere.
fn compose() -> Option<Command> {
    match Command::new("docker-compose").arg("version").output() {
        Ok(out) if out.status.success() => Some(Command::new("docker-compose")),
        _ if std::env::var_os("CI").is_some() => {
            panic!("docker-compose is not installed; .ci/run installs it")
        }
        _ => {
            eprintln!("docker-compose is not installed: the compose file was not parsed (apt-get install docker-compose)");
            None
        }
    }
}

#[test]
fn compose_file_is_valid_and_scales_each_service() {
    let Some(mut cmd) = compose() else { return };
    let out = cmd
        .current_dir(root())
        .args(["-f", "docker-compose.yml", "config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "docker-compose config failed:\n{stderr}"
    );
    let config = String::from_utf8(out.stdout).unwrap();
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
