//! Real shippers against the ingest port, started by the tests: the Python
//! `elasticsearch` client (helpers.bulk, streaming_bulk, the product check),
//! the OpenTelemetry Python SDK's OTLP/HTTP exporter behind `logging`, and
//! rsyslog's omelasticsearch in bulk mode. `.ci/run` installs them
//! (`tests/clients/requirements.txt`, Debian `rsyslog rsyslog-elasticsearch`).
//! Each test ends with every sent log found by a search, with its level,
//! service, source and fields.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{eventually, get, get_text, metric, Stack};

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs a client script to its end; its last stdout line is JSON.
fn python(script: &str, args: &[&str]) -> Value {
    python_env(script, args, &[])
}

/// Every log of a service, once there are `n`.
async fn logs_of(s: &Stack, service: &str, n: usize) -> Vec<Value> {
    eventually(
        Duration::from_secs(30),
        &format!("{n} logs of {service}"),
        || async {
            let (status, body) = get(&format!(
                "{}/logs/search?service={service}&limit=1000",
                s.query
            ))
            .await;
            assert_eq!(status, 200, "{body}");
            let logs = body["logs"].as_array().unwrap().clone();
            (logs.len() == n).then_some(logs)
        },
    )
    .await
}

/// Runs a blocking client off the test's runtime (the stack serves on it).
async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[actix_web::test]
async fn python_elasticsearch_client_bulk_and_streaming_bulk() {
    let s = Stack::start().await;
    let url = s.ingest.clone();
    let count = 600;
    let answer =
        run_blocking(move || python("es_bulk.py", &[&url, "esclient", &count.to_string()])).await;
    assert!(answer["version"].as_str().unwrap().starts_with("8."));
    assert_eq!(answer["bulk_ok"], count, "{answer}");
    assert_eq!(answer["bulk_errors"], 0, "{answer}");
    assert_eq!(answer["streamed_ok"], count, "{answer}");
    assert_eq!(answer["streamed_failed"], 0, "{answer}");
    assert_eq!(answer["single_result"], "created");

    let levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
    for kind in ["bulk", "stream"] {
        let logs = logs_of(&s, &format!("esclient-{kind}"), count).await;
        let mut seen = vec![false; count];
        for log in &logs {
            let message = log["message"].as_str().unwrap();
            let i: usize = message
                .strip_prefix(&format!("esclient {kind} order "))
                .and_then(|m| m.strip_suffix(" processed"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected message {message}"));
            assert!(!seen[i], "{message} stored twice");
            seen[i] = true;
            assert_eq!(log["level"], levels[i % 5], "{log}");
            assert_eq!(log["source"], format!("py-host-{}", i % 3));
            assert_eq!(log["metadata"]["index"], "logs-esclient");
            assert_eq!(
                log["metadata"]["http"]["response"]["status_code"],
                200 + i % 5
            );
            assert_eq!(log["metadata"]["labels"]["i"], i);
        }
    }
    let single = logs_of(&s, "esclient-single", 1).await;
    assert_eq!(single[0]["id"], answer["single_id"]);
    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_accepted_total{protocol=\"elasticsearch\"}"
        ),
        Some((2 * count + 1) as f64)
    );
    s.stop().await;
}

#[actix_web::test]
async fn opentelemetry_python_sdk_logging_handler() {
    let s = Stack::start().await;
    let url = s.ingest.clone();
    let count = 150;
    let answer =
        run_blocking(move || python("otel_logging.py", &[&url, "otelsdk", &count.to_string()]))
            .await;
    let trace_id = answer["trace_id"].as_str().unwrap().to_string();
    let logs = logs_of(&s, "otelsdk-otel", count).await;
    let levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
    let mut seen = vec![false; count];
    for log in &logs {
        let message = log["message"].as_str().unwrap();
        let i: usize = message
            .strip_prefix("otelsdk payment ")
            .and_then(|m| m.strip_suffix(" handled"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected message {message}"));
        assert!(!seen[i], "{message} stored twice");
        seen[i] = true;
        assert_eq!(log["level"], levels[i % 5], "{log}");
        assert_eq!(log["source"], "otel-host-1");
        assert_eq!(log["trace_id"], trace_id.as_str(), "{log}");
        assert_eq!(log["span_id"].as_str().map(str::len), Some(16));
        assert_eq!(log["metadata"]["order_id"], format!("o-{i}"));
        assert_eq!(log["metadata"]["otel.scope.name"], "app.otelsdk");
    }
    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(&m, "ingestd_logs_accepted_total{protocol=\"otlp\"}"),
        Some(count as f64)
    );
    s.stop().await;
}

/// rsyslogd in the foreground with its own configuration: imfile reads a
/// file, omelasticsearch ships it in bulk mode to the ingest port.
#[actix_web::test]
async fn rsyslog_omelasticsearch_bulk_mode() {
    let s = Stack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lines = 300;
    let file = dir.path().join("billing.log");
    let text: String = (0..lines)
        .map(|i| format!("invoice {i} could not be sent to customer c-{}\n", i % 7))
        .collect();
    std::fs::write(&file, text).unwrap();
    let port = s.ingest.rsplit(':').next().unwrap().to_string();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}" localHostName="rsyslog-host-1")
module(load="imfile")
module(load="omelasticsearch")
template(name="logagg" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host.name" name="hostname" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="service" name="programname" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
input(type="imfile" file="{file}" tag="billing:" severity="warning" facility="local0")
action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" template="logagg"
       searchIndex="syslog-billing" bulkmode="on" maxbytes="100k" esVersion.major="8"
       errorFile="{errors}")
"#,
            work = work.display(),
            file = file.display(),
            errors = dir.path().join("es-errors.json").display(),
        ),
    )
    .unwrap();
    let rsyslogd = ["/usr/sbin/rsyslogd", "rsyslogd"]
        .into_iter()
        .find(|p| Command::new(p).arg("-v").output().is_ok())
        .expect("rsyslogd is installed (apt-get install rsyslog rsyslog-elasticsearch)");
    let check = Command::new(rsyslogd)
        .args(["-N1", "-f"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "rsyslog rejects the configuration: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut child = Command::new(rsyslogd)
        .args(["-n", "-iNONE", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = logs_of(&s, "billing", lines).await;
    let _ = child.kill();
    let _ = child.wait();
    let mut seen = vec![false; lines];
    for log in &logs {
        let message = log["message"].as_str().unwrap();
        let i: usize = message
            .trim()
            .strip_prefix("invoice ")
            .and_then(|m| m.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected message {message:?}"));
        assert!(!seen[i], "{message} stored twice");
        seen[i] = true;
        assert_eq!(log["level"], "WARNING", "{log}");
        assert_eq!(log["source"], "rsyslog-host-1");
        assert_eq!(log["metadata"]["index"], "syslog-billing");
    }
    assert!(
        !dir.path().join("es-errors.json").exists(),
        "rsyslog recorded refused documents: {}",
        std::fs::read_to_string(dir.path().join("es-errors.json")).unwrap_or_default()
    );
    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_accepted_total{protocol=\"elasticsearch\"}"
        ),
        Some(lines as f64)
    );
    s.stop().await;
}

/// The same clients with an API key, each the way its users configure it:
/// the Elasticsearch client's `api_key=(id, secret)`, the OpenTelemetry
/// exporter's standard `OTEL_EXPORTER_OTLP_HEADERS`, and curl's `-u` and
/// `-H Authorization: Bearer`.
#[actix_web::test]
async fn real_clients_with_api_keys() {
    use svc_kit::auth::{add_key, Scope};
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let shipper = add_key(&keys, "shipper", "default", &[Scope::Ingest]).unwrap();
    let reader = add_key(&keys, "reader", "default", &[Scope::Query]).unwrap();
    let s = Stack::start_with(&["--auth-keys", keys.to_str().unwrap()]).await;
    let count = 50;

    let url = s.ingest.clone();
    let api_key = format!("shipper:{shipper}");
    let answer = run_blocking(move || {
        python_env(
            "es_bulk.py",
            &[&url, "keyed", &count.to_string()],
            &[("ES_API_KEY", api_key.as_str())],
        )
    })
    .await;
    assert_eq!(answer["bulk_ok"], count, "{answer}");
    assert_eq!(answer["streamed_ok"], count, "{answer}");

    let url = s.ingest.clone();
    let headers = format!("Authorization=Bearer%20{shipper}");
    let answer = run_blocking(move || {
        python_env(
            "otel_logging.py",
            &[&url, "keyedotel", &count.to_string()],
            &[("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str())],
        )
    })
    .await;
    assert!(answer["trace_id"].is_string(), "{answer}");

    // curl: Basic with the id and secret, and a bearer token.
    let ingest = format!("{}/logs/ingest?refresh=wait_for", s.ingest);
    let user = format!("shipper:{shipper}");
    let bearer = format!("Authorization: Bearer {shipper}");
    let body = r#"{"message":"keyed curl","source":"curl","service":"keyedcurl"}"#;
    for auth in [vec!["-u", user.as_str()], vec!["-H", bearer.as_str()]] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
            ])
            .args(&auth)
            .arg(&ingest)
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // Without a key curl gets the 401 and its JSON.
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "-d",
            body,
        ])
        .arg(&ingest)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("401") && text.contains("\"unauthorized\""),
        "{text}"
    );

    // Everything arrived, read with the query key.
    let client = reqwest::Client::new();
    for (service, n) in [
        ("keyed-bulk", count),
        ("keyed-stream", count),
        ("keyedotel-otel", count),
        ("keyedcurl", 2),
    ] {
        let url = format!("{}/logs/search?service={service}&limit=1000", s.query);
        eventually(Duration::from_secs(30), service, || async {
            let res = client.get(&url).bearer_auth(&reader).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let body: Value = res.json().await.unwrap();
            (body["total_count"] == n).then_some(())
        })
        .await;
    }
    s.stop().await;
}

/// [`python`] with extra environment variables.
fn python_env(script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = Command::new("python3")
        .arg(clients_dir().join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs (see .ci/run for the clients it installs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({})\n{stdout}\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\n{stderr}"))
}
