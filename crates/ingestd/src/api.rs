//! The service routes of the ingest port: `/health`, `/ready`, `/metrics`
//! and `POST /admin/backup`; [`configure`] also registers the native and
//! OTLP doors (their routes are in the OpenAPI document as written). The
//! doors are in [`crate::doors`].

use std::sync::atomic::Ordering;

use actix_web::{get, post, web, HttpResponse};
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

use svc_kit::ApiError;

use crate::doors;
pub use crate::pipeline::{enrich, AppState};

/// What the OpenAPI document says about ingestd.
pub const API_INFO: svc_kit::server::ApiInfo = svc_kit::server::ApiInfo {
    title: "logagg ingestd",
    description: "Takes logs over its own JSON API, Elasticsearch's bulk API and OTLP/HTTP; \
acknowledges once they are in the write-ahead log. Every error answer of the native routes is \
`{\"error\": code, \"detail\": text, \"field\": name}`.",
};

/// The service routes and the doors written with `#[utoipa::path]` (the
/// native and OTLP ones), registered through utoipa's `ServiceConfig` so
/// that each is in `/openapi.json`; the Elasticsearch door has its own
/// table ([`doors::elastic::configure`]).
pub fn configure(cfg: &mut ServiceConfig) {
    doors::native::configure(cfg);
    doors::otlp::configure(cfg);
    cfg.service(health)
        .service(ready)
        .service(metrics)
        .service(backup);
}

/// Back up the embedded store.
///
/// Copies the day indexes as of their last commits and the checkpoint into
/// a new backup under the repository set by `--backup-dir` (`BACKUP_DIR`),
/// while ingest goes on; segments the previous backup holds are linked,
/// not copied. The answer says where the backup is and up to which WAL
/// position every log is in it. Needs the `admin` scope when keys are on.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The backup's summary: `dir` (its name in the repository), `position`, `docs`, `files`, `copied_files`, `copied_bytes`, `linked_files`, `total_bytes`"),
        (status = 404, description = "No backup repository set, or the store is Elasticsearch (use snapshots)", body = svc_kit::error::ErrorBody),
        (status = 409, description = "A backup is running", body = svc_kit::error::ErrorBody),
        (status = 500, description = "The backup failed; nothing was left half-written", body = svc_kit::error::ErrorBody)
    )
)]
#[post("/admin/backup")]
async fn backup(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(target) = &state.backup else {
        return Err(ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "backup_not_configured",
            "no backup repository: start the service with --backup-dir (BACKUP_DIR); \
             on Elasticsearch, back up with snapshots (see docs/elasticsearch.md)",
        ));
    };
    let Ok(guard) = target.running.clone().try_lock_owned() else {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "backup_running",
            "a backup is running; try again when it is done",
        ));
    };
    let (data_dir, repository) = (target.data_dir.clone(), target.repository.clone());
    let result = web::block(move || {
        let _guard = guard;
        log_store::backup::backup(&data_dir, &repository)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    match result {
        Ok(mut summary) => {
            tracing::info!(dir = %summary.dir.display(), position = summary.position, docs = summary.docs, "backup made");
            // The backup's name in the repository: the answer does not
            // tell the server's file system.
            summary.dir = summary.dir.file_name().map(Into::into).unwrap_or_default();
            Ok(HttpResponse::Ok().json(summary))
        }
        Err(error) if error.is_running() => Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "backup_running",
            "a backup of this repository is running (here or in another process); try again when it is done",
        )),
        Err(error) => {
            tracing::error!(%error, "backup failed");
            Err(ApiError::internal(match error.refusal() {
                Some(why) => format!("backup refused: {why}"),
                None => "backup failed; the service log has the details".to_string(),
            }))
        }
    }
}

/// `/health`: the process answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct HealthAnswer {
    status: &'static str,
    service: &'static str,
}

/// `/ready`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ReadyAnswer {
    ready: bool,
    wal_backlog_bytes: u64,
    wal_max_bytes: u64,
    /// Why it is not ready.
    problems: Vec<String>,
    /// Damage found and contained.
    warnings: Vec<String>,
}

/// Liveness.
#[utoipa::path(tag = "service", responses((status = 200, body = HealthAnswer)))]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthAnswer {
        status: "healthy",
        service: "ingestd",
    })
}

/// Readiness.
///
/// Ready when the write-ahead log takes writes, is below its cap, and the
/// store works.
#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, body = ReadyAnswer),
        (status = 503, description = "Not ready: `problems` says why", body = ReadyAnswer)
    )
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let backlog = state.backlog();
    let mut problems = Vec::new();
    if state.wal.is_closed() {
        problems.push("wal is closed".to_string());
    }
    if state.at_wal_cap(backlog) {
        problems.push(format!(
            "wal backlog of {backlog} bytes is at its cap of {} bytes",
            state.wal_max_bytes
        ));
    }
    if !state.indexer.healthy.load(Ordering::Acquire) {
        problems.push("store writes are failing".to_string());
    }
    if let Some(problem) = state.store_health.problem() {
        problems.push(format!("store: {problem}"));
    }
    // Damage already contained: told, but the service still takes logs.
    let mut warnings = Vec::new();
    let damage = state.wal.damage();
    if !damage.is_empty() {
        let bytes: u64 = damage.iter().map(|d| d.end - d.start).sum();
        let at: Vec<String> = damage
            .iter()
            .take(10)
            .map(|d| format!("{}..{}", d.start, d.end))
            .collect();
        warnings.push(format!(
            "wal: {} damaged range(s), {bytes} bytes, skipped and kept in the wal's quarantine directory (positions {}); their logs could not be indexed",
            damage.len(),
            at.join(", ")
        ));
    }
    let skipped = state.wal.skipped();
    if !skipped.is_empty() {
        let bytes: u64 = skipped.iter().map(|s| s.end - s.start).sum();
        warnings.push(format!(
            "wal: {} damaged range(s), {bytes} bytes, were skipped and never indexed: their logs are lost (see `logagg check`)",
            skipped.len()
        ));
    }
    for (name, why) in state.indexer.damage.lock().expect("lock").iter() {
        warnings.push(if why.contains("removed while running") {
            format!("index partition {why} (run `logagg check`)")
        } else {
            format!(
                "index partition {name} is damaged; it is left as it is and its day's new logs go to a new partition (run `logagg check`)"
            )
        });
    }
    let ready = problems.is_empty();
    let body = ReadyAnswer {
        ready,
        wal_backlog_bytes: backlog,
        wal_max_bytes: state.wal_max_bytes,
        problems,
        warnings,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics.
///
/// The `ingestd_*` and HTTP metrics in the Prometheus text format.
#[utoipa::path(
    tag = "service",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String))
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let committed = state.indexer.committed.load(Ordering::Acquire);
    state.metrics.refresh_wal(&state.wal, committed);
    state
        .metrics
        .index_partitions_damaged
        .set(state.indexer.damage.lock().expect("lock").len() as i64);
    state
        .metrics
        .bulk_in_flight
        .set(state.store_health.in_flight() as i64);
    state.metrics.http.response()
}
