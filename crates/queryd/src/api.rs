use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::{error, Instrument};
use utoipa_actix_web::service_config::ServiceConfig;

use log_model::{
    ContextRequest, ExportRequest, Expr, FacetsRequest, FieldError, Filter, FilterParams,
    HistogramRequest, Keyword, Leaf, PatternsRequest, SearchQuery, SearchRequest, SortKey,
    SortOrder, StoredLog,
};
use log_store::{LogReader, SearchPage, StoreError};
use svc_kit::auth::{Audit, TenantScope};
use svc_kit::error::{ErrorBody, ReadErrors};
use svc_kit::ApiError;

use crate::answers::*;
use crate::budget::ExpensiveRead;
use crate::metrics::Metrics;
use crate::{export, tail, ui};

pub struct AppState {
    pub store: Arc<dyn LogReader>,
    pub metrics: Metrics,
    pub tails: tail::Tails,
    pub reads: std::sync::Arc<crate::budget::ReadSlots>,
}

/// What the OpenAPI document says about queryd.
pub const API_INFO: svc_kit::server::ApiInfo = svc_kit::server::ApiInfo {
    title: "logagg queryd",
    description: "Search the stored logs and see their error patterns. The query language, \
time ranges and cursors are described in the project's docs/api.md. Every error answer is \
`{\"error\": code, \"detail\": text, \"field\": name}`.",
};

/// Every route of the query API. Registered through utoipa's
/// `ServiceConfig`: each one's `#[utoipa::path]` is in `/openapi.json`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(search_post)
        .service(search_get)
        .service(patterns)
        .service(histogram_get)
        .service(histogram_post)
        .service(facets_get)
        .service(facets_post)
        .service(export_get)
        .service(export_post)
        .service(tail::tail)
        .service(context)
        .service(status)
        .service(health)
        .service(ready)
        .service(metrics)
        .configure(ui::configure);
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

/// Search logs (JSON body).
///
/// One page of the matching logs, newest first; `next_cursor` fetches the
/// next page.
#[utoipa::path(
    tag = "search",
    request_body = SearchRequest,
    responses((status = 200, body = SearchAnswer), ReadErrors)
)]
#[post("/logs/search")]
async fn search_post(
    state: web::Data<AppState>,
    tenant: TenantScope,
    body: web::Json<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    search(&state, body.into_inner(), tenant).await
}

/// Search logs.
///
/// One page of the matching logs, newest first; `next_cursor` fetches the
/// next page.
#[utoipa::path(
    tag = "search",
    params(FilterParams, SearchRequest),
    responses((status = 200, body = SearchAnswer), ReadErrors)
)]
#[get("/logs/search")]
async fn search_get(
    state: web::Data<AppState>,
    tenant: TenantScope,
    params: web::Query<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    search(&state, params.into_inner(), tenant).await
}

/// Answers `{"logs": [...], "total_count": N, "next_cursor": C, "took_ms": F}`:
/// newest first unless `order=asc`; `next_cursor` is null on the last page.
async fn search(
    state: &AppState,
    request: SearchRequest,
    tenant: TenantScope,
) -> Result<HttpResponse, ApiError> {
    let text = request.filter.describe();
    let mut query = request.into_query(Utc::now()).map_err(invalid)?;
    query.filter.tenant = tenant.0;
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
        coverage: coverage(state, "search", page.missing),
        logs: page.logs,
    });
    Ok(Audit::attach(text, Some(results), answer))
}

/// Whether an answer covers everything (counted when it does not).
pub fn coverage(state: &AppState, kind: &str, missing: Vec<String>) -> Coverage {
    coverage_with(state, kind, missing, Vec::new())
}

/// [`coverage`] of an answer that also reached budgets (`reasons`).
pub fn coverage_with(
    state: &AppState,
    kind: &str,
    missing: Vec<String>,
    reasons: Vec<String>,
) -> Coverage {
    if !missing.is_empty() || !reasons.is_empty() {
        state
            .metrics
            .partial_answers
            .with_label_values(&[kind])
            .inc();
    }
    let mut missing = missing;
    missing.sort();
    missing.dedup();
    Coverage {
        partial: !missing.is_empty() || !reasons.is_empty(),
        missing,
        reasons,
    }
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
async fn patterns(
    state: web::Data<AppState>,
    tenant: TenantScope,
    read: ExpensiveRead,
    params: web::Query<PatternsRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = params.into_inner();
    let text = request.filter.describe();
    let mut query = request.into_query(Utc::now()).map_err(invalid)?;
    query.filter.tenant = tenant.0;
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
    responses((status = 200, body = HistogramAnswer), ReadErrors)
)]
#[get("/logs/histogram")]
async fn histogram_get(
    state: web::Data<AppState>,
    tenant: TenantScope,
    read: ExpensiveRead,
    params: web::Query<HistogramRequest>,
) -> Result<HttpResponse, ApiError> {
    histogram(&state, params.into_inner(), tenant, read).await
}

/// Volume over time (JSON body).
#[utoipa::path(
    tag = "search",
    request_body = HistogramRequest,
    responses((status = 200, body = HistogramAnswer), ReadErrors)
)]
#[post("/logs/histogram")]
async fn histogram_post(
    state: web::Data<AppState>,
    tenant: TenantScope,
    read: ExpensiveRead,
    body: web::Json<HistogramRequest>,
) -> Result<HttpResponse, ApiError> {
    histogram(&state, body.into_inner(), tenant, read).await
}

