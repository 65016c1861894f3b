//! The ingest API: `POST /logs/ingest`, `POST /logs/batch-ingest`, and the
//! service routes. Handlers parse and validate (log-model), enrich (id,
//! received_at, pattern), append to the WAL and answer once it is durable.

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{debug, error, Instrument};

use log_model::{
    parse_log, split_batch, BatchError, BatchFormat, FieldError, Limits, NewLog, StoredLog,
};
use svc_kit::ApiError;

use crate::indexer::IndexerStatus;
use crate::metrics::Metrics;
use crate::wal::Wal;

/// What every handler shares.
pub struct AppState {
    pub wal: Wal,
    pub indexer: IndexerStatus,
    /// The store's own health (Elasticsearch reachable).
    pub store_health: log_store::Health,
    pub metrics: Metrics,
    pub limits: Limits,
    pub max_body_bytes: usize,
    pub max_batch_len: usize,
    pub wal_max_bytes: u64,
    pub retention: chrono::Duration,
    /// How far past the time of receipt a log's timestamp may be.
    pub max_future: chrono::Duration,
    /// Set when ingest refuses for the WAL cap, cleared by the next append.
    pub at_cap: std::sync::atomic::AtomicBool,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs/ingest", web::post().to(ingest_one))
        .route("/logs/batch-ingest", web::post().to(ingest_batch))
        .route("/", web::get().to(status))
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

#[derive(Debug, Deserialize)]
pub struct IngestParams {
    /// `wait_for`: answer once the logs are searchable.
    refresh: Option<String>,
}

/// A WAL record's payload: the logs of one request and its trace context.
#[derive(Debug, Serialize)]
struct WalBatchRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    logs: &'a [StoredLog],
}

#[derive(Debug, Serialize)]
struct ItemError {
    index: usize,
    field: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct IngestResponse {
    success: bool,
    message: String,
    correlation_id: String,
    accepted: usize,
    rejected: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ItemError>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
fn body_kind(req: &HttpRequest, state: &AppState) -> Result<BatchFormat, ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(BatchFormat::Json);
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" | "text/json" => Ok(BatchFormat::Json),
        m if m.ends_with("+json") => Ok(BatchFormat::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonlines"
        | "application/x-jsonlines" => Ok(BatchFormat::NdJson),
        _ => {
            state.metrics.reject("unsupported_media_type", 1);
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "content type {mime:?} is not supported; send application/json (or application/x-ndjson to /logs/batch-ingest)"
                ),
            ))
        }
    }
}

/// Reads the body, refusing (413) past the limit without buffering it all.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
) -> Result<web::BytesMut, ApiError> {
    let limit = state.max_body_bytes;
    let too_large = |len: Option<usize>| {
        state.metrics.reject("body_too_large", 1);
        let detail = match len {
            Some(len) => format!("body is {len} bytes; the limit is {limit} bytes"),
            None => format!("body is over the limit of {limit} bytes"),
        };
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", detail)
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > limit) {
        return Err(too_large(Some(len)));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("invalid_body", format!("reading the body failed: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
    state.metrics.bytes_received.inc_by(body.len() as u64);
    decode_body(req, body, state)
}

/// Undoes the body's `Content-Encoding` (gzip, deflate), refusing (413)
/// what decodes past the body limit; 415 for an encoding it cannot undo.
fn decode_body(
    req: &HttpRequest,
    body: web::BytesMut,
    state: &AppState,
) -> Result<web::BytesMut, ApiError> {
    use std::io::Read;
    let Some(value) = req.headers().get(header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let encoding = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let limit = state.max_body_bytes;
    // Reads at most one byte past the limit: enough to tell it was passed.
    let inflate = |decoder: &mut dyn Read| {
        let mut out = Vec::new();
        decoder
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map(|_| out)
    };
    let read = match encoding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => inflate(&mut flate2::read::MultiGzDecoder::new(&body[..])),
        // HTTP's deflate is zlib-wrapped; some clients send it raw.
        "deflate" => inflate(&mut flate2::read::ZlibDecoder::new(&body[..]))
            .or_else(|_| inflate(&mut flate2::read::DeflateDecoder::new(&body[..]))),
        other => {
            state.metrics.reject("unsupported_encoding", 1);
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!(
                    "Content-Encoding {other:?} is not supported; send gzip, deflate or identity"
                ),
            ));
        }
    };
    let out = read.map_err(|e| {
        state.metrics.reject("invalid_body", 1);
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not valid {encoding}: {e}"),
        )
    })?;
    if out.len() > limit {
        state.metrics.reject("body_too_large", 1);
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body decodes to over the limit of {limit} bytes"),
        ));
    }
    Ok(web::BytesMut::from(&out[..]))
}

