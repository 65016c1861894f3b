use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;

/// The one error type of the HTTP APIs. Its body is
/// `{"error": <code>, "detail": <human text>, "field": <name, if any>, ...extra}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A short stable code such as `invalid_json` or `wal_full`.
    pub error: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Further members of the body (for example the per-item errors of a batch).
    pub extra: Option<serde_json::Map<String, Value>>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Map<String, Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            detail: detail.into(),
            field: None,
            extra: None,
            retry_after_secs: None,
        }
    }

    pub fn bad_request(error: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, detail)
    }

    /// 422 naming the field at fault.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        let reason = reason.into();
        let detail = if field.is_empty() {
            reason
        } else {
            format!("{field}: {reason}")
        };
        ApiError {
            field: Some(field).filter(|f| !f.is_empty()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail)
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
        }
    }

    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_string(), value);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(Body {
            error: self.error,
            detail: &self.detail,
            field: self.field.as_deref(),
            extra: self.extra.as_ref(),
        })
    }
}

/// JSON body errors in the API's shape: 415 for a wrong content type, 413
/// for an oversized body, 400 for malformed JSON, 422 for a wrong field.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .error_handler(|err, _req: &HttpRequest| {
            let api = match &err {
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ),
                JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("body is {length} bytes; the limit is {limit} bytes"),
                ),
                JsonPayloadError::Overflow { limit } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("body is over the limit of {limit} bytes"),
                ),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::invalid_field(field_of_serde_error(&e.to_string()), e.to_string())
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request("invalid_json", format!("malformed JSON: {e}"))
                }
                other => ApiError::bad_request("invalid_body", other.to_string()),
            };
            api.into()
        })
}

/// Query-string errors in the API's shape (400 naming the parameter).
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let detail = match &err {
            QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        let mut api = ApiError::bad_request(
            "invalid_query",
            format!("invalid query parameters: {detail}"),
        );
        let field = field_of_serde_error(&detail);
        if !field.is_empty() {
            api.field = Some(field);
        }
        api.into()
    })
}

/// serde names the field in some messages (`unknown field `x``, `missing
/// field `x``); returns it, or an empty string.
fn field_of_serde_error(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field `"))
        .unwrap_or_default()
        .to_string()
}

/// 404 in the API's shape, for unknown routes.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    )
    .error_response()
}
