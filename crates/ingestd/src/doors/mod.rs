//! The doors logs come in by. Each door reads its protocol's request,
//! decodes it into logs and per-item refusals (its shapes, its field
//! mapping, the size limits), makes the one call of the pipeline
//! ([`crate::pipeline::AppState::ingest`]) and answers in its protocol's
//! shapes. A door holds no rule of its own about what is kept.
//!
//! - [`native`]: `POST /logs/ingest`, `POST /logs/batch-ingest`.
//! - [`elastic`]: the Elasticsearch bulk API and the calls shippers make
//!   at start (the *door*; the Elasticsearch *backend* is log-store's).
//! - [`otlp`]: OTLP/HTTP logs.

pub mod elastic;
pub mod native;
pub mod otlp;

use actix_web::http::header;
use svc_kit::ApiError;

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
