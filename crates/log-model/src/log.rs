use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use validator::{Validate, ValidationError, ValidationErrors};

use crate::{FieldError, Level, Limits};

/// A log as the WAL and the stores keep it: what the client sent, normalised,
/// plus what ingest added (`id`, `received_at`, `pattern_id`, `template`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Log)]
pub struct StoredLog {
    /// UUIDv7 given at receipt: ids sort by arrival.
    pub id: String,
    /// Time of the event (the time of receipt when the client gave none).
    pub timestamp: DateTime<Utc>,
    pub level: Level,
    pub message: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub span_id: Option<String>,
    /// Every other field the client sent, as it sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub metadata: Option<Map<String, Value>>,
    pub received_at: DateTime<Utc>,
    /// Stable hash of `template` (see the `log-patterns` crate).
    pub pattern_id: String,
    /// The message with its variable parts masked. Kept in the WAL and the
    /// index, left out of search answers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(ignore)]
    pub template: String,
    /// The tenant whose key wrote it ([`DEFAULT_TENANT`] without keys).
    /// Left out of the WAL, the stored document and answers when it is the
    /// default, so logs from before tenants read as the default tenant's.
    #[serde(default = "default_tenant", skip_serializing_if = "is_default_tenant")]
    #[schema(nullable = false, default = "default")]
    pub tenant: String,
}

/// The tenant of logs written without a key, and of every log written
/// before tenants existed.
pub const DEFAULT_TENANT: &str = "default";

pub fn default_tenant() -> String {
    DEFAULT_TENANT.to_string()
}

fn is_default_tenant(tenant: &str) -> bool {
    tenant == DEFAULT_TENANT
}

/// Whether `name` may name a tenant (or a key): 1 to 64 ASCII letters,
/// digits, `-`, `_` or `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A log as clients send it to `/logs/ingest` (and as each item of a
/// batch). The OpenAPI documents describe the body with this type;
/// [`parse_log`] reads it (field names can be remapped by the server's
/// field mapping; unknown fields go to `metadata`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LogIn {
    /// The text of the log (at most 32 KiB).
    #[schema(
        min_length = 1,
        max_length = 32768,
        example = "payment failed for order 42: card declined"
    )]
    message: String,
    /// Where it comes from: a host, a file, a component.
    #[schema(min_length = 1, max_length = 256, example = "web-1")]
    source: String,
    /// DEBUG, INFO, WARNING, ERROR or CRITICAL (case-insensitive; common
    /// spellings such as `warn`, `err`, `fatal` are understood). Default INFO.
    #[schema(example = "ERROR")]
    level: Option<String>,
    /// RFC 3339; the time of receipt when left out.
    #[schema(format = DateTime, example = "2026-11-29T10:00:00Z")]
    timestamp: Option<String>,
    #[schema(min_length = 1, max_length = 256, example = "payments")]
    service: Option<String>,
    /// W3C trace id: 32 hexadecimal characters.
    #[schema(pattern = "^[0-9a-fA-F]{32}$")]
    trace_id: Option<String>,
    /// W3C span id: 16 hexadecimal characters.
    #[schema(pattern = "^[0-9a-fA-F]{16}$")]
    span_id: Option<String>,
    /// Any JSON object (at most 16 KiB, nested at most 8 deep).
    #[schema(value_type = Option<Object>)]
    metadata: Option<Map<String, Value>>,
}

/// A validated incoming log, before ingest gives it an id.
#[derive(Debug, Clone, PartialEq, Validate)]
pub struct NewLog {
    /// Time of the event; the time of receipt when the client gave none.
    pub timestamp: DateTime<Utc>,
    pub level: Level,
    #[validate(length(min = 1, message = "must not be empty"))]
    pub message: String,
    #[validate(length(min = 1, message = "must not be empty"))]
    pub source: String,
    #[validate(length(min = 1, message = "must not be empty"))]
    pub service: Option<String>,
    #[validate(custom(function = "hex32"))]
    pub trace_id: Option<String>,
    #[validate(custom(function = "hex16"))]
    pub span_id: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

/// `len` hexadecimal characters, not all zeros (W3C trace context ids).
pub(crate) fn hex_of_len(value: &str, len: usize) -> Result<(), ValidationError> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        if value.bytes().all(|b| b == b'0') {
            let mut err = ValidationError::new("all_zero");
            err.message = Some("must not be all zeros".into());
            return Err(err);
        }
        Ok(())
    } else {
        let mut err = ValidationError::new("hex");
        err.message = Some(format!("must be {len} hexadecimal characters").into());
        Err(err)
    }
}

