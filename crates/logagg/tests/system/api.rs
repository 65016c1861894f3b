//! The original API, its answers, and its answers to bad input.

use serde_json::{json, Value};

use crate::util::*;

fn ids_of(body: &Value) -> Vec<String> {
    body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn original_api_requests_work_as_written() {
    let s = Stack::start_with(&FIXED_DATES).await;

    // POST /logs/ingest with the original example.
    let (status, body) = post(
        &format!("{}/logs/ingest", s.ingest),
        &json!({"level":"ERROR","message":"Database connection failed","source":"web-server-01","service":"user-service"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["accepted"], json!(1));
    assert_eq!(body["rejected"], json!(0));
    assert!(body["correlation_id"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    let first_id = body["id"].as_str().unwrap().to_string();

    // A JSON array batch, waiting until it is searchable.
    let (status, body) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest),
        &json!([
            {"level":"ERROR","message":"Payment error: card declined","source":"web-server-02","service":"payment-service","timestamp":"2026-11-28T08:00:00Z"},
            {"level":"INFO","message":"User login error page shown","source":"web-server-01","service":"user-service","timestamp":"2026-11-28T08:00:01Z"},
            {"level":"ERROR","message":"Unexpected error in handler","source":"web-server-03","service":"user-service","timestamp":"2026-11-28T08:00:02Z","metadata":{"path":"/api/users","attempt":3}}
        ]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], json!(3));
    assert_eq!(body["searchable"], json!(true));
    assert_eq!(ids_of(&body).len(), 3);

    // NDJSON batch.
    let ndjson = "{\"level\":\"warn\",\"message\":\"Disk error rate rising\",\"source\":\"db-01\"}\n\n{\"level\":\"ERROR\",\"message\":\"Replica error: lag\",\"source\":\"db-02\",\"timestamp\":\"2026-11-28T07:00:00Z\"}\n";
    let r = client()
        .post(format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest))
        .header("Content-Type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], json!(2));

    // POST /logs/search with the original example: ERROR logs whose message has "error", newest first.
    let (status, body) = post(
        &format!("{}/logs/search", s.query),
        &json!({"query":"error","level":"ERROR","limit":50}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        messages(&body),
        vec![
            "Unexpected error in handler",
            "Payment error: card declined",
            "Replica error: lag"
        ]
    );
    assert_eq!(body["total_count"], json!(3));
    assert!(body["took_ms"].as_f64().is_some());
    let log = &body["logs"][0];
    assert_eq!(log["source"], json!("web-server-03"));
    assert_eq!(log["service"], json!("user-service"));
    assert_eq!(log["level"], json!("ERROR"));
    assert_eq!(log["timestamp"], json!("2026-11-28T08:00:02Z"));
    assert_eq!(log["metadata"], json!({"path":"/api/users","attempt":3}));
    assert!(log["id"].as_str().is_some());
    assert!(log.get("template").is_none());

    // GET /logs/search with the same as query parameters.
    let (status, body) = get(&format!(
        "{}/logs/search?query=error&level=ERROR&limit=2",
        s.query
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        messages(&body),
        vec![
            "Unexpected error in handler",
            "Payment error: card declined"
        ]
    );
    assert_eq!(body["total_count"], json!(3));

    // The single log is findable by its words and keeps its id.
    let (_, body) = get(&format!("{}/logs/search?query=database", s.query)).await;
    assert_eq!(body["logs"][0]["id"], json!(first_id));

    // Service routes on both ports.
    for base in [&s.ingest, &s.query] {
        for path in ["/", "/health", "/ready"] {
            let (status, body) = get(&format!("{base}{path}")).await;
            assert_eq!(status, 200, "{base}{path}: {body}");
        }
    }
    s.stop().await;
}

#[actix_web::test]
async fn bad_input_is_refused_clearly_and_counted() {
    let s = Stack::start_with(&[
        "--max-body-bytes",
        "4096",
        "--max-batch-len",
        "5",
        "--max-message-bytes",
        "100",
    ])
    .await;
    let c = client();
    let raw = |path: &str, ctype: &str, body: String| {
        let req = c
            .post(format!("{}{path}", s.ingest))
            .header("Content-Type", ctype)
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    // Malformed JSON.
    let (status, body) = raw("/logs/ingest", "application/json", "{\"message\": ".into()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], json!("invalid_json"));
    assert!(
        body["detail"].as_str().unwrap().contains("line 1"),
        "{body}"
    );
    // Wrong content type.
    let (status, body) = raw("/logs/ingest", "text/plain", "{}".into()).await;
    assert_eq!(status, 415);
    assert_eq!(body["error"], json!("unsupported_media_type"));
    // Missing and invalid fields, named.
    for (log, field) in [
        (json!({"source":"s"}), "message"),
        (json!({"message":"m"}), "source"),
        (json!({"message":"","source":"s"}), "message"),
        (json!({"message":"m","source":"s","level":"LOUD"}), "level"),
        (
            json!({"message":"m","source":"s","timestamp":"tomorrow"}),
            "timestamp",
        ),
        (
            json!({"message":"m","source":"s","trace_id":"xyz"}),
            "trace_id",
        ),
        (
            json!({"message":"m","source":"s","span_id":"abc"}),
            "span_id",
        ),
        (
            json!({"message":"m","source":"s","metadata":"flat"}),
            "metadata",
        ),
        (json!({"message":"m".repeat(101),"source":"s"}), "message"),
        (
            json!({"message":"m","source":"s","timestamp":"2000-01-01T00:00:00Z"}),
            "timestamp",
        ),
    ] {
        let (status, body) = post(&format!("{}/logs/ingest", s.ingest), &log).await;
        assert_eq!(status, 422, "{log}: {body}");
        assert_eq!(body["field"], json!(field), "{log}: {body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with(field),
            "{body}"
        );
    }
    // Body over the limit.
    let (status, body) = raw(
        "/logs/batch-ingest",
        "application/json",
        format!("[{}]", "1,".repeat(3000) + "1"),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], json!("body_too_large"));
    // Batch over its length limit.
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"message": format!("m{i}"), "source": "s"}))
        .collect();
    let (status, body) = post(&format!("{}/logs/batch-ingest", s.ingest), &json!(six)).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], json!("batch_too_long"));
    // Not an array.
    let (status, _) = post(&format!("{}/logs/batch-ingest", s.ingest), &json!("logs")).await;
    assert_eq!(status, 400);
    // A partial batch: the good ones are stored, each bad one reported by index.
    let (status, body) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest),
        &json!([
            {"message":"good one","source":"s"},
            {"message":"no source"},
            "not an object",
            {"message":"good two","source":"s","level":"fatal"}
        ]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], json!(2));
    assert_eq!(body["rejected"], json!(2));
    assert_eq!(
        body["errors"][0],
        json!({"index":1,"field":"source","reason":"is required"})
    );
    assert_eq!(body["errors"][1]["index"], json!(2));
    // An NDJSON line that is not JSON is one bad item, not a bad batch.
    let (status, body) = raw(
        "/logs/batch-ingest?refresh=wait_for",
        "application/x-ndjson",
        "{\"message\":\"good three\",\"source\":\"s\"}\n{oops\n".into(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["errors"][0]["index"], json!(1));
    // All bad: 422 with every error.
    let (status, body) = post(
        &format!("{}/logs/batch-ingest", s.ingest),
        &json!([{"source":"s"},{"message":"m"}]),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["rejected"], json!(2));
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);

    // Only the good logs were stored, with normalised levels.
    let (_, body) = get(&format!("{}/logs/search?query=good", s.query)).await;
    assert_eq!(body["total_count"], json!(3));
    let (_, body) = get(&format!("{}/logs/search?query=good+two", s.query)).await;
    assert_eq!(body["logs"][0]["level"], json!("CRITICAL"));

    // Every refusal is counted.
    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(&m, "ingestd_logs_accepted_total{protocol=\"native\"}"),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"invalid_json\"}"
        ),
        Some(2.0)
    );
    // A JSON value that is not a batch (the string "logs").
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"invalid_body\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"missing_field\"}"
        ),
        Some(5.0)
    );
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"batch_too_long\"}"
        ),
        Some(6.0)
    );
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"body_too_large\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"too_old\"}"
        ),
        Some(1.0)
    );
    assert!(m.contains(
        "ingestd_http_requests_total{method=\"POST\",route=\"/logs/ingest\",status=\"422\"}"
    ));

    // Query-side errors are JSON too.
    let (status, body) = get(&format!("{}/logs/search?limit=5000", s.query)).await;
    assert_eq!((status, body["field"].clone()), (422, json!("limit")));
    // A number as text is taken (as the original API did); anything else,
    // or a negative number, is 422 naming the field in words.
    let (status, body) = get(&format!("{}/logs/search?limit=abc", s.query)).await;
    assert_eq!(
        (status, body["field"].clone()),
        (422, json!("limit")),
        "{body}"
    );
    for (bad, got) in [
        (json!(-1), "-1"),
        (json!("x"), "\"x\""),
        (json!(true), "true"),
        (json!(2.5), "2.5"),
    ] {
        let (status, body) = post(
            &format!("{}/logs/search", s.query),
            &json!({ "limit": bad }),
        )
        .await;
        assert_eq!(
            (status, body["field"].clone()),
            (422, json!("limit")),
            "{body}"
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("must be a whole number of at least 0") && detail.contains(got),
            "{detail}"
        );
        assert!(!detail.contains("untagged"), "{detail}");
    }
    let (status, body) = post(
        &format!("{}/logs/search", s.query),
        &json!({ "limit": "3" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let r = client()
        .post(format!("{}/logs/search", s.query))
        .header("Content-Type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (status, body) = get(&format!("{}/logs/search?start_time=noon", s.query)).await;
    assert_eq!((status, body["field"].clone()), (422, json!("start_time")));
    let (status, body) = get(&format!("{}/no/such/route", s.query)).await;
    assert_eq!((status, body["error"].clone()), (404, json!("not_found")));
    s.stop().await;
}

#[actix_web::test]
async fn metrics_are_prometheus_text_on_both_services() {
    let s = Stack::start().await;
    let (status, _) = post(
        &format!("{}/logs/ingest?refresh=wait_for", s.ingest),
        &json!({"message":"m","source":"s"}),
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = get(&format!("{}/logs/search?query=m", s.query)).await;
    assert_eq!(status, 200);
    let ingest = get_text(&format!("{}/metrics", s.ingest)).await;
    for name in [
        "ingestd_http_requests_total",
        "ingestd_http_request_duration_seconds_bucket",
        "ingestd_logs_accepted_total",
        "ingestd_wal_bytes",
        "ingestd_wal_backlog_bytes",
        "ingestd_indexing_lag_seconds",
        "ingestd_logs_indexed_total",
    ] {
        assert!(
            ingest.contains(&format!("# TYPE {name}")) || ingest.contains(name),
            "{name} missing:\n{ingest}"
        );
    }
    assert_eq!(
        metric(&ingest, "ingestd_logs_accepted_total{protocol=\"native\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&ingest, "ingestd_logs_indexed_total"), Some(1.0));
    assert_eq!(metric(&ingest, "ingestd_wal_backlog_bytes"), Some(0.0));
    assert_eq!(metric(&ingest, "ingestd_wal_backlog_logs"), Some(0.0));
    assert_eq!(metric(&ingest, "ingestd_batch_size_logs_count"), Some(1.0));
    assert!(metric(&ingest, "ingestd_wal_fsync_duration_seconds_count").unwrap() >= 1.0);
    assert!(metric(&ingest, "ingestd_process_resident_memory_bytes").unwrap() > 0.0);
    assert!(metric(&ingest, "ingestd_process_open_fds").unwrap() > 0.0);
    assert!(metric(&ingest, "ingestd_wal_bytes").unwrap() > 0.0);
    let query = get_text(&format!("{}/metrics", s.query)).await;
    assert!(
        query.contains(
            "queryd_http_requests_total{method=\"GET\",route=\"/logs/search\",status=\"200\"} 1"
        ),
        "{query}"
    );
    assert_eq!(
        metric(&query, "queryd_search_hits_returned_total"),
        Some(1.0)
    );
    s.stop().await;
}
