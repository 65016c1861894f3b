//! Compiles a [`Filter`] (the query language and a time range) into the
//! bool query DSL, never `query_string`, so no user syntax reaches
//! Elasticsearch. Words and phrases become `match_phrase` on `message`
//! (analyzed as the embedded index splits it); numeric comparisons on
//! metadata read the `metadata_numbers` nested pairs the writer adds.

use std::ops::Bound;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::model::SAMPLES;
use log_model::{
    Expr, FacetsQuery, Filter, HistogramQuery, Keyword, Leaf, NumRange, PatternsQuery, SearchQuery,
    SortOrder, Tenants,
};

/// The largest number of services listed per pattern.
pub const SERVICES_PER_PATTERN: usize = 50;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The field of the data stream's mapping for a keyword of the language.
pub fn keyword_field(k: Keyword) -> &'static str {
    match k {
        Keyword::Service => "service",
        Keyword::Source => "source",
        Keyword::TraceId => "trace_id",
        Keyword::PatternId => "pattern_id",
        Keyword::Id => "log_id",
    }
}

fn range(r: &NumRange) -> Value {
    let mut out = Map::new();
    match r.lower {
        Bound::Included(x) => {
            out.insert("gte".into(), json!(x));
        }
        Bound::Excluded(x) => {
            out.insert("gt".into(), json!(x));
        }
        Bound::Unbounded => {}
    }
    match r.upper {
        Bound::Included(x) => {
            out.insert("lte".into(), json!(x));
        }
        Bound::Excluded(x) => {
            out.insert("lt".into(), json!(x));
        }
        Bound::Unbounded => {}
    }
    Value::Object(out)
}

fn leaf(l: &Leaf) -> Value {
    match l {
        Leaf::Word(t) | Leaf::Phrase(t) => json!({"match_phrase": {"message": t}}),
        Leaf::Prefix(p) => json!({"prefix": {"message": p}}),
        Leaf::Levels(levels) if levels.is_empty() => json!({"match_none": {}}),
        Leaf::Levels(levels) => {
            let levels: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
            json!({"terms": {"level": levels}})
        }
        Leaf::Term { field, value } => json!({"term": {keyword_field(*field): value}}),
        // Every value starts with nothing: the field is there.
        Leaf::TermPrefix { field, prefix } if prefix.is_empty() => {
            json!({"exists": {"field": keyword_field(*field)}})
        }
        Leaf::TermPrefix { field, prefix } => json!({"prefix": {keyword_field(*field): prefix}}),
        // `metadata` is `flattened`: every leaf is a keyword at its dotted path.
        Leaf::Metadata(m) => json!({"term": {format!("metadata.{}", m.path): m.value}}),
        // `flattened` compares as text; numbers are also kept as nested
        // (key, value) pairs, compared as numbers.
        Leaf::MetadataRange { path, range: r } => json!({"nested": {
            "path": "metadata_numbers",
            "query": {"bool": {"filter": [
                {"term": {"metadata_numbers.key": path}},
                {"range": {"metadata_numbers.value": range(r)}}
            ]}}
        }}),
    }
}

fn expr(e: &Expr) -> Value {
    match e {
        Expr::All => json!({"match_all": {}}),
        Expr::Leaf(l) => leaf(l),
        Expr::And(parts) => json!({"bool": {"filter": parts.iter().map(expr).collect::<Vec<_>>()}}),
        Expr::Or(parts) => json!({"bool": {
            "should": parts.iter().map(expr).collect::<Vec<_>>(),
            "minimum_should_match": 1
        }}),
        Expr::Not(inner) => json!({"bool": {"must_not": [expr(inner)]}}),
    }
}

/// The filter as one query (`extra` clauses ANDed to it).
pub fn filter_query(filter: &Filter, extra: Vec<Value>) -> Value {
    let mut clauses = Vec::new();
    match &filter.expr {
        Expr::All => {}
        Expr::And(parts) => clauses.extend(parts.iter().map(expr)),
        e => clauses.push(expr(e)),
    }
    if filter.start.is_some() || filter.end.is_some() {
        let mut range = Map::new();
        if let Some(s) = filter.start {
            range.insert("gte".into(), json!(time(s)));
        }
        if let Some(e) = filter.end {
            range.insert("lt".into(), json!(time(e)));
        }
        clauses.push(json!({"range": {"@timestamp": range}}));
    }
    if let Some(id) = &filter.id_after {
        clauses.push(json!({"range": {"log_id": {"gt": id}}}));
    }
    match &filter.tenant {
        Tenants::All => {}
        Tenants::One(tenant) => clauses.push(tenant_clause(tenant)),
        // Refused before any read (`ScopeChecked`); nothing, should one get here.
        Tenants::Unscoped => clauses.push(json!({"bool": {"must_not": [{"match_all": {}}]}})),
    }
    clauses.extend(extra);
    if clauses.is_empty() {
        return json!({"match_all": {}});
    }
    json!({"bool": {"filter": clauses}})
}