fn hex32(value: &str) -> Result<(), ValidationError> {
    hex_of_len(value, 32)
}

fn hex16(value: &str) -> Result<(), ValidationError> {
    hex_of_len(value, 16)
}

/// The fields the original API defines; any other top-level key is kept in
/// `metadata` so that nothing a shipper sends is lost.
const KNOWN_FIELDS: [&str; 8] = [
    "timestamp",
    "level",
    "message",
    "source",
    "service",
    "trace_id",
    "span_id",
    "metadata",
];

/// Parses and validates one incoming log. `now` is the time of receipt, used
/// when the log has no `timestamp`.
///
/// Rules: `message` and `source` are required non-empty strings; `level`
/// defaults to INFO and accepts aliases; `timestamp` is RFC 3339 (a timestamp
/// without offset is taken as UTC); `trace_id` is 32 and `span_id` 16 hex
/// characters; `metadata` is an object within the size and depth limits.
/// Unknown top-level fields are moved into `metadata`.
pub fn parse_log(value: Value, limits: &Limits, now: DateTime<Utc>) -> Result<NewLog, FieldError> {
    let Value::Object(mut obj) = value else {
        return Err(FieldError::new(
            "",
            "not_an_object",
            format!("each log must be a JSON object, got {}", kind_of(&value)),
        ));
    };

    let message = required_string(&mut obj, "message")?;
    let source = required_string(&mut obj, "source")?;
    let service = optional_string(&mut obj, "service")?;
    let trace_id = optional_string(&mut obj, "trace_id")?.map(|s| s.to_ascii_lowercase());
    let span_id = optional_string(&mut obj, "span_id")?.map(|s| s.to_ascii_lowercase());
    let level = match optional_string(&mut obj, "level")? {
        None => Level::Info,
        Some(s) => s
            .parse()
            .map_err(|reason| FieldError::new("level", "invalid_level", reason))?,
    };
    let timestamp = match optional_string(&mut obj, "timestamp")? {
        None => now,
        Some(s) => parse_timestamp(&s)
            .map_err(|reason| FieldError::new("timestamp", "invalid_timestamp", reason))?,
    };
    let mut metadata = match obj.remove("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(other) => {
            return Err(FieldError::new(
                "metadata",
                "invalid_type",
                format!("must be a JSON object, got {}", kind_of(&other)),
            ))
        }
    };
    // What is left are fields the API does not define: keep them as metadata.
    if !obj.is_empty() {
        let meta = metadata.get_or_insert_with(Map::new);
        for (key, value) in obj {
            debug_assert!(!KNOWN_FIELDS.contains(&key.as_str()));
            meta.entry(key).or_insert(value);
        }
    }

    check_log(
        NewLog {
            timestamp,
            level,
            message,
            source,
            service,
            trace_id,
            span_id,
            metadata,
        },
        limits,
    )
}

/// Validates a log built by other means than [`parse_log`] (a protocol that
/// maps its own typed fields): the same rules, the same errors.
pub fn check_log(log: NewLog, limits: &Limits) -> Result<NewLog, FieldError> {
    log.validate().map_err(first_error)?;
    check_limits(&log, limits)?;
    Ok(log)
}

/// RFC 3339, or ISO 8601 without an offset (taken as UTC, as Python's
/// `datetime.isoformat()` writes it).
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "{s:?} is not an RFC 3339 timestamp (e.g. 2024-01-15T10:30:00Z)"
    ))
}

fn check_limits(log: &NewLog, limits: &Limits) -> Result<(), FieldError> {
    let too_long = |field: &str, len: usize, max: usize| {
        FieldError::new(
            field,
            "too_large",
            format!("is {len} bytes; the limit is {max} bytes"),
        )
    };
    if log.message.len() > limits.max_message_bytes {
        return Err(too_long(
            "message",
            log.message.len(),
            limits.max_message_bytes,
        ));
    }
    if log.source.len() > limits.max_name_bytes {
        return Err(too_long("source", log.source.len(), limits.max_name_bytes));
    }
    if let Some(service) = &log.service {
        if service.len() > limits.max_name_bytes {
            return Err(too_long("service", service.len(), limits.max_name_bytes));
        }
    }
    if let Some(meta) = &log.metadata {
        let depth = 1 + meta.values().map(depth_of).max().unwrap_or(0);
        if depth > limits.max_metadata_depth {
            return Err(FieldError::new(
                "metadata",
                "too_deep",
                format!(
                    "is nested {depth} levels deep; the limit is {}",
                    limits.max_metadata_depth
                ),
            ));
        }
        let size = json_len(meta);
        if size > limits.max_metadata_bytes {
            return Err(too_long("metadata", size, limits.max_metadata_bytes));
        }
    }
    Ok(())
}

