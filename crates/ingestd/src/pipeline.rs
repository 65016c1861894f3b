//! The one ingest path every door goes through. A door (see
//! [`crate::doors`]) reads its body with [`AppState::read_body`] (size
//! limit, `Content-Encoding`), decodes it into logs and per-item refusals,
//! and makes one call, [`AppState::ingest`]: the rules every log meets
//! (the time window), the counting, the key's rate, enrichment and the WAL
//! append (fsync) happen there, and it answers each item's fate.
//!
//! Failures of a whole request are an [`IngestError`], which gives the HTTP
//! status, the JSON error code and the metric label (the same string) in one
//! place; each door renders it in its own error shape. A refused log in
//! an otherwise good request is a [`FieldError`], answered per item.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tracing::{error, Instrument};

use log_model::{FieldError, Limits, NewLog, StoredLog};
use svc_kit::ApiError;

use crate::indexer::IndexerStatus;
use crate::metrics::Metrics;
use crate::wal::Wal;

/// The protocols logs arrive by; the `protocol` label of the ingest metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `/logs/ingest` and `/logs/batch-ingest`.
    Native,
    /// The Elasticsearch bulk API (`/_bulk`, `/{index}/_bulk`, `/{index}/_doc`).
    Elasticsearch,
    /// OTLP/HTTP logs (`/v1/logs`).
    Otlp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Native, Protocol::Elasticsearch, Protocol::Otlp];

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Native => "native",
            Protocol::Elasticsearch => "elasticsearch",
            Protocol::Otlp => "otlp",
        }
    }
}

/// Why a whole request was refused. Nothing of it was stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error("the body is over the limit of {limit} bytes{}", declared.map(|d| format!(" (Content-Length {d})")).unwrap_or_default())]
    BodyTooLarge {
        limit: usize,
        declared: Option<usize>,
    },
    #[error("the body decodes to over the limit of {limit} bytes")]
    DecodedTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Content-Encoding {0:?} is not supported; send gzip, deflate, zstd or identity")]
    UnsupportedEncoding(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("the request holds no logs")]
    EmptyBatch,
    #[error("the batch holds {len} logs; the limit is {limit}; split it")]
    BatchTooLong { len: usize, limit: usize },
    #[error("the batch is {bytes} bytes once stored, more than the whole WAL may hold ({cap} bytes); split it")]
    BatchTooLarge { bytes: usize, cap: u64 },
    #[error("{backlog} bytes wait to be indexed (the cap is {cap}); retry later")]
    WalFull { backlog: u64, cap: u64 },
    #[error("this API key is over its rate of logs per second; retry after {secs} s")]
    RateLimited { secs: u64 },
    #[error("logs not stored: {0}")]
    WalError(&'static str),
    #[error("{0}")]
    Internal(String),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        use IngestError::*;
        match self {
            BodyTooLarge { .. }
            | DecodedTooLarge { .. }
            | BatchTooLong { .. }
            | BatchTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(_) | UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InvalidBody(_) | InvalidJson(_) | EmptyBatch => StatusCode::BAD_REQUEST,
            WalFull { .. } | RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            WalError(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON error code, also the `reason` label of `ingestd_logs_rejected_total`.
    pub fn code(&self) -> &'static str {
        use IngestError::*;
        match self {
            BodyTooLarge { .. } | DecodedTooLarge { .. } => "body_too_large",
            UnsupportedMediaType(_) => "unsupported_media_type",
            UnsupportedEncoding(_) => "unsupported_encoding",
            InvalidBody(_) => "invalid_body",
            InvalidJson(_) => "invalid_json",
            EmptyBatch => "empty_batch",
            BatchTooLong { .. } => "batch_too_long",
            BatchTooLarge { .. } => "batch_too_large",
            WalFull { .. } => "wal_full",
            RateLimited { .. } => "rate_limited",
            WalError(_) => "wal_error",
            Internal(_) => "internal",
        }
    }

    /// Seconds a client should wait before sending again, for the refusals
    /// that pass (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            IngestError::WalFull { .. } | IngestError::WalError(_) => Some(1),
            IngestError::RateLimited { secs } => Some(*secs),
            _ => None,
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        // The JSON body keeps the historical code "unavailable" for a WAL
        // that cannot write (the metric says wal_error).
        let code = match e {
            IngestError::WalError(_) => "unavailable",
            _ => e.code(),
        };
        ApiError {
            retry_after_secs: e.retry_after_secs(),
            ..ApiError::new(e.status(), code, e.to_string())
        }
    }
}

