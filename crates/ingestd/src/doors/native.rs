//! The native door: `POST /logs/ingest` (one log) and
//! `POST /logs/batch-ingest` (a JSON array, `{"logs": [...]}` or NDJSON),
//! the API of the service logagg grew out of.

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use svc_kit::error::WriteErrors;
use tracing::debug;
use utoipa_actix_web::service_config::ServiceConfig;

use log_model::{parse_log, split_batch, BatchError, BatchFormat, FieldError, Limits};
use svc_kit::ApiError;

use super::{mime_of, wants_refresh};
use crate::pipeline::{AppState, IngestError, Item, Protocol};

/// The native door's routes (each one's `#[utoipa::path]` is in
/// `/openapi.json`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ingest_one).service(ingest_batch);
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

fn malformed(e: &serde_json::Error) -> String {
    format!("malformed JSON: {e}")
}

/// Decodes the body of `/logs/ingest`: one log, or why it is not one.
pub fn decode_one(body: &[u8], limits: &Limits, now: DateTime<Utc>) -> Item {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FieldError::new("", "invalid_json", malformed(&e)))?;
    parse_log(value, limits, now)
}

/// Decodes the body of `/logs/batch-ingest`: per item, a log or why it is
/// not one. A body that is no batch at all is the request's fault.
pub fn decode_batch(
    body: &[u8],
    kind: BatchFormat,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Vec<Item>, IngestError> {
    let items = split_batch(body, kind).map_err(|e| match e {
        BatchError::InvalidJson(_) => IngestError::InvalidJson(e.to_string()),
        BatchError::NotABatch => IngestError::InvalidBody(e.to_string()),
    })?;
    Ok(items
        .into_iter()
        .map(|item| {
            item.map_err(|reason| FieldError::new("", "invalid_json", reason))
                .and_then(|value| parse_log(value, limits, now))
        })
        .collect())
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
    let now = Utc::now();
    let item = tracing::info_span!("validate", logs = 1)
        .in_scope(|| decode_one(&body, &state.validator.limits, now));
    let outcome = state.ingest(&req, NATIVE, vec![item], now, wait).await?;
    let id = match outcome.fates.into_iter().next() {
        Some(Ok(id)) => id,
        Some(Err(e)) if e.kind == "invalid_json" => {
            return Err(IngestError::InvalidJson(e.reason).into())
        }
        Some(Err(e)) => return Err(ApiError::invalid_field(e.field, e.reason)),
        None => return Err(ApiError::internal("the log has no fate")),
    };
    debug!(%correlation_id, "log accepted");
    Ok(IngestResponse {
        success: true,
        message: "log accepted".into(),
        correlation_id,
        accepted: 1,
        rejected: 0,
        id: Some(id),
        ids: Vec::new(),
        errors: Vec::new(),
        searchable: outcome.searchable,
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
    let now = Utc::now();
    let items = tracing::info_span!("validate")
        .in_scope(|| decode_batch(&body, kind, &state.validator.limits, now))
        .map_err(|e| state.refuse(NATIVE, e, 1))?;
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch holds no logs",
        ));
    }
    let total = items.len();
    let outcome = state.ingest(&req, NATIVE, items, now, wait).await?;
    let searchable = outcome.searchable;
    let (ids, refusals) = outcome.into_parts();
    let errors: Vec<ItemError> = refusals
        .into_iter()
        .map(|(index, e)| ItemError {
            index,
            field: e.field,
            reason: e.reason,
        })
        .collect();
    let rejected = errors.len();
    let accepted = ids.len();
    if accepted == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_batch",
            format!("none of the {total} logs is valid"),
        )
        .with_extra("accepted", json!(0))
        .with_extra("rejected", json!(rejected))
        .with_extra("errors", serde_json::to_value(&errors).unwrap_or_default()));
    }
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
        ids,
        errors,
        searchable,
    }
    .accepted())
}
