//! The shippers' protocols on the ingest port: the Elasticsearch bulk API
//! and the calls shippers make at start, OTLP/HTTP logs, and compressed
//! bodies on every route. Each test ends by reading the logs back through
//! queryd's search.

use std::io::Write;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{json, Value};

use crate::util::{client, eventually, get, get_text, metric, Stack};

const PRODUCT: &str = "x-elastic-product";

async fn search(s: &Stack, params: &str) -> Vec<Value> {
    let (status, body) = get(&format!("{}/logs/search?limit=1000&{params}", s.query)).await;
    assert_eq!(status, 200, "{body}");
    body["logs"].as_array().unwrap().clone()
}

/// Waits until a search finds `n` logs.
async fn found(s: &Stack, params: &str, n: usize) -> Vec<Value> {
    eventually(
        Duration::from_secs(20),
        &format!("{n} logs for {params}"),
        || async {
            let logs = search(s, params).await;
            (logs.len() == n).then_some(logs)
        },
    )
    .await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

fn ndjson(lines: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend(serde_json::to_vec(line).unwrap());
        out.push(b'\n');
    }
    out
}

#[actix_web::test]
async fn answers_like_an_elasticsearch_8_node_to_shippers_starting() {
    let s = Stack::start().await;
    let c = client();
    let compat = "application/vnd.elasticsearch+json; compatible-with=8";
    let r = c
        .get(format!("{}/", s.ingest))
        .header("Accept", compat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[PRODUCT], "Elasticsearch");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/vnd.elasticsearch+json"));
    let root: Value = r.json().await.unwrap();
    assert!(root["version"]["number"]
        .as_str()
        .unwrap()
        .starts_with("8."));
    assert_eq!(root["version"]["build_flavor"], "default");
    assert_eq!(root["tagline"], "You Know, for Search");
    let r = c.head(format!("{}/", s.ingest)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[PRODUCT], "Elasticsearch");

    // Reads of what shippers look for, then the writes they make.
    for (path, check) in [
        ("/_license", "/license/status"),
        ("/_cluster/health", "/status"),
        ("/_nodes/_all/http", "/_nodes/successful"),
        (
            "/_index_template/filebeat-8.17.0",
            "/index_templates/0/name",
        ),
        ("/_template/logstash", "/logstash/order"),
        ("/_data_stream/logs-generic-default", "/data_streams/0/name"),
        ("/_ilm/policy/filebeat", "/filebeat/policy"),
        (
            "/_ingest/pipeline/filebeat-8.17.0-nginx",
            "/filebeat-8.17.0-nginx/processors",
        ),
        ("/_xpack", "/license/status"),
    ] {
        let r = c
            .get(format!("{}{path}", s.ingest))
            .header("Accept", compat)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()[PRODUCT], "Elasticsearch", "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body.pointer(check).is_some(), "{path}: {body}");
    }
    let (_, license) = get(&format!("{}/_license", s.ingest)).await;
    assert_eq!(license["license"]["status"], "active");
    let (_, health) = get(&format!("{}/_cluster/health", s.ingest)).await;
    assert_eq!(health["status"], "green");
    for path in [
        "/_index_template/filebeat-8.17.0",
        "/_ilm/policy/filebeat",
        "/_ingest/pipeline/p1",
        "/_data_stream/logs-generic-default",
        "/_component_template/c1",
    ] {
        let r = c
            .put(format!("{}{path}", s.ingest))
            .json(&json!({"index_patterns": ["x*"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()[PRODUCT], "Elasticsearch");
        assert_eq!(r.json::<Value>().await.unwrap()["acknowledged"], true);
        let r = c.head(format!("{}{path}", s.ingest)).send().await.unwrap();
        assert_eq!(r.status(), 200, "HEAD {path}");
    }
    // What it does not serve, it says so in Elasticsearch's shape.
    let r = c
        .get(format!("{}/_cat/indices", s.ingest))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()[PRODUCT], "Elasticsearch");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "illegal_argument_exception");
    assert_eq!(body["status"], 400);
    s.stop().await;
}

#[actix_web::test]
async fn bulk_stores_each_good_document_and_answers_per_item() {
    let s = Stack::start_with(&crate::util::FIXED_DATES).await;
    let c = client();
    let body = ndjson(&[
        json!({"create": {"_index": "logs-web"}}),
        json!({"@timestamp": "2026-11-28T10:00:00Z", "message": "GET /cart 500", "log.level": "error",
               "host.name": "web-1", "service.name": "shop", "http": {"response": {"status_code": 500}},
               "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736"}),
        json!({"delete": {"_index": "logs-web", "_id": "1"}}),
        json!({"index": {"_id": "client-7"}}),
        json!({"msg": "no index named here", "level": "warn", "hostname": "web-2", "app": "shop"}),
        json!({"create": {"_index": "logs-web"}}),
        json!({"text": "a document without a message"}),
        json!({"update": {"_index": "logs-web", "_id": "2"}}),
        json!({"doc": {"message": "x"}}),
        json!({"create": {"_index": "logs-web"}}),
        json!({"message": "too old", "@timestamp": "2001-01-01T00:00:00Z"}),
    ]);
    let r = c
        .post(format!("{}/logs-default/_bulk?refresh=wait_for", s.ingest))
        .header(
            "Content-Type",
            "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        )
        .header(
            "Accept",
            "application/vnd.elasticsearch+json; compatible-with=8",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[PRODUCT], "Elasticsearch");
    let text = r.text().await.unwrap();
    // Compact, `errors` before `items`, one item per action in order.
    assert!(!text.contains('\n') && !text.contains(": "), "{text}");
    assert!(text.find("\"errors\"").unwrap() < text.find("\"items\"").unwrap());
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["errors"], true);
    let items = answer["items"].as_array().unwrap();
    let statuses: Vec<(String, u64)> = items
        .iter()
        .map(|i| {
            let (name, item) = i.as_object().unwrap().iter().next().unwrap();
            (name.clone(), item["status"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("create".to_string(), 201),
            ("delete".into(), 400),
            ("index".into(), 201),
            ("create".into(), 400),
            ("update".into(), 400),
            ("create".into(), 400),
        ]
    );
    assert_eq!(items[0]["create"]["result"], "created");
    assert_eq!(items[0]["create"]["_index"], "logs-web");
    assert_eq!(items[2]["index"]["_index"], "logs-default");
    assert!(items[1]["delete"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("not supported"));
    assert_eq!(
        items[3]["create"]["error"]["type"],
        "document_parsing_exception"
    );
    assert!(items[3]["create"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("no message field"));
    assert!(items[5]["create"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("retention"));

    let logs = found(&s, "service=shop", 2).await;
    let first = logs.iter().find(|l| l["source"] == "web-1").unwrap();
    assert_eq!(first["id"], items[0]["create"]["_id"]);
    assert_eq!(first["message"], "GET /cart 500");
    assert_eq!(first["level"], "ERROR");
    assert_eq!(first["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first["metadata"]["index"], "logs-web");
    assert_eq!(first["metadata"]["http"]["response"]["status_code"], 500);
    let second = logs.iter().find(|l| l["source"] == "web-2").unwrap();
    assert_eq!(second["level"], "WARNING");
    assert_eq!(second["metadata"]["index"], "logs-default");
    // The client's own id is kept beside the log's.
    assert_eq!(second["metadata"]["_id"], "client-7");

    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    let series = |labels: &str| metric(&m, &format!("ingestd_logs_{labels}"));
    assert_eq!(
        series("received_total{protocol=\"elasticsearch\"}"),
        Some(6.0)
    );
    assert_eq!(
        series("accepted_total{protocol=\"elasticsearch\"}"),
        Some(2.0)
    );
    assert_eq!(
        series("rejected_total{protocol=\"elasticsearch\",reason=\"unsupported_action\"}"),
        Some(2.0)
    );
    assert_eq!(
        series("rejected_total{protocol=\"elasticsearch\",reason=\"invalid_document\"}"),
        Some(1.0)
    );
    assert_eq!(
        series("rejected_total{protocol=\"elasticsearch\",reason=\"too_old\"}"),
        Some(1.0)
    );
    assert_eq!(series("accepted_total{protocol=\"native\"}"), Some(0.0));
    s.stop().await;
}

#[actix_web::test]
async fn bulk_field_mapping_is_set_per_request() {
    let s = Stack::start().await;
    let c = client();
    let body = ndjson(&[
        json!({"index": {"_index": "edge"}}),
        json!({"event": {"original": "raw line one"}, "message": "parsed", "agent": {"name": "edge-7"}}),
    ]);
    // By query parameters...
    let r = c
        .post(format!(
            "{}/_bulk?message_field=event.original&source_field=agent.name&default_service=edge-proxy",
            s.ingest
        ))
        .header("Content-Type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errors"], false);
    // ...or by headers.
    let r = c
        .post(format!("{}/_bulk", s.ingest))
        .header("Content-Type", "application/x-ndjson")
        .header("X-Logagg-Message-Field", "event.original")
        .header("X-Logagg-Default-Service", "edge-proxy")
        .header("X-Logagg-Default-Source", "edge-fleet")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["errors"], false);
    let logs = found(&s, "service=edge-proxy", 2).await;
    assert!(logs.iter().all(|l| l["message"] == "raw line one"));
    let mut sources: Vec<&str> = logs.iter().map(|l| l["source"].as_str().unwrap()).collect();
    sources.sort();
    // The header request named no source field: agent.name is not a default one.
    assert_eq!(sources, ["edge-7", "edge-fleet"]);
    // A mapping that names no field is the request's fault.
    let r = c
        .post(format!("{}/_bulk?level_field=", s.ingest))
        .header("Content-Type", "application/x-ndjson")
        .body("{\"index\":{}}\n{\"message\":\"m\"}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()[PRODUCT], "Elasticsearch");
    s.stop().await;
}

#[actix_web::test]
async fn bulk_refusals_of_the_whole_request_store_nothing() {
    let s = Stack::start_with(&["--max-body-bytes", "65536"]).await;
    let c = client();
    let good = "{\"index\":{}}\n{\"message\":\"kept?\",\"service\":\"refusals\"}\n";
    // What, the body, its Content-Encoding, the status, Elasticsearch's error type.
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "a bad action line",
            format!("{good}{{not json}}\n{{}}\n").into_bytes(),
            None,
            400,
            "illegal_argument_exception",
        ),
        (
            "an unknown action",
            format!("{good}{{\"upsert\":{{}}}}\n{{}}\n").into_bytes(),
            None,
            400,
            "illegal_argument_exception",
        ),
        (
            "a gzip bomb",
            gzip(&[b' '; 4 << 20]),
            Some("gzip"),
            413,
            "content_too_long_exception",
        ),
        (
            "a zstd bomb",
            zstd(&[b' '; 4 << 20]),
            Some("zstd"),
            413,
            "content_too_long_exception",
        ),
        (
            "an encoding it cannot undo",
            good.as_bytes().to_vec(),
            Some("br"),
            415,
            "media_type_header_exception",
        ),
        (
            "an empty body",
            Vec::new(),
            None,
            400,
            "illegal_argument_exception",
        ),
    ];
    for (what, body, encoding, status, kind) in cases {
        let mut req = c
            .post(format!("{}/_bulk", s.ingest))
            .header("Content-Type", "application/x-ndjson");
        if let Some(encoding) = encoding {
            req = req.header("Content-Encoding", encoding);
        }
        let r = req.body(body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(r.headers()[PRODUCT], "Elasticsearch", "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], kind, "{what}: {body}");
        assert_eq!(body["status"], status, "{what}");
    }
    // A compressed good body goes in (gzip, deflate, zstd).
    for (encoding, body) in [
        ("gzip", gzip(good.as_bytes())),
        ("zstd", zstd(good.as_bytes())),
    ] {
        let r = c
            .post(format!("{}/_bulk", s.ingest))
            .header("Content-Type", "application/x-ndjson")
            .header("Content-Encoding", encoding)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{encoding}");
        assert_eq!(r.json::<Value>().await.unwrap()["errors"], false);
    }
    found(&s, "service=refusals", 2).await;
    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"elasticsearch\",reason=\"body_too_large\"}"
        ),
        Some(2.0)
    );
    s.stop().await;
}

#[actix_web::test]
async fn single_documents_go_in_by_index_doc() {
    let s = Stack::start().await;
    let c = client();
    let r = c
        .post(format!("{}/audit/_doc?refresh=wait_for", s.ingest))
        .json(&json!({"message": "user 7 logged in", "service": {"name": "auth"}, "host": {"name": "a-1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()[PRODUCT], "Elasticsearch");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["result"], "created");
    let r = c
        .put(format!("{}/audit/_create/abc", s.ingest))
        .json(&json!({"nothing": "here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let logs = found(&s, "service=auth", 1).await;
    assert_eq!(logs[0]["id"], created["_id"]);
    assert_eq!(logs[0]["source"], "a-1");
    s.stop().await;
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn otlp_request(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", service),
                    kv("host.name", "node-9"),
                    kv("deployment.environment", "prod"),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn record(body: Option<&str>, severity: i32, trace: u8) -> LogRecord {
    LogRecord {
        time_unix_nano: chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64,
        severity_number: severity,
        body: body.map(|b| AnyValue {
            value: Some(any_value::Value::StringValue(b.into())),
        }),
        attributes: vec![kv("code.function", "checkout")],
        trace_id: vec![trace; 16],
        span_id: vec![trace; 8],
        ..Default::default()
    }
}

#[actix_web::test]
async fn otlp_protobuf_and_json_are_stored_with_partial_success() {
    let s = Stack::start().await;
    let c = client();
    let request = otlp_request(
        "payments",
        vec![
            record(Some("card declined"), 17, 0xab),
            record(None, 9, 0xcd),
            record(Some("retrying"), 13, 0xef),
        ],
    );
    let r = c
        .post(format!("{}/v1/logs", s.ingest))
        .header("Content-Type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let answer = ExportLogsServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
    let partial = answer.partial_success.expect("one record had no body");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial.error_message.contains("message"),
        "{}",
        partial.error_message
    );

    // The JSON encoding as the spec writes it: hex ids, integers as strings.
    let json_request = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payments"}}]},
        "scopeLogs": [{"scope": {"name": "py"}, "logRecords": [{
            "timeUnixNano": chrono::Utc::now().timestamp_nanos_opt().unwrap().to_string(),
            "severityText": "CRITICAL",
            "body": {"stringValue": "ledger unreachable"},
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "attributes": [{"key": "attempt", "value": {"intValue": "3"}}]
        }]}]
    }]});
    let r = c
        .post(format!("{}/v1/logs", s.ingest))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gzip(&serde_json::to_vec(&json_request).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer, json!({}), "a full success is an empty message");
    // A refused record in JSON: partialSuccess, camelCase, as the spec writes it.
    let refused =
        json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": 9}]}]}]});
    let r = c
        .post(format!("{}/v1/logs", s.ingest))
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&refused).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let count = &answer["partialSuccess"]["rejectedLogRecords"];
    assert!(count == &json!(1) || count == &json!("1"), "{answer}");

    let logs = found(&s, "service=payments", 3).await;
    let by_message = |m: &str| logs.iter().find(|l| l["message"] == m).unwrap().clone();
    let declined = by_message("card declined");
    assert_eq!(declined["level"], "ERROR");
    assert_eq!(declined["source"], "node-9");
    assert_eq!(declined["trace_id"], "ab".repeat(16));
    assert_eq!(declined["span_id"], "ab".repeat(8));
    assert_eq!(declined["metadata"]["code.function"], "checkout");
    assert_eq!(declined["metadata"]["deployment.environment"], "prod");
    assert_eq!(by_message("retrying")["level"], "WARNING");
    let ledger = by_message("ledger unreachable");
    assert_eq!(ledger["level"], "CRITICAL");
    assert_eq!(ledger["source"], "unknown");
    assert_eq!(ledger["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(ledger["metadata"]["attempt"], 3);
    assert_eq!(ledger["metadata"]["otel.scope.name"], "py");

    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    assert_eq!(
        metric(&m, "ingestd_logs_accepted_total{protocol=\"otlp\"}"),
        Some(3.0)
    );
    // The two records without a body (protobuf, then JSON).
    assert_eq!(
        metric(
            &m,
            "ingestd_logs_rejected_total{protocol=\"otlp\",reason=\"invalid_field\"}"
        ),
        Some(2.0)
    );
    s.stop().await;
}

#[actix_web::test]
async fn otlp_refusals_follow_the_spec() {
    let s = Stack::start().await;
    let c = client();
    // Undecodable: 400 with a google.rpc.Status, in the request's encoding.
    let r = c
        .post(format!("{}/v1/logs", s.ingest))
        .header("Content-Type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff, 0x01])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let r = c
        .post(format!("{}/v1/logs", s.ingest))
        .header("Content-Type", "application/json")
        .body("{\"resourceLogs\": 7}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["code"], 3);
    assert!(status["message"].as_str().unwrap().contains("invalid_json"));
    let r = c
        .post(format!("{}/v1/logs", s.ingest))
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    s.stop().await;
}

#[actix_web::test]
async fn at_the_wal_cap_every_protocol_says_retry() {
    // A cap so small that one request fills it until the indexer commits.
    let s = Stack::start_with(&["--wal-max-bytes", "6000", "--commit-interval-ms", "60000"]).await;
    let c = client();
    let big = "x".repeat(1500);
    let mut refused = Vec::new();
    for attempt in 0..20 {
        let bulk = c
            .post(format!("{}/_bulk", s.ingest))
            .header("Content-Type", "application/x-ndjson")
            .body(ndjson(&[
                json!({"index": {}}),
                json!({"message": format!("{big} {attempt}")}),
            ]))
            .send()
            .await
            .unwrap();
        if bulk.status() == 429 {
            let retry = bulk.headers()["retry-after"].to_str().unwrap().to_string();
            let body: Value = bulk.json().await.unwrap();
            assert_eq!(body["error"]["type"], "es_rejected_execution_exception");
            refused.push(("bulk", retry));
            break;
        }
    }
    let request = otlp_request("capped", vec![record(Some(&big), 9, 1)]);
    for _ in 0..20 {
        let r = c
            .post(format!("{}/v1/logs", s.ingest))
            .header("Content-Type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            refused.push((
                "otlp",
                r.headers()["retry-after"].to_str().unwrap().to_string(),
            ));
            break;
        }
    }
    assert_eq!(
        refused,
        [("bulk", "1".to_string()), ("otlp", "1".to_string())]
    );
    let m = get_text(&format!("{}/metrics", s.ingest)).await;
    for protocol in ["elasticsearch", "otlp"] {
        let refused = metric(
            &m,
            &format!("ingestd_logs_rejected_total{{protocol=\"{protocol}\",reason=\"wal_full\"}}"),
        );
        assert_eq!(refused, Some(1.0), "{protocol}");
    }
    s.stop().await;
}
