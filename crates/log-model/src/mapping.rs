//! Field mapping: turns a document as shippers send it to Elasticsearch
//! (ECS, OpenTelemetry-mapped, or plain JSON lines) into a validated log
//! ([`map_log`]), by the same rules and with the same errors as a native
//! log going through [`crate::parse_log`].
//!
//! Each native field is looked up by a list of candidate names, first found
//! wins. A name is a dotted path that matches a dotted key (`"log.level": x`),
//! nested objects (`"log": {"level": x}`), or any mix of the two
//! (`"resource": {"attributes": {"service.name": x}}`). What is taken is
//! removed from the document; what is left becomes `metadata`, with the
//! target index name under `index`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::log::{hex_of_len, kind_of, parse_timestamp};
use crate::{check_log, FieldError, Level, Limits, NewLog};

/// Candidate names of each native field, and defaults for what is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    pub timestamp: Vec<String>,
    pub message: Vec<String>,
    pub level: Vec<String>,
    /// Numeric severities (OpenTelemetry's 1..=24), used when no level text is found.
    pub severity_number: Vec<String>,
    pub source: Vec<String>,
    pub service: Vec<String>,
    pub trace_id: Vec<String>,
    pub span_id: Vec<String>,
    /// The source of documents that name none.
    pub default_source: String,
    /// The service of documents that name none (none by default).
    pub default_service: Option<String>,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for FieldMap {
    /// Plain JSON, ECS (Filebeat, Logstash, Elastic agents), the OpenTelemetry
    /// Collector's Elasticsearch exporter (`otel` mapping mode: `body.text`,
    /// `severity_text`, `resource.attributes.*`; `none` mode: `Body`,
    /// `SeverityText`, `Resource.*`) and common logger spellings.
    fn default() -> Self {
        FieldMap {
            timestamp: names(&["@timestamp", "timestamp", "time", "Timestamp"]),
            message: names(&["message", "msg", "log", "body.text", "body", "Body"]),
            level: names(&[
                "log.level",
                "level",
                "severity",
                "severity_text",
                "SeverityText",
                "syslog.severity_label",
            ]),
            severity_number: names(&["severity_number", "SeverityNumber"]),
            source: names(&[
                "host.name",
                "hostname",
                "source",
                "host.hostname",
                "resource.attributes.host.name",
                "Resource.host.name",
                "host",
            ]),
            service: names(&[
                "service.name",
                "service",
                "app",
                "resource.attributes.service.name",
                "Resource.service.name",
            ]),
            trace_id: names(&["trace.id", "trace_id", "TraceId", "traceId"]),
            span_id: names(&["span.id", "span_id", "SpanId", "spanId"]),
            default_source: "unknown".to_string(),
            default_service: None,
        }
    }
}

impl FieldMap {
    /// Replaces the candidates of one field (`timestamp`, `message`, `level`,
    /// `source`, `service`, `trace_id`, `span_id`) by a comma-separated list.
    pub fn set(&mut self, field: &str, list: &str) -> Result<(), String> {
        let list: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if list.is_empty() {
            return Err(format!("the field list for {field} is empty"));
        }
        let slot = match field {
            "timestamp" => &mut self.timestamp,
            "message" => &mut self.message,
            "level" => &mut self.level,
            "source" => &mut self.source,
            "service" => &mut self.service,
            "trace_id" => &mut self.trace_id,
            "span_id" => &mut self.span_id,
            other => return Err(format!("no field {other:?} to map")),
        };
        *slot = list;
        Ok(())
    }
}

/// Why a document cannot be mapped (the document is refused, the others of
/// its request are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError(pub String);

/// A document's log fields, taken out of it, and what is left.
struct Mapped {
    message: String,
    timestamp: Option<Value>,
    level: Option<Level>,
    source: String,
    service: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
    metadata: Map<String, Value>,
}

