//! OTLP/HTTP logs: `POST /v1/logs`, protobuf (`application/x-protobuf`) or
//! JSON (`application/json`), answered in the request's encoding with an
//! `ExportLogsServiceResponse` (`partial_success` counting refused records).
//!
//! Mapping: severity text (or number) -> level; resource `service.name` ->
//! service; resource `host.name` (else `service.instance.id`) -> source;
//! body of any `AnyValue` kind -> message (strings as they are, the others
//! as JSON); `trace_id`/`span_id` as hex; resource and log attributes ->
//! metadata (a log attribute wins over a resource attribute of the same
//! key), with the scope name as `otel.scope.name` and the event name as
//! `event.name`. Records go through the one [`crate::pipeline`] call.
//!
//! Refusals follow the OTLP/HTTP spec: 400 with a `google.rpc.Status` body
//! for what cannot be decoded (not retried), 429 or 503 with `Retry-After`
//! for what may be sent again.

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use serde_json::{Map, Value};

use log_model::{check_log, Level, Limits, NewLog};

use crate::pipeline::{AppState, IngestError, Item, Protocol};

const OTLP: Protocol = Protocol::Otlp;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export);
}

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP's error answers.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A message in the request's encoding. In JSON, unset fields are left
/// out, as proto3's JSON mapping does (a full success is `{}`).
fn encode<T: Message + serde::Serialize>(encoding: Encoding, msg: &T) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => msg.encode_to_vec(),
        Encoding::Json => {
            let mut value = serde_json::to_value(msg).unwrap_or_default();
            if let Value::Object(fields) = &mut value {
                fields.retain(|_, v| !v.is_null());
            }
            serde_json::to_vec(&value).unwrap_or_default()
        }
    }
}

fn refusal(encoding: Encoding, e: &IngestError) -> HttpResponse {
    // gRPC codes: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, 13 INTERNAL.
    let code = match e.status().as_u16() {
        429 => 8,
        503 => 14,
        500 => 13,
        _ => 3,
    };
    let body = Status {
        code,
        message: format!("{}: {e}", e.code()),
    };
    let mut res = HttpResponse::build(e.status());
    res.insert_header((header::CONTENT_TYPE, encoding.content_type()));
    if let Some(secs) = e.retry_after_secs() {
        res.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    res.body(encode(encoding, &body))
}

/// OTLP/HTTP logs.
///
/// An `ExportLogsServiceRequest` as protobuf (`application/x-protobuf`) or
/// JSON (`application/json`), gzip allowed; each log record is a log. The
/// answer is an `ExportLogsServiceResponse` in the request's encoding, with
/// `partial_success` counting rejected records.
#[utoipa::path(
    tag = "ingest",
    request_body(description = "ExportLogsServiceRequest (OTLP 1.x)", content((Object = "application/x-protobuf"), (Object = "application/json"))),
    responses(
        (status = 200, description = "ExportLogsServiceResponse", content((Object = "application/x-protobuf"), (Object = "application/json"))),
        (status = 400, description = "A body that is not an OTLP request; a google.rpc.Status", content((Object = "application/x-protobuf"), (Object = "application/json"))),
        (status = 413, description = "Body over the limit; a google.rpc.Status", content((Object = "application/x-protobuf"), (Object = "application/json"))),
        (status = 415, description = "Neither protobuf nor JSON, or an unknown encoding; a google.rpc.Status", content((Object = "application/x-protobuf"), (Object = "application/json"))),
        (status = 429, description = "The write-ahead log is full; `Retry-After`; a google.rpc.Status", content((Object = "application/x-protobuf"), (Object = "application/json"))),
        (status = 503, description = "The write-ahead log cannot be written; a google.rpc.Status", content((Object = "application/x-protobuf"), (Object = "application/json")))
    )
)]
#[post("/v1/logs")]
async fn export(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(super::mime_of)
        .unwrap_or_default();
    let encoding = match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            let e = IngestError::UnsupportedMediaType(format!(
                "content type {other:?} is not OTLP/HTTP; send application/x-protobuf or application/json"
            ));
            return refusal(Encoding::Json, &state.refuse(OTLP, e, 1));
        }
    };
    let body = match state.read_body(&req, payload, OTLP).await {
        Ok(body) => body,
        Err(e) => return refusal(encoding, &e),
    };
    let request = match decode(encoding, &body) {
        Ok(request) => request,
        Err(e) => return refusal(encoding, &state.refuse(OTLP, e, 1)),
    };
    let now = Utc::now();
    let items =
        tracing::info_span!("validate").in_scope(|| to_logs(request, &state.validator.limits, now));
    let outcome = match state.ingest(&req, OTLP, items, now, false).await {
        Ok(outcome) => outcome,
        Err(e) => return refusal(encoding, &e),
    };
    let rejected = outcome.refusals().count() as i64;
    let first_error = outcome
        .refusals()
        .next()
        .map(|(i, e)| format!("log record {i}: {}: {}", e.field, e.reason))
        .unwrap_or_default();
    let response = ExportLogsServiceResponse {
        partial_success: (rejected > 0).then_some(ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: first_error,
        }),
    };
    HttpResponse::build(StatusCode::OK)
        .insert_header((header::CONTENT_TYPE, encoding.content_type()))
        .body(encode(encoding, &response))
}