/// The tenant's documents. Those indexed before tenants carry no `tenant`
/// and are the default tenant's.
fn tenant_clause(tenant: &str) -> Value {
    if tenant == log_model::DEFAULT_TENANT {
        json!({"bool": {"should": [
            {"term": {"tenant": tenant}},
            {"bool": {"must_not": [{"exists": {"field": "tenant"}}]}}
        ], "minimum_should_match": 1}})
    } else {
        json!({"term": {"tenant": tenant}})
    }
}

fn order_name(order: SortOrder) -> &'static str {
    match order {
        SortOrder::Desc => "desc",
        SortOrder::Asc => "asc",
    }
}

/// `POST /<stream>/_search` body for a search: by time, then id; a cursor
/// continues with `search_after` (the time in milliseconds, as
/// Elasticsearch sorts a `date`).
pub fn search_body(q: &SearchQuery) -> Value {
    let order = order_name(q.order);
    let mut body = json!({
        "query": filter_query(&q.filter, Vec::new()),
        "sort": [{"@timestamp": {"order": order}}, {"log_id": {"order": order}}],
        "size": q.limit,
        "track_total_hits": match q.track_total {
            None => json!(false),
            Some(u64::MAX) => json!(true),
            // Elasticsearch takes an int here.
            Some(n) => json!(n.min(i32::MAX as u64)),
        },
    });
    match &q.after {
        Some(key) => body["search_after"] = json!([key.ts.div_euclid(1000), key.id]),
        None => body["from"] = json!(q.offset),
    }
    body
}

/// `body` with a search `timeout` of what is left until `deadline` (at
/// least 1 ms): shards that reach it answer what they have, and the
/// answer says `timed_out` (told as partial).
pub fn within(mut body: Value, deadline: Option<std::time::Instant>) -> Value {
    if let (Some(deadline), Some(map)) = (deadline, body.as_object_mut()) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        map.insert(
            "timeout".into(),
            Value::String(format!("{}ms", left.as_millis().max(1))),
        );
    }
    body
}

/// `POST /<stream>/_search` body for a histogram: a `date_histogram`
/// aligned to the epoch with every bucket of the range, split by level.
pub fn histogram_body(q: &HistogramQuery) -> Value {
    let starts = q.bucket_starts();
    let (first, last) = (
        starts.first().copied().unwrap_or_default(),
        starts.last().copied().unwrap_or_default(),
    );
    json!({
        "query": filter_query(&q.filter, Vec::new()),
        "size": 0,
        "track_total_hits": false,
        "aggs": {"histogram": {
            "date_histogram": {
                "field": "@timestamp",
                "fixed_interval": format!("{}ms", q.interval_ms),
                "min_doc_count": 0,
                "extended_bounds": {"min": first, "max": last}
            },
            "aggs": {"levels": {"terms": {"field": "level", "size": 5}}}
        }}
    })
}

/// The fields facets count (as the embedded store's).
pub const FACET_FIELDS: [&str; 3] = ["level", "service", "source"];

/// `POST /<stream>/_search` body for facets: a terms aggregation per field.
pub fn facets_body(q: &FacetsQuery) -> Value {
    let aggs: Map<String, Value> = FACET_FIELDS
        .iter()
        .map(|f| {
            (
                f.to_string(),
                json!({"terms": {"field": f, "size": q.size, "order": [{"_count": "desc"}, {"_key": "asc"}]}}),
            )
        })
        .collect();
    json!({
        "query": filter_query(&q.filter, Vec::new()),
        "size": 0,
        "track_total_hits": true,
        "aggs": aggs,
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
        "query": filter_query(&q.filter, Vec::new()),
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
    let query = filter_query(
        &q.filter,
        vec![json!({"terms": {"pattern_id": pattern_ids}})],
    );
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

/// Which of `pattern_ids` had logs (matching the request's filters) before
/// `since`: the "is new" check.
pub fn seen_before_body(q: &PatternsQuery, since: DateTime<Utc>, pattern_ids: &[String]) -> Value {
    let filter = Filter {
        start: None,
        end: Some(since),
        ..q.filter.clone()
    };
    let query = filter_query(&filter, vec![json!({"terms": {"pattern_id": pattern_ids}})]);
    json!({
        "query": query,
        "size": 0,
        "aggs": {"seen": {"terms": {"field": "pattern_id", "size": pattern_ids.len().max(1)}}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_deadline_becomes_the_search_timeout_and_none_leaves_the_body() {
        let body = json!({"size": 0});
        assert_eq!(within(body.clone(), None), body);
        let timed = within(body.clone(), Some(Instant::now() + Duration::from_secs(2)));
        let ms: u64 = timed["timeout"]
            .as_str()
            .and_then(|t| t.strip_suffix("ms"))
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!((1500..=2000).contains(&ms), "{timed}");
        assert_eq!(timed["size"], 0);
        // A deadline already passed still asks for the least timeout.
        let late = within(body, Some(Instant::now()));
        assert_eq!(late["timeout"], "1ms");
    }
}
