//! Nothing acknowledged is lost: kill -9, SIGTERM, a full WAL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

/// Sends batches from a few concurrent clients until the server goes away;
/// records every acknowledged id.
pub(crate) async fn send_until_gone(base: String, acked: Arc<Mutex<Vec<String>>>, round: usize) {
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let base = base.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let c = client();
            for n in 0.. {
                let size = 1 + (n * 7 + worker * 3) % 40;
                let batch: Vec<Value> = (0..size)
                    .map(|i| json!({"level":"ERROR","message":format!("round {round} worker {worker} batch {n} item {i}"),"source":"crash-test"}))
                    .collect();
                let sent = if size == 1 {
                    c.post(format!("{base}/logs/ingest")).json(&batch[0]).send().await
                } else {
                    c.post(format!("{base}/logs/batch-ingest")).json(&batch).send().await
                };
                let Ok(response) = sent else { return };
                if response.status().as_u16() != 202 {
                    continue;
                }
                let Ok(body) = response.json::<Value>().await else { return };
                let mut acked = acked.lock().unwrap();
                if let Some(id) = body["id"].as_str() {
                    acked.push(id.to_string());
                }
                if let Some(ids) = body["ids"].as_array() {
                    acked.extend(ids.iter().map(|v| v.as_str().unwrap().to_string()));
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

#[actix_web::test]
async fn every_acknowledged_log_survives_kill_9_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    for round in 0..5 {
        // Short commit interval: kills land before, during and after commits.
        let process = IngestProcess::spawn(
            tmp.path(),
            &[
                "--commit-interval-ms",
                "100",
                "--wal-segment-bytes",
                "200000",
            ],
        )
        .await;
        let sender = tokio::spawn(send_until_gone(process.base.clone(), acked.clone(), round));
        tokio::time::sleep(Duration::from_millis(300 + 170 * round as u64)).await;
        process.kill9();
        sender.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 500, "only {} logs acknowledged", acked.len());

    // Restart once more and stop cleanly: replay indexes what the kills left in the WAL.
    let process = IngestProcess::spawn(tmp.path(), &[]).await;
    assert_eq!(process.terminate(), Some(0));

    let stored = log_store::embedded::EmbeddedReader::open(tmp.path())
        .scan_ids()
        .unwrap();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &stored {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged logs lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(3)]
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} logs stored more than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    // Logs written but never acknowledged (killed before the answer) may be stored; acked ones all are.
    assert!(stored.len() >= acked.len());
}

#[actix_web::test]
async fn sigterm_drains_and_commits_before_exit() {
    let tmp = tempfile::tempdir().unwrap();
    // A long commit interval: only the shutdown drain can have committed these.
    let process = IngestProcess::spawn(tmp.path(), &["--commit-interval-ms", "600000"]).await;
    let batch: Vec<Value> = (0..200)
        .map(|i| json!({"message": format!("drain me {i}"), "source": "t"}))
        .collect();
    let (status, body) = post(
        &format!("{}/logs/batch-ingest", process.base),
        &json!(batch),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(process.terminate(), Some(0));
    let mut stored = log_store::embedded::EmbeddedReader::open(tmp.path())
        .scan_ids()
        .unwrap();
    let mut acked: Vec<String> = body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    stored.sort();
    acked.sort();
    assert_eq!(stored, acked);
}

#[actix_web::test]
async fn a_full_wal_answers_429_then_drains() {
    // Commits only every 3 s: the backlog builds up to the cap in between.
    let s = Stack::start_with(&["--wal-max-bytes", "20000", "--commit-interval-ms", "3000"]).await;
    let batch: Vec<Value> = (0..20)
        .map(|i| json!({"message": format!("filler message number {i}"), "source": "t"}))
        .collect();
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..100 {
        let r = client()
            .post(format!("{}/logs/batch-ingest", s.ingest))
            .json(&batch)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            202 => accepted += 20,
            429 => {
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                refused = Some((retry_after, r.json::<Value>().await.unwrap()));
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let (retry_after, body) = refused.expect("the WAL cap was never reached");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["error"], json!("wal_full"));
    assert!(accepted > 0);
    let (status, _) = get(&format!("{}/ready", s.ingest)).await;
    assert_eq!(status, 503, "not ready while the WAL is at its cap");
    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"wal_full\"}"
        ),
        Some(20.0)
    );
    // The backlog in logs: acknowledged, not yet committed (the WAL is at its cap).
    let backlog_logs = metric(&m, "ingestd_wal_backlog_logs").unwrap();
    assert!(
        backlog_logs > 0.0 && backlog_logs <= accepted as f64,
        "{backlog_logs} of {accepted}"
    );
    assert_eq!(backlog_logs % 20.0, 0.0, "whole batches of 20");
    // Once the indexer commits, the backlog is gone and ingest takes logs again.
    eventually(Duration::from_secs(15), "the WAL to drain", || async {
        let r = client()
            .post(format!("{}/logs/batch-ingest", s.ingest))
            .json(&batch)
            .send()
            .await
            .unwrap();
        (r.status().as_u16() == 202).then_some(())
    })
    .await;
    accepted += 20;
    let (_, body) = post(
        &format!("{}/logs/ingest?refresh=wait_for", s.ingest),
        &json!({"message":"last","source":"t"}),
    )
    .await;
    assert_eq!(body["searchable"], json!(true));
    let (_, found) = get(&format!("{}/logs/search?source=t&limit=1", s.query)).await;
    assert_eq!(found["total_count"], json!(accepted + 1));
    s.stop().await;
}
