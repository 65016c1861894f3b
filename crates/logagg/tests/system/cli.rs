//! The all-in-one binary: both ports, one data directory, a clean SIGTERM.

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::util::{free_port, wait_healthy};

#[tokio::test]
async fn serves_ingest_and_query_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest_port, query_port) = (free_port(), free_port());
    // Settings by environment variable, as docs/configuration.md's table says.
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
    wait_healthy(&ingest).await;
    wait_healthy(&query).await;

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
        let text = get_text(&c, &format!("{base}/metrics")).await;
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
        "AUTH_KEYS_FILE",
        "REQUIRE_AUTH",
        "METRICS_AUTH",
        "CORS_ORIGINS",
        "RATE_REQUESTS_PER_SEC",
        "RATE_LOGS_PER_SEC",
        "TLS_CERT",
        "TLS_KEY",
        "TLS_CLIENT_CA",
    ] {
        assert!(
            help.contains(&format!("env: {env}")),
            "{env} missing from --help:\n{help}"
        );
    }
}

/// `logagg` on `dir` with its two ports; waits until both answer.
async fn spawn_logagg(dir: &std::path::Path) -> (std::process::Child, String, String) {
    let (child, ingest, query) = logagg_on(dir, &[], "error", Stdio::null);
    wait_healthy(&ingest).await;
    wait_healthy(&query).await;
    (child, ingest, query)
}

