//! The native ingest API: `POST /logs/ingest`, `POST /logs/batch-ingest`,
//! and the service routes. The handlers parse the native shapes and hand
//! the logs to the [`crate::pipeline`]; the Elasticsearch and OTLP routes
//! are in [`crate::elastic`] and [`crate::otlp`].

use std::sync::atomic::Ordering;

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use svc_kit::error::WriteErrors;
use tracing::debug;
use utoipa_actix_web::service_config::ServiceConfig;

use log_model::{split_batch, BatchError, BatchFormat, FieldError};
use svc_kit::ApiError;

pub use crate::pipeline::{enrich, AppState};
use crate::pipeline::{IngestError, Protocol};

/// What the OpenAPI document says about ingestd.
pub const API_INFO: svc_kit::server::ApiInfo = svc_kit::server::ApiInfo {
    title: "logagg ingestd",
    description: "Takes logs over its own JSON API, Elasticsearch's bulk API and OTLP/HTTP; \
acknowledges once they are in the write-ahead log. Every error answer of the native routes is \
`{\"error\": code, \"detail\": text, \"field\": name}`.",
};

/// The native routes. Registered through utoipa's `ServiceConfig`: each
/// one's `#[utoipa::path]` is in `/openapi.json`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ingest_one)
        .service(ingest_batch)
        .service(health)
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// `wait_for` (or `true`): answer once the logs are searchable.
    #[param(pattern = "^(wait_for|true|false|)$")]
    refresh: Option<String>,
}

/// Why one log of a batch was rejected.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ItemError {
    /// Its place in the batch, from 0.
    index: usize,
    field: String,
    reason: String,
}

/// A batch's logs: a JSON array, or an object with them under `logs`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = Batch)]
enum BatchDoc {
    Array(Vec<log_model::LogIn>),
    Object { logs: Vec<log_model::LogIn> },
}

/// The logs were written to the write-ahead log (and will be searchable
/// within about a second, or already are with `refresh=wait_for`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct IngestResponse {
    success: bool,
    message: String,
    correlation_id: String,
    accepted: usize,
    rejected: usize,
    /// The log's id (one log).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    id: Option<String>,
    /// The accepted logs' ids, in batch order (a batch).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ItemError>,
    /// With `refresh=wait_for`: whether the logs are searchable already.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    searchable: Option<bool>,
}

impl IngestResponse {
    /// 202 with the correlation id also as the `X-Correlation-ID` header.
    fn accepted(self) -> HttpResponse {
        HttpResponse::Accepted()
            .insert_header(("X-Correlation-ID", self.correlation_id.clone()))
            .json(self)
    }
}

/// The caller's `X-Correlation-ID` / `X-Request-ID`, or a new one; recorded
/// on the request's span (so it is in the trace and in the service's logs).
fn correlation_id(req: &HttpRequest) -> String {
    let id = ["x-correlation-id", "x-request-id"]
        .iter()
        .find_map(|h| req.headers().get(*h).and_then(|v| v.to_str().ok()))
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    tracing::Span::current().record("correlation_id", id.as_str());
    id
}

/// JSON (or no content type, as curl -d sends none useful), or NDJSON.
pub(crate) fn body_kind(req: &HttpRequest) -> Result<BatchFormat, IngestError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(BatchFormat::Json);
    };
    let mime = mime_of(value);
    match mime.as_str() {
        "application/json" | "text/json" => Ok(BatchFormat::Json),
        m if m.ends_with("+json") => Ok(BatchFormat::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonlines"
        | "application/x-jsonlines" => Ok(BatchFormat::NdJson),
        m if m.ends_with("+x-ndjson") => Ok(BatchFormat::NdJson),
        _ => Err(IngestError::UnsupportedMediaType(format!(
            "content type {mime:?} is not supported; send application/json (or application/x-ndjson to /logs/batch-ingest)"
        ))),
    }
}

