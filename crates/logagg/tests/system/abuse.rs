//! Hostile or unusual requests (issue 9): each test is named after what
//! used to go wrong, and checks the clear answer that replaced it.

use std::io::{Read, Write};
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::util::{client, get, get_text, metric, post, Stack};

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("answer {status} is not JSON: {text:?}"));
    (status, body)
}

#[actix_web::test]
async fn far_future_timestamps_are_refused_per_item() {
    let s = Stack::start_with(&["--max-future-secs", "3600"]).await;
    let now = Utc::now();
    let log = |ts: chrono::DateTime<Utc>, m: &str| json!({"message": m, "source": "clock", "timestamp": ts.to_rfc3339()});
    // 200 logs on 200 distinct future days, two valid ones among them.
    let mut batch: Vec<Value> = (1..=200)
        .map(|d| log(now + chrono::Duration::days(d * 30), "future"))
        .collect();
    batch.push(log(now + chrono::Duration::minutes(30), "soon"));
    batch.push(log(now, "now"));
    let (status, body) = post(&format!("{}/logs/batch-ingest", s.ingest), &json!(batch)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"], 200);
    assert_eq!(body["errors"][0]["field"], "timestamp");
    assert!(body["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("future"));
    // Year 9999, alone: 422 naming the field.
    let (status, body) = post(
        &format!("{}/logs/ingest", s.ingest),
        &json!({"message": "m", "source": "s", "timestamp": "9999-12-31T23:59:59Z"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "timestamp");
    let text = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(
            &text,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"in_future\"}"
        ),
        Some(201.0)
    );
    s.stop().await;
}

#[actix_web::test]
async fn patterns_over_any_window_and_bucket_count_answer_without_panicking() {
    let s = Stack::start().await;
    post(
        &format!("{}/logs/ingest?refresh=wait_for", s.ingest),
        &json!({"level": "error", "message": "disk full on /dev/sda1", "source": "s"}),
    )
    .await;
    for params in [
        "start_time=1000-01-01T00:00:00Z&buckets=500",
        "start_time=0001-01-01T00:00:00Z&end_time=9999-12-31T23:59:59Z&buckets=500",
        "start_time=2026-01-01T00:00:00Z&end_time=2026-01-01T00:00:00Z&buckets=500",
        "hours=87600&buckets=1",
    ] {
        let (status, body) = get(&format!("{}/logs/patterns?{params}", s.query)).await;
        assert_eq!(status, 200, "{params}: {body}");
    }
    for params in ["hours=NaN", "hours=inf", "hours=-1"] {
        let (status, body) = get(&format!("{}/logs/patterns?{params}", s.query)).await;
        assert_eq!(status, 422, "{params}: {body}");
        assert_eq!(body["field"], "hours", "{params}");
    }
    s.stop().await;
}

#[actix_web::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let s = Stack::start().await;
    let c = client();
    let before = get_text(&format!("{}/metrics", s.ingest)).await.len();
    for i in 0..300 {
        let method = reqwest::Method::from_bytes(format!("X{i:04}ZZ").as_bytes()).unwrap();
        let r = c
            .request(method, format!("{}/logs/ingest", s.ingest))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error());
    }
    let after = get_text(&format!("{}/metrics", s.ingest)).await;
    assert!(
        after.len() < before + 4096,
        "/metrics grew from {before} to {} bytes",
        after.len()
    );
    assert!(after.contains("method=\"other\""));
    s.stop().await;
}

#[actix_web::test]
async fn queries_that_cannot_be_answered_are_400() {
    let s = Stack::start().await;
    let c = client();
    let long = "word ".repeat(100_000);
    let huge_word = "x".repeat(300);
    for query in ["!!! ...", huge_word.as_str(), long.as_str()] {
        let (status, body) = send(
            c.post(format!("{}/logs/search", s.query))
                .json(&json!({ "query": query })),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_query");
        assert_eq!(body["field"], "query");
        // The same in a query string (kept to a length URLs may have).
        let short: String = query.chars().take(20_000).collect();
        let (status, _) = send(
            c.get(format!("{}/logs/patterns", s.query))
                .query(&[("query", short)]),
        )
        .await;
        assert_eq!(status, 400);
    }
    s.stop().await;
}

#[actix_web::test]
async fn compressed_bodies_are_decoded_and_unknown_encodings_refused() {
    use flate2::write::{GzEncoder, ZlibEncoder};
    let s = Stack::start_with(&["--max-body-bytes", "65536"]).await;
    let c = client();
    let body = serde_json::to_vec(&json!([{"message": "zipped", "source": "gz"}])).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let mut zl = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zl.write_all(&body).unwrap();
    let zl = zl.finish().unwrap();
    let zst =
        ruzstd::encoding::compress_to_vec(&body[..], ruzstd::encoding::CompressionLevel::Fastest);
    for (encoding, bytes) in [("gzip", gz.clone()), ("deflate", zl), ("zstd", zst)] {
        let (status, answer) = send(
            c.post(format!("{}/logs/batch-ingest", s.ingest))
                .header("Content-Type", "application/json")
                .header("Content-Encoding", encoding)
                .body(bytes),
        )
        .await;
        assert_eq!(status, 202, "{encoding}: {answer}");
    }
    let (status, answer) = send(
        c.post(format!("{}/logs/batch-ingest", s.ingest))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "br")
            .body(body.clone()),
    )
    .await;
    assert_eq!(status, 415);
    assert_eq!(answer["error"], "unsupported_encoding");
    // Not gzip at all.
    let (status, _) = send(
        c.post(format!("{}/logs/batch-ingest", s.ingest))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(body),
    )
    .await;
    assert_eq!(status, 400);
    // A small body that inflates past the limit.
    let zeros = vec![b' '; 1 << 20];
    let mut bomb = GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&zeros).unwrap();
    let (status, answer) = send(
        c.post(format!("{}/logs/batch-ingest", s.ingest))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(bomb.finish().unwrap()),
    )
    .await;
    assert_eq!(status, 413, "{answer}");
    s.stop().await;
}

#[actix_web::test]
async fn a_batch_larger_than_the_whole_wal_is_413_not_429_forever() {
    let s = Stack::start_with(&["--wal-max-bytes", "2000"]).await;
    let batch: Vec<Value> = (0..20)
        .map(|i| json!({"message": format!("a message of some length, number {i}"), "source": "s"}))
        .collect();
    let (status, body) = post(&format!("{}/logs/batch-ingest", s.ingest), &json!(batch)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "batch_too_large");
    s.stop().await;
}

#[actix_web::test]
async fn every_error_answer_is_json() {
    let s = Stack::start().await;
    let c = client();
    // A route that exists, with a method it does not take.
    for (base, path) in [(&s.ingest, "/logs/ingest"), (&s.query, "/logs/patterns")] {
        let (status, body) = send(c.delete(format!("{base}{path}"))).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"], "not_found");
    }
    // A bad query string and an unknown route.
    let (status, body) = send(c.get(format!("{}/logs/search?limit=many", s.query))).await;
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("limit")),
        "{body}"
    );
    let (status, _) = send(c.get(format!("{}/nowhere", s.query))).await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[actix_web::test]
async fn an_oversized_header_is_answered_431() {
    let s = Stack::start().await;
    let addr = s.ingest.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(1024 * 1024)
        );
        // The server may stop reading once the head is over its limit.
        let _ = stream.write_all(head.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).to_string()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    s.stop().await;
}
