//! The same generated logs in each protocol the ingest port speaks: the
//! native batch route (JSON array), the Elasticsearch bulk API (NDJSON),
//! and OTLP/HTTP (protobuf), each optionally gzip-compressed.

use std::collections::BTreeMap;
use std::io::Write;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `POST /logs/batch-ingest`, a JSON array.
    Native,
    /// `POST /_bulk`, NDJSON `create` actions.
    Bulk,
    /// `POST /v1/logs`, OTLP protobuf.
    Otlp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Native, Protocol::Bulk, Protocol::Otlp];

    pub fn path(self) -> &'static str {
        match self {
            Protocol::Native => "/logs/batch-ingest",
            Protocol::Bulk => "/_bulk",
            Protocol::Otlp => "/v1/logs",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Native => "application/json",
            Protocol::Bulk => "application/x-ndjson",
            Protocol::Otlp => "application/x-protobuf",
        }
    }

    /// The status of an acknowledged request.
    pub fn acked(self, status: u16) -> bool {
        match self {
            Protocol::Native => status == 202,
            Protocol::Bulk | Protocol::Otlp => status == 200,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Native => "native",
            Protocol::Bulk => "bulk",
            Protocol::Otlp => "otlp",
        }
    }

    /// One request body holding `logs` (native-shaped, as [`crate::gen`]
    /// makes them). Every protocol stores the same logs: the bulk API keeps
    /// the target index as `metadata.index`, so the native and OTLP bodies
    /// carry that field too.
    pub fn encode(self, logs: &[Value], gzip: bool) -> Vec<u8> {
        let body = match self {
            Protocol::Native => {
                let logs: Vec<Value> = logs.iter().map(with_index).collect();
                serde_json::to_vec(&logs).expect("serialises")
            }
            Protocol::Bulk => {
                let mut out = Vec::new();
                for log in logs {
                    out.extend_from_slice(b"{\"create\":{\"_index\":\"logs-logbench\"}}\n");
                    serde_json::to_writer(&mut out, &ecs(log)).expect("serialises");
                    out.push(b'\n');
                }
                out
            }
            Protocol::Otlp => {
                let logs: Vec<Value> = logs.iter().map(with_index).collect();
                otlp_request(&logs).encode_to_vec()
            }
        };
        if !gzip {
            return body;
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&body).expect("in memory");
        e.finish().expect("in memory")
    }
}

/// The index a bulk request names, also in the other protocols' logs.
const INDEX: &str = "logs-logbench";

fn with_index(log: &Value) -> Value {
    let mut log = log.clone();
    if let Some(meta) = log.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("index".into(), Value::String(INDEX.into()));
    }
    log
}

/// A log as an ECS shipper (Filebeat, Logstash) writes it: `@timestamp`,
/// `log.level`, `host.name`, `service.name`, and its other fields at the top.
fn ecs(log: &Value) -> Value {
    let mut doc = serde_json::Map::new();
    for (from, to) in [
        ("timestamp", "@timestamp"),
        ("message", "message"),
        ("level", "log.level"),
        ("source", "host.name"),
        ("service", "service.name"),
    ] {
        if let Some(v) = log.get(from) {
            doc.insert(to.to_string(), v.clone());
        }
    }
    if let Some(meta) = log["metadata"].as_object() {
        for (k, v) in meta {
            doc.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(doc)
}

fn string_value(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    })
}

fn any(v: &Value) -> Option<AnyValue> {
    let value = match v {
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) if n.is_i64() => any_value::Value::IntValue(n.as_i64().unwrap_or(0)),
        Value::Number(n) => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        other => any_value::Value::StringValue(other.to_string()),
    };
    Some(AnyValue { value: Some(value) })
}

fn severity(level: &str) -> i32 {
    match level {
        "DEBUG" => 5,
        "WARNING" => 13,
        "ERROR" => 17,
        "CRITICAL" => 21,
        _ => 9,
    }
}

/// The logs as an SDK sends them: one resource per (service, host), the
/// metadata as attributes.
pub fn otlp_request(logs: &[Value]) -> ExportLogsServiceRequest {
    let mut groups: BTreeMap<(String, String), Vec<LogRecord>> = BTreeMap::new();
    for log in logs {
        let text = |k: &str| log[k].as_str().unwrap_or_default().to_string();
        let time = chrono::DateTime::parse_from_rfc3339(&text("timestamp"))
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0) as u64;
        let level = text("level");
        let attributes = log["metadata"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| KeyValue {
                        key: k.clone(),
                        value: any(v),
                        ..Default::default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        groups
            .entry((text("service"), text("source")))
            .or_default()
            .push(LogRecord {
                time_unix_nano: time,
                severity_number: severity(&level),
                severity_text: level,
                body: string_value(&text("message")),
                attributes,
                ..Default::default()
            });
    }
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|((service, host), records)| ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        KeyValue {
                            key: "service.name".into(),
                            value: string_value(&service),
                            ..Default::default()
                        },
                        KeyValue {
                            key: "host.name".into(),
                            value: string_value(&host),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{self, Rng};

    #[test]
    fn every_protocol_carries_every_log() {
        let logs = gen::batch(
            &mut Rng::new(3),
            200,
            chrono::Utc::now(),
            chrono::Duration::zero(),
        );
        let bulk = String::from_utf8(Protocol::Bulk.encode(&logs, false)).unwrap();
        assert_eq!(bulk.lines().count(), 400);
        assert!(bulk.ends_with('\n'));
        let otlp =
            ExportLogsServiceRequest::decode(&Protocol::Otlp.encode(&logs, false)[..]).unwrap();
        let records: usize = otlp
            .resource_logs
            .iter()
            .map(|r| r.scope_logs[0].log_records.len())
            .sum();
        assert_eq!(records, 200);
        let zipped = Protocol::Native.encode(&logs, true);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, Protocol::Native.encode(&logs, false));
    }
}
