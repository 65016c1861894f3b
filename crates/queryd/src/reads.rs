//! The read routes: search, patterns, histogram, facets, context and
//! export. Each takes its request as [`Scoped`] (the caller's tenants go
//! into the query as it is built) and answers with the shapes of
//! [`crate::answers`].

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{get, route, web, HttpRequest, HttpResponse};
use chrono::DateTime;
use chrono::Utc;
use serde_json::Value;
use tracing::Instrument;

use log_model::{
    ContextRequest, ExportRequest, Expr, FacetsRequest, Filter, FilterParams, HistogramRequest,
    Keyword, Leaf, PatternsRequest, SearchQuery, SearchRequest, SortOrder, StoredLog,
};
use svc_kit::auth::{scope_of, Audit, Scoped};
use svc_kit::error::{ErrorBody, ReadErrors};
use svc_kit::ApiError;

use crate::answers::*;
use crate::api::{
    coverage, coverage_with, invalid, key_of, observe, search_page, store_failed, AppState,
};
use crate::budget::ExpensiveRead;
use crate::export;

/// Search logs.
///
/// One page of the matching logs, newest first; `next_cursor` fetches the
/// next page.
#[utoipa::path(
    tag = "search",
    params(FilterParams, SearchRequest),
    request_body = SearchRequest,
    responses((status = 200, body = SearchAnswer), ReadErrors)
)]
#[route("/logs/search", method = "GET", method = "POST")]
pub async fn search(
    state: web::Data<AppState>,
    request: Scoped<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let (query, text) = request.into_query().map_err(invalid)?;
    let started = Instant::now();
    let limit = query.limit;
    let cursor_of = query.clone();
    let page = search_page(&state, "search", query).await?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    state.metrics.hits_returned.inc_by(page.logs.len() as u64);
    let next_cursor = (page.logs.len() == limit)
        .then(|| page.logs.last())
        .flatten()
        .map(|last| {
            let key = key_of(last);
            cursor_of.cursor_after(key.ts, &key.id).to_string()
        });
    let results = page.logs.len() as u64;
    let answer = HttpResponse::Ok().json(SearchAnswer {
        total_count: page.total_count,
        total_relation: if page.total_is_lower_bound {
            Relation::Gte
        } else {
            Relation::Eq
        },
        next_cursor,
        took_ms: took,
        coverage: coverage(&state, "search", page.missing),
        logs: page.logs,
    });
    Ok(Audit::attach(text, Some(results), answer))
}

/// Error patterns.
///
/// The window's ERROR and CRITICAL logs grouped by template, most frequent
/// first, with counts per level and service, a trend and samples.
#[utoipa::path(
    tag = "patterns",
    params(FilterParams, PatternsRequest),
    responses((status = 200, body = PatternsAnswer), ReadErrors)
)]
#[get("/logs/patterns")]
pub async fn patterns(
    state: web::Data<AppState>,
    read: ExpensiveRead,
    request: Scoped<PatternsRequest>,
) -> Result<HttpResponse, ApiError> {
    let (mut query, text) = request.into_query().map_err(invalid)?;
    query.budget = read.budget;
    let (start, end) = (query.start, query.end);
    let started = Instant::now();
    let page = state
        .store
        .patterns(query)
        .instrument(tracing::info_span!("store.patterns"))
        .await
        .map_err(|e| store_failed(&state, "patterns", e))?;
    let took = observe(&state, "patterns", started);
    let results = page.patterns.len() as u64;
    let answer = HttpResponse::Ok().json(PatternsAnswer {
        patterns: page.patterns,
        total_logs: page.total_logs,
        start_time: start,
        end_time: end,
        took_ms: took,
        coverage: coverage_with(&state, "patterns", page.missing, page.limited),
    });
    Ok(Audit::attach(text, Some(results), answer))
}

fn time_of_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `30s`, `5m`, `2h`, `1d` for an interval in milliseconds.
fn interval_text(ms: i64) -> String {
    for (unit, len) in [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % len == 0 {
            return format!("{}{unit}", ms / len);
        }
    }
    format!("{ms}ms")
}

