//! Golden tests of the Elasticsearch backend's wire format: the query DSL
//! generated for a table of requests, and the parsing of search and
//! aggregation responses shaped as in Elasticsearch's documentation.

use chrono::{DateTime, Utc};
use log_model::{PatternsRequest, SearchRequest};
use log_store::elasticsearch::model::SearchResponse;
use log_store::elasticsearch::query::{patterns_body, search_body};
use log_store::elasticsearch::reader::{patterns_page, search_page};
use serde_json::{json, Value};

fn check(request: Value, expected_query: Value) {
    let req: SearchRequest = serde_json::from_value(request.clone()).unwrap();
    let body = search_body(&req.into_query().unwrap());
    assert_eq!(body["query"], expected_query, "request {request}");
}

#[test]
fn search_requests_compile_to_bool_queries() {
    check(json!({}), json!({"match_all": {}}));
    check(
        json!({"query": "error", "level": "ERROR", "limit": 50}),
        json!({"bool": {"filter": [{"terms": {"level": ["ERROR"]}}], "must": [{"match_phrase": {"message": "error"}}]}}),
    );
    check(
        json!({"query": "db \"connection failed\"  retry"}),
        json!({"bool": {"must": [
            {"match_phrase": {"message": "db"}},
            {"match_phrase": {"message": "connection failed"}},
            {"match_phrase": {"message": "retry"}}
        ]}}),
    );
    // Query syntax is text, not syntax: it never reaches query_string.
    check(
        json!({"query": "status:500 AND *"}),
        json!({"bool": {"must": [
            {"match_phrase": {"message": "status:500"}},
            {"match_phrase": {"message": "AND"}},
            {"match_phrase": {"message": "*"}}
        ]}}),
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
fn search_paging_and_sort() {
    let req: SearchRequest = serde_json::from_value(json!({"limit": 20, "offset": 40})).unwrap();
    let body = search_body(&req.into_query().unwrap());
    assert_eq!(body["from"], json!(40));
    assert_eq!(body["size"], json!(20));
    assert_eq!(body["track_total_hits"], json!(true));
    assert_eq!(
        body["sort"],
        json!([{"@timestamp": {"order": "desc"}}, {"log_id": {"order": "desc"}}])
    );
    assert!(body.get("query_string").is_none());
}

#[test]
fn patterns_compile_to_a_terms_aggregation() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let req: PatternsRequest =
        serde_json::from_value(json!({"hours": 24.0, "service": "api", "limit": 10})).unwrap();
    let body = patterns_body(&req.into_query(now).unwrap());
    assert_eq!(
        body,
        json!({
            "query": {"bool": {"filter": [
                {"terms": {"level": ["ERROR", "CRITICAL"]}},
                {"term": {"service": "api"}},
                {"range": {"@timestamp": {"gte": "2026-11-27T12:00:00Z", "lt": "2026-11-28T12:00:00Z"}}}
            ]}},
            "size": 0,
            "track_total_hits": true,
            "aggs": {"patterns": {
                "terms": {"field": "pattern_id", "size": 10, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                "aggs": {
                    "first_seen": {"min": {"field": "@timestamp"}},
                    "last_seen": {"max": {"field": "@timestamp"}},
                    "services": {"terms": {"field": "service", "size": 50}},
                    "template": {"terms": {"field": "template", "size": 1}},
                    "samples": {"top_hits": {"size": 3, "sort": [{"@timestamp": {"order": "desc"}}], "_source": {"includes": ["message"]}}}
                }
            }}
        })
    );
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
    assert_eq!(log.template, "", "search answers leave the template out");
    assert_eq!(log.timestamp.to_rfc3339(), "2026-11-28T09:46:08.111+00:00");
}

#[test]
fn parses_a_patterns_aggregation_response() {
    let body = json!({
        "took": 12, "timed_out": false,
        "hits": {"total": {"value": 57, "relation": "eq"}, "max_score": null, "hits": []},
        "aggregations": {"patterns": {
            "doc_count_error_upper_bound": 0, "sum_other_doc_count": 2,
            "buckets": [
                {"key": "30659de5d39c605f", "doc_count": 50,
                 "first_seen": {"value": 1764320400000.0, "value_as_string": "2025-11-28T09:00:00.000Z"},
                 "last_seen": {"value": 1764324000000.0, "value_as_string": "2025-11-28T10:00:00.000Z"},
                 "services": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                              "buckets": [{"key": "api", "doc_count": 45}, {"key": "worker", "doc_count": 5}]},
                 "template": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                              "buckets": [{"key": "Connection to <*> timed out after <*>", "doc_count": 50}]},
                 "samples": {"hits": {"total": {"value": 50, "relation": "eq"}, "max_score": null, "hits": [
                     {"_index": ".ds-logagg-logs-2025.11.28-000001", "_id": "x1", "_score": null,
                      "_source": {"message": "Connection to 10.0.0.7:5432 timed out after 30ms"}, "sort": [1764324000000i64]},
                     {"_index": ".ds-logagg-logs-2025.11.28-000001", "_id": "x2", "_score": null,
                      "_source": {"message": "Connection to 10.0.0.2:5432 timed out after 12ms"}, "sort": [1764323000000i64]}]}}},
                {"key": "3234aa211d1e1195", "doc_count": 5,
                 "first_seen": {"value": 1764320400000.0}, "last_seen": {"value": 1764320400000.0},
                 "services": {"buckets": []},
                 "template": {"buckets": [{"key": "Database connection failed", "doc_count": 5}]}}
            ]
        }}
    });
    let page = patterns_page(serde_json::from_value(body).unwrap()).unwrap();
    assert_eq!(page.total_logs, 57);
    assert_eq!(page.patterns.len(), 2);
    let top = &page.patterns[0];
    assert_eq!(top.pattern, "Connection to <*> timed out after <*>");
    assert_eq!(top.pattern_id, "30659de5d39c605f");
    assert_eq!(top.count, 50);
    assert_eq!(top.first_seen.to_rfc3339(), "2025-11-28T09:00:00+00:00");
    assert_eq!(top.last_seen.to_rfc3339(), "2025-11-28T10:00:00+00:00");
    assert_eq!(top.services.get("api"), Some(&45));
    assert_eq!(
        top.samples,
        vec![
            "Connection to 10.0.0.7:5432 timed out after 30ms",
            "Connection to 10.0.0.2:5432 timed out after 12ms"
        ]
    );
    assert!(page.patterns[1].services.is_empty());
    assert!(page.patterns[1].samples.is_empty());
    // The pattern id is the hash of the template, on both backends.
    assert_eq!(log_patterns::pattern_id_of(&top.pattern), top.pattern_id);
}
