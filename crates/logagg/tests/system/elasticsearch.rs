//! The Elasticsearch backend against the fake: every scenario ends with the
//! fake's documents compared to the acknowledged ids.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::fake_es::FakeEs;
use crate::util::*;

const LOGS: &str = "logagg-logs";
const DEADLETTER: &str = "logagg-deadletter";

/// Ingests `n` logs in batches of `batch`; returns the acknowledged ids.
async fn ingest(base: &str, n: usize, batch: usize, tag: &str) -> Vec<String> {
    let mut acked = Vec::new();
    for start in (0..n).step_by(batch) {
        let logs: Vec<Value> = (start..(start + batch).min(n))
            .map(|i| json!({"level": "ERROR", "message": format!("{tag} log {i}"), "source": "es-test", "service": "svc"}))
            .collect();
        let (status, body) = post(&format!("{base}/logs/batch-ingest"), &json!(logs)).await;
        assert_eq!(status, 202, "{body}");
        acked.extend(
            body["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    acked
}

/// ingestd and queryd on the fake cluster, committing every 100 ms, with
/// `extra` flags.
async fn on_fake(fake: &FakeEs, extra: &[&str]) -> Stack {
    Stack::start_with(&fake_flags(fake, extra)).await
}

/// As [`on_fake`], on the data directory `dir`.
async fn on_fake_in(dir: &std::path::Path, fake: &FakeEs, extra: &[&str]) -> Stack {
    Stack::start_in(dir, &fake_flags(fake, extra)).await
}

fn fake_flags<'a>(fake: &'a FakeEs, extra: &[&'a str]) -> Vec<&'a str> {
    let mut flags = vec![
        "--elasticsearch-url",
        fake.url.as_str(),
        "--commit-interval-ms",
        "100",
    ];
    flags.extend_from_slice(extra);
    flags
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

async fn wait_delivered(fake: &FakeEs, stream: &str, acked: &[String], timeout: Duration) {
    let want = set(acked);
    eventually(
        timeout,
        "every acknowledged log in elasticsearch",
        || async {
            let have: BTreeSet<String> = fake.ids(stream).into_iter().collect();
            want.is_subset(&have).then_some(())
        },
    )
    .await;
}

#[actix_web::test]
async fn down_at_start_then_up_delivers_everything() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let s = Stack::start_with(&["--elasticsearch-url", &url, "--commit-interval-ms", "100"]).await;
    // Ingest keeps acknowledging into the WAL while Elasticsearch is away.
    let acked = ingest(&s.ingest, 120, 40, "early").await;
    let problems = eventually(
        Duration::from_secs(10),
        "/ready to report the store",
        || async {
            let (status, body) = get(&format!("{}/ready", s.ingest)).await;
            (status == 503).then_some(body["problems"].to_string())
        },
    )
    .await;
    assert!(problems.contains("store"), "{problems}");

    let fake = FakeEs::start_on(port).await;
    // Some connections dropped and slow answers on the way.
    fake.faults(|f| {
        f.drop_next = 2;
        f.delay = Duration::from_millis(50);
    });
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(30)).await;
    eventually(
        Duration::from_secs(10),
        "/ready once elasticsearch answers",
        || async {
            let (status, _) = get(&format!("{}/ready", s.ingest)).await;
            (status == 200).then_some(())
        },
    )
    .await;
    assert_eq!(fake.ids(LOGS).len(), acked.len());

    // Setup happened first: policy with the retention, templates, data streams.
    let requests = fake.requests();
    let policy = requests
        .iter()
        .find(|r| r.method == "PUT" && r.path == "/_ilm/policy/logagg-logs")
        .expect("ILM policy installed");
    let policy: Value = serde_json::from_slice(&policy.body).unwrap();
    assert_eq!(policy["policy"]["phases"]["delete"]["min_age"], json!("7d"));
    assert!(requests
        .iter()
        .any(|r| r.method == "PUT" && r.path == "/_index_template/logagg-logs"));
    assert!(requests
        .iter()
        .any(|r| r.method == "PUT" && r.path == "/_data_stream/logagg-deadletter"));
    // Snapshots are opt-in: nothing registered without the setting.
    assert!(!requests
        .iter()
        .any(|r| r.path.starts_with("/_snapshot") || r.path.starts_with("/_slm")));
    // Bulk requests: NDJSON, create with the log id, response trimmed.
    let bulk = requests
        .iter()
        .find(|r| r.path.starts_with("/logagg-logs/_bulk"))
        .unwrap();
    assert!(bulk.path.contains("filter_path="), "{}", bulk.path);
    assert_eq!(
        bulk.headers.get("content-type").map(String::as_str),
        Some("application/x-ndjson")
    );
    let first_action: Value = serde_json::from_str(
        std::str::from_utf8(&bulk.body)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(acked.contains(&first_action["create"]["_id"].as_str().unwrap().to_string()));
    let doc = fake.doc(LOGS, &acked[0]).unwrap();
    assert_eq!(doc["log_id"], json!(acked[0]));
    assert_eq!(doc["level"], json!("ERROR"));
    assert!(doc["@timestamp"].is_string() && doc["pattern_id"].is_string());
    s.stop().await;
}

#[actix_web::test]
async fn snapshots_and_layout_are_installed_when_asked() {
    let fake = FakeEs::start().await;
    let s = on_fake(
        &fake,
        &[
            "--elasticsearch-shards",
            "3",
            "--elasticsearch-replicas",
            "1",
            "--elasticsearch-snapshot-repository",
            "nightly",
            "--elasticsearch-snapshot-location",
            "/mnt/backups/logagg",
            "--elasticsearch-snapshot-schedule",
            "0 15 3 * * ?",
        ],
    )
    .await;
    let acked = ingest(&s.ingest, 20, 10, "snap").await;
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(30)).await;
    let requests = fake.requests();
    let at = |path: &str| {
        requests
            .iter()
            .position(|r| r.method == "PUT" && r.path == path)
            .unwrap_or_else(|| panic!("no PUT {path}"))
    };
    let repository: Value =
        serde_json::from_slice(&requests[at("/_snapshot/nightly")].body).unwrap();
    assert_eq!(repository["type"], "fs");
    assert_eq!(repository["settings"]["location"], "/mnt/backups/logagg");
    let policy: Value =
        serde_json::from_slice(&requests[at("/_slm/policy/logagg-snapshots")].body).unwrap();
    assert_eq!(policy["repository"], "nightly");
    assert_eq!(policy["schedule"], "0 15 3 * * ?");
    assert_eq!(
        policy["config"]["indices"],
        json!(["logagg-logs", "logagg-deadletter"])
    );
    assert_eq!(policy["config"]["include_global_state"], json!(false));
    // The repository exists before the policy that names it, and both
    // before the first log is written.
    assert!(at("/_snapshot/nightly") < at("/_slm/policy/logagg-snapshots"));
    let first_bulk = requests
        .iter()
        .position(|r| r.path.starts_with("/logagg-logs/_bulk"))
        .unwrap();
    assert!(at("/_slm/policy/logagg-snapshots") < first_bulk);
    // The three-node layout is in both index templates, before the streams
    // (and so their first backing indices) are created.
    for stream in [LOGS, "logagg-deadletter"] {
        let put = at(&format!("/_index_template/{stream}"));
        let template: Value = serde_json::from_slice(&requests[put].body).unwrap();
        let settings = &template["template"]["settings"];
        assert_eq!(settings["index.number_of_shards"], 3, "{stream}");
        assert_eq!(settings["index.number_of_replicas"], 1, "{stream}");
        assert!(put < at(&format!("/_data_stream/{stream}")));
    }
    s.stop().await;
}

#[actix_web::test]
async fn item_level_429s_are_retried_alone() {
    let fake = FakeEs::start().await;
    fake.faults(|f| f.item_429_attempts = 2);
    let s = on_fake(&fake, &["--bulk-gzip"]).await;
    let acked = ingest(&s.ingest, 200, 50, "retry").await;
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(30)).await;
    assert_eq!(fake.max_created_per_id(), 1);
    // gzip'd bodies were decoded by the fake (it would have failed otherwise).
    assert!(fake.requests().iter().any(|r| r
        .headers
        .get("content-encoding")
        .is_some_and(|e| e == "gzip")));
    let m = eventually(
        Duration::from_secs(5),
        "settled counts in metrics",
        || async {
            let m = get_text(&format!("{}/metrics", s.ingest)).await;
            (metric(&m, "ingestd_logs_indexed_total") == Some(200.0)).then_some(m)
        },
    )
    .await;
    assert_eq!(
        metric(&m, "ingestd_bulk_retried_total"),
        Some(400.0),
        "each document retried twice"
    );
    s.stop().await;
}

#[actix_web::test]
async fn mapping_errors_go_to_the_dead_letter_stream_or_file() {
    let fake = FakeEs::start().await;
    fake.faults(|f| f.mapping_error_marker = Some("BADMAPPING".into()));
    let tmp = tempfile::tempdir().unwrap();
    let s = on_fake_in(tmp.path(), &fake, &[]).await;
    let good = ingest(&s.ingest, 30, 30, "fine").await;
    let bad = ingest(&s.ingest, 3, 3, "BADMAPPING").await;
    wait_delivered(&fake, LOGS, &good, Duration::from_secs(20)).await;
    wait_delivered(&fake, DEADLETTER, &bad, Duration::from_secs(20)).await;
    let letter = fake.doc(DEADLETTER, &bad[0]).unwrap();
    assert_eq!(letter["status"], json!(400));
    assert_eq!(letter["error_type"], json!("document_parsing_exception"));
    let original: Value = serde_json::from_str(letter["document"].as_str().unwrap()).unwrap();
    assert_eq!(original["log_id"], json!(bad[0]));
    assert!(fake.ids(LOGS).iter().all(|id| !bad.contains(id)));
    // When the dead-letter stream refuses them too, they go to a file.
    fake.faults(|f| f.deadletter_refuses = true);
    let worse = ingest(&s.ingest, 2, 2, "BADMAPPING again").await;
    let file = tmp.path().join("deadletter/es-deadletter.ndjson");
    let text = eventually(Duration::from_secs(20), "the dead-letter file", || async {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| t.lines().count() == 2)
    })
    .await;
    for id in &worse {
        assert!(text.contains(id.as_str()));
    }
    let m = eventually(Duration::from_secs(5), "dead-letter metrics", || async {
        let m = get_text(&format!("{}/metrics", s.ingest)).await;
        (metric(&m, "ingestd_logs_dead_lettered_total{place=\"file\"}") == Some(2.0)).then_some(m)
    })
    .await;
    assert_eq!(
        metric(&m, "ingestd_logs_dead_lettered_total{place=\"stream\"}"),
        Some(3.0)
    );
    s.stop().await;
}

#[actix_web::test]
async fn kill_9_during_delivery_stores_no_id_twice() {
    let fake = FakeEs::start().await;
    // Slow answers: kills land while bulk requests are in flight; and the
    // data stream rolls over by age meanwhile, so replays cross rollovers.
    fake.faults(|f| {
        f.delay = Duration::from_millis(150);
        f.rollover_age = Some(Duration::from_millis(250));
    });
    let tmp = tempfile::tempdir().unwrap();
    let flags = [
        "--elasticsearch-url",
        fake.url.as_str(),
        "--commit-interval-ms",
        "100",
        "--bulk-max-docs",
        "25",
    ];
    let mut acked = Vec::new();
    for round in 0..3 {
        let process = IngestProcess::spawn(tmp.path(), &flags).await;
        acked.extend(ingest(&process.base, 150, 30, &format!("round {round}")).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        process.kill9();
    }
    fake.faults(|f| f.delay = Duration::ZERO);
    let process = IngestProcess::spawn(tmp.path(), &flags).await;
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(30)).await;
    assert_eq!(process.terminate(), Some(0));
    // Every acknowledged log is there once, in whichever backing index:
    // same ids on replay, 409 for repeats in one index, the replay lookup
    // across them.
    let stored = fake.ids(LOGS);
    assert_eq!(set(&stored), set(&acked));
    assert_eq!(
        stored.len(),
        set(&stored).len(),
        "a log in two backing indices"
    );
    assert_eq!(fake.max_created_per_id(), 1);
    assert!(
        fake.state
            .lock()
            .unwrap()
            .generation
            .get(LOGS)
            .copied()
            .unwrap_or(1)
            > 1,
        "no rollover happened"
    );
    let repeats = fake
        .state
        .lock()
        .unwrap()
        .attempts
        .values()
        .filter(|n| **n > 1)
        .count();
    // Replays: sent again (answered 409), or found first by the replay
    // lookup across the data stream (and not sent again).
    let lookups = fake
        .requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("/_search") && String::from_utf8_lossy(&r.body).contains("\"ids\"")
        })
        .count();
    assert!(
        repeats > 0 || lookups > 0,
        "the kills should have caused some replays"
    );
}

