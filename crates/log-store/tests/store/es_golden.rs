//! Golden tests of the Elasticsearch backend's wire format: the query DSL
//! generated for a table of requests, and the parsing of search and
//! aggregation responses shaped as in Elasticsearch's documentation.

use chrono::{DateTime, Utc};
use log_model::{PatternsRequest, ReadRequest, SearchRequest, Tenants};
use log_store::elasticsearch::model::SearchResponse;
use log_store::elasticsearch::query::{patterns_body, search_body};
use log_store::elasticsearch::reader::search_page;
use serde_json::{json, Value};

fn check(request: Value, expected_query: Value) {
    let req: SearchRequest = serde_json::from_value(request.clone()).unwrap();
    let body = search_body(&req.into_query(Utc::now(), Tenants::All).unwrap());
    assert_eq!(body["query"], expected_query, "request {request}");
}

fn phrase(text: &str) -> Value {
    json!({"match_phrase": {"message": text}})
}

#[test]
fn search_requests_compile_to_bool_queries() {
    check(json!({}), json!({"match_all": {}}));
    check(
        json!({"query": "error", "level": "ERROR", "limit": 50}),
        json!({"bool": {"filter": [phrase("error"), {"terms": {"level": ["ERROR"]}}]}}),
    );
    check(
        json!({"query": "db \"connection failed\"  retry"}),
        json!({"bool": {"filter": [phrase("db"), phrase("connection failed"), phrase("retry")]}}),
    );
    // The language is compiled clause by clause: nothing reaches
    // query_string. A colon after a word that names no field is text.
    check(
        json!({"query": "status:500 AND *"}),
        json!({"bool": {"filter": [phrase("status:500")]}}),
    );
    check(
        json!({"query": "(timeout OR refused) -level:debug conn* service:pay-*"}),
        json!({"bool": {"filter": [
            {"bool": {"should": [phrase("timeout"), phrase("refused")], "minimum_should_match": 1}},
            {"bool": {"must_not": [{"terms": {"level": ["DEBUG"]}}]}},
            {"prefix": {"message": "conn"}},
            {"prefix": {"service": "pay-"}}
        ]}}),
    );
    check(
        json!({"query": "level>=ERROR metadata.http.status>=500 metadata.region:eu id:abc"}),
        json!({"bool": {"filter": [
            {"terms": {"level": ["ERROR", "CRITICAL"]}},
            {"nested": {"path": "metadata_numbers", "query": {"bool": {"filter": [
                {"term": {"metadata_numbers.key": "http.status"}},
                {"range": {"metadata_numbers.value": {"gte": 500.0}}}
            ]}}}},
            {"term": {"metadata.region": "eu"}},
            {"term": {"log_id": "abc"}}
        ]}}),
    );
    check(
        json!({"query": "level>CRITICAL"}),
        json!({"bool": {"filter": [{"match_none": {}}]}}),
    );
    check(
        json!({"level": "warn,fatal", "source": "web-01", "service": "api"}),
        json!({"bool": {"filter": [
            {"terms": {"level": ["WARNING", "CRITICAL"]}},
            {"term": {"source": "web-01"}},
            {"term": {"service": "api"}}
        ]}}),
    );
    check(
        json!({"start_time": "2026-11-28T10:00:00+02:00", "end_time": "2026-11-28T12:00:00Z"}),
        json!({"bool": {"filter": [{"range": {"@timestamp": {"gte": "2026-11-28T08:00:00Z", "lt": "2026-11-28T12:00:00Z"}}}]}}),
    );
    check(
        json!({"start_time": "2026-11-28T10:00:00.250Z"}),
        json!({"bool": {"filter": [{"range": {"@timestamp": {"gte": "2026-11-28T10:00:00.250Z"}}}]}}),
    );
}

#[test]
fn cursors_continue_with_search_after() {
    let first: SearchRequest = serde_json::from_value(json!({"limit": 2, "order": "asc"})).unwrap();
    let q = first.into_query(Utc::now(), Tenants::All).unwrap();
    let cursor = q.cursor_after(1_764_324_000_123_456, "0193-b").to_string();
    let next: SearchRequest =
        serde_json::from_value(json!({"limit": 2, "cursor": cursor})).unwrap();
    let body = search_body(&next.into_query(Utc::now(), Tenants::All).unwrap());
    assert_eq!(
        body["search_after"],
        json!([1_764_324_000_123_i64, "0193-b"])
    );
    assert!(body.get("from").is_none());
    assert_eq!(
        body["sort"],
        json!([{"@timestamp": {"order": "asc"}}, {"log_id": {"order": "asc"}}])
    );
}

