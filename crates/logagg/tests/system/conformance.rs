//! One conformance suite of search and patterns cases, run against every
//! backend available: always the embedded store and the fake cluster
//! (`fake_search.rs`); a real Elasticsearch cluster when `ELASTICSEARCH_URL`
//! is set (each run in its own data stream).

use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

/// The embedded store, the fake cluster (which evaluates queries and
/// aggregations, analyzes `message` with the template's analyzer and
/// enforces the mapping and `search.max_buckets`), or Elasticsearch at
/// `ELASTICSEARCH_URL` (`None` when unset).
async fn start(backend: &str, case: &str) -> Option<Stack> {
    match backend {
        // Some cases carry fixed dates: a retention they stay within.
        "embedded" => Some(Stack::start_with(&FIXED_DATES).await),
        "fake" => {
            let fake = crate::fake_es::FakeEs::start().await;
            Some(
                Stack::start_with(&[
                    "--elasticsearch-url",
                    &fake.url,
                    "--commit-interval-ms",
                    "100",
                    FIXED_DATES[0],
                    FIXED_DATES[1],
                ])
                .await,
            )
        }
        _ => {
            let Ok(url) = std::env::var("ELASTICSEARCH_URL") else {
                eprintln!(
                    "ELASTICSEARCH_URL is not set: the Elasticsearch run of {case} is skipped"
                );
                return None;
            };
            let stream = format!("logagg-conformance-{case}-{}", std::process::id());
            Some(
                Stack::start_with(&[
                    "--elasticsearch-url",
                    &url,
                    "--elasticsearch-data-stream",
                    &stream,
                    "--commit-interval-ms",
                    "100",
                    FIXED_DATES[0],
                    FIXED_DATES[1],
                ])
                .await,
            )
        }
    }
}

/// Ingests `logs` and waits until all of them are searchable (Elasticsearch
/// makes them visible at its next refresh).
pub async fn load(s: &Stack, logs: &Value) {
    let n = logs.as_array().unwrap().len();
    let (status, body) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest),
        logs,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    eventually(
        Duration::from_secs(30),
        "the logs to be searchable",
        || async {
            let (_, found) = get(&format!("{}/logs/search?limit=1", s.query)).await;
            (found["total_count"] == json!(n)).then_some(())
        },
    )
    .await;
}

macro_rules! conformance {
    ($($case:ident),*) => {
        mod embedded {
            $(#[actix_web::test]
            async fn $case() {
                let s = super::start("embedded", stringify!($case)).await.unwrap();
                super::$case(&s).await;
                s.stop().await;
            })*
        }
        mod fake_elasticsearch {
            $(#[actix_web::test]
            async fn $case() {
                let s = super::start("fake", stringify!($case)).await.unwrap();
                super::$case(&s).await;
                s.stop().await;
            })*
        }
        mod elasticsearch {
            $(#[actix_web::test]
            async fn $case() {
                if let Some(s) = super::start("elasticsearch", stringify!($case)).await {
                    super::$case(&s).await;
                    s.stop().await;
                }
            })*
        }
    };
}

use crate::reads::{context, cursor_paging, export, facets, histogram, live_tail, query_language};

conformance!(
    search_semantics,
    patterns_grouping,
    patterns_merge_word_variables,
    tokenization,
    many_patterns_and_buckets,
    trace_and_metadata_filters,
    query_language,
    cursor_paging,
    histogram,
    facets,
    context,
    export,
    live_tail
);

