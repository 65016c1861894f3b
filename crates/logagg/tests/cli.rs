//! The all-in-one binary: both ports, one data directory, a clean SIGTERM.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_healthy(c: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = c.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became healthy");
}

#[tokio::test]
async fn serves_ingest_and_query_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest_port, query_port) = (free_port(), free_port());
    // Settings by environment variable, as the README's table says.
    let child = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .env("DATA_DIR", dir.path())
        .env("INGEST_ADDR", format!("127.0.0.1:{ingest_port}"))
        .env("QUERY_ADDR", format!("127.0.0.1:{query_port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ingest = format!("http://127.0.0.1:{ingest_port}");
    let query = format!("http://127.0.0.1:{query_port}");
    let c = reqwest::Client::new();
    wait_healthy(&c, &ingest).await;
    wait_healthy(&c, &query).await;

    let r = c
        .post(format!("{ingest}/logs/ingest?refresh=wait_for"))
        .json(&json!({"level":"ERROR","message":"Database connection failed","source":"web-server-01","service":"user-service"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let found: Value = c
        .post(format!("{query}/logs/search"))
        .json(&json!({"query":"database","level":"ERROR","limit":50}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["logs"][0]["id"], json!(id));
    for base in [&ingest, &query] {
        let text = c
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("_http_requests_total"), "{base}: {text}");
    }
    assert!(dir.path().join("wal").is_dir());
    assert!(dir.path().join("index").is_dir());

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    // Service logs are JSON lines.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().next().expect("some service log");
    let line: Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(
        line["timestamp"].is_string() && line["level"].is_string(),
        "{first}"
    );
    assert!(stderr.contains("ingestd stopped"));
}

#[test]
fn help_lists_every_setting_with_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for env in [
        "DATA_DIR",
        "INGEST_ADDR",
        "QUERY_ADDR",
        "RETENTION_DAYS",
        "WAL_MAX_BYTES",
        "COMMIT_INTERVAL_MS",
        "MAX_BODY_BYTES",
    ] {
        assert!(
            help.contains(&format!("env: {env}")),
            "{env} missing from --help:\n{help}"
        );
    }
}