#[test]
fn search_paging_and_sort() {
    let req: SearchRequest = serde_json::from_value(json!({"limit": 20, "offset": 40})).unwrap();
    let body = search_body(&req.into_query(Utc::now(), Tenants::All).unwrap());
    assert_eq!(body["from"], json!(40));
    assert_eq!(body["size"], json!(20));
    assert_eq!(body["track_total_hits"], json!(10_000));
    assert_eq!(
        body["sort"],
        json!([{"@timestamp": {"order": "desc"}}, {"log_id": {"order": "desc"}}])
    );
    assert!(body.get("query_string").is_none());
}

#[test]
fn patterns_compile_to_a_terms_aggregation() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let req: PatternsRequest = serde_json::from_value(
        json!({"hours": 24.0, "service": "api", "limit": 10, "query": "timeout"}),
    )
    .unwrap();
    let body = patterns_body(&req.into_query(now, Tenants::All).unwrap());
    assert_eq!(
        body,
        json!({
            "query": {"bool": {
                "filter": [
                    {"match_phrase": {"message": "timeout"}},
                    {"terms": {"level": ["ERROR", "CRITICAL"]}},
                    {"term": {"service": "api"}},
                    {"range": {"@timestamp": {"gte": "2026-11-27T12:00:00Z", "lt": "2026-11-28T12:00:00Z"}}}
                ]
            }},
            "size": 0,
            "track_total_hits": true,
            "aggs": {"patterns": {
                "terms": {"field": "pattern_id", "size": 2000, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                "aggs": {
                    "first_seen": {"min": {"field": "@timestamp"}},
                    "last_seen": {"max": {"field": "@timestamp"}},
                    "levels": {"terms": {"field": "level", "size": 5}},
                    "template": {"terms": {"field": "template", "size": 1}}
                }
            }}
        })
    );
}

// Regression (issue 16, finding 1): patterns asked for up to 2,000 patterns
// times (trend buckets + services + levels + template) in one answer, past
// Elasticsearch's search.max_buckets (65,536) from about 130 patterns at
// buckets=500. The costly parts are asked for the returned patterns only,
// a few per request.
#[test]
fn pattern_details_stay_within_max_buckets() {
    use log_store::elasticsearch::query::{
        details_per_request, pattern_details_body, BUCKET_BUDGET,
    };
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    for buckets in [1usize, 24, 500] {
        let q = serde_json::from_value::<PatternsRequest>(
            json!({"hours": 24.0, "buckets": buckets, "query": "timeout"}),
        )
        .unwrap()
        .into_query(now, Tenants::All)
        .unwrap();
        let per = details_per_request(&q);
        // Each pattern: its bucket, up to 50 services, the trend (+1 at the edges).
        assert!(
            per * (1 + 50 + buckets + 1) <= BUCKET_BUDGET,
            "{buckets}: {per}"
        );
        assert!(per >= 1);
        let ids: Vec<String> = (0..per).map(|i| format!("id{i}")).collect();
        let body = pattern_details_body(&q, &ids);
        assert_eq!(body["aggs"]["patterns"]["terms"]["size"], json!(per));
        assert_eq!(
            body["query"]["bool"]["filter"]
                .as_array()
                .unwrap()
                .last()
                .unwrap(),
            &json!({"terms": {"pattern_id": ids}})
        );
        assert_eq!(
            body["query"]["bool"]["filter"][0],
            json!({"match_phrase": {"message": "timeout"}})
        );
        let trend = &body["aggs"]["patterns"]["aggs"]["trend"]["date_histogram"];
        assert_eq!(trend["min_doc_count"], json!(0));
        assert_eq!(trend["extended_bounds"]["min"], json!(1795780800000i64));
    }
}

#[test]
fn new_since_asks_which_patterns_were_seen_before() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let req: PatternsRequest =
        serde_json::from_value(json!({"hours": 1.0, "new_since": "2026-11-28T11:00:00Z"})).unwrap();
    let q = req.into_query(now, Tenants::All).unwrap();
    let body = log_store::elasticsearch::query::seen_before_body(
        &q,
        q.new_since.unwrap(),
        &["a".into(), "b".into()],
    );
    assert_eq!(
        body["query"]["bool"]["filter"],
        json!([
            {"terms": {"level": ["ERROR", "CRITICAL"]}},
            {"range": {"@timestamp": {"lt": "2026-11-28T11:00:00Z"}}},
            {"terms": {"pattern_id": ["a", "b"]}}
        ])
    );
    assert_eq!(body["aggs"]["seen"]["terms"]["field"], json!("pattern_id"));
}

