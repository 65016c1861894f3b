use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde_json::json;
use tracing::{error, Instrument};

use log_model::{FieldError, PatternsRequest, SearchQuery, SearchRequest};
use log_store::{LogReader, StoreError};
use svc_kit::ApiError;

use crate::metrics::Metrics;

pub struct AppState {
    pub store: Arc<dyn LogReader>,
    pub metrics: Metrics,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs/search", web::post().to(search_post))
        .route("/logs/search", web::get().to(search_get))
        .route("/logs/patterns", web::get().to(patterns))
        .route("/", web::get().to(status))
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

/// A request the model refused: 400 for a query text that cannot be
/// answered (too long, nothing searchable), 422 naming any other field.
fn invalid(e: FieldError) -> ApiError {
    if e.kind == "invalid_query" {
        return ApiError {
            field: Some(e.field.clone()),
            ..ApiError::bad_request("invalid_query", format!("{}: {}", e.field, e.reason))
        };
    }
    ApiError::invalid_field(e.field, e.reason)
}

fn store_failed(state: &AppState, kind: &str, e: StoreError) -> ApiError {
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

async fn search_post(
    state: web::Data<AppState>,
    body: web::Json<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    search(&state, body.into_inner().into_query().map_err(invalid)?).await
}

async fn search_get(
    state: web::Data<AppState>,
    params: web::Query<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    search(&state, params.into_inner().into_query().map_err(invalid)?).await
}

/// Answers `{"logs": [...], "total_count": N, "took_ms": F}`, newest first.
async fn search(state: &AppState, query: SearchQuery) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let page = state
        .store
        .search(query)
        .instrument(tracing::info_span!("store.search"))
        .await
        .map_err(|e| store_failed(state, "search", e))?;
    let took = started.elapsed();
    state
        .metrics
        .store_seconds
        .with_label_values(&["search"])
        .observe(took.as_secs_f64());
    state.metrics.hits_returned.inc_by(page.logs.len() as u64);
    let mut body = json!({
        "logs": page.logs,
        "total_count": page.total_count,
        "took_ms": took.as_secs_f64() * 1000.0,
    });
    partial(state, "search", &page.missing, &mut body);
    Ok(HttpResponse::Ok().json(body))
}

/// Says in the answer whether it covers everything: `partial` and, when
/// partial, what could not be read (`missing`, day partitions).
fn partial(state: &AppState, kind: &str, missing: &[String], body: &mut serde_json::Value) {
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
    let took = started.elapsed();
    state
        .metrics
        .store_seconds
        .with_label_values(&["patterns"])
        .observe(took.as_secs_f64());
    let mut body = json!({
        "patterns": page.patterns,
        "total_logs": page.total_logs,
        "start_time": start,
        "end_time": end,
        "took_ms": took.as_secs_f64() * 1000.0,
    });
    partial(&state, "patterns", &page.missing, &mut body);
    Ok(HttpResponse::Ok().json(body))
}

async fn status() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "service": "queryd",
        "version": env!("CARGO_PKG_VERSION"),
        "status": "running",
        "endpoints": ["POST /logs/search", "GET /logs/search", "GET /logs/patterns", "GET /health", "GET /ready", "GET /metrics"],
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
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state
        .metrics
        .damaged_partitions
        .set(state.store.damage().len() as i64);
    state.metrics.http.response()
}