#[actix_web::test]
async fn a_long_outage_fills_the_wal_then_drains() {
    let fake = FakeEs::start().await;
    fake.faults(|f| f.down = true);
    let s = on_fake(&fake, &["--wal-max-bytes", "60000"]).await;
    let mut acked = Vec::new();
    let mut refused = false;
    for round in 0..200 {
        let logs: Vec<Value> = (0..20)
            .map(|i| json!({"message": format!("outage {round} {i}"), "source": "t"}))
            .collect();
        let r = client()
            .post(format!("{}/logs/batch-ingest", s.ingest))
            .json(&logs)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            202 => acked.extend(
                r.json::<Value>().await.unwrap()["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string()),
            ),
            429 => {
                assert_eq!(r.headers()["retry-after"], "1");
                refused = true;
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused, "the WAL cap was never reached");
    assert!(!acked.is_empty());
    let (status, _) = get(&format!("{}/ready", s.ingest)).await;
    assert_eq!(status, 503);
    assert!(fake.ids(LOGS).is_empty());
    // Elasticsearch comes back: the backlog drains and ingest takes logs again.
    fake.faults(|f| f.down = false);
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(60)).await;
    let more = eventually(
        Duration::from_secs(10),
        "ingest to accept again",
        || async {
            let logs = json!([{"message": "after the outage", "source": "t"}]);
            let (status, body) = post(&format!("{}/logs/batch-ingest", s.ingest), &logs).await;
            (status == 202).then(|| body["ids"][0].as_str().unwrap().to_string())
        },
    )
    .await;
    wait_delivered(&fake, LOGS, &[more], Duration::from_secs(10)).await;
    assert_eq!(fake.ids(LOGS).len(), acked.len() + 1);
    s.stop().await;
}

#[actix_web::test]
async fn queryd_reads_search_answers_from_elasticsearch() {
    let fake = FakeEs::start().await;
    let s = on_fake(&fake, &[]).await;
    // refresh=wait_for answers once the logs are delivered and refreshed.
    let logs: Vec<Value> = (0..3)
        .map(|i| json!({"message": format!("query log {i}"), "source": "t"}))
        .collect();
    let (status, body) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest),
        &json!(logs),
    )
    .await;
    assert_eq!((status, body["searchable"].clone()), (202, json!(true)));
    let acked: Vec<String> = body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(set(&fake.ids(LOGS)), set(&acked));
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == "/logagg-logs/_refresh"));
    let (status, body) = post(
        &format!("{}/logs/search", s.query),
        &json!({"query": "query", "limit": 10}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], json!(3));
    let returned: BTreeSet<String> = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(returned, set(&acked));
    assert!(body["logs"][0].get("template").is_none());
    // The request queryd sent is the compiled bool query, never query_string.
    let search = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/logagg-logs/_search")
        .unwrap();
    let sent: Value = serde_json::from_slice(&search.body).unwrap();
    assert_eq!(
        sent["query"],
        json!({"bool": {"filter": [{"match_phrase": {"message": "query"}}]}})
    );
    let (status, _) = get(&format!("{}/ready", s.query)).await;
    assert_eq!(status, 200);
    s.stop().await;
}