#[test]
fn parses_a_search_response() {
    let body = json!({
        "took": 5, "timed_out": false,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": 1234, "relation": "eq"},
            "max_score": null,
            "hits": [{
                "_index": ".ds-logagg-logs-2026.11.28-000001",
                "_id": "01a2218c-3b6f-756d-bd16-68f7b7ed2f64",
                "_score": null,
                "_source": {"@timestamp": "2026-11-28T09:46:08.111Z", "log_id": "01a2218c-3b6f-756d-bd16-68f7b7ed2f64",
                    "level": "ERROR", "message": "Database connection failed", "source": "web-server-01",
                    "service": "user-service", "metadata": {"attempt": 3}, "received_at": "2026-11-28T09:46:08.120Z",
                    "pattern_id": "3234aa211d1e1195", "template": "Database connection failed"},
                "sort": [1795859168111i64, "01a2218c-3b6f-756d-bd16-68f7b7ed2f64"]
            }]
        }
    });
    let response: SearchResponse = serde_json::from_value(body).unwrap();
    let page = search_page(response);
    assert_eq!(page.total_count, 1234);
    let log = &page.logs[0];
    assert_eq!(log.id, "01a2218c-3b6f-756d-bd16-68f7b7ed2f64");
    assert_eq!(log.message, "Database connection failed");
    assert_eq!(log.service.as_deref(), Some("user-service"));
    assert_eq!(log.metadata.as_ref().unwrap()["attempt"], json!(3));
    // The store gives the whole log; queryd decides what answers show.
    assert_eq!(log.template, "Database connection failed");
    assert_eq!(log.timestamp.to_rfc3339(), "2026-11-28T09:46:08.111+00:00");
}

// Regression (issue 16, finding 6): a 200 with failed shards was read as a
// whole answer.
#[test]
fn failed_shards_make_an_answer_partial() {
    // As documented for a search where one of five shards failed.
    let body = json!({
        "took": 12, "timed_out": false,
        "_shards": {"total": 5, "successful": 4, "skipped": 0, "failed": 1,
            "failures": [{"shard": 2, "index": ".ds-logagg-logs-2026.11.28-000003", "node": "n1",
                "reason": {"type": "node_not_connected_exception", "reason": "[n1][10.0.0.3:9300] Node not connected"}}]},
        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": null, "hits": []}
    });
    let page = search_page(serde_json::from_value(body).unwrap());
    assert_eq!(page.missing, vec!["1 of 5 shards failed".to_string()]);
    let whole = json!({"timed_out": false, "_shards": {"total": 1, "successful": 1, "failed": 0},
        "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}});
    assert!(search_page(serde_json::from_value(whole).unwrap())
        .missing
        .is_empty());
    let late = json!({"timed_out": true, "hits": {"hits": []}});
    assert_eq!(
        search_page(serde_json::from_value(late).unwrap()).missing,
        vec!["the search timed out".to_string()]
    );
}

// Regression (issue 16, finding 8): start_time == end_time made
// `extended_bounds` invalid (max below min).
#[test]
fn an_empty_window_keeps_valid_histogram_bounds() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let req: PatternsRequest = serde_json::from_value(
        json!({"start_time": "2026-11-28T10:00:00Z", "end_time": "2026-11-28T10:00:00Z"}),
    )
    .unwrap();
    let body = patterns_body(&req.into_query(now, Tenants::All).unwrap());
    let bounds = &body["aggs"]["patterns"]["aggs"]["trend"]["date_histogram"]["extended_bounds"];
    assert!(bounds["max"].as_i64() >= bounds["min"].as_i64(), "{bounds}");
}

#[test]
fn parses_a_patterns_aggregation_response() {
    let now: DateTime<Utc> = "2025-11-28T11:00:00Z".parse().unwrap();
    let q = serde_json::from_value::<PatternsRequest>(json!({"hours": 2.0, "buckets": 2}))
        .unwrap()
        .into_query(now, Tenants::All)
        .unwrap();
    let bucket = |host: &str, user: &str, count: u64, first_ms: f64| {
        json!({"key": log_patterns::pattern_id_of(&format!("Login failed for {user} from <*> on {host}")), "doc_count": count,
            "first_seen": {"value": first_ms, "value_as_string": "…"},
            "last_seen": {"value": 1764324000000.0f64, "value_as_string": "2025-11-28T10:00:00.000Z"},
            "services": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [{"key": "auth", "doc_count": count}]},
            "levels": {"buckets": [{"key": "ERROR", "doc_count": count}]},
            "template": {"buckets": [{"key": format!("Login failed for {user} from <*> on {host}"), "doc_count": count}]},
            "samples": {"hits": {"total": {"value": count, "relation": "eq"}, "max_score": null, "hits": [
                {"_index": ".ds-logagg-logs-2025.11.28-000001", "_id": user, "_score": null,
                 "_source": {"message": format!("Login failed for {user} from 10.0.0.1 on {host}")}, "sort": [first_ms as i64]}]}},
            "trend": {"buckets": [
                {"key_as_string": "2025-11-28T09:00:00.000Z", "key": 1764320400000i64, "doc_count": count - 1},
                {"key_as_string": "2025-11-28T10:00:00.000Z", "key": 1764324000000i64, "doc_count": 1}]}
        })
    };
    let body = json!({
        "took": 12, "timed_out": false,
        "hits": {"total": {"value": 57, "relation": "eq"}, "max_score": null, "hits": []},
        "aggregations": {"patterns": {
            "doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
            "buckets": [
                bucket("db", "alice", 30, 1764320400000.0),
                bucket("db", "bob", 20, 1764320500000.0),
                bucket("db", "carol", 5, 1764320600000.0),
                bucket("web", "alice", 2, 1764320700000.0)
            ]
        }}
    });
    let (raw, total) =
        log_store::elasticsearch::reader::raw_groups(serde_json::from_value(body).unwrap(), &q)
            .unwrap();
    assert_eq!(total, 57);
    assert_eq!(raw.len(), 4);
    assert_eq!(raw[0].group.trend, vec![29, 1]);
    assert_eq!(raw[0].group.levels.get("ERROR"), Some(&30));
    // The query-time merge: three user names on `db` are one event.
    let page = log_store::model::finish_patterns(raw, 10, None);
    let top = &page.patterns[0];
    assert_eq!(top.pattern, "Login failed for <*> from <*> on db");
    assert_eq!(top.pattern_id, log_patterns::pattern_id_of(&top.pattern));
    assert_eq!(top.count, 55);
    assert_eq!(top.trend, vec![52, 3]);
    assert_eq!(top.services.get("auth"), Some(&55));
    assert_eq!(top.first_seen.to_rfc3339(), "2025-11-28T09:00:00+00:00");
    assert_eq!(
        top.samples[0], "Login failed for carol from 10.0.0.1 on db",
        "newest first"
    );
    assert_eq!(top.is_new, None);
    assert_eq!(
        page.patterns[1].pattern,
        "Login failed for alice from <*> on web"
    );
    assert_eq!(page.total_logs, 57);
}