fn malformed(e: &serde_json::Error) -> String {
    format!("malformed JSON: {e}")
}

impl AppState {
    fn validate(&self, value: Value, now: DateTime<Utc>) -> Result<NewLog, FieldError> {
        let log = parse_log(value, &self.limits, now)?;
        let oldest = log_store::embedded::oldest_kept_day(now, self.retention);
        if log.timestamp.date_naive() < oldest {
            return Err(FieldError::new(
                "timestamp",
                "too_old",
                format!(
                    "is older than the retention window of {} days",
                    self.retention.num_days()
                ),
            ));
        }
        if log.timestamp > now + self.max_future {
            return Err(FieldError::new(
                "timestamp",
                "in_future",
                format!(
                    "is more than {} seconds in the future (MAX_FUTURE_SECS); check the sender's clock",
                    self.max_future.num_seconds()
                ),
            ));
        }
        Ok(log)
    }

    /// Enriches, appends to the WAL and waits for durability (and, when
    /// asked, for searchability). Returns the ids and whether they are searchable.
    async fn store(
        &self,
        logs: Vec<NewLog>,
        now: DateTime<Utc>,
        wait: bool,
    ) -> Result<(Vec<String>, Option<bool>), ApiError> {
        let count = logs.len() as u64;
        let stored: Vec<StoredLog> = logs.into_iter().map(|log| enrich(log, now)).collect();
        let ids: Vec<String> = stored.iter().map(|l| l.id.clone()).collect();
        // The request's trace context rides with the logs, so that the sink's
        // spans join the request's trace.
        let traceparent = svc_kit::telemetry::inject(&tracing::Span::current())
            .into_iter()
            .find_map(|(k, v)| (k == "traceparent").then_some(v));
        let payload = serde_json::to_vec(&WalBatchRef {
            traceparent,
            logs: &stored,
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
        if payload.len() as u64 > self.wal_max_bytes {
            // It would never fit, however long the client waits.
            self.metrics.reject("batch_too_large", count);
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                format!(
                    "the batch is {} bytes once stored, more than the whole WAL may hold ({} bytes); split it",
                    payload.len(),
                    self.wal_max_bytes
                ),
            ));
        }
        let committed = self.indexer.committed.load(Ordering::Acquire);
        let backlog = self.wal.durable_end().saturating_sub(committed);
        if backlog + payload.len() as u64 > self.wal_max_bytes {
            self.at_cap.store(true, Ordering::Release);
            self.metrics.reject("wal_full", count);
            return Err(ApiError {
                retry_after_secs: Some(1),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "wal_full",
                    format!(
                        "{backlog} bytes wait to be indexed (the cap is {}); retry later",
                        self.wal_max_bytes
                    ),
                )
            });
        }
        self.metrics.batch_size.observe(count as f64);
        let append = tracing::info_span!(
            "wal.append",
            logs = count,
            bytes = payload.len(),
            fsync = true
        );
        let pos = match self
            .wal
            .append(payload, count as u32)
            .instrument(append)
            .await
        {
            Ok(pos) => pos,
            Err(e) => {
                self.metrics.reject("wal_error", count);
                error!(error = %e, "wal append failed");
                let why = match e {
                    crate::wal::WalError::Closed => "the service is stopping",
                    _ => "the write-ahead log could not write (see the service log)",
                };
                return Err(ApiError::unavailable(format!("logs not stored: {why}"), 1));
            }
        };
        self.at_cap.store(false, Ordering::Release);
        self.metrics.logs_accepted.inc_by(count);
        let searchable = if wait {
            let waiters = &self.indexer.refresh_waiters;
            waiters.fetch_add(1, Ordering::AcqRel);
            let mut rx = self.indexer.searchable.clone();
            let reached =
                tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|p| *p >= pos.end)).await;
            waiters.fetch_sub(1, Ordering::AcqRel);
            Some(matches!(reached, Ok(Ok(_))))
        } else {
            None
        };
        Ok((ids, searchable))
    }
}

/// What ingest adds to a validated log: its id (UUIDv7), the time of
/// receipt, and its template and pattern id.
pub fn enrich(log: NewLog, now: DateTime<Utc>) -> StoredLog {
    let pattern = log_patterns::pattern_of(&log.message);
    StoredLog {
        id: uuid::Uuid::now_v7().to_string(),
        timestamp: log.timestamp,
        level: log.level,
        message: log.message,
        source: log.source,
        service: log.service,
        trace_id: log.trace_id,
        span_id: log.span_id,
        metadata: log.metadata,
        received_at: now,
        pattern_id: pattern.pattern_id,
        template: pattern.template,
    }
}

