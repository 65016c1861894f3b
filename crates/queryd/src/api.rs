//! The query service's state, what every read shares (timing, store
//! failures, coverage, the shape of logs in answers), the service routes,
//! and [`configure`], which registers them with the reads of
//! [`crate::reads`] and [`crate::tail`].

use std::sync::Arc;
use std::time::Instant;

use actix_web::{get, web, HttpRequest, HttpResponse};
use tracing::{error, Instrument};
use utoipa_actix_web::service_config::ServiceConfig;

use log_model::{FieldError, SearchQuery, SortKey, StoredLog};
use log_store::{LogReader, SearchPage, StoreError};
use svc_kit::ApiError;

use crate::answers::*;
use crate::metrics::Metrics;
use crate::{reads, tail, ui};

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
    cfg.service(reads::search)
        .service(reads::patterns)
        .service(reads::histogram)
        .service(reads::facets)
        .service(reads::export_logs)
        .service(tail::tail)
        .service(reads::context)
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
    if let StoreError::Unscoped = e {
        // The service's bug, not the store's state: never a retryable 503.
        return ApiError::internal(format!("{kind}: {}", e.public_detail()));
    }
    ApiError::unavailable(
        format!(
            "the store could not answer: {}; the service log has the details",
            e.public_detail()
        ),
        1,
    )
}

pub fn observe(state: &AppState, kind: &str, started: Instant) -> f64 {
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
    match state.store.ping().await {
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
