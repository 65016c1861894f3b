//! Conformance cases of the SRE's reads: the query language, cursors,
//! histogram, facets, context, export and live tail, on every backend
//! (the `conformance!` macro of `conformance.rs` runs each on the embedded
//! store, the fake cluster, and Elasticsearch when `ELASTICSEARCH_URL` is set).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use serde_json::{json, Value};

use crate::conformance::load;
use crate::util::*;

/// A whole second three hours ago: the base of each case's times.
fn base() -> DateTime<Utc> {
    (Utc::now() - chrono::Duration::hours(3))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap()
}

fn at(base: DateTime<Utc>, secs: i64) -> String {
    (base + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// Eight logs of three services; messages numbered for the assertions.
fn shop_logs(base: DateTime<Utc>) -> Value {
    json!([
        {"message":"1 GET /cart 200 in 12ms","level":"INFO","service":"shop","source":"web-1","timestamp":at(base,0),"metadata":{"http":{"status":200},"ms":12}},
        {"message":"2 GET /cart 500 in 340ms","level":"ERROR","service":"shop","source":"web-1","timestamp":at(base,600),"metadata":{"http":{"status":500},"ms":340}},
        {"message":"3 POST /pay 502 upstream timeout","level":"ERROR","service":"pay","source":"web-2","timestamp":at(base,1200),"metadata":{"http":{"status":502},"region":"eu"}},
        {"message":"4 payment accepted","level":"INFO","service":"pay","source":"web-2","timestamp":at(base,1800),"metadata":{"http":{"status":201},"region":"us"}},
        {"message":"5 connection refused by db-1","level":"CRITICAL","service":"pay","source":"db-1","timestamp":at(base,2400)},
        {"message":"6 connection reset","level":"WARNING","service":"shop","source":"web-1","timestamp":at(base,3000),"metadata":{"retry":true}},
        {"message":"7 cache warm","level":"DEBUG","service":"shop","source":"web-1","timestamp":at(base,3600)},
        {"message":"8 Timeout waiting for lock","level":"WARNING","service":"db","source":"db-1","timestamp":at(base,4200),"metadata":{"ms":1500.5}}
    ])
}

/// The numbers that start the messages of an answer, in order.
fn numbers(body: &Value) -> Vec<u32> {
    messages(body)
        .iter()
        .map(|m| m.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// The query language answers the same on every backend.
pub async fn query_language(s: &Stack) {
    load(s, &shop_logs(base())).await;
    let url = format!("{}/logs/search", s.query);
    let search = |q: Value| {
        let url = url.clone();
        async move {
            let (status, body) = post(&url, &q).await;
            assert_eq!(status, 200, "{q}: {body}");
            numbers(&body)
        }
    };
    let cases: &[(&str, &[u32])] = &[
        ("connection", &[6, 5]),
        ("\"connection refused\"", &[5]),
        ("conn*", &[6, 5]),
        ("time*", &[8, 3]),
        ("TIMEOUT", &[8, 3]),
        ("level>=ERROR", &[5, 3, 2]),
        ("level > warning", &[5, 3, 2]),
        ("level:(warning OR critical)", &[8, 6, 5]),
        ("service:pay -level:info", &[5, 3]),
        ("service:pa*", &[5, 4, 3]),
        ("(timeout OR refused) AND NOT service:db", &[5, 3]),
        ("metadata.http.status>=500", &[3, 2]),
        ("metadata.http.status<300", &[4, 1]),
        ("metadata.ms>100", &[8, 2]),
        ("metadata.ms<=12", &[1]),
        ("metadata.region:eu", &[3]),
        ("NOT metadata.region:eu service:pay", &[5, 4]),
        ("source:web-1 cart", &[2, 1]),
        ("GET OR POST", &[3, 2, 1]),
        ("-cart -connection", &[8, 7, 4, 3]),
        ("source:db-1 OR level:debug", &[8, 7, 5]),
        ("user:42", &[]),
        ("*", &[8, 7, 6, 5, 4, 3, 2, 1]),
    ];
    for (q, expected) in cases {
        assert_eq!(search(json!({ "query": q })).await, *expected, "{q}");
    }
    // The query language and the older fields combine (AND).
    assert_eq!(
        search(json!({"query": "cart", "level": "ERROR"})).await,
        [2]
    );
    // An id finds its log.
    let (_, all) = post(&url, &json!({})).await;
    let third = all["logs"][5]["id"].as_str().unwrap();
    assert_eq!(search(json!({ "query": format!("id:{third}") })).await, [3]);
    // Relative times.
    assert_eq!(
        search(json!({"query": "connection", "start_time": "now-4h", "end_time": "now"})).await,
        [6, 5]
    );
    assert!(search(json!({"start_time": "now-1m"})).await.is_empty());
    // GET takes the same.
    let (status, body) = get(&format!("{url}?query=level%3E%3DERROR&start_time=now-1d")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(numbers(&body), [5, 3, 2]);
    // Errors: 400, naming the column and what was expected.
    for (q, column, expected) in [
        ("level:loud", 7, "expected a level"),
        ("(timeout OR", 12, "expected a term"),
        ("metadata.ms>=fast", 14, "expected a number"),
        ("\"unclosed", 1, "closing"),
    ] {
        let (status, body) = post(&url, &json!({ "query": q })).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"], "invalid_query", "{q}: {body}");
        assert_eq!(body["field"], "query", "{q}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("column {column}")) && detail.contains(expected),
            "{q}: {detail}"
        );
    }
    let (status, body) = post(&url, &json!({"start_time": "now-5x"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "start_time");
}

/// Pages one search by cursor to its end.
async fn page_all(s: &Stack, request: Value, limit: usize) -> (Vec<String>, usize) {
    let url = format!("{}/logs/search", s.query);
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor = Value::Null;
    loop {
        let mut q = request.clone();
        q["limit"] = json!(limit);
        if !cursor.is_null() {
            q["cursor"] = cursor.clone();
        }
        let (status, body) = post(&url, &q).await;
        assert_eq!(status, 200, "{q}: {body}");
        pages += 1;
        for log in body["logs"].as_array().unwrap() {
            ids.push(log["id"].as_str().unwrap().to_string());
        }
        cursor = body["next_cursor"].clone();
        if cursor.is_null() {
            return (ids, pages);
        }
        assert!(pages < 1000, "paging does not end");
    }
}

/// Paging by cursor reaches the end, in order, without repeats or gaps,
/// through runs of logs of one time, both ways, while newer logs arrive.
pub async fn cursor_paging(s: &Stack) {
    let base = base();
    let mut logs = Vec::new();
    for i in 0..40 {
        logs.push(json!({"message": format!("step {i}"), "source": "c", "timestamp": at(base, i)}));
    }
    // A batch of one time (ties broken by id).
    for i in 0..23 {
        logs.push(
            json!({"message": format!("burst {i}"), "source": "c", "timestamp": at(base, 100)}),
        );
    }
    load(s, &Value::Array(logs)).await;
    let (_, all) = post(&format!("{}/logs/search", s.query), &json!({"limit": 1000})).await;
    let everything: Vec<String> = all["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(everything.len(), 63);
    assert!(all["next_cursor"].is_null(), "one page holds everything");
    for limit in [1, 7, 23, 62] {
        let (ids, pages) = page_all(s, json!({}), limit).await;
        assert_eq!(ids, everything, "limit {limit}");
        assert!(pages >= 63 / limit);
        let (mut asc, _) = page_all(s, json!({"order": "asc"}), limit).await;
        asc.reverse();
        assert_eq!(asc, everything, "asc, limit {limit}");
    }
    // Page 1, then newer logs arrive, then the rest: nothing skipped or repeated.
    let url = format!("{}/logs/search", s.query);
    let (_, first) = post(&url, &json!({"limit": 10, "query": "step OR burst"})).await;
    let newer: Vec<Value> = (0..5)
        .map(|i| json!({"message": format!("step late {i}"), "source": "c", "timestamp": at(base, 200 + i)}))
        .collect();
    let (status, _) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest),
        &Value::Array(newer),
    )
    .await;
    assert_eq!(status, 202);
    eventually(Duration::from_secs(30), "the late logs", || async {
        let (_, b) = get(&format!("{}/logs/search?query=late", s.query)).await;
        (b["total_count"] == json!(5)).then_some(())
    })
    .await;
    let mut ids: Vec<String> = first["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let mut cursor = first["next_cursor"].clone();
    while !cursor.is_null() {
        let (_, page) = post(
            &url,
            &json!({"limit": 10, "query": "step OR burst", "cursor": cursor}),
        )
        .await;
        assert_eq!(
            page["total_count"],
            json!(68),
            "the count covers the whole set"
        );
        ids.extend(
            page["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_string()),
        );
        cursor = page["next_cursor"].clone();
    }
    assert_eq!(ids, everything, "the pages after a newer arrival");
    // A batch without timestamps: one time for all (the time of receipt).
    let batch: Vec<Value> = (0..1500)
        .map(|i| json!({"message": format!("same time {i}"), "source": "same"}))
        .collect();
    load_more(s, Value::Array(batch)).await;
    let (same, _) = page_all(s, json!({"query": "source:same"}), 100).await;
    let unique: HashSet<&String> = same.iter().collect();
    assert_eq!((same.len(), unique.len()), (1500, 1500));
    let (mut back, _) = page_all(s, json!({"query": "source:same", "order": "asc"}), 70).await;
    back.reverse();
    assert_eq!(back, same);
    // Counting: exact by default (up to 10,000), or up to a bound, then
    // a lower bound marked as such.
    let (_, body) = post(&url, &json!({"limit": 1, "query": "-source:same"})).await;
    assert_eq!(
        (body["total_count"].clone(), body["total_relation"].clone()),
        (json!(68), json!("eq"))
    );
    let (_, body) = post(&url, &json!({"limit": 1, "track_total": 5})).await;
    assert_eq!(
        (body["total_count"].clone(), body["total_relation"].clone()),
        (json!(5), json!("gte"))
    );
    let (_, body) = post(
        &url,
        &json!({"limit": 1, "track_total": true, "query": "step"}),
    )
    .await;
    assert_eq!(
        (body["total_count"].clone(), body["total_relation"].clone()),
        (json!(45), json!("eq"))
    );
    // A cursor is opaque and checked; offset stays for old clients.
    let (status, body) = post(&url, &json!({"cursor": "not-a-cursor"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "cursor");
    let (status, body) = post(
        &url,
        &json!({"offset": 60, "limit": 10, "query": "-source:same"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["logs"].as_array().unwrap().len(), 8);
    assert_eq!(body["logs"][7]["id"], json!(everything[62]));
}

/// Counts per bucket and level, every bucket of the range, on both backends.
pub async fn histogram(s: &Stack) {
    let base = base();
    load(s, &shop_logs(base)).await;
    let (status, body) = get(&format!(
        "{}/logs/histogram?start_time={}&end_time={}&interval=30m",
        s.query,
        urlencode(&at(base, 0)),
        urlencode(&at(base, 7200))
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["interval"], "30m");
    let buckets = body["buckets"].as_array().unwrap();
    let counts: Vec<u64> = buckets
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    // 0, 600, 1200 | 1800, 2400, 3000 | 3600, 4200 | none
    assert_eq!(counts, [3, 3, 2, 0]);
    assert_eq!(body["total_count"], 8);
    assert_eq!(buckets[0]["levels"], json!({"INFO": 1, "ERROR": 2}));
    assert_eq!(
        buckets[1]["levels"],
        json!({"INFO": 1, "WARNING": 1, "CRITICAL": 1})
    );
    assert_eq!(buckets[3]["levels"], json!({}));
    // Asked again after more logs arrive: the counts of what was there (the
    // embedded store may keep them per segment) and of the new logs.
    load_more(
        s,
        json!([
            {"message":"late a","level":"ERROR","source":"x","timestamp":at(base,100)},
            {"message":"late b","level":"DEBUG","source":"x","timestamp":at(base,1900)}
        ]),
    )
    .await;
    let (_, again) = get(&format!(
        "{}/logs/histogram?start_time={}&end_time={}&interval=30m",
        s.query,
        urlencode(&at(base, 0)),
        urlencode(&at(base, 7200))
    ))
    .await;
    let counts: Vec<u64> = again["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [4, 4, 2, 0]);
    assert_eq!(
        again["buckets"][0]["levels"],
        json!({"INFO": 1, "ERROR": 3})
    );
    let (_, only_errors) = get(&format!(
        "{}/logs/histogram?query=level:error&start_time={}&end_time={}&interval=30m",
        s.query,
        urlencode(&at(base, 0)),
        urlencode(&at(base, 7200))
    ))
    .await;
    assert_eq!(only_errors["total_count"], 3);
    assert_eq!(
        buckets[0]["time"],
        json!(at(base, 0).replace("+00:00", "Z"))
    );
    // The query's filters apply; an automatic interval gives ~60-150 buckets.
    let (status, body) = post(
        &format!("{}/logs/histogram", s.query),
        &json!({"query": "level>=WARNING", "start_time": at(base, 0), "end_time": at(base, 7200)}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["interval"], "1m");
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 120);
    let total: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 6);
    assert_eq!(buckets[10]["count"], 1, "log 2 at minute 10");
    // Without a range: the last 24 hours.
    let (_, body) = get(&format!("{}/logs/histogram", s.query)).await;
    assert_eq!(body["total_count"], 10);
    assert_eq!(body["interval"], "10m");
    let (status, body) = get(&format!(
        "{}/logs/histogram?interval=1s&start_time=now-7d",
        s.query
    ))
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "interval");
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

/// Top values of level, service and source, and of metadata keys.
pub async fn facets(s: &Stack) {
    load(s, &shop_logs(base())).await;
    let (status, body) = get(&format!("{}/logs/facets?query=-level:debug", s.query)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], 7);
    assert_eq!(
        body["facets"]["service"],
        json!([{"value":"pay","count":3},{"value":"shop","count":3},{"value":"db","count":1}])
    );
    assert_eq!(
        body["facets"]["level"],
        json!([{"value":"ERROR","count":2},{"value":"INFO","count":2},{"value":"WARNING","count":2},{"value":"CRITICAL","count":1}])
    );
    assert_eq!(
        body["facets"]["source"][0],
        json!({"value":"web-1","count":3})
    );
    let keys: Vec<(String, u64)> = body["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key"].as_str().unwrap().into(),
                k["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("http.status".to_string(), 4),
            ("ms".into(), 3),
            ("region".into(), 2),
            ("retry".into(), 1)
        ]
    );
    assert_eq!(
        body["metadata"][2]["values"],
        json!([{"value":"eu","count":1},{"value":"us","count":1}])
    );
    let (status, body) = post(
        &format!("{}/logs/facets", s.query),
        &json!({"service": "pay", "size": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["facets"]["source"],
        json!([{"value":"web-2","count":2}])
    );
    let (status, _) = get(&format!("{}/logs/facets?size=0", s.query)).await;
    assert_eq!(status, 422);
}

/// The logs around one log, among its service and source.
pub async fn context(s: &Stack) {
    load(s, &shop_logs(base())).await;
    let (_, found) = post(
        &format!("{}/logs/search", s.query),
        &json!({"query": "reset"}),
    )
    .await;
    let id = found["logs"][0]["id"].as_str().unwrap();
    let (status, body) = get(&format!("{}/logs/{id}/context?before=1&after=5", s.query)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["log"]["id"], id);
    assert!(body["log"].get("template").is_none());
    assert!(body["before"][0].get("template").is_none());
    let list = |v: &Value| -> Vec<u32> { numbers(&json!({"logs": v})) };
    // shop on web-1: 1, 2, 6, 7.
    assert_eq!(list(&body["before"]), [2]);
    assert_eq!(list(&body["after"]), [7]);
    let (_, body) = get(&format!("{}/logs/{id}/context", s.query)).await;
    assert_eq!(list(&body["before"]), [1, 2], "oldest first");
    // A log without a service: its context is the logs of its source
    // without a service.
    load_more(
        s,
        json!([
            {"message":"9 no service a","source":"web-1","timestamp":at(base(), 5000)},
            {"message":"10 no service b","source":"web-1","timestamp":at(base(), 5100)}
        ]),
    )
    .await;
    let (_, found) = post(
        &format!("{}/logs/search", s.query),
        &json!({"query": "\"service b\""}),
    )
    .await;
    let lone = found["logs"][0]["id"].as_str().unwrap();
    let (_, body) = get(&format!("{}/logs/{lone}/context", s.query)).await;
    assert_eq!(list(&body["before"]), [9]);
    assert!(list(&body["after"]).is_empty());
    let (status, body) = get(&format!("{}/logs/0000-nope/context", s.query)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");
    let (status, _) = get(&format!("{}/logs/{id}/context?before=5000", s.query)).await;
    assert_eq!(status, 422);
}

/// A whole result set as NDJSON, past one page.
pub async fn export(s: &Stack) {
    let base = base();
    let logs: Vec<Value> = (0..2500)
        .map(|i| json!({"message": format!("row {i}"), "source": if i % 5 == 0 { "five" } else { "other" }, "timestamp": at(base, i)}))
        .collect();
    load(s, &Value::Array(logs)).await;
    let text = get_text(&format!("{}/logs/export", s.query)).await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2500);
    assert_eq!(lines[0]["message"], "row 2499");
    // Logs in answers leave their template out (pattern_id names it).
    assert!(lines[0].get("template").is_none() && lines[0]["pattern_id"].is_string());
    assert_eq!(lines[2499]["message"], "row 0");
    let unique: HashSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 2500);
    let r = client()
        .post(format!("{}/logs/export", s.query))
        .json(&json!({"query": "source:five", "order": "asc", "limit": 450}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 450);
    assert!(lines[0].contains("\"row 0\""), "{}", lines[0]);
    assert!(lines[449].contains("\"row 2245\""), "{}", lines[449]);
    let (status, body) = get(&format!("{}/logs/export?query=(", s.query)).await;
    assert_eq!(status, 400, "{body}");
}

/// One Server-Sent Events stream being read.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    pub async fn open(url: &str, last_event_id: Option<&str>) -> Events {
        let mut request = client().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        Events::open_request(request).await
    }

    /// The stream a request (with whatever headers it carries) opens.
    pub async fn open_request(request: reqwest::RequestBuilder) -> Events {
        let response = request
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next `log` event (id, log), waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                let mut kind = "message";
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        kind = if v == "log" { "log" } else { "other" };
                    }
                }
                if kind == "log" {
                    return Some((id.unwrap(), serde_json::from_str(&data.unwrap()).unwrap()));
                }
                assert!(kind == "message", "unexpected event: {block}");
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(_) => return None,
                Err(_) => return None,
            }
        }
    }
}

/// Ingests more logs and waits until they are searchable.
async fn load_more(s: &Stack, logs: Value) {
    let n = logs.as_array().unwrap().len() as u64;
    let (_, before) = get(&format!("{}/logs/search?limit=1&track_total=true", s.query)).await;
    let before = before["total_count"].as_u64().unwrap();
    ingest(s, logs).await;
    eventually(
        Duration::from_secs(30),
        "the logs to be searchable",
        || async {
            let (_, found) =
                get(&format!("{}/logs/search?limit=1&track_total=true", s.query)).await;
            (found["total_count"].as_u64() == Some(before + n)).then_some(())
        },
    )
    .await;
}

async fn ingest(s: &Stack, logs: Value) {
    let (status, body) = post(&format!("{}/logs/batch-ingest", s.ingest), &logs).await;
    assert_eq!(status, 202, "{body}");
}

/// New matching logs arrive as events within a second or two of their
/// acknowledgement; `Last-Event-ID` resumes without gaps or repeats.
pub async fn live_tail(s: &Stack) {
    let url = format!("{}/logs/tail?query=service:tail%20-level:debug", s.query);
    let mut events = Events::open(&url, None).await;
    ingest(
        s,
        json!([
            {"message":"t1","source":"x","service":"tail","level":"ERROR"},
            {"message":"quiet","source":"x","service":"tail","level":"DEBUG"},
            {"message":"other","source":"x","service":"elsewhere"},
            {"message":"t2","source":"x","service":"tail","timestamp": at(base(), 0)}
        ]),
    )
    .await;
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < 2 {
        let (id, log) = events
            .next(Duration::from_secs(5))
            .await
            .expect("tail events within 5 s");
        // The event id is the highest log id sent so far.
        let own = log["id"].as_str().unwrap();
        assert!(id.as_str() >= own, "{id} < {own}");
        assert!(log.get("template").is_none(), "{log}");
        got.push((id, log["message"].as_str().unwrap().to_string()));
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // An old timestamp still arrives: the tail follows arrival, not event time.
    let mut names: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
    names.sort();
    assert_eq!(names, ["t1", "t2"]);
    let last = got.last().unwrap().0.clone();
    assert_eq!(last, got.iter().map(|g| g.0.clone()).max().unwrap());
    drop(events);
    // While disconnected.
    ingest(
        s,
        json!([
            {"message":"t3","source":"x","service":"tail"},
            {"message":"t4","source":"x","service":"tail"}
        ]),
    )
    .await;
    let mut resumed = Events::open(&url, Some(&last)).await;
    let mut again = Vec::new();
    while let Some((_, log)) = resumed.next(Duration::from_secs(3)).await {
        again.push(log["message"].as_str().unwrap().to_string());
        if again.len() == 2 {
            // Nothing else may follow (no repeats of t1, t2).
            let extra = resumed.next(Duration::from_secs(1)).await;
            assert!(extra.is_none(), "{extra:?} after {again:?}");
            break;
        }
    }
    assert_eq!(again, ["t3", "t4"]);
    let (status, body) = get(&format!("{}/logs/tail?query=(", s.query)).await;
    assert_eq!(status, 400, "{body}");
}

/// A tail whose client stops reading is cut off once its buffer is full,
/// not buffered without bound; the service counts it.
#[actix_web::test]
async fn slow_tail_consumers_are_cut_off() {
    use std::io::Write;
    let s = Stack::start().await;
    let address = s.query.trim_start_matches("http://").to_string();
    // A client that sends the request and never reads.
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    write!(
        socket,
        "GET /logs/tail?query=service:flood HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    eventually(Duration::from_secs(10), "the tail to open", || async {
        let text = get_text(&format!("{}/metrics", s.query)).await;
        (metric(&text, "queryd_tail_streams") == Some(1.0)).then_some(())
    })
    .await;
    let filler = "x".repeat(2000);
    for round in 0..40 {
        let batch: Vec<Value> = (0..500)
            .map(|i| json!({"message": format!("flood {round} {i} {filler}"), "source": "f", "service": "flood"}))
            .collect();
        ingest(&s, Value::Array(batch)).await;
        let text = get_text(&format!("{}/metrics", s.query)).await;
        if metric(&text, "queryd_tail_cut_total{reason=\"slow_consumer\"}") == Some(1.0) {
            break;
        }
    }
    eventually(
        Duration::from_secs(30),
        "the slow tail to be cut",
        || async {
            let text = get_text(&format!("{}/metrics", s.query)).await;
            (metric(&text, "queryd_tail_cut_total{reason=\"slow_consumer\"}") == Some(1.0)
                && metric(&text, "queryd_tail_streams") == Some(0.0))
            .then_some(())
        },
    )
    .await;
    drop(socket);
    s.stop().await;
}