/// The media type of a `Content-Type` value, lower case, without parameters.
pub(crate) fn mime_of(value: &header::HeaderValue) -> String {
    value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn malformed(e: &serde_json::Error) -> String {
    format!("malformed JSON: {e}")
}

/// `refresh=wait_for` (or `true`): answer once the logs are searchable.
pub(crate) fn wants_refresh(refresh: Option<&str>) -> Result<bool, ApiError> {
    match refresh {
        None | Some("false") => Ok(false),
        Some("wait_for") | Some("true") | Some("") => Ok(true),
        Some(other) => Err(ApiError {
            field: Some("refresh".into()),
            ..ApiError::bad_request(
                "invalid_query",
                format!("refresh={other:?} is not supported; use refresh=wait_for"),
            )
        }),
    }
}

const NATIVE: Protocol = Protocol::Native;

/// Ingest one log.
///
/// One JSON object; acknowledged (202) once it is in the write-ahead log.
#[utoipa::path(
    tag = "ingest",
    params(IngestParams),
    request_body(content = log_model::LogIn, content_type = "application/json"),
    responses((status = 202, body = IngestResponse), WriteErrors)
)]
#[post("/logs/ingest")]
async fn ingest_one(
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<IngestParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let correlation_id = correlation_id(&req);
    let wait = wants_refresh(params.refresh.as_deref())?;
    let kind = body_kind(&req).map_err(|e| state.refuse(NATIVE, e, 1))?;
    if let BatchFormat::NdJson = kind {
        let e = IngestError::UnsupportedMediaType(
            "/logs/ingest takes one JSON object; send NDJSON to /logs/batch-ingest".into(),
        );
        return Err(state.refuse(NATIVE, e, 1).into());
    }
    let body = state.read_body(&req, payload, NATIVE).await?;
    state.received(NATIVE, 1);
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| state.refuse(NATIVE, IngestError::InvalidJson(malformed(&e)), 1))?;
    let now = Utc::now();
    let log =
        tracing::info_span!("validate", logs = 1).in_scope(|| state.validator.validate(value, now));
    let log = log.map_err(|e| {
        state.reject(NATIVE, e.kind, 1);
        ApiError::invalid_field(e.field, e.reason)
    })?;
    let tenant = state.admit(&req, NATIVE, 1)?;
    let stored = state.append(NATIVE, &tenant, vec![log], now, wait).await?;
    debug!(%correlation_id, "log accepted");
    Ok(IngestResponse {
        success: true,
        message: "log accepted".into(),
        correlation_id,
        accepted: 1,
        rejected: 0,
        id: stored.ids.into_iter().next(),
        ids: Vec::new(),
        errors: Vec::new(),
        searchable: stored.searchable,
    }
    .accepted())
}

/// Ingest a batch.
///
/// A JSON array of logs (or `{"logs": [...]}`), or NDJSON (one log per
/// line, `application/x-ndjson`). The valid logs are kept and acknowledged;
/// each invalid one is listed in `errors` (202 as long as one is valid).
#[utoipa::path(
    tag = "ingest",
    params(IngestParams),
    request_body(content((BatchDoc = "application/json"), (String = "application/x-ndjson"))),
    responses((status = 202, body = IngestResponse), WriteErrors)
)]
#[post("/logs/batch-ingest")]
async fn ingest_batch(
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<IngestParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let correlation_id = correlation_id(&req);
    let wait = wants_refresh(params.refresh.as_deref())?;
    let kind = body_kind(&req).map_err(|e| state.refuse(NATIVE, e, 1))?;
    let body = state.read_body(&req, payload, NATIVE).await?;
    // Each item is a parsed value, or the reason its line is not JSON.
    let items = split_batch(&body, kind).map_err(|e| {
        let e = match e {
            BatchError::InvalidJson(_) => IngestError::InvalidJson(e.to_string()),
            BatchError::NotABatch => IngestError::InvalidBody(e.to_string()),
        };
        state.refuse(NATIVE, e, 1)
    })?;
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch holds no logs",
        ));
    }
    state.received(NATIVE, items.len());
    state.check_batch_len(NATIVE, items.len())?;
    let now = Utc::now();
    let total = items.len();
    let mut valid = Vec::with_capacity(total);
    let mut errors = Vec::new();
    let validating = tracing::info_span!("validate", logs = total).entered();
    for (index, item) in items.into_iter().enumerate() {
        let result = item
            .map_err(|reason| FieldError::new("", "invalid_json", reason))
            .and_then(|value| state.validator.validate(value, now));
        match result {
            Ok(log) => valid.push(log),
            Err(e) => {
                state.reject(NATIVE, e.kind, 1);
                errors.push(ItemError {
                    index,
                    field: e.field,
                    reason: e.reason,
                });
            }
        }
    }
    drop(validating);
    let rejected = errors.len();
    if valid.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_batch",
            format!("none of the {total} logs is valid"),
        )
        .with_extra("accepted", json!(0))
        .with_extra("rejected", json!(rejected))
        .with_extra("errors", serde_json::to_value(&errors).unwrap_or_default()));
    }
    let accepted = valid.len();
    let tenant = state.admit(&req, NATIVE, accepted)?;
    let stored = state.append(NATIVE, &tenant, valid, now, wait).await?;
    let message = if rejected == 0 {
        format!("{accepted} logs accepted")
    } else {
        format!("{accepted} logs accepted, {rejected} rejected")
    };
    debug!(%correlation_id, accepted, rejected, "batch accepted");
    Ok(IngestResponse {
        success: true,
        message,
        correlation_id,
        accepted,
        rejected,
        id: None,
        ids: stored.ids,
        errors,
        searchable: stored.searchable,
    }
    .accepted())
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