/// Counts of matching logs per time bucket, split by level, with every
/// bucket of the range (empty ones too), oldest first.
async fn histogram(
    state: &AppState,
    request: HistogramRequest,
    tenant: TenantScope,
    read: ExpensiveRead,
) -> Result<HttpResponse, ApiError> {
    let text = request.filter.describe();
    let mut query = request.into_query(Utc::now()).map_err(invalid)?;
    query.filter.tenant = tenant.0;
    query.budget = read.budget;
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
    responses((status = 200, body = FacetsAnswer), ReadErrors)
)]
#[get("/logs/facets")]
async fn facets_get(
    state: web::Data<AppState>,
    tenant: TenantScope,
    read: ExpensiveRead,
    params: web::Query<FacetsRequest>,
) -> Result<HttpResponse, ApiError> {
    facets(&state, params.into_inner(), tenant, read).await
}

/// Top values (JSON body).
#[utoipa::path(
    tag = "search",
    request_body = FacetsRequest,
    responses((status = 200, body = FacetsAnswer), ReadErrors)
)]
#[post("/logs/facets")]
async fn facets_post(
    state: web::Data<AppState>,
    tenant: TenantScope,
    read: ExpensiveRead,
    body: web::Json<FacetsRequest>,
) -> Result<HttpResponse, ApiError> {
    facets(&state, body.into_inner(), tenant, read).await
}

/// Logs read (the newest matching ones) to count metadata keys and values.
pub const METADATA_SAMPLE: usize = 1000;
/// A metadata key, the sampled logs that have it, its top values.
type Ranked = (String, u64, Vec<(String, u64)>);

/// Metadata keys listed in facets, most frequent first.
pub const METADATA_KEYS: usize = 20;

/// Top values of level, service and source (exact counts over every
/// match), and of metadata keys (over the newest matching logs).
async fn facets(
    state: &AppState,
    request: FacetsRequest,
    tenant: TenantScope,
    read: ExpensiveRead,
) -> Result<HttpResponse, ApiError> {
    let text = request.filter.describe();
    let mut query = request.into_query(Utc::now()).map_err(invalid)?;
    query.filter.tenant = tenant.0;
    query.budget = read.budget;
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
async fn context(
    state: web::Data<AppState>,
    tenant: TenantScope,
    _read: ExpensiveRead,
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
            )
            .of_tenant(tenant.0.clone()),
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
    let filter = Filter::new(Expr::and(same), None, None).of_tenant(tenant.0);
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
    params(FilterParams, ExportRequest),
    responses(
        (status = 200, description = "NDJSON: one log per line", content_type = "application/x-ndjson", body = StoredLog),
        ReadErrors
    )
)]
#[get("/logs/export")]
async fn export_get(
    state: web::Data<AppState>,
    tenant: TenantScope,
    read: ExpensiveRead,
    params: web::Query<ExportRequest>,
) -> Result<HttpResponse, ApiError> {
    export::export(state.into_inner(), params.into_inner(), tenant, read).await
}

/// Export the matches (JSON body).
#[utoipa::path(
    tag = "search",
    request_body = ExportRequest,
    responses(
        (status = 200, description = "NDJSON: one log per line", content_type = "application/x-ndjson", body = StoredLog),
        ReadErrors
    )
)]
#[post("/logs/export")]
async fn export_post(
    state: web::Data<AppState>,
    tenant: TenantScope,
    read: ExpensiveRead,
    body: web::Json<ExportRequest>,
) -> Result<HttpResponse, ApiError> {
    export::export(state.into_inner(), body.into_inner(), tenant, read).await
}

/// What this service is.
///
/// A browser (whose `Accept` prefers `text/html`) gets the web UI instead.
#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, description = "The service's status; the web UI (HTML) for a browser", content((StatusAnswer = "application/json"), (String = "text/html")))
    )
)]
#[get("/")]
async fn status(req: HttpRequest) -> HttpResponse {
    if ui::prefers_html(&req) {
        return ui::page();
    }
    let endpoints = svc_kit::server::endpoints(&crate::openapi());
    HttpResponse::Ok().json(StatusAnswer {
        service: "queryd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        status: "running".into(),
        endpoints,
        ui: "/ui".into(),
        docs: "/docs".into(),
    })
}

/// Liveness.
#[utoipa::path(tag = "service", responses((status = 200, body = HealthAnswer)))]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthAnswer {
        status: "healthy".into(),
        service: "queryd".into(),
    })
}

/// Readiness: the store answers.
#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, body = ReadyAnswer),
        (status = 503, description = "The store does not answer", body = ReadyAnswer)
    )
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    // Damage already found is told; the service still answers (partially).
    let warnings: Vec<String> = state
        .store
        .damage()
        .iter()
        .map(|(name, why)| {
            format!(
                "partition {name}: {why}; answers that cover it are partial (run `logagg check`)"
            )
        })
        .collect();
    let verification = state.store.verification();
    let mut warnings = warnings;
    if let Some(v) = verification.filter(|v| v.pending_bytes > 0) {
        warnings.push(format!(
            "{} bytes of the store's files are not verified yet (checked in the background)",
            v.pending_bytes
        ));
    }
    match state.store.check().await {
        Ok(()) => HttpResponse::Ok().json(ReadyAnswer {
            ready: true,
            warnings,
            problems: Vec::new(),
            verification,
        }),
        Err(e) => {
            error!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(ReadyAnswer {
                ready: false,
                warnings,
                problems: vec![e.public_detail().to_string()],
                verification,
            })
        }
    }
}

/// Prometheus metrics.
///
/// The `queryd_*` and HTTP metrics in the Prometheus text format.
#[utoipa::path(
    tag = "service",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String))
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state
        .metrics
        .damaged_partitions
        .set(state.store.damage().len() as i64);
    if let Some(v) = state.store.verification() {
        state.metrics.unverified_bytes.set(v.pending_bytes as i64);
    }
    state.metrics.http.response()
}