/// `logagg` on `dir` and two free ports, with extra flags, its log at
/// `level` going to `out()`.
fn logagg_on(
    dir: &std::path::Path,
    flags: &[&str],
    level: &str,
    out: fn() -> Stdio,
) -> (std::process::Child, String, String) {
    let (ingest_port, query_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .arg("--data-dir")
        .arg(dir)
        .arg("--ingest-addr")
        .arg(format!("127.0.0.1:{ingest_port}"))
        .arg("--query-addr")
        .arg(format!("127.0.0.1:{query_port}"))
        .args(flags)
        .env("RUST_LOG", level)
        .stdout(out())
        .stderr(out())
        .spawn()
        .unwrap();
    (
        child,
        format!("http://127.0.0.1:{ingest_port}"),
        format!("http://127.0.0.1:{query_port}"),
    )
}

fn terminate(child: std::process::Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
}

fn run_check(dir: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .arg("check")
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[tokio::test]
async fn check_names_the_damage_and_the_service_runs_on_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = reqwest::Client::new();
    let (child, ingest, _) = spawn_logagg(dir.path()).await;
    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"level": "error", "message": format!("disk quota exceeded for user {i}"), "source": "fs"}))
        .collect();
    for _ in 0..4 {
        let r = c
            .post(format!("{ingest}/logs/batch-ingest?refresh=wait_for"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
    terminate(child);
    let (code, text) = run_check(dir.path(), &["--deep"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("no damage found"), "{text}");

    // A flipped byte in the WAL (its records are indexed) and a day index
    // that lost its meta.json.
    let wal = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&wal, &bytes).unwrap();
    let day = chrono_today();
    let day_dir = dir.path().join("index").join(&day);
    std::fs::remove_file(day_dir.join("meta.json")).unwrap();

    let (code, text) = run_check(dir.path(), &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("DAMAGED positions"), "{text}");
    assert!(text.contains("below the store's commit"), "{text}");
    assert!(text.contains(&format!("DAMAGED partition {day}")), "{text}");
    let (code, json_text) = run_check(dir.path(), &["--json"]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(report["problems"], 2, "{report}");

    // The service starts on the damaged directory, takes new logs for the
    // same day, finds them, and says its answer is partial.
    let files_before = std::fs::read_dir(&day_dir).unwrap().count();
    let (child, ingest, query) = spawn_logagg(dir.path()).await;
    let r = c
        .post(format!("{ingest}/logs/ingest?refresh=wait_for"))
        .json(&json!({"level": "error", "message": "after the damage", "source": "fs"}))
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["searchable"], true, "{answer}");
    let found = get_json(&c, &format!("{query}/logs/search?query=damage")).await;
    assert_eq!(found["logs"][0]["message"], "after the damage", "{found}");
    assert_eq!(found["partial"], true, "{found}");
    assert_eq!(found["missing"], json!([day]), "{found}");
    let ready = get_json(&c, &format!("{query}/ready")).await;
    assert!(
        ready["warnings"][0].as_str().unwrap().contains(&day),
        "{ready}"
    );
    let metrics = get_text(&c, &format!("{ingest}/metrics")).await;
    assert!(
        metrics.contains("ingestd_index_partitions_damaged 1"),
        "{metrics}"
    );
    terminate(child);
    assert_eq!(
        std::fs::read_dir(&day_dir).unwrap().count(),
        files_before,
        "the damaged partition was changed"
    );
}

async fn get_text(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

async fn get_json(c: &reqwest::Client, url: &str) -> Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

fn chrono_today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn keys_add(file: &std::path::Path, id: &str, scopes: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_logagg"))
        .args(["keys", "add", "--keys-file"])
        .arg(file)
        .args(["--id", id, "--tenant", "default", "--scopes", scopes])
        .output()
        .unwrap()
}

#[test]
fn keys_add_prints_the_secret_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let out = keys_add(&file, "shipper", "ingest,query");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.trim_end_matches('\n');
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert_eq!(secret.len(), 43, "{secret:?}");
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(secret), "the file keeps only a hash");
    assert!(
        text.contains("id = \"shipper\"")
            && text.contains("\"ingest\"")
            && text.contains("\"query\"")
    );
    // Refusals say why, on stderr, and change nothing.
    for (id, scopes, says) in [
        ("shipper", "query", "twice"),
        ("other", "read", "unknown scope"),
        ("bad id", "query", "key id"),
    ] {
        let out = keys_add(&file, id, scopes);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

/// Stops a process from [`spawn_with`] (SIGTERM) and returns its log.
fn stop_and_read_log(child: std::process::Child) -> String {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// `logagg` with extra flags, its log captured.
fn spawn_with(dir: &std::path::Path, flags: &[&str]) -> (std::process::Child, String, String) {
    logagg_on(dir, flags, "info", Stdio::piped)
}

#[tokio::test]
async fn without_keys_it_says_so_once_and_require_auth_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (child, ingest, query) = spawn_with(dir.path(), &[]);
    wait_healthy(&ingest).await;
    wait_healthy(&query).await;
    let log = stop_and_read_log(child);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("no API keys file"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);

    let out = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--require-auth")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("--require-auth is set but no keys file"),
        "{log}"
    );
}

#[tokio::test]
async fn sighup_reads_the_keys_file_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let first = String::from_utf8(keys_add(&file, "one", "query").stdout).unwrap();
    let c = reqwest::Client::new();
    let (child, ingest, query) = spawn_with(
        &dir.path().join("data"),
        &["--auth-keys", file.to_str().unwrap(), "--require-auth"],
    );
    wait_healthy(&ingest).await;
    wait_healthy(&query).await;
    let status = |secret: String| {
        let c = c.clone();
        let url = format!("{query}/logs/search");
        async move {
            c.get(url)
                .bearer_auth(secret.trim())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(first.clone()).await, 200);
    // A new key, with the file's time set back so only SIGHUP can tell.
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    let second = String::from_utf8(keys_add(&file, "two", "query").stdout).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(before)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(status(second.clone()).await, 401, "not read yet");
    Command::new("kill")
        .arg("-HUP")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(second.clone()).await != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload the keys"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status(first).await, 200);
    terminate(child);
}

#[tokio::test]
async fn each_query_leaves_an_audit_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let shipper = String::from_utf8(keys_add(&file, "shipper", "ingest").stdout).unwrap();
    let sre = String::from_utf8(keys_add(&file, "sre", "query").stdout).unwrap();
    let c = reqwest::Client::new();
    let (child, ingest, query) = spawn_with(
        &dir.path().join("data"),
        &["--auth-keys", file.to_str().unwrap()],
    );
    wait_healthy(&ingest).await;
    wait_healthy(&query).await;
    let res = c
        .post(format!("{ingest}/logs/batch-ingest?refresh=wait_for"))
        .bearer_auth(shipper.trim())
        .json(&serde_json::json!([
            {"message": "audit me one", "source": "a"},
            {"message": "audit me two", "source": "a"},
            {"message": "something else", "source": "a"}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let ok = c
        .get(format!("{query}/logs/search?query=audit"))
        .bearer_auth(sre.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = c
        .post(format!("{query}/logs/histogram"))
        .bearer_auth(sre.trim())
        .json(&serde_json::json!({"query": "level:("}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let log = stop_and_read_log(child);
    let audit: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    assert_eq!(
        audit.len(),
        2,
        "one line per query, none for ingest or health:\n{log}"
    );
    let search = &audit[0]["fields"];
    assert_eq!(search["key_id"], "sre");
    assert_eq!(search["tenant"], "default");
    assert_eq!(search["route"], "/logs/search");
    assert_eq!(search["status"], 200);
    assert_eq!(search["query"], "query=\"audit\"");
    assert_eq!(search["results"], 2);
    assert!(search["took_ms"].as_f64().unwrap() >= 0.0);
    let failed = &audit[1]["fields"];
    assert_eq!(failed["route"], "/logs/histogram");
    assert_eq!(failed["status"], 400);
    assert_eq!(failed["method"], "POST");
    assert!(
        failed.get("results").is_none_or(|r| r.is_null()),
        "{failed}"
    );
}