/// The rules every log meets, whatever its protocol: the size limits, the
/// retention window, the clock.
#[derive(Debug, Clone)]
pub struct Validator {
    pub limits: Limits,
    pub retention: chrono::Duration,
    /// How far past the time of receipt a log's timestamp may be.
    pub max_future: chrono::Duration,
}

impl Validator {
    /// The rules every log meets whatever its door (the doors check the
    /// shape and the size limits as they decode): not older than the
    /// retention window, not too far in the future.
    pub fn check_time(&self, log: NewLog, now: DateTime<Utc>) -> Result<NewLog, FieldError> {
        let oldest = log_store::oldest_kept_day(now, self.retention);
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
}

/// What every handler shares: the WAL, the rules, the metrics.
pub struct AppState {
    pub wal: Wal,
    pub indexer: IndexerStatus,
    /// The store's own health (Elasticsearch reachable).
    pub store_health: log_store::Health,
    pub metrics: Metrics,
    pub validator: Validator,
    pub max_body_bytes: usize,
    pub max_batch_len: usize,
    pub wal_max_bytes: u64,
    /// Set when ingest refuses for the WAL cap, cleared by the next append.
    pub at_cap: AtomicBool,
    /// `POST /admin/backup`: the data directory and the repository, when
    /// the store is embedded and a repository is set.
    pub backup: Option<BackupTarget>,
}

/// Where `POST /admin/backup` copies from and to; one backup at a time.
#[derive(Debug)]
pub struct BackupTarget {
    pub data_dir: std::path::PathBuf,
    pub repository: std::path::PathBuf,
    pub running: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A WAL record's payload: the logs of one request and its trace context
/// (written here borrowed, read back owned by the indexer).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct WalBatch<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub logs: std::borrow::Cow<'a, [StoredLog]>,
}

/// One item of a door's request, decoded: a log in the native shape (its
/// shape and size limits checked), or why the item cannot be one.
pub type Item = Result<NewLog, FieldError>;

/// What became of a request's items.
#[derive(Debug)]
pub struct Outcome {
    /// Per item, in the request's order: the stored log's id, or why the
    /// item was refused.
    pub fates: Vec<Result<String, FieldError>>,
    /// With `wait`: whether the logs were searchable before the answer.
    pub searchable: Option<bool>,
}

impl Outcome {
    /// The refused items, with their place in the request.
    pub fn refusals(&self) -> impl Iterator<Item = (usize, &FieldError)> {
        self.fates
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().err().map(|e| (i, e)))
    }

    /// The stored logs' ids in order, and the refused items with their
    /// place in the request (nothing copied).
    pub fn into_parts(self) -> (Vec<String>, Vec<(usize, FieldError)>) {
        let mut ids = Vec::with_capacity(self.fates.len());
        let mut refused = Vec::new();
        for (i, fate) in self.fates.into_iter().enumerate() {
            match fate {
                Ok(id) => ids.push(id),
                Err(e) => refused.push((i, e)),
            }
        }
        (ids, refused)
    }
}

/// The logs of a request made durable.
#[derive(Debug)]
struct Stored {
    /// The ids given, in the order of the logs.
    pub ids: Vec<String>,
    /// Whether they were searchable before the answer (asked with `refresh`).
    pub searchable: Option<bool>,
}

impl AppState {
    /// The one call of every door: counts the request's items, refuses a
    /// batch over `--max-batch-len`, checks the rules every log meets, and
    /// appends the valid logs to the WAL under the caller's tenant (taking
    /// them from the key's rate first). `Ok` means every log not refused is
    /// durable; a refused item is counted and answered in its fate.
    pub async fn ingest(
        &self,
        req: &HttpRequest,
        protocol: Protocol,
        items: Vec<Item>,
        now: DateTime<Utc>,
        wait: bool,
    ) -> Result<Outcome, IngestError> {
        self.received(protocol, items.len());
        self.check_batch_len(protocol, items.len())?;
        let mut fates = Vec::with_capacity(items.len());
        let mut valid = Vec::with_capacity(items.len());
        for item in items {
            match item.and_then(|log| self.validator.check_time(log, now)) {
                Ok(log) => {
                    valid.push(log);
                    fates.push(Ok(String::new()));
                }
                Err(e) => {
                    self.reject(protocol, e.kind, 1);
                    fates.push(Err(e));
                }
            }
        }
        if valid.is_empty() {
            return Ok(Outcome {
                fates,
                searchable: None,
            });
        }
        let tenant = self.admit(req, protocol, valid.len())?;
        let stored = self.append(protocol, &tenant, valid, now, wait).await?;
        let mut ids = stored.ids.into_iter();
        for fate in fates.iter_mut().filter(|f| f.is_ok()) {
            *fate = Ok(ids.next().unwrap_or_default());
        }
        Ok(Outcome {
            fates,
            searchable: stored.searchable,
        })
    }