// Regression (issue 16, finding 7): a template longer than the keyword
// limit failed Lucene's term limit; now the mapping ignores it
// (`ignore_above`) and the reader gives it back from a sample message.
#[test]
fn a_template_over_ignore_above_comes_back_from_a_sample() {
    let now: DateTime<Utc> = "2025-11-28T11:00:00Z".parse().unwrap();
    let q = serde_json::from_value::<PatternsRequest>(json!({"hours": 2.0, "buckets": 2}))
        .unwrap()
        .into_query(now, Tenants::All)
        .unwrap();
    let message = format!("upload of {} failed after 3 tries", "segment ".repeat(2000));
    let expected = log_patterns::pattern_of(&message);
    let body = json!({
        "hits": {"total": {"value": 1, "relation": "eq"}, "hits": []},
        "aggregations": {"patterns": {"buckets": [{
            "key": expected.pattern_id, "doc_count": 1,
            "first_seen": {"value": 1764320400000.0f64}, "last_seen": {"value": 1764320400000.0f64},
            "services": {"buckets": []}, "levels": {"buckets": [{"key": "ERROR", "doc_count": 1}]},
            "template": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []},
            "samples": {"hits": {"hits": [{"_source": {"message": message}, "sort": [1764320400000i64]}]}},
            "trend": {"buckets": []}
        }]}}
    });
    let (raw, _) =
        log_store::elasticsearch::reader::raw_groups(serde_json::from_value(body).unwrap(), &q)
            .unwrap();
    assert_eq!(raw[0].group.pattern, expected.template);
    let template: Value =
        serde_json::from_str(log_store::elasticsearch::setup::INDEX_TEMPLATE).unwrap();
    let limit = template["template"]["mappings"]["properties"]["template"]["ignore_above"]
        .as_u64()
        .unwrap();
    // Characters, up to 4 bytes each in UTF-8, under Lucene's 32,766-byte term.
    assert!(limit * 4 <= 32_766, "{limit}");
    assert!(expected.template.chars().count() as u64 > limit);
}
