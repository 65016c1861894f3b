//! Monitoring with real Prometheus (Debian's package; `.ci/run` installs
//! it): scraping both services, promtool on their metrics and on the rules,
//! and every metric the rules and dashboard name being exported.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `tool` runs; missing is a failure in CI and a notice elsewhere.
fn have(tool: &str) -> bool {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => true,
        _ if std::env::var_os("CI").is_some() => {
            panic!("{tool} is not installed; .ci/run installs the prometheus package")
        }
        _ => {
            eprintln!(
                "{tool} is not installed (apt-get install prometheus): this check did not run"
            );
            false
        }
    }
}

/// Ingests, searches and asks for patterns, so that every metric has values.
async fn traffic(s: &Stack, logs: usize) {
    let batch: Vec<Value> = (0..logs)
        .map(|i| json!({"level": "ERROR", "message": format!("disk {i} failing"), "source": "m"}))
        .collect();
    let (status, _) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest),
        &json!(batch),
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = post(
        &format!("{}/logs/ingest", s.ingest),
        &json!({"message": "", "source": "m"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = get(&format!("{}/logs/search?query=disk", s.query)).await;
    assert_eq!(status, 200);
    let (status, _) = get(&format!("{}/logs/patterns?hours=1", s.query)).await;
    assert_eq!(status, 200);
}

/// Metric names (`ingestd_*`, `queryd_*`) a rules or dashboard file uses.
fn names_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in text.match_indices(['i', 'q']) {
        let rest = &text[i..];
        if !(rest.starts_with("ingestd_") || rest.starts_with("queryd_")) {
            continue;
        }
        if i > 0 && text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name)
            .to_string();
        if !names.contains(&base) {
            names.push(base);
        }
    }
    names
}

#[actix_web::test]
async fn every_metric_in_the_rules_and_dashboard_is_exported() {
    let s = Stack::start().await;
    traffic(&s, 3).await;
    let exported = get_text(&format!("{}/metrics", s.ingest)).await
        + &get_text(&format!("{}/metrics", s.query)).await;
    for file in ["deploy/rules.yml", "deploy/grafana/logagg-dashboard.json"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let names = names_in(&text);
        assert!(names.len() >= 8, "{file}: only {names:?}");
        for name in names {
            assert!(
                exported.contains(&format!("# TYPE {name} ")),
                "{file} uses {name}, which is not exported"
            );
        }
    }
    s.stop().await;
}

#[actix_web::test]
async fn promtool_accepts_the_metrics_and_the_rules() {
    if !have("promtool") {
        return;
    }
    let s = Stack::start().await;
    traffic(&s, 3).await;
    for base in [&s.ingest, &s.query] {
        let text = get_text(&format!("{base}/metrics")).await;
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics on {base}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    s.stop().await;
    for args in [
        ["check", "rules", "deploy/rules.yml"],
        ["check", "config", "deploy/prometheus.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[actix_web::test]
async fn a_real_prometheus_scrapes_both_services() {
    if !have("prometheus") {
        return;
    }
    let s = Stack::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let target = |url: &str| url.trim_start_matches("http://").to_string();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n  - job_name: ingestd\n    static_configs:\n      - targets: ['{ingest}']\n  - job_name: queryd\n    static_configs:\n      - targets: ['{query}']\n",
        rules = repo().join("deploy/rules.yml").canonicalize().unwrap().display(),
        ingest = target(&s.ingest),
        query = target(&s.query),
    );
    let config_path = tmp.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = format!("http://127.0.0.1:{port}");
    traffic(&s, 37).await;
    let query = |q: &str| {
        let url = format!("{api}/api/v1/query");
        let q = q.to_string();
        async move {
            let r = client()
                .get(url)
                .query(&[("query", q.as_str())])
                .send()
                .await
                .ok()?;
            let body: Value = r.json().await.ok()?;
            let value = body["data"]["result"][0]["value"][1].as_str()?.to_string();
            value.parse::<f64>().ok()
        }
    };
    let checks = [
        ("up{job=\"ingestd\"}", 1.0),
        ("up{job=\"queryd\"}", 1.0),
        ("sum(ingestd_logs_accepted_total)", 37.0),
        (
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"invalid_field\"}",
            1.0,
        ),
        ("ingestd_wal_backlog_bytes", 0.0),
        (
            "sum(queryd_http_requests_total{route=\"/logs/search\",status=\"200\"})",
            1.0,
        ),
        ("sum(ingestd_logs_dead_lettered_total)", 0.0),
    ];
    for (q, want) in checks {
        eventually(
            Duration::from_secs(60),
            &format!("prometheus to see {q} = {want}"),
            || async { (query(q).await == Some(want)).then_some(()) },
        )
        .await;
    }
    // The recording rules evaluate against the real series.
    eventually(
        Duration::from_secs(60),
        "the availability recording rule",
        || async {
            query("logagg:ingest_availability:ratio_rate5m")
                .await
                .filter(|v| *v == 1.0)
        },
    )
    .await;
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    s.stop().await;
}
