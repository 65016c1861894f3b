use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use tracing::{error, Instrument};

use log_model::{
    ContextRequest, ExportRequest, Expr, FacetsRequest, FieldError, Filter, HistogramRequest,
    Keyword, Leaf, PatternsRequest, SearchQuery, SearchRequest, SortKey, SortOrder, StoredLog,
};
use log_store::{LogReader, SearchPage, StoreError};
use svc_kit::ApiError;

use crate::metrics::Metrics;
use crate::{export, tail};

pub struct AppState {
    pub store: Arc<dyn LogReader>,
    pub metrics: Metrics,
    pub tails: tail::Tails,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs/search", web::post().to(search_post))
        .route("/logs/search", web::get().to(search_get))
        .route("/logs/patterns", web::get().to(patterns))
        .route("/logs/histogram", web::get().to(histogram_get))
        .route("/logs/histogram", web::post().to(histogram_post))
        .route("/logs/facets", web::get().to(facets_get))
        .route("/logs/facets", web::post().to(facets_post))
        .route("/logs/export", web::get().to(export_get))
        .route("/logs/export", web::post().to(export_post))
        .route("/logs/tail", web::get().to(tail::tail))
        .route("/logs/{id}/context", web::get().to(context))
        .route("/", web::get().to(status))
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

/// A request the model refused: 400 for a query that cannot be parsed or
/// answered (naming the column), 422 naming any other field.
pub fn invalid(e: FieldError) -> ApiError {
    if e.kind == "invalid_query" {
        return ApiError {
            field: Some(e.field.clone()),
            ..ApiError::bad_request("invalid_query", format!("{}: {}", e.field, e.reason))
        };
    }
    ApiError::invalid_field(e.field, e.reason)
}

pub fn store_failed(state: &AppState, kind: &str, e: StoreError) -> ApiError {
    state.metrics.store_errors.with_label_values(&[kind]).inc();
    error!(error = %e, kind, "store request failed");
    ApiError::unavailable(
        format!(
            "the store could not answer: {}; the service log has the details",
            e.public_detail()
        ),
        1,
    )
}

fn observe(state: &AppState, kind: &str, started: Instant) -> f64 {
    let took = started.elapsed().as_secs_f64();
    state
        .metrics
        .store_seconds
        .with_label_values(&[kind])
        .observe(took);
    took * 1000.0
}

/// One page of a search, timed and counted, in the shape answers give
/// logs (see [`shape`]).
pub async fn search_page(
    state: &AppState,
    kind: &str,
    query: SearchQuery,
) -> Result<SearchPage, ApiError> {
    let started = Instant::now();
    let mut page = state
        .store
        .search(query)
        .instrument(tracing::info_span!("store.search", kind))
        .await
        .map_err(|e| store_failed(state, kind, e))?;
    observe(state, kind, started);
    page.logs.iter_mut().for_each(shape);
    Ok(page)
}

/// A log as every answer gives it: without its template, which
/// `pattern_id` names (and `/logs/patterns` shows); the stores return
/// whole logs.
pub fn shape(log: &mut StoredLog) {
    log.template = String::new();
}

/// The sort key of a log, as cursors carry it.
pub fn key_of(log: &StoredLog) -> SortKey {
    SortKey {
        ts: log.timestamp.timestamp_micros(),
        id: log.id.clone(),
    }
}

async fn search_post(
    state: web::Data<AppState>,
    body: web::Json<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    search(
        &state,
        body.into_inner().into_query(Utc::now()).map_err(invalid)?,
    )
    .await
}

async fn search_get(
    state: web::Data<AppState>,
    params: web::Query<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    search(
        &state,
        params
            .into_inner()
            .into_query(Utc::now())
            .map_err(invalid)?,
    )
    .await
}

/// Answers `{"logs": [...], "total_count": N, "next_cursor": C, "took_ms": F}`:
/// newest first unless `order=asc`; `next_cursor` is null on the last page.
async fn search(state: &AppState, query: SearchQuery) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let limit = query.limit;
    let cursor_of = query.clone();
    let page = search_page(state, "search", query).await?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    state.metrics.hits_returned.inc_by(page.logs.len() as u64);
    let next_cursor = (page.logs.len() == limit)
        .then(|| page.logs.last())
        .flatten()
        .map(|last| {
            let key = key_of(last);
            cursor_of.cursor_after(key.ts, &key.id).to_string()
        });
    let mut body = json!({
        "logs": page.logs,
        "total_count": page.total_count,
        "total_relation": if page.total_is_lower_bound { "gte" } else { "eq" },
        "next_cursor": next_cursor,
        "took_ms": took,
    });
    partial(state, "search", &page.missing, &mut body);
    Ok(HttpResponse::Ok().json(body))
}