// Regressions (issue 16, finding 4): per-item 403 and 404 were dead-lettered
// (a missing privilege or index is not the document's fault); a proxy's HTML
// 400 dead-lettered the whole batch; a 413 was retried forever, never split.
#[actix_web::test]
async fn refusals_that_are_not_the_documents_fault_are_retried_and_large_bulks_split() {
    let fake = FakeEs::start().await;
    fake.faults(|f| {
        f.item_403_404_attempts = 1;
        f.html_400_next = 2;
        f.max_content_length = Some(30_000);
    });
    let tmp = tempfile::tempdir().unwrap();
    let s = on_fake_in(tmp.path(), &fake, &[]).await;
    // About 300 bytes a document: a bulk of them is far over 30,000 bytes.
    let acked = ingest(&s.ingest, 400, 200, &"padding ".repeat(25)).await;
    // One document too large on its own: it is the only one dead-lettered.
    let (status, body) = post(
        &format!("{}/logs/ingest", s.ingest),
        &json!({"message": "x".repeat(31_000), "source": "es-test"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let huge = body["id"].as_str().unwrap().to_string();
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(30)).await;
    let file = tmp.path().join("deadletter/es-deadletter.ndjson");
    let text = eventually(
        Duration::from_secs(20),
        "the too-large document dead-lettered",
        || async {
            std::fs::read_to_string(&file)
                .ok()
                .filter(|t| t.contains(&huge))
        },
    )
    .await;
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(fake.max_created_per_id(), 1);
    assert!(!fake.ids(LOGS).contains(&huge));
    let bulks: Vec<usize> = fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/_bulk"))
        .map(|r| r.body.len())
        .collect();
    assert!(
        bulks.iter().any(|n| *n > 30_000),
        "no bulk was over the limit"
    );
    assert!(bulks.iter().any(|n| *n <= 30_000), "no bulk was split");
    s.stop().await;
}

// Regression (issue 16, finding 2): setup needed broad privileges at every
// start and could not be turned off; readiness called cluster health (the
// `monitor` privilege) and failed on any red index of the cluster.
#[actix_web::test]
async fn with_setup_off_only_documents_are_written_and_readiness_only_reads() {
    let fake = FakeEs::start().await;
    let s = on_fake(&fake, &["--elasticsearch-setup", "false"]).await;
    let acked = ingest(&s.ingest, 20, 20, "no setup").await;
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(20)).await;
    let (status, body) = get(&format!("{}/ready", s.query)).await;
    assert_eq!(status, 200, "{body}");
    let paths: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    for forbidden in [
        "_ilm",
        "_index_template",
        "_data_stream",
        "_mapping",
        "_cluster",
    ] {
        assert!(
            paths.iter().all(|p| !p.contains(forbidden)),
            "{forbidden} called with setup off: {paths:?}"
        );
    }
    s.stop().await;
    // The roles in deploy/ name what each part needs: writing documents
    // takes no cluster privilege, reading takes `read` only.
    let roles: Value =
        serde_json::from_str(include_str!("../../../../deploy/elasticsearch/roles.json")).unwrap();
    assert_eq!(roles["logagg-ingest"]["cluster"], json!([]));
    assert_eq!(
        roles["logagg-query"]["indices"][0]["privileges"],
        json!(["read"])
    );
    assert!(roles["logagg-setup"]["cluster"]
        .as_array()
        .unwrap()
        .contains(&json!("manage_index_templates")));
    // Snapshots are another role: the writer needs none of it.
    assert!(roles["logagg-snapshots"]["cluster"]
        .as_array()
        .unwrap()
        .contains(&json!("manage_slm")));
}

// Regression (issue 16, finding 7): a field added by a new release waited
// for the next backing index (strict mapping): setup now puts the mapping
// on the existing data stream too.
#[actix_web::test]
async fn setup_puts_the_mapping_on_an_existing_data_stream() {
    let fake = FakeEs::start().await;
    for _ in 0..2 {
        let s = on_fake(&fake, &[]).await;
        let acked = ingest(&s.ingest, 5, 5, "mapping").await;
        wait_delivered(&fake, LOGS, &acked, Duration::from_secs(20)).await;
        s.stop().await;
    }
    let puts: Vec<Value> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == format!("/{LOGS}/_mapping"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(!puts.is_empty(), "no mapping update on the existing stream");
    assert_eq!(
        puts[0]["properties"]["template"]["ignore_above"],
        json!(8191)
    );
}

// Regression (issue 16, finding 3): `create` with `_id` refuses a second copy
// only within one backing index, so a WAL replay after a rollover stored
// every replayed log again.
#[actix_web::test]
async fn a_replay_after_a_rollover_stores_nothing_twice() {
    let fake = FakeEs::start().await;
    let tmp = tempfile::tempdir().unwrap();
    // Bulks go out as they fill (10 documents); the checkpoint is never
    // written before the kill, so a restart replays everything.
    let p = IngestProcess::spawn(
        tmp.path(),
        &[
            "--elasticsearch-url",
            &fake.url,
            "--commit-interval-ms",
            "600000",
            "--bulk-max-docs",
            "10",
        ],
    )
    .await;
    let acked = ingest(&p.base, 100, 20, "rolled").await;
    // Full bulks of 10 go out; the last few wait in the buffer for a commit.
    let stored_before = eventually(Duration::from_secs(20), "full bulks delivered", || async {
        let n = fake.ids(LOGS).len();
        (n >= 90).then_some(n)
    })
    .await;
    p.kill9();
    fake.rollover(LOGS);
    let p = IngestProcess::spawn(
        tmp.path(),
        &[
            "--elasticsearch-url",
            &fake.url,
            "--commit-interval-ms",
            "100",
        ],
    )
    .await;
    let more = ingest(&p.base, 10, 10, "after").await;
    wait_delivered(&fake, LOGS, &more, Duration::from_secs(20)).await;
    let m = eventually(Duration::from_secs(20), "the replay to settle", || async {
        let m = get_text(&format!("{}/metrics", p.base)).await;
        (metric(&m, "ingestd_logs_duplicate_total") == Some(stored_before as f64)).then_some(m)
    })
    .await;
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(20)).await;
    let m2 = get_text(&format!("{}/metrics", p.base)).await;
    assert_eq!(
        metric(&m2, "ingestd_logs_indexed_total"),
        Some((110 - stored_before) as f64),
        "{m}"
    );
    assert_eq!(p.terminate(), Some(0));
    let mut stored = fake.ids(LOGS);
    stored.sort();
    let mut want: Vec<String> = acked.iter().chain(&more).cloned().collect();
    want.sort();
    assert_eq!(
        stored, want,
        "a log stored twice (or lost) across the rollover"
    );
    assert_eq!(fake.max_created_per_id(), 1);
}

// Regression (issue 16, finding 7, with the fake enforcing the mapping): a
// data stream made by an older release lacks a field this one writes; with
// `dynamic: strict` its documents were refused (dead-lettered) until the next
// backing index. Setup now puts the mapping on the existing stream.
#[actix_web::test]
async fn a_field_an_older_mapping_lacks_is_taken_at_once() {
    for setup in ["true", "false"] {
        let fake = FakeEs::start().await;
        {
            let template: Value = serde_json::from_str(include_str!(
                "../../../../deploy/elasticsearch/index-template.json"
            ))
            .unwrap();
            let mut old = template["template"]["mappings"].clone();
            old["properties"]
                .as_object_mut()
                .unwrap()
                .remove("template");
            let mut state = fake.state.lock().unwrap();
            state.data_streams.push(LOGS.to_string());
            state.mappings.insert(LOGS.to_string(), old);
        }
        let tmp = tempfile::tempdir().unwrap();
        let s = on_fake_in(tmp.path(), &fake, &["--elasticsearch-setup", setup]).await;
        let acked = ingest(&s.ingest, 5, 5, "new field").await;
        if setup == "true" {
            wait_delivered(&fake, LOGS, &acked, Duration::from_secs(20)).await;
        } else {
            // Without setup the old mapping stands: the fake refuses them as
            // Elasticsearch would, and they are dead-lettered, not lost.
            wait_delivered(&fake, DEADLETTER, &acked, Duration::from_secs(20)).await;
            let letter = fake.doc(DEADLETTER, &acked[0]).unwrap();
            assert_eq!(
                letter["error_type"],
                json!("strict_dynamic_mapping_exception")
            );
        }
        s.stop().await;
    }
}

// Regression (issue 9): `ingestd_bulk_requests_in_flight` never moved.
#[actix_web::test]
async fn the_in_flight_gauge_counts_bulk_requests_waiting_for_an_answer() {
    let fake = FakeEs::start().await;
    fake.faults(|f| f.delay = Duration::from_millis(1500));
    let s = on_fake(&fake, &[]).await;
    let acked = ingest(&s.ingest, 10, 10, "slow").await;
    eventually(
        Duration::from_secs(10),
        "a bulk request in flight",
        || async {
            let m = get_text(&format!("{}/metrics", s.ingest)).await;
            (metric(&m, "ingestd_bulk_requests_in_flight") >= Some(1.0)).then_some(())
        },
    )
    .await;
    wait_delivered(&fake, LOGS, &acked, Duration::from_secs(10)).await;
    eventually(
        Duration::from_secs(10),
        "no bulk request in flight",
        || async {
            let m = get_text(&format!("{}/metrics", s.ingest)).await;
            (metric(&m, "ingestd_bulk_requests_in_flight") == Some(0.0)).then_some(())
        },
    )
    .await;
    s.stop().await;
}