/// An SRE jumps from a trace to its logs (`trace_id`), or picks logs by a
/// metadata leaf (`metadata=key:value`: exact; nested objects, dotted keys,
/// arrays and numbers alike), on both backends.
pub async fn trace_and_metadata_filters(s: &Stack) {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let logs = json!([
        {"message":"charge declined","source":"a","trace_id":trace,
         "metadata":{"index":"logs-pay","http":{"status":402},"tags":["card","eu"]}},
        {"message":"charge retried","source":"a","trace_id":trace.to_uppercase(),
         "metadata":{"index":"logs-pay","http.status":500}},
        {"message":"unrelated","source":"b","trace_id":"00f067aa0ba902b700f067aa0ba902b7",
         "metadata":{"index":"logs-web","note":"Logs-Pay"}}
    ]);
    load(s, &logs).await;
    let search = |q: Value| {
        let url = format!("{}/logs/search", s.query);
        async move {
            let (status, body) = post(&url, &q).await;
            assert_eq!(status, 200, "{q}: {body}");
            let mut found = messages(&body);
            found.sort();
            found
        }
    };
    assert_eq!(
        search(json!({"trace_id": trace.to_uppercase()})).await,
        ["charge declined", "charge retried"]
    );
    assert_eq!(
        search(json!({"metadata": "index:logs-pay"})).await,
        ["charge declined", "charge retried"]
    );
    assert_eq!(
        search(json!({"metadata": "metadata.index:logs-web"})).await,
        ["unrelated"]
    );
    assert_eq!(
        search(json!({"metadata": "http.status:402"})).await,
        ["charge declined"]
    );
    assert_eq!(
        search(json!({"metadata": "http.status:500"})).await,
        ["charge retried"]
    );
    assert_eq!(
        search(json!({"metadata": "tags:eu"})).await,
        ["charge declined"]
    );
    assert!(search(json!({"metadata": "note:logs-pay"}))
        .await
        .is_empty());
    assert_eq!(
        search(json!({"metadata": "index:logs-pay", "query": "retried"})).await,
        ["charge retried"]
    );
    for bad in [
        json!({"trace_id": "xyz"}),
        json!({"metadata": "no-colon"}),
        json!({"metadata": ":v"}),
    ] {
        let (status, body) = post(&format!("{}/logs/search", s.query), &bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

/// Words are split as the index splits them, on both backends: dotted
/// names, e-mail addresses, URLs, mixed case; a word of punctuation only
/// is dropped (and a query of nothing else refused).
pub async fn tokenization(s: &Stack) {
    let logs = json!([
        {"message":"mail from john.smith@example.com bounced","source":"t","timestamp":"2026-11-28T01:00:00Z"},
        {"message":"GET https://api.example.com/v1/Users?id=42 took 12ms","source":"t","timestamp":"2026-11-28T02:00:00Z"},
        {"message":"Smith logged in","source":"t","timestamp":"2026-11-28T03:00:00Z"},
        {"message":"disk /dev/sda1 at 97% (warn)","source":"t","timestamp":"2026-11-28T04:00:00Z"}
    ]);
    load(s, &logs).await;
    let search = |q: &str| {
        let url = format!("{}/logs/search", s.query);
        let q = q.to_string();
        async move {
            let (status, body) = post(&url, &json!({ "query": q })).await;
            (
                status,
                if status == 200 {
                    messages(&body)
                } else {
                    vec![]
                },
            )
        }
    };
    let found = |v: Vec<&str>| (200u16, v.into_iter().map(String::from).collect::<Vec<_>>());
    assert_eq!(
        search("smith").await,
        found(vec![
            "Smith logged in",
            "mail from john.smith@example.com bounced"
        ])
    );
    assert_eq!(
        search("com").await,
        found(vec![
            "GET https://api.example.com/v1/Users?id=42 took 12ms",
            "mail from john.smith@example.com bounced"
        ])
    );
    assert_eq!(
        search("john.smith@example.com").await,
        found(vec!["mail from john.smith@example.com bounced"])
    );
    assert_eq!(
        search("users").await,
        found(vec!["GET https://api.example.com/v1/Users?id=42 took 12ms"])
    );
    assert_eq!(
        search("\"v1 users\"").await,
        found(vec!["GET https://api.example.com/v1/Users?id=42 took 12ms"])
    );
    assert_eq!(
        search("SDA1 97").await,
        found(vec!["disk /dev/sda1 at 97% (warn)"])
    );
    assert_eq!(
        search("smith !!! ---").await,
        found(vec![
            "Smith logged in",
            "mail from john.smith@example.com bounced"
        ])
    );
    assert_eq!(search("!!! ---").await.0, 400);
}

/// Many patterns with the most trend buckets: Elasticsearch's
/// `search.max_buckets` (which the fake enforces) must not refuse it, and
/// the answer is the embedded store's.
pub async fn many_patterns_and_buckets(s: &Stack) {
    let now = chrono::Utc::now();
    // 300 templates (a letters-only word each) in three events of 100.
    let word = |i: usize| -> String {
        (0..4)
            .map(|k| (b'a' + ((i / 26usize.pow(k)) % 26) as u8) as char)
            .collect()
    };
    let logs: Vec<Value> = (0..300)
        .map(|i| {
            let event = [
                "cache miss on shard",
                "lost lease for shard",
                "replica lagging on shard",
            ][i % 3];
            json!({"level": "ERROR", "message": format!("{event} {}", word(i)), "source": "t",
                   "timestamp": (now - chrono::Duration::seconds(i as i64 * 7)).to_rfc3339()})
        })
        .collect();
    load(s, &json!(logs)).await;
    let (status, body) = get(&format!(
        "{}/logs/patterns?hours=1&buckets=500&limit=10",
        s.query
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let patterns = body["patterns"].as_array().unwrap();
    assert_eq!(patterns.len(), 3, "{body}");
    for p in patterns {
        assert_eq!(p["count"], json!(100), "{p}");
        assert_eq!(p["trend"].as_array().unwrap().len(), 500);
        assert_eq!(
            p["trend"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>(),
            100
        );
        assert_eq!(p["levels"], json!({"ERROR": 100}));
        assert_eq!(p["samples"].as_array().unwrap().len(), 3);
    }
    assert_eq!(body["total_logs"], json!(300));
}

pub async fn search_semantics(s: &Stack) {
    let logs = json!([
        {"level":"INFO","message":"connection failed to primary","source":"a","service":"svc-a","timestamp":"2026-11-28T01:00:00Z"},
        {"level":"INFO","message":"Failed connection attempt","source":"b","service":"svc-b","timestamp":"2026-11-28T02:00:00Z"},
        {"level":"ERROR","message":"CONNECTION FAILED again","source":"a","service":"svc-b","timestamp":"2026-11-28T03:00:00Z"},
        {"level":"DEBUG","message":"user-42 logged in from 10.0.0.1","source":"c","timestamp":"2026-11-28T04:00:00Z"},
        {"level":"WARNING","message":"user 42 logged out","source":"c","timestamp":"2026-11-28T05:00:00Z"}
    ]);
    load(s, &logs).await;
    let search = |q: Value| {
        let url = format!("{}/logs/search", s.query);
        async move {
            let (status, body) = post(&url, &q).await;
            assert_eq!(status, 200, "{q}: {body}");
            messages(&body)
        }
    };
    // All words must match, in any order and case.
    assert_eq!(
        search(json!({"query":"failed connection"})).await,
        vec![
            "CONNECTION FAILED again",
            "Failed connection attempt",
            "connection failed to primary"
        ]
    );
    // A quoted phrase keeps order and adjacency.
    assert_eq!(
        search(json!({"query":"\"connection failed\""})).await,
        vec!["CONNECTION FAILED again", "connection failed to primary"]
    );
    assert_eq!(
        search(json!({"query":"\"connection failed\" primary"})).await,
        vec!["connection failed to primary"]
    );
    assert!(search(json!({"query":"connection missingword"}))
        .await
        .is_empty());
    // A word the tokenizer splits is matched as a phrase of its parts.
    assert_eq!(
        search(json!({"query":"user-42"})).await,
        vec!["user 42 logged out", "user-42 logged in from 10.0.0.1"]
    );
    assert_eq!(search(json!({"query":"42 user"})).await.len(), 2);
    assert!(search(json!({"query":"\"42 user\""})).await.is_empty());
    assert_eq!(
        search(json!({"query":"10.0.0.1"})).await,
        vec!["user-42 logged in from 10.0.0.1"]
    );
    // Filters.
    assert_eq!(search(json!({"source":"a"})).await.len(), 2);
    assert_eq!(search(json!({"service":"svc-b"})).await.len(), 2);
    assert_eq!(
        search(json!({"level":"warn"})).await,
        vec!["user 42 logged out"]
    );
    assert_eq!(search(json!({"level":"DEBUG,warning"})).await.len(), 2);
    assert_eq!(
        search(json!({"query":"connection","level":"ERROR","service":"svc-b"})).await,
        vec!["CONNECTION FAILED again"]
    );
    // Time range: start inclusive, end exclusive.
    assert_eq!(
        search(json!({"start_time":"2026-11-28T02:00:00Z","end_time":"2026-11-28T04:00:00Z"}))
            .await,
        vec!["CONNECTION FAILED again", "Failed connection attempt"]
    );
    // Paging: newest first, offset skips.
    assert_eq!(
        search(json!({"limit":2,"offset":1})).await,
        vec!["user-42 logged in from 10.0.0.1", "CONNECTION FAILED again"]
    );
    let (_, body) = post(
        &format!("{}/logs/search", s.query),
        &json!({"limit":1,"offset":4}),
    )
    .await;
    assert_eq!(body["total_count"], json!(5));
    assert_eq!(messages(&body), vec!["connection failed to primary"]);
}

pub async fn patterns_grouping(s: &Stack) {
    let now = chrono::Utc::now();
    let ago = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
    let logs = json!([
        {"level":"ERROR","message":"Connection to 10.0.0.1:5432 timed out after 3000ms","source":"a","service":"api","timestamp":ago(50)},
        {"level":"ERROR","message":"Connection to 10.0.0.2:5432 timed out after 15ms","source":"a","service":"api","timestamp":ago(40)},
        {"level":"CRITICAL","message":"Connection to 10.0.0.9:6379 timed out after 1ms","source":"b","service":"worker","timestamp":ago(30)},
        {"level":"ERROR","message":"User 'bob' not found","source":"a","service":"api","timestamp":ago(20)},
        {"level":"WARNING","message":"Connection to 10.0.0.3:5432 timed out after 5ms","source":"a","service":"api","timestamp":ago(10)},
        {"level":"ERROR","message":"Connection to 10.0.0.4:5432 timed out after 7ms","source":"a","service":"api","timestamp":ago(180)}
    ]);
    load(s, &logs).await;
    let (status, body) = get(&format!("{}/logs/patterns?hours=1", s.query)).await;
    assert_eq!(status, 200, "{body}");
    let patterns = body["patterns"].as_array().unwrap();
    assert_eq!(patterns.len(), 2, "{body}");
    let top = &patterns[0];
    assert_eq!(
        top["pattern"],
        json!("Connection to <*> timed out after <*>")
    );
    assert_eq!(top["count"], json!(3));
    assert_eq!(top["services"], json!({"api": 2, "worker": 1}));
    let first: chrono::DateTime<chrono::Utc> = top["first_seen"].as_str().unwrap().parse().unwrap();
    let last: chrono::DateTime<chrono::Utc> = top["last_seen"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        first.timestamp(),
        (now - chrono::Duration::minutes(50)).timestamp()
    );
    assert_eq!(
        last.timestamp(),
        (now - chrono::Duration::minutes(30)).timestamp()
    );
    // The newest real messages of the group.
    assert_eq!(
        top["samples"],
        json!([
            "Connection to 10.0.0.9:6379 timed out after 1ms",
            "Connection to 10.0.0.2:5432 timed out after 15ms",
            "Connection to 10.0.0.1:5432 timed out after 3000ms"
        ])
    );
    assert_eq!(top["pattern_id"].as_str().unwrap().len(), 16);
    assert_eq!(patterns[1]["pattern"], json!("User <*> not found"));
    assert_eq!(patterns[1]["count"], json!(1));
    assert_eq!(body["total_logs"], json!(4));
    // A wider window takes in the older log.
    let (_, body) = get(&format!("{}/logs/patterns?hours=24", s.query)).await;
    assert_eq!(body["patterns"][0]["count"], json!(4));
    assert_eq!(
        body["patterns"][0]["samples"][0],
        json!("Connection to 10.0.0.9:6379 timed out after 1ms")
    );
    assert_eq!(body["patterns"][0]["samples"].as_array().unwrap().len(), 3);
    // The pattern id is the one stored with each log.
    let (_, found) = get(&format!(
        "{}/logs/search?query=timed&level=CRITICAL",
        s.query
    ))
    .await;
    assert_eq!(
        found["logs"][0]["pattern_id"],
        body["patterns"][0]["pattern_id"]
    );
    // Levels per pattern, and the trend in equal buckets (hours=1, 4 buckets of 15 min).
    let (_, body) = get(&format!("{}/logs/patterns?hours=1&buckets=4", s.query)).await;
    let top = &body["patterns"][0];
    assert_eq!(top["levels"], json!({"CRITICAL": 1, "ERROR": 2}));
    assert_eq!(top["trend"], json!([1, 2, 0, 0]));
    assert_eq!(top["is_new"], json!(null));
    // is_new: first seen ever after new_since (the 3-hour-old log makes it old).
    let since = (now - chrono::Duration::minutes(60)).to_rfc3339();
    let url = format!(
        "{}/logs/patterns?hours=1&new_since={}",
        s.query,
        since.replace('+', "%2B")
    );
    let (status, body) = get(&url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["patterns"][0]["is_new"], json!(false));
    assert_eq!(body["patterns"][1]["is_new"], json!(true));
    // A text query narrows the logs.
    let (_, body) = get(&format!("{}/logs/patterns?hours=1&query=found", s.query)).await;
    assert_eq!(body["patterns"].as_array().unwrap().len(), 1);
    assert_eq!(body["patterns"][0]["pattern"], json!("User <*> not found"));
    let (status, body) = get(&format!("{}/logs/patterns?hours=-1", s.query)).await;
    assert_eq!((status, body["field"].clone()), (422, json!("hours")));
}

/// Word variables (user names) are merged at query time when they take
/// enough values; two-valued words stay apart.
pub async fn patterns_merge_word_variables(s: &Stack) {
    let now = chrono::Utc::now();
    let ago = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
    let mut logs = Vec::new();
    for (i, user) in ["alice", "bob", "carol", "dave", "erin"].iter().enumerate() {
        logs.push(json!({"level":"ERROR","message":format!("Login failed for user {user} on primary database"),"source":"db","service":"auth","timestamp":ago(i as i64 + 1)}));
    }
    logs.push(json!({"level":"ERROR","message":"Replica link to standby opened unexpectedly","source":"db","timestamp":ago(10)}));
    logs.push(json!({"level":"ERROR","message":"Replica link to standby closed unexpectedly","source":"db","timestamp":ago(11)}));
    load(s, &json!(logs)).await;
    let (_, body) = get(&format!("{}/logs/patterns?hours=1", s.query)).await;
    let patterns = body["patterns"].as_array().unwrap();
    assert_eq!(patterns.len(), 3, "{body}");
    assert_eq!(
        patterns[0]["pattern"],
        json!("Login failed for user <*> on primary database")
    );
    assert_eq!(patterns[0]["count"], json!(5));
    assert_eq!(
        patterns[0]["pattern_id"],
        json!(log_patterns::pattern_id_of(
            "Login failed for user <*> on primary database"
        ))
    );
    assert_eq!(patterns[0]["samples"].as_array().unwrap().len(), 3);
    let rest: Vec<&str> = patterns[1..]
        .iter()
        .map(|p| p["pattern"].as_str().unwrap())
        .collect();
    assert!(
        rest.contains(&"Replica link to standby opened unexpectedly"),
        "{rest:?}"
    );
    assert!(
        rest.contains(&"Replica link to standby closed unexpectedly"),
        "{rest:?}"
    );
}