fn wants_refresh(params: &IngestParams) -> Result<bool, ApiError> {
    match params.refresh.as_deref() {
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

/// `POST /logs/ingest`: one log.
async fn ingest_one(
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<IngestParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let correlation_id = correlation_id(&req);
    let wait = wants_refresh(&params)?;
    if let BatchFormat::NdJson = body_kind(&req, &state)? {
        state.metrics.reject("unsupported_media_type", 1);
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "/logs/ingest takes one JSON object; send NDJSON to /logs/batch-ingest",
        ));
    }
    let body = read_body(&req, payload, &state).await?;
    state.metrics.logs_received.inc();
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        state.metrics.reject("invalid_json", 1);
        ApiError::bad_request("invalid_json", malformed(&e))
    })?;
    let now = Utc::now();
    let log = tracing::info_span!("validate", logs = 1).in_scope(|| state.validate(value, now));
    let log = log.map_err(|e| {
        state.metrics.reject(e.kind, 1);
        ApiError::invalid_field(e.field, e.reason)
    })?;
    let (ids, searchable) = state.store(vec![log], now, wait).await?;
    debug!(%correlation_id, "log accepted");
    Ok(IngestResponse {
        success: true,
        message: "log accepted".into(),
        correlation_id,
        accepted: 1,
        rejected: 0,
        id: ids.into_iter().next(),
        ids: Vec::new(),
        errors: Vec::new(),
        searchable,
    }
    .accepted())
}

/// `POST /logs/batch-ingest`: a JSON array (or `{"logs": [...]}`), or NDJSON.
async fn ingest_batch(
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<IngestParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let correlation_id = correlation_id(&req);
    let wait = wants_refresh(&params)?;
    let kind = body_kind(&req, &state)?;
    let body = read_body(&req, payload, &state).await?;
    // Each item is a parsed value, or the reason its line is not JSON.
    let items = split_batch(&body, kind).map_err(|e| {
        state.metrics.reject("invalid_json", 1);
        match e {
            BatchError::InvalidJson(_) => ApiError::bad_request("invalid_json", e.to_string()),
            BatchError::NotABatch => ApiError::bad_request("invalid_body", e.to_string()),
        }
    })?;
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch holds no logs",
        ));
    }
    state.metrics.logs_received.inc_by(items.len() as u64);
    if items.len() > state.max_batch_len {
        state.metrics.reject("batch_too_long", items.len() as u64);
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_long",
            format!(
                "the batch holds {} logs; the limit is {}; split it",
                items.len(),
                state.max_batch_len
            ),
        ));
    }
    let now = Utc::now();
    let total = items.len();
    let mut valid = Vec::with_capacity(total);
    let mut errors = Vec::new();
    let validating = tracing::info_span!("validate", logs = total).entered();
    for (index, item) in items.into_iter().enumerate() {
        let result = item
            .map_err(|reason| FieldError::new("", "invalid_json", reason))
            .and_then(|value| state.validate(value, now));
        match result {
            Ok(log) => valid.push(log),
            Err(e) => {
                state.metrics.reject(e.kind, 1);
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
    let (ids, searchable) = state.store(valid, now, wait).await?;
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

async fn status(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "service": "ingestd",
        "version": env!("CARGO_PKG_VERSION"),
        "status": "running",
        "wal_position": state.wal.durable_end(),
        "committed_position": state.indexer.committed.load(Ordering::Acquire),
        "endpoints": ["POST /logs/ingest", "POST /logs/batch-ingest", "GET /health", "GET /ready", "GET /metrics"],
    }))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "healthy", "service": "ingestd"}))
}

/// Ready when the WAL takes writes, is below its cap, and the store works.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let committed = state.indexer.committed.load(Ordering::Acquire);
    let backlog = state.wal.durable_end().saturating_sub(committed);
    let mut problems = Vec::new();
    if state.wal.is_closed() {
        problems.push("wal is closed".to_string());
    }
    if backlog >= state.wal_max_bytes || state.at_cap.load(Ordering::Acquire) {
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
    for (name, _) in state.indexer.damage.lock().expect("lock").iter() {
        warnings.push(format!(
            "index partition {name} is damaged; it is left as it is and its day's new logs go to a new partition (run `logagg check`)"
        ));
    }
    let body = json!({
        "ready": problems.is_empty(),
        "wal_backlog_bytes": backlog,
        "wal_max_bytes": state.wal_max_bytes,
        "problems": problems,
        "warnings": warnings,
    });
    if problems.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

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