    /// WAL bytes acknowledged but not yet committed to the store.
    pub fn backlog(&self) -> u64 {
        let committed = self.indexer.committed.load(Ordering::Acquire);
        self.wal.durable_end().saturating_sub(committed)
    }

    /// Whether ingest refuses for the WAL cap now: the backlog is at the
    /// cap, or the last request was refused for it.
    pub fn at_wal_cap(&self, backlog: u64) -> bool {
        backlog >= self.wal_max_bytes || self.at_cap.load(Ordering::Acquire)
    }

    /// Counts `count` logs of `protocol` refused for `reason`.
    fn reject(&self, protocol: Protocol, reason: &str, count: u64) {
        self.metrics.reject(protocol.label(), reason, count);
    }

    /// Takes `count` logs from the calling key's rate (when it has one);
    /// over it, the logs are refused (429 with `Retry-After`, counted).
    fn admit(
        &self,
        req: &actix_web::HttpRequest,
        protocol: Protocol,
        count: usize,
    ) -> Result<String, IngestError> {
        svc_kit::auth::take_logs(req, count as u64).map_err(|secs| {
            self.refuse(protocol, IngestError::RateLimited { secs }, count as u64)
        })?;
        Ok(actix_web::HttpMessage::extensions(req)
            .get::<svc_kit::auth::TenantScope>()
            .cloned()
            .unwrap_or_default()
            .writing())
    }

    /// Counts a whole request's refusal (`count` logs, at least one) and
    /// hands the error back.
    pub fn refuse(&self, protocol: Protocol, e: IngestError, count: u64) -> IngestError {
        self.reject(protocol, e.code(), count.max(1));
        e
    }

    /// Counts logs received in a request, valid or not.
    fn received(&self, protocol: Protocol, count: usize) {
        self.metrics
            .logs_received
            .with_label_values(&[protocol.label()])
            .inc_by(count as u64);
    }

    /// Reads the body, refusing (413) past the limit without buffering it
    /// all, and undoes its `Content-Encoding`.
    pub async fn read_body(
        &self,
        req: &HttpRequest,
        mut payload: web::Payload,
        protocol: Protocol,
    ) -> Result<web::Bytes, IngestError> {
        let limit = self.max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(self.refuse(protocol, IngestError::BodyTooLarge { limit, declared }, 1));
        }
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| IngestError::InvalidBody(format!("reading the body failed: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(self.refuse(
                    protocol,
                    IngestError::BodyTooLarge {
                        limit,
                        declared: None,
                    },
                    1,
                ));
            }
            body.extend_from_slice(&chunk);
        }
        self.metrics.bytes_received.inc_by(body.len() as u64);
        let encoding = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
        decode_body(encoding.as_deref(), body.freeze(), limit)
            .map_err(|e| self.refuse(protocol, e, 1))
    }

    /// Refuses a request with more logs than a batch may hold.
    fn check_batch_len(&self, protocol: Protocol, len: usize) -> Result<(), IngestError> {
        if len > self.max_batch_len {
            return Err(self.refuse(
                protocol,
                IngestError::BatchTooLong {
                    len,
                    limit: self.max_batch_len,
                },
                len as u64,
            ));
        }
        Ok(())
    }

    /// Enriches, appends to the WAL and waits for durability (and, when
    /// `wait`, for searchability). Nothing is acknowledged before this
    /// returns `Ok`: the WAL record is fsync'd by then.
    async fn append(
        &self,
        protocol: Protocol,
        tenant: &str,
        logs: Vec<NewLog>,
        now: DateTime<Utc>,
        wait: bool,
    ) -> Result<Stored, IngestError> {
        let count = logs.len() as u64;
        let stored: Vec<StoredLog> = logs
            .into_iter()
            .map(|log| enrich(log, now, tenant))
            .collect();
        let ids: Vec<String> = stored.iter().map(|l| l.id.clone()).collect();
        // The request's trace context rides with the logs, so that the sink's
        // spans join the request's trace.
        let traceparent = svc_kit::telemetry::inject(&tracing::Span::current())
            .into_iter()
            .find_map(|(k, v)| (k == "traceparent").then_some(v));
        let payload = serde_json::to_vec(&WalBatch {
            traceparent,
            logs: std::borrow::Cow::Borrowed(&stored),
        })
        .map_err(|e| IngestError::Internal(e.to_string()))?;
        if payload.len() as u64 > self.wal_max_bytes {
            // It would never fit, however long the client waits.
            return Err(self.refuse(
                protocol,
                IngestError::BatchTooLarge {
                    bytes: payload.len(),
                    cap: self.wal_max_bytes,
                },
                count,
            ));
        }
        let backlog = self.backlog();
        if backlog + payload.len() as u64 > self.wal_max_bytes {
            self.at_cap.store(true, Ordering::Release);
            return Err(self.refuse(
                protocol,
                IngestError::WalFull {
                    backlog,
                    cap: self.wal_max_bytes,
                },
                count,
            ));
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
                error!(error = %e, "wal append failed");
                let why = match e {
                    crate::wal::WalError::Closed => "the service is stopping",
                    _ => "the write-ahead log could not write (see the service log)",
                };
                return Err(self.refuse(protocol, IngestError::WalError(why), count));
            }
        };
        self.at_cap.store(false, Ordering::Release);
        self.metrics
            .logs_accepted
            .with_label_values(&[protocol.label()])
            .inc_by(count);
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
        Ok(Stored { ids, searchable })
    }
}

