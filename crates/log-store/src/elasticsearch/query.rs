//! Compiles search and patterns requests into the bool query DSL. User text
//! becomes `match_phrase` clauses (one per word or quoted phrase), never
//! `query_string`, so its syntax cannot reach Elasticsearch.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::model::SAMPLES;
use log_model::{Level, MetadataFilter, PatternsQuery, SearchQuery, TextClause, TextQuery};

/// The largest number of services listed per pattern.
pub const SERVICES_PER_PATTERN: usize = 50;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Filters of searches only (patterns requests have none of these).
#[derive(Default)]
struct Extra<'a> {
    trace_id: Option<&'a str>,
    metadata: Option<&'a MetadataFilter>,
}

fn bool_query(
    text: Option<&TextQuery>,
    levels: &[Level],
    source: Option<&str>,
    service: Option<&str>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    extra: Extra<'_>,
) -> Value {
    let mut filter = Vec::new();
    if let Some(trace_id) = extra.trace_id {
        filter.push(json!({"term": {"trace_id": trace_id}}));
    }
    // `metadata` is `flattened`: every leaf is a keyword at its dotted path.
    if let Some(m) = extra.metadata {
        filter.push(json!({"term": {format!("metadata.{}", m.path): m.value}}));
    }
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
        "query": bool_query(
            q.text.as_ref(),
            &q.levels,
            q.source.as_deref(),
            q.service.as_deref(),
            q.start,
            q.end,
            Extra { trace_id: q.trace_id.as_deref(), metadata: q.metadata.as_ref() },
        ),
        "sort": [{"@timestamp": {"order": "desc"}}, {"log_id": {"order": "desc"}}],
        "from": q.offset,
        "size": q.limit,
        "track_total_hits": true,
    })
}

/// Most ingest templates one patterns request aggregates before the
/// query-time merge (the rest are counted in `sum_other_doc_count`).
pub const MAX_PATTERN_BUCKETS: usize = 2000;

/// Elasticsearch's default `search.max_buckets` is 65,536, counting every
/// bucket at every level of one answer; requests stay below this.
pub const BUCKET_BUDGET: usize = 60_000;

/// Levels a pattern can have (the `levels` sub-aggregation's size).
const LEVELS: usize = 5;

// The first step's answer: each pattern, its template and its levels.
const _: () = assert!(MAX_PATTERN_BUCKETS * (2 + LEVELS) <= BUCKET_BUDGET);

/// `POST /<stream>/_search` body for the first step of patterns: a terms
/// aggregation on the pattern id with what ranking and the query-time merge
/// need (count, first/last seen, template, levels): at most
/// `MAX_PATTERN_BUCKETS * (2 + LEVELS)` buckets, within the budget.
pub fn patterns_body(q: &PatternsQuery) -> Value {
    json!({
        "query": bool_query(q.text.as_ref(), &q.levels, q.source.as_deref(), q.service.as_deref(), Some(q.start), Some(q.end), Extra::default()),
        "size": 0,
        "track_total_hits": true,
        "aggs": {
            "patterns": {
                "terms": {"field": "pattern_id", "size": MAX_PATTERN_BUCKETS, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                "aggs": {
                    "first_seen": {"min": {"field": "@timestamp"}},
                    "last_seen": {"max": {"field": "@timestamp"}},
                    "levels": {"terms": {"field": "level", "size": LEVELS}},
                    "template": {"terms": {"field": "template", "size": 1}},
                }
            }
        }
    })
}

/// Buckets one pattern's details take: itself, its services, its trend
/// (the window's buckets, and one more where the edges fall between).
fn detail_buckets(q: &PatternsQuery) -> usize {
    1 + SERVICES_PER_PATTERN + q.buckets + 1
}

/// How many patterns one details request may cover within the budget.
pub fn details_per_request(q: &PatternsQuery) -> usize {
    (BUCKET_BUDGET / detail_buckets(q)).max(1)
}

/// `POST /<stream>/_search` body for the second step: services, samples and
/// the trend of the patterns `pattern_ids` (at most
/// [`details_per_request`] of them, so the answer stays within the budget).
pub fn pattern_details_body(q: &PatternsQuery, pattern_ids: &[String]) -> Value {
    let interval = q.bucket_millis();
    let start_ms = q.start.timestamp_millis();
    let mut query = bool_query(
        q.text.as_ref(),
        &q.levels,
        q.source.as_deref(),
        q.service.as_deref(),
        Some(q.start),
        Some(q.end),
        Extra::default(),
    );
    add_filter(&mut query, json!({"terms": {"pattern_id": pattern_ids}}));
    json!({
        "query": query,
        "size": 0,
        "aggs": {
            "patterns": {
                "terms": {"field": "pattern_id", "size": pattern_ids.len().max(1), "order": [{"_count": "desc"}, {"_key": "asc"}]},
                "aggs": {
                    "services": {"terms": {"field": "service", "size": SERVICES_PER_PATTERN}},
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

/// Adds a clause to a query's `bool.filter` (making it a bool query if needed).
fn add_filter(query: &mut Value, clause: Value) {
    match query
        .get_mut("bool")
        .and_then(|b| b.get_mut("filter"))
        .and_then(Value::as_array_mut)
    {
        Some(filter) => filter.push(clause),
        None => match query.get_mut("bool").and_then(Value::as_object_mut) {
            Some(b) => {
                b.insert("filter".into(), json!([clause]));
            }
            None => *query = json!({"bool": {"filter": [clause]}}),
        },
    }
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
        Extra::default(),
    );
    add_filter(&mut query, json!({"terms": {"pattern_id": pattern_ids}}));
    json!({
        "query": query,
        "size": 0,
        "aggs": {"seen": {"terms": {"field": "pattern_id", "size": pattern_ids.len().max(1)}}}
    })
}