/// Says in the answer whether it covers everything: `partial` and, when
/// partial, what could not be read (`missing`, day partitions).
pub fn partial(state: &AppState, kind: &str, missing: &[String], body: &mut Value) {
    body["partial"] = json!(!missing.is_empty());
    if !missing.is_empty() {
        body["missing"] = json!(missing);
        state
            .metrics
            .partial_answers
            .with_label_values(&[kind])
            .inc();
    }
}

/// `GET /logs/patterns?hours=24`: the window's ERROR and CRITICAL logs
/// grouped by template, most frequent first.
async fn patterns(
    state: web::Data<AppState>,
    params: web::Query<PatternsRequest>,
) -> Result<HttpResponse, ApiError> {
    let query = params
        .into_inner()
        .into_query(Utc::now())
        .map_err(invalid)?;
    let (start, end) = (query.start, query.end);
    let started = Instant::now();
    let page = state
        .store
        .patterns(query)
        .instrument(tracing::info_span!("store.patterns"))
        .await
        .map_err(|e| store_failed(&state, "patterns", e))?;
    let took = observe(&state, "patterns", started);
    let mut body = json!({
        "patterns": page.patterns,
        "total_logs": page.total_logs,
        "start_time": start,
        "end_time": end,
        "took_ms": took,
    });
    partial(&state, "patterns", &page.missing, &mut body);
    Ok(HttpResponse::Ok().json(body))
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

async fn histogram_get(
    state: web::Data<AppState>,
    params: web::Query<HistogramRequest>,
) -> Result<HttpResponse, ApiError> {
    histogram(&state, params.into_inner()).await
}

async fn histogram_post(
    state: web::Data<AppState>,
    body: web::Json<HistogramRequest>,
) -> Result<HttpResponse, ApiError> {
    histogram(&state, body.into_inner()).await
}

/// Counts of matching logs per time bucket, split by level, with every
/// bucket of the range (empty ones too), oldest first.
async fn histogram(state: &AppState, request: HistogramRequest) -> Result<HttpResponse, ApiError> {
    let query = request.into_query(Utc::now()).map_err(invalid)?;
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
    let buckets: Vec<Value> = answer
        .buckets
        .iter()
        .map(|(start, counts)| {
            let count: u64 = counts.iter().sum();
            total += count;
            let levels: Map<String, Value> = log_model::Level::ALL
                .iter()
                .zip(counts)
                .filter(|(_, n)| **n > 0)
                .map(|(l, n)| (l.as_str().to_string(), json!(n)))
                .collect();
            json!({"time": time_of_ms(*start), "count": count, "levels": levels})
        })
        .collect();
    let mut body = json!({
        "buckets": buckets,
        "total_count": total,
        "interval": interval_text(interval),
        "interval_ms": interval,
        "start_time": start,
        "end_time": end,
        "took_ms": took,
    });
    partial(state, "histogram", &answer.missing, &mut body);
    Ok(HttpResponse::Ok().json(body))
}

async fn facets_get(
    state: web::Data<AppState>,
    params: web::Query<FacetsRequest>,
) -> Result<HttpResponse, ApiError> {
    facets(&state, params.into_inner()).await
}

async fn facets_post(
    state: web::Data<AppState>,
    body: web::Json<FacetsRequest>,
) -> Result<HttpResponse, ApiError> {
    facets(&state, body.into_inner()).await
}

/// Logs read (the newest matching ones) to count metadata keys and values.
pub const METADATA_SAMPLE: usize = 1000;
/// A metadata key, the sampled logs that have it, its top values.
type KeyFacet = (String, u64, Vec<(String, u64)>);

/// Metadata keys listed in facets, most frequent first.
pub const METADATA_KEYS: usize = 20;

/// Top values of level, service and source (exact counts over every
/// match), and of metadata keys (over the newest matching logs).
async fn facets(state: &AppState, request: FacetsRequest) -> Result<HttpResponse, ApiError> {
    let query = request.into_query(Utc::now()).map_err(invalid)?;
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
    let values = |list: &[(String, u64)]| -> Vec<Value> {
        list.iter()
            .map(|(v, n)| json!({"value": v, "count": n}))
            .collect()
    };
    let fields: Map<String, Value> = answer
        .fields
        .iter()
        .map(|(name, list)| (name.clone(), json!(values(list))))
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
    let mut ranked: Vec<KeyFacet> = keys
        .into_iter()
        .map(|(key, counts)| {
            let logs = counts.values().sum();
            (key, logs, log_store::model::top_values(counts, size))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(METADATA_KEYS);
    let metadata: Vec<Value> = ranked
        .iter()
        .map(|(key, logs, top)| json!({"key": key, "count": logs, "values": values(top)}))
        .collect();
    let mut missing = answer.missing.clone();
    missing.extend(sample.missing);
    let mut body = json!({
        "total_count": answer.total_count,
        "facets": fields,
        "metadata": metadata,
        "metadata_sample": sample.logs.len(),
        "took_ms": took,
    });
    partial(state, "facets", &missing, &mut body);
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /logs/{id}/context?before=10&after=10`: the logs just before and
/// after one log among those of its service and source, like `grep -C`.
async fn context(
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: web::Query<ContextRequest>,
) -> Result<HttpResponse, ApiError> {
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
            ),
            limit: 1,
            track_total: None,
            ..SearchQuery::default()
        },
    )
    .await?;
    let Some(log) = found.logs.into_iter().next() else {
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
    let filter = Filter::new(Expr::and(same), None, None);
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
    let mut body = json!({
        "log": log,
        "before": older.logs,
        "after": newer_logs,
        "took_ms": took,
    });
    partial(&state, "context", &missing, &mut body);
    Ok(HttpResponse::Ok().json(body))
}

async fn export_get(
    state: web::Data<AppState>,
    params: web::Query<ExportRequest>,
) -> Result<HttpResponse, ApiError> {
    export::export(state.into_inner(), params.into_inner()).await
}

async fn export_post(
    state: web::Data<AppState>,
    body: web::Json<ExportRequest>,
) -> Result<HttpResponse, ApiError> {
    export::export(state.into_inner(), body.into_inner()).await
}

async fn status() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "service": "queryd",
        "version": env!("CARGO_PKG_VERSION"),
        "status": "running",
        "endpoints": [
            "POST /logs/search", "GET /logs/search", "GET /logs/patterns",
            "GET|POST /logs/histogram", "GET|POST /logs/facets", "GET|POST /logs/export",
            "GET /logs/tail", "GET /logs/{id}/context",
            "GET /health", "GET /ready", "GET /metrics"
        ],
    }))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "healthy", "service": "queryd"}))
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    // Damage already found is told; the service still answers (partially).
    let warnings: Vec<String> = state
        .store
        .damage()
        .iter()
        .map(|(name, _)| {
            format!("partition {name} cannot be read; answers that cover it are partial (run `logagg check`)")
        })
        .collect();
    match state.store.check().await {
        Ok(()) => HttpResponse::Ok().json(json!({"ready": true, "warnings": warnings})),
        Err(e) => {
            error!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"ready": false, "problems": [e.public_detail()]}))
        }
    }
}

/// `GET /metrics`, with the gauges read from the store brought up to date.
async fn metrics(state: web::Data<AppState>, _req: HttpRequest) -> HttpResponse {
    state
        .metrics
        .damaged_partitions
        .set(state.store.damage().len() as i64);
    state.metrics.http.response()
}