/// Volume over time.
///
/// Matching logs per time bucket and level, every bucket of the range.
#[utoipa::path(
    tag = "search",
    params(FilterParams, HistogramRequest),
    request_body = HistogramRequest,
    responses((status = 200, body = HistogramAnswer), ReadErrors)
)]
#[route("/logs/histogram", method = "GET", method = "POST")]
pub async fn histogram(
    state: web::Data<AppState>,
    read: ExpensiveRead,
    request: Scoped<HistogramRequest>,
) -> Result<HttpResponse, ApiError> {
    let (mut query, text) = request.into_query().map_err(invalid)?;
    query.budget = read.budget;
    let state: &AppState = &state;
    let started = Instant::now();
    let (start, end, interval) = (query.start, query.end, query.interval_ms);
    let answer = state
        .store
        .histogram(query)
        .instrument(tracing::info_span!("store.histogram"))
        .await
        .map_err(|e| store_failed(state, "histogram", e))?;
    let took = observe(state, "histogram", started);
    let mut total = 0;
    let buckets: Vec<Bucket> = answer
        .buckets
        .iter()
        .map(|(start, counts)| {
            let count: u64 = counts.iter().sum();
            total += count;
            let levels = log_model::Level::ALL
                .iter()
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(l, n)| (l.as_str().to_string(), *n))
                .collect();
            Bucket {
                time: time_of_ms(*start),
                count,
                levels,
            }
        })
        .collect();
    let answer = HttpResponse::Ok().json(HistogramAnswer {
        buckets,
        total_count: total,
        interval: interval_text(interval),
        interval_ms: interval,
        start_time: start,
        end_time: end,
        took_ms: took,
        coverage: coverage_with(state, "histogram", answer.missing, answer.limited),
    });
    Ok(Audit::attach(text, Some(total), answer))
}

