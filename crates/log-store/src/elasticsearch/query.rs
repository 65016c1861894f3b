//! Compiles search and patterns requests into the bool query DSL. User text
//! becomes `match_phrase` clauses (one per word or quoted phrase), never
//! `query_string`, so its syntax cannot reach Elasticsearch.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::model::SAMPLES;
use log_model::{Level, PatternsQuery, SearchQuery, TextClause, TextQuery};

/// The largest number of services listed per pattern.
pub const SERVICES_PER_PATTERN: usize = 50;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn bool_query(
    text: Option<&TextQuery>,
    levels: &[Level],
    source: Option<&str>,
    service: Option<&str>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Value {
    let mut filter = Vec::new();
    if !levels.is_empty() {
        let levels: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
        filter.push(json!({"terms": {"level": levels}}));
    }
    if let Some(source) = source {
        filter.push(json!({"term": {"source": source}}));
    }
    if let Some(service) = service {
        filter.push(json!({"term": {"service": service}}));
    }
    if start.is_some() || end.is_some() {
        let mut range = serde_json::Map::new();
        if let Some(s) = start {
            range.insert("gte".into(), json!(time(s)));
        }
        if let Some(e) = end {
            range.insert("lt".into(), json!(time(e)));
        }
        filter.push(json!({"range": {"@timestamp": range}}));
    }
    let must: Vec<Value> = text
        .map(|t| {
            t.clauses
                .iter()
                .map(|c| match c {
                    TextClause::Word(w) | TextClause::Phrase(w) => {
                        json!({"match_phrase": {"message": w}})
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if filter.is_empty() && must.is_empty() {
        return json!({"match_all": {}});
    }
    let mut b = serde_json::Map::new();
    if !filter.is_empty() {
        b.insert("filter".into(), Value::Array(filter));
    }
    if !must.is_empty() {
        b.insert("must".into(), Value::Array(must));
    }
    json!({"bool": b})
}

/// `POST /<stream>/_search` body for a search: newest first, then by id.
pub fn search_body(q: &SearchQuery) -> Value {
    json!({
        "query": bool_query(q.text.as_ref(), &q.levels, q.source.as_deref(), q.service.as_deref(), q.start, q.end),
        "sort": [{"@timestamp": {"order": "desc"}}, {"log_id": {"order": "desc"}}],
        "from": q.offset,
        "size": q.limit,
        "track_total_hits": true,
    })
}

/// Most ingest templates one patterns request aggregates before the
/// query-time merge (the rest are counted in `sum_other_doc_count`).
pub const MAX_PATTERN_BUCKETS: usize = 2000;

/// `POST /<stream>/_search` body for patterns: a terms aggregation on the
/// pattern id with first/last seen, services, levels, the template, sample
/// messages and the trend; the query-time merge happens after.
pub fn patterns_body(q: &PatternsQuery) -> Value {
    let interval = q.bucket_millis();
    let start_ms = q.start.timestamp_millis();
    json!({
        "query": bool_query(q.text.as_ref(), &q.levels, q.source.as_deref(), q.service.as_deref(), Some(q.start), Some(q.end)),
        "size": 0,
        "track_total_hits": true,
        "aggs": {
            "patterns": {
                "terms": {"field": "pattern_id", "size": MAX_PATTERN_BUCKETS, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                "aggs": {
                    "first_seen": {"min": {"field": "@timestamp"}},
                    "last_seen": {"max": {"field": "@timestamp"}},
                    "services": {"terms": {"field": "service", "size": SERVICES_PER_PATTERN}},
                    "levels": {"terms": {"field": "level", "size": 5}},
                    "template": {"terms": {"field": "template", "size": 1}},
                    "samples": {"top_hits": {"size": SAMPLES, "sort": [{"@timestamp": {"order": "desc"}}], "_source": {"includes": ["message"]}}},
                    "trend": {"date_histogram": {
                        "field": "@timestamp",
                        "fixed_interval": format!("{interval}ms"),
                        "offset": format!("{}ms", start_ms.rem_euclid(interval)),
                        "min_doc_count": 0,
                        // (An empty window, start == end, still has a valid bound.)
                        "extended_bounds": {"min": start_ms, "max": (q.end.timestamp_millis() - 1).max(start_ms)}
                    }}
                }
            }
        }
    })
}

/// Which of `pattern_ids` had logs (matching the request's filters) before
/// `since`: the "is new" check.
pub fn seen_before_body(q: &PatternsQuery, since: DateTime<Utc>, pattern_ids: &[String]) -> Value {
    let mut query = bool_query(
        q.text.as_ref(),
        &q.levels,
        q.source.as_deref(),
        q.service.as_deref(),
        None,
        Some(since),
    );
    let ids = json!({"terms": {"pattern_id": pattern_ids}});
    match query
        .get_mut("bool")
        .and_then(|b| b.get_mut("filter"))
        .and_then(Value::as_array_mut)
    {
        Some(filter) => filter.push(ids),
        None => query = json!({"bool": {"filter": [ids]}}),
    }
    json!({
        "query": query,
        "size": 0,
        "aggs": {"seen": {"terms": {"field": "pattern_id", "size": pattern_ids.len().max(1)}}}
    })
}
