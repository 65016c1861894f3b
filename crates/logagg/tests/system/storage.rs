//! Freshness, two processes on one data directory, day partitions, retention.

use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use serde_json::json;

use crate::util::*;

#[actix_web::test]
async fn searchable_about_a_second_after_the_ack() {
    let s = Stack::start().await;
    let (status, body) = post(
        &format!("{}/logs/ingest", s.ingest),
        &json!({"message":"fresh zebra","source":"t"}),
    )
    .await;
    assert_eq!(status, 202);
    assert!(body.get("searchable").is_none());
    let acked = Instant::now();
    eventually(
        Duration::from_secs(5),
        "the log to be searchable",
        || async {
            let (_, found) = get(&format!("{}/logs/search?query=zebra", s.query)).await;
            (found["total_count"] == json!(1)).then_some(())
        },
    )
    .await;
    // The commit interval is 500 ms; allow for a loaded machine.
    assert!(
        acked.elapsed() < Duration::from_secs(2),
        "searchable after {:?}",
        acked.elapsed()
    );
    // With refresh=wait_for the answer comes when the log is searchable.
    let (_, body) = post(
        &format!("{}/logs/ingest?refresh=wait_for", s.ingest),
        &json!({"message":"fresh yak","source":"t"}),
    )
    .await;
    assert_eq!(body["searchable"], json!(true));
    let (_, found) = get(&format!("{}/logs/search?query=yak", s.query)).await;
    assert_eq!(found["total_count"], json!(1));
    let (status, body) = post(
        &format!("{}/logs/ingest?refresh=sometimes", s.ingest),
        &json!({"message":"m","source":"t"}),
    )
    .await;
    assert_eq!((status, body["field"].clone()), (400, json!("refresh")));
    s.stop().await;
}

#[actix_web::test]
async fn queryd_in_another_process_sees_ingestd_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let ingest = IngestProcess::spawn(tmp.path(), &[]).await;
    // queryd here (this test process), ingestd in its own process, one data directory.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let query = format!("http://{}", listener.local_addr().unwrap());
    let store = std::sync::Arc::new(log_store::embedded::EmbeddedReader::open(tmp.path()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let args = queryd::QueryArgs {
        query_addr: "127.0.0.1:0".parse().unwrap(),
        query_workers: Some(1),
        max_tails: 64,
        reads: Default::default(),
        access: Default::default(),
    };
    let server = actix_web::rt::spawn(queryd::run(listener, store, args, async {
        let _ = stopped.await;
    }));
    wait_healthy(&query).await;
    // Before anything is written, searches answer empty.
    let (status, body) = get(&format!("{query}/logs/search?query=otter")).await;
    assert_eq!((status, body["total_count"].clone()), (200, json!(0)));
    for round in 0..3 {
        let (status, _) = post(
            &format!("{}/logs/ingest", ingest.base),
            &json!({"message": format!("otter {round}"), "source": "p"}),
        )
        .await;
        assert_eq!(status, 202);
        let acked = Instant::now();
        eventually(
            Duration::from_secs(10),
            "queryd to see the write",
            || async {
                let (_, found) = get(&format!("{query}/logs/search?query=otter")).await;
                (found["total_count"] == json!(round + 1)).then_some(())
            },
        )
        .await;
        assert!(
            acked.elapsed() <= Duration::from_secs(2),
            "seen after {:?}",
            acked.elapsed()
        );
    }
    // Live tail across the two processes: the reader reloads before each look.
    let mut events =
        crate::reads::Events::open(&format!("{query}/logs/tail?query=otter"), None).await;
    for round in 0..3 {
        let (status, _) = post(
            &format!("{}/logs/ingest", ingest.base),
            &json!({"message": format!("otter tail {round}"), "source": "p"}),
        )
        .await;
        assert_eq!(status, 202);
        let acked = Instant::now();
        let (_, log) = events
            .next(Duration::from_secs(5))
            .await
            .expect("a tail event");
        assert_eq!(log["message"], format!("otter tail {round}"));
        assert!(
            acked.elapsed() <= Duration::from_secs(2),
            "tail event after {:?}",
            acked.elapsed()
        );
    }
    drop(events);
    assert_eq!(ingest.terminate(), Some(0));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[actix_web::test]
async fn one_partition_per_day_and_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let day = |d: i64| {
        (now - Days::days(d))
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()
    };
    // Written with a long retention: logs 0, 2 and 9 days old.
    let s_long = Stack::start_in(tmp.path(), &["--retention-days", "30"]).await;
    let at = |d: i64| (now - Days::days(d)).to_rfc3339();
    let (status, body) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", s_long.ingest),
        &json!([
            {"message":"today","source":"t","timestamp":at(0)},
            {"message":"two days ago","source":"t","timestamp":at(2)},
            {"message":"nine days ago","source":"t","timestamp":at(9)}
        ]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let index = tmp.path().join("index");
    for d in [0, 2, 9] {
        assert!(
            index.join(day(d)).join("meta.json").exists(),
            "no partition for {}",
            day(d)
        );
    }
    // A search bounded to one day finds that day's logs only.
    let start = (now - Days::days(2))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let (_, found) = post(
        &format!("{}/logs/search", s_long.query),
        &json!({"start_time": start.to_rfc3339(), "end_time": (start + Days::days(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(found["logs"][0]["message"], json!("two days ago"));
    assert_eq!(found["total_count"], json!(1));
    s_long.stop().await;

    // Restarted with 7 days of retention: the 9-day-old partition goes, the others stay.
    let s = Stack::start_in(tmp.path(), &["--retention-days", "7"]).await;
    eventually(
        Duration::from_secs(10),
        "the old partition to be deleted",
        || async { (!index.join(day(9)).exists()).then_some(()) },
    )
    .await;
    assert!(index.join(day(2)).exists());
    let (_, found) = get(&format!("{}/logs/search?source=t", s.query)).await;
    assert_eq!(found["total_count"], json!(2));
    // And a log older than retention is refused, not silently dropped.
    let (status, body) = post(
        &format!("{}/logs/ingest", s.ingest),
        &json!({"message":"m","source":"t","timestamp":at(8)}),
    )
    .await;
    assert_eq!((status, body["field"].clone()), (422, json!("timestamp")));
    s.stop().await;
}