/// Top values.
///
/// Top values of level, service and source over every match, and of
/// metadata keys over the newest matches.
#[utoipa::path(
    tag = "search",
    params(FilterParams, FacetsRequest),
    request_body = FacetsRequest,
    responses((status = 200, body = FacetsAnswer), ReadErrors)
)]
#[route("/logs/facets", method = "GET", method = "POST")]
pub async fn facets(
    state: web::Data<AppState>,
    read: ExpensiveRead,
    request: Scoped<FacetsRequest>,
) -> Result<HttpResponse, ApiError> {
    let (mut query, text) = request.into_query().map_err(invalid)?;
    query.budget = read.budget;
    let state: &AppState = &state;
    let started = Instant::now();
    let size = query.size;
    let sample_query = SearchQuery {
        filter: query.filter.clone(),
        limit: METADATA_SAMPLE,
        track_total: None,
        ..SearchQuery::default()
    };
    let answer = state
        .store
        .facets(query)
        .instrument(tracing::info_span!("store.facets"))
        .await
        .map_err(|e| store_failed(state, "facets", e))?;
    let sample = search_page(state, "facets", sample_query).await?;
    let took = observe(state, "facets", started);
    let values = |list: &[(String, u64)]| -> Vec<ValueCount> {
        list.iter()
            .map(|(v, n)| ValueCount {
                value: v.clone(),
                count: *n,
            })
            .collect()
    };
    let fields = answer
        .fields
        .iter()
        .map(|(name, list)| (name.clone(), values(list)))
        .collect();
    // Key -> value -> logs, over the sample.
    let mut keys: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        Default::default();
    for log in &sample.logs {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(metadata) = &log.metadata {
            log_model::metadata_leaves(metadata, &mut |path, leaf| {
                let value = match leaf {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if seen.insert((path.to_string(), value.clone())) {
                    *keys
                        .entry(path.to_string())
                        .or_default()
                        .entry(value)
                        .or_default() += 1;
                }
            });
        }
    }
    let mut ranked: Vec<Ranked> = keys
        .into_iter()
        .map(|(key, counts)| {
            let logs = counts.values().sum();
            (key, logs, log_store::model::top_values(counts, size))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(METADATA_KEYS);
    let metadata = ranked
        .iter()
        .map(|(key, logs, top)| KeyFacet {
            key: key.clone(),
            count: *logs,
            values: values(top),
        })
        .collect();
    let mut missing = answer.missing.clone();
    missing.extend(sample.missing);
    let total = answer.total_count;
    let response = HttpResponse::Ok().json(FacetsAnswer {
        total_count: answer.total_count,
        facets: fields,
        metadata,
        metadata_sample: sample.logs.len(),
        took_ms: took,
        coverage: coverage_with(state, "facets", missing, answer.limited.clone()),
    });
    Ok(Audit::attach(text, Some(total), response))
}

/// Logs read (the newest matching ones) to count metadata keys and values.
pub const METADATA_SAMPLE: usize = 1000;
/// A metadata key, the sampled logs that have it, its top values.
type Ranked = (String, u64, Vec<(String, u64)>);

/// Metadata keys listed in facets, most frequent first.
pub const METADATA_KEYS: usize = 20;

/// A log and its neighbours.
///
/// The logs just before and after one log among those of its service and
/// source, like `grep -C`; oldest first.
#[utoipa::path(
    tag = "search",
    params(("id" = String, Path, description = "The log's id"), ContextRequest),
    responses(
        (status = 200, body = ContextAnswer),
        (status = 404, description = "`not_found`: no log has this id", body = ErrorBody),
        ReadErrors
    )
)]
#[get("/logs/{id}/context")]
pub async fn context(
    state: web::Data<AppState>,
    req: HttpRequest,
    _read: ExpensiveRead,
    id: web::Path<String>,
    params: web::Query<ContextRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenants = scope_of(&req)?;
    let (before, after) = params.counts().map_err(invalid)?;
    let id = id.into_inner();
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::invalid_field("id", "must be a log id"));
    }
    let started = Instant::now();
    let found = search_page(
        &state,
        "context",
        SearchQuery {
            filter: Filter::new(
                Expr::Leaf(Leaf::Term {
                    field: Keyword::Id,
                    value: id.clone(),
                }),
                None,
                None,
                tenants.clone(),
            ),
            limit: 1,
            track_total: None,
            ..SearchQuery::default()
        },
    )
    .await?;
    let Some(log) = found.logs.into_iter().next() else {
        // Not found where the store could read; it may be where it could not.
        if !found.missing.is_empty() {
            return Err(ApiError::unavailable(
                format!(
                    "no readable log has the id {id:?}; it may be in what cannot be read: {}",
                    found.missing.join(", ")
                ),
                1,
            ));
        }
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no log has the id {id:?}"),
        ));
    };
    let mut same = vec![Expr::Leaf(Leaf::Term {
        field: Keyword::Source,
        value: log.source.clone(),
    })];
    same.push(match &log.service {
        Some(service) => Expr::Leaf(Leaf::Term {
            field: Keyword::Service,
            value: service.clone(),
        }),
        // Logs without a service: no service term at all.
        None => Expr::Not(Box::new(Expr::Leaf(Leaf::TermPrefix {
            field: Keyword::Service,
            prefix: String::new(),
        }))),
    });
    let filter = Filter::new(Expr::and(same), None, None, tenants);
    let around = |order: SortOrder, limit: usize| SearchQuery {
        filter: filter.clone(),
        limit: limit.max(1),
        order,
        after: Some(key_of(&log)),
        track_total: None,
        ..SearchQuery::default()
    };
    let mut older = search_page(&state, "context", around(SortOrder::Desc, before)).await?;
    let newer = search_page(&state, "context", around(SortOrder::Asc, after)).await?;
    older.logs.truncate(before);
    older.logs.reverse();
    let mut newer_logs = newer.logs;
    newer_logs.truncate(after);
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let mut missing = older.missing;
    missing.extend(newer.missing);
    let results = (1 + older.logs.len() + newer_logs.len()) as u64;
    let answer = HttpResponse::Ok().json(ContextAnswer {
        log,
        before: older.logs,
        after: newer_logs,
        took_ms: took,
        coverage: coverage(&state, "context", missing),
    });
    Ok(Audit::attach(format!("id={id:?}"), Some(results), answer))
}

/// Export the matches.
///
/// Every matching log (or the first `limit`), one JSON object per line,
/// streamed.
#[utoipa::path(
    tag = "search",
    operation_id = "export",
    params(FilterParams, ExportRequest),
    request_body = ExportRequest,
    responses(
        (status = 200, description = "NDJSON: one log per line", content_type = "application/x-ndjson", body = StoredLog),
        ReadErrors
    )
)]
#[route("/logs/export", method = "GET", method = "POST")]
pub async fn export_logs(
    state: web::Data<AppState>,
    read: ExpensiveRead,
    request: Scoped<ExportRequest>,
) -> Result<HttpResponse, ApiError> {
    let (query, text) = request.into_query().map_err(invalid)?;
    export::export(state.into_inner(), query, text, read).await
}
