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
    /// A 401 that asks for credentials (`WWW-Authenticate: Basic`, which
    /// browsers answer with a login prompt).
    pub challenge: bool,
}

/// Every error answer of the HTTP APIs (4xx and 5xx).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// A short stable code: `invalid_json`, `invalid_field`,
    /// `invalid_query`, `body_too_large`, `not_found`, `unavailable`, ...
    #[schema(value_type = String, example = "invalid_field")]
    pub error: &'a str,
    /// What was wrong, for a person.
    #[schema(value_type = String, example = "limit: must be between 1 and 1000")]
    pub detail: &'a str,
    /// The field or parameter at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false)]
    pub field: Option<&'a str>,
    /// Further members some errors carry (a batch's per-item `errors`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub extra: Option<&'a serde_json::Map<String, Value>>,
}

/// The errors a read route may answer, for the OpenAPI documents.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// `unauthorized`: no API key, or one that is not valid (only with a
    /// keys file).
    #[response(status = 401)]
    Unauthorized(#[to_schema] ErrorBody<'static>),
    /// `forbidden`: the key lacks the scope of this port.
    #[response(status = 403)]
    Forbidden(#[to_schema] ErrorBody<'static>),
    /// `invalid_query`: the query (or a query-string parameter) cannot be
    /// read; `detail` names the column. `invalid_json`: a malformed body.
    #[response(status = 400)]
    BadRequest(#[to_schema] ErrorBody<'static>),
    /// `body_too_large`: a request body over 1 MiB.
    #[response(status = 413)]
    TooLarge(#[to_schema] ErrorBody<'static>),
    /// `unsupported_media_type`: a body that is not JSON.
    #[response(status = 415)]
    UnsupportedMediaType(#[to_schema] ErrorBody<'static>),
    /// `invalid_field`: a parameter out of range or of the wrong form;
    /// `field` names it.
    #[response(status = 422)]
    Invalid(#[to_schema] ErrorBody<'static>),
    /// `rate_limited`: the key is over its requests per second;
    /// `too_many_reads`: the expensive reads (patterns, histogram, facets,
    /// export, context) of the process or the key are all running;
    /// `too_many_failures`: too many wrong keys from this address.
    /// `Retry-After` says when to ask again.
    #[response(status = 429)]
    RateLimited(#[to_schema] ErrorBody<'static>),
    /// `unavailable`: the store could not answer; `Retry-After` says when
    /// to ask again.
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody<'static>),
}

/// The errors a write route may answer, for the OpenAPI documents.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// `unauthorized`: no API key, or one that is not valid (only with a
    /// keys file).
    #[response(status = 401)]
    Unauthorized(#[to_schema] ErrorBody<'static>),
    /// `forbidden`: the key lacks the scope of this port.
    #[response(status = 403)]
    Forbidden(#[to_schema] ErrorBody<'static>),
    /// `invalid_json`, `invalid_body`, `empty_batch`, or a bad `refresh`.
    #[response(status = 400)]
    BadRequest(#[to_schema] ErrorBody<'static>),
    /// `body_too_large` or `batch_too_large`.
    #[response(status = 413)]
    TooLarge(#[to_schema] ErrorBody<'static>),
    /// `unsupported_media_type`: neither JSON nor NDJSON, or an unknown
    /// `Content-Encoding`.
    #[response(status = 415)]
    UnsupportedMediaType(#[to_schema] ErrorBody<'static>),
    /// `invalid_field` (one log) or `invalid_batch` (no valid log in the
    /// batch, with per-item `errors`).
    #[response(status = 422)]
    Invalid(#[to_schema] ErrorBody<'static>),
    /// `wal_full`: the write-ahead log is at its cap, or `rate_limited`:
    /// the key is over its rate; `Retry-After` says when to send again.
    /// Nothing of the request was kept.
    #[response(status = 429)]
    Full(#[to_schema] ErrorBody<'static>),
    /// The write-ahead log cannot be written; nothing was acknowledged.
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody<'static>),
}

/// The error shape in the OpenAPI documents.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(ErrorBody)))]
pub struct ErrorDoc;

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            detail: detail.into(),
            field: None,
            extra: None,
            retry_after_secs: None,
            challenge: false,
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

    pub fn with_challenge(mut self) -> Self {
        self.challenge = true;
        self
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
        if self.challenge {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"logagg\", charset=\"UTF-8\"",
            ));
        }
        response.json(ErrorBody {
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

/// Query-string errors in the API's shape: 422 naming the parameter when
/// one is at fault (as for a JSON body), else 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let detail = match &err {
            QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        let field = field_of_serde_error(&detail);
        let api = if field.is_empty() {
            ApiError::bad_request(
                "invalid_query",
                format!("invalid query parameters: {detail}"),
            )
        } else {
            ApiError::invalid_field(field, detail)
        };
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

/// Gives every error answer the API's JSON shape: an answer of 400 or more
/// that the framework (or an extractor without a handler) made with an
/// empty or plain-text body gets `{"error": ..., "detail": ...}`, the
/// original text kept as the detail.
///
/// Every other answer passes through as it is (no boxing of its body: this
/// runs on every request).
pub async fn json_error_body<B: actix_web::body::MessageBody + 'static>(
    response: actix_web::dev::ServiceResponse<B>,
) -> actix_web::dev::ServiceResponse<actix_web::body::EitherBody<B>> {
    let status = response.status();
    // A handler's own error body (JSON, or a protocol's such as OTLP's
    // protobuf Status) passes; the framework's are plain text or empty.
    let handler_made = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.starts_with("text/"));
    if status.as_u16() < 400
        || handler_made
        || response.request().method() == actix_web::http::Method::HEAD
    {
        return response.map_into_left_body();
    }
    let (req, res) = response.into_parts();
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let allow = res.headers().get(header::ALLOW).cloned();
    let text = actix_web::body::to_bytes_limited(res.into_body(), 4096)
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "body_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        431 => "headers_too_large",
        s if s < 500 => "client_error",
        503 => "unavailable",
        _ => "internal",
    };
    let detail = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut api = ApiError::new(status, code, detail);
    api.retry_after_secs = retry_after.and_then(|v| v.to_str().ok().and_then(|v| v.parse().ok()));
    let mut res = api.error_response();
    if let Some(allow) = allow {
        res.headers_mut().insert(header::ALLOW, allow);
    }
    actix_web::dev::ServiceResponse::new(req, res).map_into_right_body()
}

#[cfg(test)]
mod tests {
    use actix_web::{test, web, App, HttpResponse};

    // Regression (issue 9, finding 10): the framework's own error answers
    // (extractors without a handler, empty error bodies) were not JSON.
    #[actix_web::test]
    async fn error_answers_made_elsewhere_become_json() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(crate::metrics::track))
                .route(
                    "/empty",
                    web::get().to(|| async { HttpResponse::BadRequest().finish() }),
                )
                .route(
                    "/n/{n}",
                    web::get().to(|n: web::Path<u32>| async move { n.to_string() }),
                )
                .route("/ok", web::get().to(|| async { "fine" })),
        )
        .await;
        for (uri, status, code) in [
            ("/empty", 400, "bad_request"),
            ("/n/not-a-number", 404, "not_found"),
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(res.status().as_u16(), status, "{uri}");
            let body: serde_json::Value = test::read_body_json(res).await;
            assert_eq!(body["error"], code, "{uri}: {body}");
            assert!(
                body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{body}"
            );
        }
        let res = test::call_service(&app, test::TestRequest::get().uri("/ok").to_request()).await;
        assert_eq!(test::read_body(res).await, "fine");
    }
}