/// Decodes a request body in either encoding.
pub fn decode(encoding: Encoding, body: &[u8]) -> Result<ExportLogsServiceRequest, IngestError> {
    match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(body).map_err(|e| {
            IngestError::InvalidBody(format!(
                "the body is not an OTLP ExportLogsServiceRequest: {e}"
            ))
        }),
        Encoding::Json => serde_json::from_slice::<ExportLogsServiceRequest>(body).map_err(|e| {
            IngestError::InvalidJson(format!(
                "the body is not an OTLP ExportLogsServiceRequest: {e}"
            ))
        }),
    }
}

/// Maps every record of a request to a log (its size limits checked), in
/// the request's order.
pub fn to_logs(
    request: ExportLogsServiceRequest,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Vec<Item> {
    let mut items = Vec::new();
    for resource_logs in request.resource_logs {
        let resource = resource_logs
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let resource = Resource::new(resource);
        for scope_logs in resource_logs.scope_logs {
            let scope = scope_logs.scope.map(|s| s.name).unwrap_or_default();
            for record in scope_logs.log_records {
                items.push(check_log(to_log(record, &resource, &scope, now), limits));
            }
        }
    }
    items
}

/// A resource's attributes, with the two that name the service and the host.
struct Resource {
    service: Option<String>,
    host: Option<String>,
    rest: Map<String, Value>,
}

impl Resource {
    fn new(attributes: Vec<KeyValue>) -> Self {
        let mut rest = attributes_map(attributes);
        let mut take = |key: &str| match rest.remove(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            Some(other) => {
                rest.insert(key.to_string(), other);
                None
            }
            None => None,
        };
        let service = take("service.name");
        let host = take("host.name").or_else(|| take("service.instance.id"));
        Resource {
            service,
            host,
            rest,
        }
    }
}

fn attributes_map(attributes: Vec<KeyValue>) -> Map<String, Value> {
    attributes
        .into_iter()
        .map(|kv| (kv.key, kv.value.map(any_to_json).unwrap_or(Value::Null)))
        .collect()
}

/// An `AnyValue` as JSON (bytes as hex).
fn any_to_json(value: AnyValue) -> Value {
    match value.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::from(i),
        Some(any_value::Value::DoubleValue(f)) => {
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.into_iter().map(any_to_json).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(attributes_map(kv.values)),
        Some(any_value::Value::BytesValue(b)) => Value::String(hex(&b)),
        // An index into a profile's string table: meaningless in a log.
        Some(any_value::Value::StringValueStrindex(i)) => Value::from(i),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn time_of(nanos: u64) -> Option<DateTime<Utc>> {
    (nanos > 0).then(|| DateTime::from_timestamp_nanos(nanos.min(i64::MAX as u64) as i64))
}

/// One record as a log, for the pipeline to validate (built directly: no
/// native JSON in between).
fn to_log(record: LogRecord, resource: &Resource, scope: &str, now: DateTime<Utc>) -> NewLog {
    let timestamp = time_of(record.time_unix_nano)
        .or_else(|| time_of(record.observed_time_unix_nano))
        .unwrap_or(now);
    let mut metadata = resource.rest.clone();
    for kv in record.attributes {
        let value = kv.value.map(any_to_json).unwrap_or(Value::Null);
        metadata.insert(kv.key, value);
    }
    let level = log_model::mapping::parse_level_text(&record.severity_text)
        .or_else(|| Level::from_otel_severity(i64::from(record.severity_number)));
    if level.is_none() && !record.severity_text.is_empty() {
        metadata.insert("severity_text".into(), Value::String(record.severity_text));
    }
    // A record without a body is refused by validation (message is required).
    let message = match record.body.map(any_to_json) {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    let id = |bytes: &[u8], len: usize| {
        (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| hex(bytes))
    };
    if !scope.is_empty() {
        metadata.insert("otel.scope.name".into(), Value::String(scope.to_string()));
    }
    if !record.event_name.is_empty() {
        metadata.insert("event.name".into(), Value::String(record.event_name));
    }
    NewLog {
        timestamp,
        level: level.unwrap_or(Level::Info),
        message,
        source: resource.host.clone().unwrap_or_else(|| "unknown".into()),
        service: resource.service.clone(),
        trace_id: id(&record.trace_id, 16),
        span_id: id(&record.span_id, 8),
        metadata: (!metadata.is_empty()).then_some(metadata),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn string(s: &str) -> any_value::Value {
        any_value::Value::StringValue(s.into())
    }

    #[test]
    fn records_map_to_the_native_shape() {
        let resource = Resource::new(vec![
            kv("service.name", string("checkout")),
            kv("host.name", string("node-1")),
            kv("k8s.pod.name", string("checkout-7")),
            kv("shared", string("from resource")),
        ]);
        let record = LogRecord {
            time_unix_nano: 1_795_000_000_123_456_789,
            severity_number: 17,
            severity_text: String::new(),
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("order", any_value::Value::IntValue(7))],
                })),
            }),
            attributes: vec![
                kv("shared", string("from record")),
                kv(
                    "list",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(any_value::Value::BoolValue(true)),
                        }],
                    }),
                ),
            ],
            trace_id: (1..=16).collect(),
            span_id: vec![0; 8],
            event_name: "order.failed".into(),
            ..Default::default()
        };
        let log = to_log(record, &resource, "shop", Utc::now());
        assert_eq!(log.level, Level::Error);
        assert_eq!(log.message, r#"{"order":7}"#);
        assert_eq!(log.service.as_deref(), Some("checkout"));
        assert_eq!(log.source, "node-1");
        assert_eq!(
            log.trace_id.as_deref(),
            Some("0102030405060708090a0b0c0d0e0f10")
        );
        assert!(log.span_id.is_none(), "all-zero span id is none");
        assert_eq!(
            log.timestamp.to_rfc3339(),
            "2026-11-18T11:06:40.123456789+00:00"
        );
        let meta = log.metadata.unwrap();
        assert_eq!(meta["shared"], "from record");
        assert_eq!(meta["k8s.pod.name"], "checkout-7");
        assert_eq!(meta["list"], serde_json::json!([true]));
        assert_eq!(meta["otel.scope.name"], "shop");
        assert_eq!(meta["event.name"], "order.failed");
        assert!(meta.get("service.name").is_none());
    }

    #[test]
    fn severity_text_wins_and_unknown_text_is_kept() {
        let resource = Resource::new(vec![kv("service.instance.id", string("i-9"))]);
        let record = |text: &str, number: i32| LogRecord {
            severity_text: text.into(),
            severity_number: number,
            body: Some(AnyValue {
                value: Some(string("m")),
            }),
            ..Default::default()
        };
        let log = to_log(record("WARN3", 9), &resource, "", Utc::now());
        assert_eq!(log.level, Level::Warning);
        assert_eq!(log.source, "i-9");
        let log = to_log(record("chatty", 5), &resource, "", Utc::now());
        assert_eq!(log.level, Level::Debug);
        // Neither says a level: INFO, the text kept.
        let log = to_log(record("chatty", 0), &resource, "", Utc::now());
        assert_eq!(log.level, Level::Info);
        assert_eq!(log.metadata.unwrap()["severity_text"], "chatty");
    }
}