/// Bytes of `value`'s JSON encoding, counted without building it.
fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

fn depth_of(value: &Value) -> usize {
    match value {
        Value::Object(m) => 1 + m.values().map(depth_of).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

fn first_error(errors: ValidationErrors) -> FieldError {
    let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
    fields.sort_by_key(|(name, _)| name.to_string());
    match fields
        .first()
        .and_then(|(name, errs)| errs.first().map(|e| (name, e)))
    {
        Some((name, err)) => FieldError::new(
            name.to_string(),
            "invalid_field",
            err.message
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_else(|| err.code.to_string()),
        ),
        None => FieldError::new("", "invalid_field", errors.to_string()),
    }
}

fn required_string(obj: &mut Map<String, Value>, field: &str) -> Result<String, FieldError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Err(FieldError::new(field, "missing_field", "is required")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(field, &other)),
    }
}

fn optional_string(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<String>, FieldError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(field, &other)),
    }
}

fn wrong_type(field: &str, value: &Value) -> FieldError {
    FieldError::new(
        field,
        "invalid_type",
        format!("must be a string, got {}", kind_of(value)),
    )
}

/// How an error names a JSON value's type.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Calls `f` with each leaf of a metadata object: its dotted path and its
/// value. Objects are walked into, arrays give each element; `null`s and
/// empty containers give nothing.
pub fn metadata_leaves(metadata: &Map<String, Value>, f: &mut impl FnMut(&str, &Value)) {
    fn walk(v: &Value, path: &mut String, f: &mut impl FnMut(&str, &Value)) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    walk(v, path, f);
                    path.truncate(len);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, path, f)),
            Value::Null => {}
            leaf => f(path, leaf),
        }
    }
    for (k, v) in metadata {
        let mut path = k.clone();
        walk(v, &mut path, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    /// `Ok(())` when valid, else `Err((field, kind))`.
    fn check(input: Value, expected: Result<(), (&str, &str)>) {
        let got = parse_log(input.clone(), &Limits::default(), now())
            .map(|_| ())
            .map_err(|e| (e.field.clone(), e.kind));
        let expected = expected.map_err(|(f, k)| (f.to_string(), k));
        assert_eq!(got, expected, "input {input}");
    }

    #[test]
    fn validates_fields() {
        let ok = Ok(());
        check(json!({"message": "m", "source": "s"}), ok);
        check(
            json!({"level":"ERROR","message":"Database connection failed","source":"web-server-01","service":"user-service"}),
            ok,
        );
        check(json!({"message": "m", "source": "s", "level": "warn"}), ok);
        check(
            json!({"message": "m", "source": "s", "timestamp": "2024-01-15T10:30:00Z"}),
            ok,
        );
        check(
            json!({"message": "m", "source": "s", "timestamp": "2024-01-15T10:30:00.123+02:00"}),
            ok,
        );
        check(
            json!({"message": "m", "source": "s", "timestamp": "2024-01-15T10:30:00.123456"}),
            ok,
        );
        check(
            json!({"message": "m", "source": "s", "timestamp": null}),
            ok,
        );
        check(
            json!({"message": "m", "source": "s", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}),
            ok,
        );
        check(
            json!({"message": "m", "source": "s", "metadata": {"user": {"id": 5}}}),
            ok,
        );
        check(json!({"message": "m", "source": "s", "host": "h1"}), ok);
        check(json!({"source": "s"}), Err(("message", "missing_field")));
        check(
            json!({"message": null, "source": "s"}),
            Err(("message", "missing_field")),
        );
        check(
            json!({"message": "", "source": "s"}),
            Err(("message", "invalid_field")),
        );
        check(
            json!({"message": 5, "source": "s"}),
            Err(("message", "invalid_type")),
        );
        check(json!({"message": "m"}), Err(("source", "missing_field")));
        check(
            json!({"message": "m", "source": ""}),
            Err(("source", "invalid_field")),
        );
        check(
            json!({"message": "m", "source": ["a"]}),
            Err(("source", "invalid_type")),
        );
        check(
            json!({"message": "m", "source": "s", "service": ""}),
            Err(("service", "invalid_field")),
        );
        check(
            json!({"message": "m", "source": "s", "level": "LOUD"}),
            Err(("level", "invalid_level")),
        );
        check(
            json!({"message": "m", "source": "s", "level": 3}),
            Err(("level", "invalid_type")),
        );
        check(
            json!({"message": "m", "source": "s", "timestamp": "yesterday"}),
            Err(("timestamp", "invalid_timestamp")),
        );
        check(
            json!({"message": "m", "source": "s", "timestamp": 1700000000}),
            Err(("timestamp", "invalid_type")),
        );
        check(
            json!({"message": "m", "source": "s", "trace_id": "abc"}),
            Err(("trace_id", "invalid_field")),
        );
        check(
            json!({"message": "m", "source": "s", "trace_id": "00000000000000000000000000000000"}),
            Err(("trace_id", "invalid_field")),
        );
        check(
            json!({"message": "m", "source": "s", "span_id": "zz f067aa0ba902b"}),
            Err(("span_id", "invalid_field")),
        );
        check(
            json!({"message": "m", "source": "s", "metadata": [1]}),
            Err(("metadata", "invalid_type")),
        );
        check(
            json!({"message": "m", "source": "s", "metadata": {"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}}),
            Err(("metadata", "too_deep")),
        );
        check(
            json!({"message": "x".repeat(40 * 1024), "source": "s"}),
            Err(("message", "too_large")),
        );
        check(
            json!({"message": "m", "source": "s".repeat(300)}),
            Err(("source", "too_large")),
        );
        check(
            json!({"message": "m", "source": "s", "metadata": {"blob": "x".repeat(20 * 1024)}}),
            Err(("metadata", "too_large")),
        );
        check(json!(["not", "an", "object"]), Err(("", "not_an_object")));
        check(json!("text"), Err(("", "not_an_object")));
    }

    #[test]
    fn fills_defaults_and_normalises() {
        let log = parse_log(
            json!({"message": "m", "source": "s", "level": "fatal", "trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736", "host": "h1", "metadata": {"host": "kept"}}),
            &Limits::default(),
            now(),
        )
        .unwrap();
        assert_eq!(log.timestamp, now());
        assert_eq!(log.level, Level::Critical);
        assert_eq!(
            log.trace_id.as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // An unknown field is kept in metadata, but never overwrites it.
        assert_eq!(log.metadata.unwrap()["host"], json!("kept"));

        let log = parse_log(
            json!({"message": "m", "source": "s", "region": "eu"}),
            &Limits::default(),
            now(),
        )
        .unwrap();
        assert_eq!(log.level, Level::Info);
        assert_eq!(log.metadata.unwrap()["region"], json!("eu"));
    }

    #[test]
    fn timestamps_keep_their_instant() {
        let log = parse_log(
            json!({"message": "m", "source": "s", "timestamp": "2024-01-15T12:30:00+02:00"}),
            &Limits::default(),
            now(),
        )
        .unwrap();
        assert_eq!(
            log.timestamp,
            "2024-01-15T10:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    /// The tenant rides in the WAL and the stored document when it is not
    /// the default; a log written before tenants reads as the default
    /// tenant's; and a client cannot pick its tenant through the body (a
    /// `tenant` field is metadata like any unknown field).
    #[test]
    fn tenant_is_kept_defaulted_and_never_taken_from_the_body() {
        let log = parse_log(
            json!({"message": "m", "source": "s", "tenant": "globex"}),
            &Limits::default(),
            now(),
        )
        .unwrap();
        assert_eq!(log.metadata.as_ref().unwrap()["tenant"], json!("globex"));
        let stored = StoredLog {
            id: "i".into(),
            timestamp: now(),
            level: Level::Info,
            message: "m".into(),
            source: "s".into(),
            service: None,
            trace_id: None,
            span_id: None,
            metadata: None,
            received_at: now(),
            pattern_id: "p".into(),
            template: "m".into(),
            tenant: "acme".into(),
        };
        let text = serde_json::to_string(&stored).unwrap();
        assert!(text.contains(r#""tenant":"acme""#), "{text}");
        assert_eq!(serde_json::from_str::<StoredLog>(&text).unwrap(), stored);
        let default = StoredLog {
            tenant: DEFAULT_TENANT.into(),
            ..stored
        };
        let text = serde_json::to_string(&default).unwrap();
        assert!(!text.contains("tenant"), "{text}");
        assert_eq!(serde_json::from_str::<StoredLog>(&text).unwrap(), default);
        assert!(valid_name("acme-eu_1.prod") && !valid_name("") && !valid_name("a/b"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