/// The same mapping as native JSON, for the tests: [`map_log`] must give
/// what this followed by [`crate::parse_log`] gives.
#[cfg(test)]
fn map_document(doc: Value, index: Option<&str>, map: &FieldMap) -> Result<Value, MappingError> {
    let m = mapped(doc, index, map)?;
    let mut out = Map::new();
    out.insert("message".into(), Value::String(m.message));
    if let Some(ts) = m.timestamp {
        let ts = match ts {
            Value::Number(_) => Value::String(millis_time(&ts)?.to_rfc3339()),
            other => other,
        };
        out.insert("timestamp".into(), ts);
    }
    if let Some(level) = m.level {
        out.insert("level".into(), Value::String(level.as_str().into()));
    }
    out.insert("source".into(), Value::String(m.source));
    for (field, value) in [
        ("service", m.service),
        ("trace_id", m.trace_id),
        ("span_id", m.span_id),
    ] {
        if let Some(value) = value {
            out.insert(field.into(), Value::String(value));
        }
    }
    if !m.metadata.is_empty() {
        out.insert("metadata".into(), Value::Object(m.metadata));
    }
    Ok(Value::Object(out))
}

/// Maps and validates one document into a log. `index` is the target index
/// (or data stream) named by the request, kept as `metadata.index`. A
/// document that cannot be mapped is refused with the kind
/// `invalid_document`.
pub fn map_log(
    doc: Value,
    index: Option<&str>,
    map: &FieldMap,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<NewLog, FieldError> {
    let invalid = |e: MappingError| FieldError::new("", "invalid_document", e.0);
    let m = mapped(doc, index, map).map_err(invalid)?;
    let timestamp = match m.timestamp {
        None => now,
        Some(Value::String(s)) => parse_timestamp(&s)
            .map_err(|reason| FieldError::new("timestamp", "invalid_timestamp", reason))?,
        Some(other) => millis_time(&other).map_err(invalid)?,
    };
    check_log(
        NewLog {
            timestamp,
            level: m.level.unwrap_or(Level::Info),
            message: m.message,
            source: m.source,
            service: m.service,
            trace_id: m.trace_id,
            span_id: m.span_id,
            metadata: (!m.metadata.is_empty()).then_some(m.metadata),
        },
        limits,
    )
}

fn mapped(doc: Value, index: Option<&str>, map: &FieldMap) -> Result<Mapped, MappingError> {
    let Value::Object(mut doc) = doc else {
        return Err(MappingError(format!(
            "a document must be a JSON object, got {}",
            kind_of(&doc)
        )));
    };
    let keys = initials(&doc);
    let message = take_first(&mut doc, keys, &map.message, |v| {
        matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
    })
    .or_else(|| take_first(&mut doc, keys, &map.message, |v| v.is_object() || v.is_array()))
    .ok_or_else(|| {
        MappingError(format!(
            "the document has no message field (looked for {}; name yours with the message_field parameter)",
            map.message.join(", ")
        ))
    })?;
    let message = match message {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let mut extra = Map::new();
    let timestamp = take_first(&mut doc, keys, &map.timestamp, is_scalar);

    let level_text = take_first(&mut doc, keys, &map.level, |v| v.is_string());
    let severity = take_first(&mut doc, keys, &map.severity_number, |v| v.is_number());
    let level = match (&level_text, &severity) {
        (Some(Value::String(text)), _) if parse_level_text(text).is_some() => {
            parse_level_text(text)
        }
        (_, Some(n)) => n.as_i64().and_then(Level::from_otel_severity),
        _ => None,
    };
    if let (None, Some(text)) = (level, level_text) {
        // A spelling no logger maps: kept as sent, the log stored as INFO.
        extra.insert("level_original".into(), text);
    }

    let source = take_first(&mut doc, keys, &map.source, |v| v.is_string())
        .and_then(|v| match v {
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| map.default_source.clone());
    let service = take_first(&mut doc, keys, &map.service, |v| v.is_string())
        .and_then(|v| match v {
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        })
        .or_else(|| map.default_service.clone());
    // Ids that are not W3C trace context are kept as sent, not refused.
    let mut ids = [None, None];
    for (slot, (field, candidates, len)) in [
        ("trace_id", &map.trace_id, 32),
        ("span_id", &map.span_id, 16),
    ]
    .into_iter()
    .enumerate()
    {
        if let Some(value) = take_first(&mut doc, keys, candidates, |v| v.is_string()) {
            let text = value.as_str().unwrap_or_default();
            if hex_of_len(text, len).is_ok() {
                ids[slot] = Some(text.to_ascii_lowercase());
            } else {
                extra.insert(format!("{field}_original"), value);
            }
        }
    }
    let [trace_id, span_id] = ids;
    let mut metadata = doc;
    metadata.append(&mut extra);
    if let Some(index) = index {
        // A document's own `index` field is kept beside the target's name.
        if let Some(own) = metadata.insert("index".into(), Value::String(index.to_string())) {
            metadata.insert("index_original".into(), own);
        }
    }
    Ok(Mapped {
        message,
        timestamp,
        level,
        source,
        service,
        trace_id,
        span_id,
        metadata,
    })
}

/// A level name, also with OpenTelemetry's numbered variants (`INFO2`, `WARN4`).
pub fn parse_level_text(text: &str) -> Option<Level> {
    let trimmed = text.trim();
    trimmed.parse().ok().or_else(|| {
        trimmed
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .parse()
            .ok()
    })
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_))
}

/// A number of milliseconds since the epoch as a time (Elasticsearch's
/// default date format takes strings and epoch milliseconds).
fn millis_time(ts: &Value) -> Result<DateTime<Utc>, MappingError> {
    let Value::Number(n) = ts else {
        return Err(MappingError(format!(
            "timestamp must be a string or epoch milliseconds, got {}",
            kind_of(ts)
        )));
    };
    let millis = n
        .as_i64()
        .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        .ok_or_else(|| MappingError(format!("timestamp {n} is not a number of milliseconds")))?;
    DateTime::<Utc>::from_timestamp_millis(millis)
        .ok_or_else(|| MappingError(format!("timestamp {millis} ms is out of range")))
}

/// The first of `candidates` in `doc` that `want` accepts, taken out.
/// `initials` has a bit for the first byte of each top-level key (see
/// [`initials`]): a candidate whose first byte has none cannot be there and
/// costs no lookup (most documents lack most candidates).
fn take_first(
    doc: &mut Map<String, Value>,
    initials: u128,
    candidates: &[String],
    want: fn(&Value) -> bool,
) -> Option<Value> {
    candidates
        .iter()
        .filter(|path| initials & initial_bit(path) != 0)
        .find_map(|path| take_path(doc, path, want))
}

fn initial_bit(key: &str) -> u128 {
    1u128 << (key.as_bytes().first().copied().unwrap_or(0) & 127)
}

/// The first bytes of a document's keys, as bits (a superset stays right
/// as keys are taken out).
fn initials(doc: &Map<String, Value>) -> u128 {
    doc.keys().fold(0, |bits, key| bits | initial_bit(key))
}

/// Removes and returns the value at a dotted `path` if `want` accepts it,
/// trying the whole path as one key, then each split into a key and a rest
/// inside an object; objects emptied by the removal are removed too.
pub fn take_path(
    obj: &mut Map<String, Value>,
    path: &str,
    want: fn(&Value) -> bool,
) -> Option<Value> {
    if obj.get(path).is_some_and(want) {
        return obj.remove(path);
    }
    for (i, _) in path.match_indices('.') {
        let (head, rest) = (&path[..i], &path[i + 1..]);
        let Some(Value::Object(child)) = obj.get_mut(head) else {
            continue;
        };
        if let Some(found) = take_path(child, rest, want) {
            if child.is_empty() {
                obj.remove(head);
            }
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(doc: Value) -> Value {
        map_document(doc, Some("logs-web"), &FieldMap::default()).unwrap()
    }

    #[test]
    fn ecs_dotted_and_nested_are_the_same() {
        let dotted = map(json!({
            "@timestamp": "2026-11-28T10:00:00Z", "message": "disk full",
            "log.level": "error", "host.name": "web-1", "service.name": "api",
            "trace.id": "4BF92F3577B34DA6A3CE929D0E0E4736", "span.id": "00f067aa0ba902b7",
            "http.response.status_code": 500
        }));
        let nested = map(json!({
            "@timestamp": "2026-11-28T10:00:00Z", "message": "disk full",
            "log": {"level": "error"}, "host": {"name": "web-1"}, "service": {"name": "api"},
            "trace": {"id": "4BF92F3577B34DA6A3CE929D0E0E4736"}, "span": {"id": "00f067aa0ba902b7"},
            "http.response.status_code": 500
        }));
        assert_eq!(dotted, nested);
        assert_eq!(
            dotted,
            json!({
                "timestamp": "2026-11-28T10:00:00Z", "message": "disk full", "level": "ERROR",
                "source": "web-1", "service": "api",
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
                "metadata": {"http.response.status_code": 500, "index": "logs-web"}
            })
        );
    }

    #[test]
    fn otel_exporter_documents() {
        // The OpenTelemetry Collector's Elasticsearch exporter, `otel` mode.
        let otel = map(json!({
            "@timestamp": "2026-11-28T10:00:00.123456789Z",
            "observed_timestamp": "2026-11-28T10:00:01Z",
            "body": {"text": "payment failed"},
            "severity_text": "ERROR2", "severity_number": 18,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
            "attributes": {"order.id": "o-17"},
            "resource": {"attributes": {"service.name": "checkout", "host.name": "node-3", "k8s.pod.name": "p"}},
            "scope": {"name": "io.example"},
            "data_stream": {"type": "logs", "dataset": "generic.otel", "namespace": "default"}
        }));
        assert_eq!(otel["message"], "payment failed");
        assert_eq!(otel["level"], "ERROR");
        assert_eq!(otel["service"], "checkout");
        assert_eq!(otel["source"], "node-3");
        assert_eq!(otel["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(otel["metadata"]["attributes"]["order.id"], "o-17");
        assert_eq!(
            otel["metadata"]["resource"]["attributes"]["k8s.pod.name"],
            "p"
        );
        assert!(otel["metadata"]["resource"]["attributes"]
            .get("service.name")
            .is_none());
        // `none` mode: capitalised names; a number alone gives the level.
        let none = map(json!({
            "@timestamp": "2026-11-28T10:00:00Z", "Body": "cache miss", "SeverityNumber": 13,
            "Resource": {"service.name": "cache", "host.name": "node-4"}, "Attributes": {"k": 1}
        }));
        assert_eq!(none["message"], "cache miss");
        assert_eq!(none["level"], "WARNING");
        assert_eq!(none["service"], "cache");
        assert_eq!(none["source"], "node-4");
    }

    #[test]
    fn plain_lines_and_defaults() {
        // Fluent Bit tail: only `log` and a time in epoch milliseconds.
        let doc = map(json!({"log": "GET / 200", "@timestamp": 1_795_000_000_000i64}));
        assert_eq!(doc["message"], "GET / 200");
        assert_eq!(doc["source"], "unknown");
        assert!(doc["timestamp"].as_str().unwrap().starts_with("2026-"));
        assert!(doc.get("level").is_none());
        // `log` as ECS's object is not a message; `msg` is.
        let doc = map(json!({"log": {"logger": "x"}, "msg": "hi", "level": "Verbose9x"}));
        assert_eq!(doc["message"], "hi");
        assert_eq!(doc["metadata"]["log"]["logger"], "x");
        assert_eq!(doc["metadata"]["level_original"], "Verbose9x");
        // A structured body is kept as JSON text.
        let doc = map(json!({"body": {"structured": {"a": 1}}}));
        assert_eq!(doc["message"], r#"{"structured":{"a":1}}"#);
        // A document's own `index` is kept beside the target index.
        let doc = map(json!({"message": "m", "index": 7}));
        assert_eq!(doc["metadata"]["index"], "logs-web");
        assert_eq!(doc["metadata"]["index_original"], 7);
        // Ids that are not trace context are kept, not refused.
        let doc = map(json!({"message": "m", "trace_id": "abc"}));
        assert!(doc.get("trace_id").is_none());
        assert_eq!(doc["metadata"]["trace_id_original"], "abc");
    }

    #[test]
    fn overrides_and_refusals() {
        let mut fields = FieldMap::default();
        fields.set("message", "event.original").unwrap();
        fields.set("source", "agent.hostname").unwrap();
        fields.default_service = Some("edge".into());
        let doc = map_document(
            json!({"event": {"original": "raw line"}, "message": "not this", "agent": {"hostname": "a1"}}),
            None,
            &fields,
        )
        .unwrap();
        assert_eq!(doc["message"], "raw line");
        assert_eq!(doc["source"], "a1");
        assert_eq!(doc["service"], "edge");
        assert_eq!(doc["metadata"]["message"], "not this");
        assert!(fields.set("colour", "x").is_err());
        assert!(fields.set("message", " , ").is_err());
        let e = map_document(json!({"text": "x"}), None, &FieldMap::default()).unwrap_err();
        assert!(e.0.contains("no message field"), "{}", e.0);
        assert!(map_document(json!([1]), None, &FieldMap::default()).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Keys drawn from the mapped names, their parts, and others.
        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "message",
                    "msg",
                    "log",
                    "body",
                    "text",
                    "Body",
                    "@timestamp",
                    "time",
                    "level",
                    "log.level",
                    "severity_number",
                    "host",
                    "host.name",
                    "name",
                    "service",
                    "service.name",
                    "trace.id",
                    "trace",
                    "id",
                    "span_id",
                    "resource",
                    "attributes",
                    "index",
                    "metadata",
                    "",
                ])
                .prop_map(str::to_string),
                "[a-z._@]{0,12}",
            ]
        }

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "\\PC{0,20}".prop_map(Value::String),
                Just(Value::String("2026-11-28T10:00:00Z".into())),
                Just(Value::String("ERROR".into())),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(key(), inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Any document maps without panicking; what maps has a message,
            /// a source and the index, and then validates or is refused
            /// with a reason.
            #[test]
            fn any_document_maps_or_is_refused_by_name(doc in json()) {
                // The direct path gives what the native JSON path gives.
                let now = chrono::Utc::now();
                let limits = crate::Limits::default();
                let direct = map_log(doc.clone(), Some("idx"), &FieldMap::default(), &limits, now);
                let via_json = map_document(doc.clone(), Some("idx"), &FieldMap::default())
                    .map_err(|e| FieldError::new("", "invalid_document", e.0))
                    .and_then(|native| crate::parse_log(native, &limits, now));
                prop_assert_eq!(direct.ok(), via_json.ok());
                match map_document(doc, Some("idx"), &FieldMap::default()) {
                    Err(e) => prop_assert!(!e.0.is_empty()),
                    Ok(native) => {
                        prop_assert!(native["message"].is_string());
                        prop_assert!(native["source"].as_str().is_some_and(|s| !s.is_empty()));
                        prop_assert_eq!(&native["metadata"]["index"], "idx");
                        let now = chrono::Utc::now();
                        if let Err(e) = crate::parse_log(native, &crate::Limits::default(), now) {
                            prop_assert!(!e.reason.is_empty());
                        }
                    }
                }
            }
        }
    }
}