/// What ingest adds to a validated log: its id (UUIDv7), the time of
/// receipt, and its template and pattern id.
pub fn enrich(log: NewLog, now: DateTime<Utc>, tenant: &str) -> StoredLog {
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
        tenant: tenant.to_string(),
    }
}

/// Undoes a `Content-Encoding` (gzip, deflate, zstd), refusing (413) what
/// decodes past `limit` bytes: at most `limit + 1` bytes are ever inflated,
/// so a small bomb costs no memory.
pub fn decode_body(
    encoding: Option<&str>,
    body: web::Bytes,
    limit: usize,
) -> Result<web::Bytes, IngestError> {
    let Some(encoding) = encoding else {
        return Ok(body);
    };
    // Reads at most one byte past the limit: enough to tell it was passed.
    let inflate = |decoder: &mut dyn Read| {
        let mut out = Vec::new();
        decoder
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map(|_| out)
    };
    let read = match encoding {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => inflate(&mut flate2::read::MultiGzDecoder::new(&body[..])),
        // HTTP's deflate is zlib-wrapped; some clients send it raw.
        "deflate" => inflate(&mut flate2::read::ZlibDecoder::new(&body[..]))
            .or_else(|_| inflate(&mut flate2::read::DeflateDecoder::new(&body[..]))),
        "zstd" => inflate_zstd(&body, limit),
        other => return Err(IngestError::UnsupportedEncoding(other.to_string())),
    };
    let out = read
        .map_err(|e| IngestError::InvalidBody(format!("the body is not valid {encoding}: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::DecodedTooLarge { limit });
    }
    Ok(out.into())
}

/// zstd frames one after another (as `zstd` and concatenating writers
/// make), each decoded within what is left of the limit.
fn inflate_zstd(mut body: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while !body.is_empty() && out.len() <= limit {
        let decoder = ruzstd::decoding::StreamingDecoder::new(&mut body)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let room = (limit + 1 - out.len()) as u64;
        decoder.take(room).read_to_end(&mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn each_encoding_round_trips() {
        let data = b"{\"message\":\"hello\",\"source\":\"s\"}".repeat(100);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        for (name, body) in [
            ("gzip", gzip(&data)),
            ("deflate", zlib.finish().unwrap()),
            ("deflate", raw.finish().unwrap()),
            ("zstd", zstd(&data)),
            ("identity", data.clone()),
        ] {
            let out = decode_body(Some(name), body.into(), 1 << 20).unwrap();
            assert_eq!(&out[..], &data[..], "{name}");
        }
        // Two zstd frames one after the other are one body.
        let mut two = zstd(b"first ");
        two.extend(zstd(b"second"));
        let out = decode_body(Some("zstd"), two.into(), 1 << 20).unwrap();
        assert_eq!(&out[..], b"first second");
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        for (name, body) in [("gzip", gzip(&zeros)), ("zstd", zstd(&zeros))] {
            assert!(
                body.len() < 64 << 10,
                "{name} bomb is small: {}",
                body.len()
            );
            let e = decode_body(Some(name), body.into(), 1 << 20).unwrap_err();
            assert_eq!(e.code(), "body_too_large", "{name}");
            assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        }
    }

    #[test]
    fn damaged_and_unknown_encodings_are_refused() {
        let mut body = zstd(b"some logs here");
        let n = body.len();
        body.truncate(n - 3);
        let e = decode_body(Some("zstd"), body.into(), 1 << 20).unwrap_err();
        assert_eq!(e.code(), "invalid_body");
        let e = decode_body(Some("gzip"), b"not gzip".to_vec().into(), 1 << 20).unwrap_err();
        assert_eq!(e.code(), "invalid_body");
        let e = decode_body(Some("br"), b"x".to_vec().into(), 1 << 20).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
