//! Traces: a test OTLP/HTTP receiver on loopback decodes the spans the real
//! `ingestd` binary exports (the `opentelemetry-proto` types) and checks the
//! chain from the HTTP request down to the Elasticsearch bulk request.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::json;

use crate::fake_es::FakeEs;
use crate::util::*;

#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    kind: i32,
    attributes: HashMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn receive(body: web::Bytes, spans: web::Data<Mutex<Vec<Span>>>) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(&body[..]) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut spans = spans.lock().unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                let attributes = s
                    .attributes
                    .iter()
                    .map(|kv| {
                        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(v)) => v.clone(),
                            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(v)) => v.to_string(),
                            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(v)) => v.to_string(),
                            other => format!("{other:?}"),
                        };
                        (kv.key.clone(), value)
                    })
                    .collect();
                spans.push(Span {
                    service: service.clone(),
                    name: s.name,
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    kind: s.kind,
                    attributes,
                });
            }
        }
    }
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

#[actix_web::test]
async fn spans_follow_a_request_from_http_down_to_the_bulk_request() {
    // The receiver.
    let spans = web::Data::new(Mutex::new(Vec::<Span>::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let data = spans.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/traces", web::post().to(receive))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let fake = FakeEs::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let log_file = tmp.path().join("ingestd.log");
    let ingest = IngestProcess::spawn_with(
        tmp.path(),
        &[
            "--elasticsearch-url",
            &fake.url,
            "--commit-interval-ms",
            "100",
        ],
        |c| {
            c.env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
                .env("OTEL_SERVICE_NAME", "ingestd-under-test")
                .env("OTEL_BSP_SCHEDULE_DELAY", "100")
                .env("RUST_LOG", "info,ingestd=debug")
                .stderr(std::fs::File::create(&log_file).unwrap());
        },
    )
    .await;
    let base = ingest.base.clone();

    // A caller's trace.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = client()
        .post(format!("{base}/logs/batch-ingest?refresh=wait_for"))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .header("X-Correlation-ID", "corr-trace-test-1")
        .json(&json!([{"level": "ERROR", "message": "traced log", "source": "t"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(r.headers()["x-correlation-id"], "corr-trace-test-1");

    let all = eventually(
        Duration::from_secs(20),
        "the spans down to the bulk request",
        || async {
            let spans = spans.lock().unwrap().clone();
            spans
                .iter()
                .any(|s| s.name == "elasticsearch.bulk" && s.trace_id == caller_trace)
                .then_some(spans)
        },
    )
    .await;
    let ours: Vec<&Span> = all.iter().filter(|s| s.trace_id == caller_trace).collect();
    let by_name = |name: &str| {
        *ours
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span in {ours:#?}"))
    };
    let http = by_name("POST /logs/batch-ingest");
    assert_eq!(
        http.parent_span_id, caller_span,
        "the caller's trace continues"
    );
    assert_eq!(http.kind, 2, "server span");
    assert_eq!(
        http.attributes.get("correlation_id").map(String::as_str),
        Some("corr-trace-test-1")
    );
    assert_eq!(
        http.attributes.get("http.route").map(String::as_str),
        Some("/logs/batch-ingest")
    );
    assert_eq!(
        http.attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("202")
    );
    assert!(
        http.service.contains("ingestd-under-test"),
        "{}",
        http.service
    );
    for child in ["validate", "wal.append", "sink.write"] {
        assert_eq!(
            by_name(child).parent_span_id,
            http.span_id,
            "{child} is a child of the request"
        );
    }
    let deliver = by_name("sink.deliver");
    assert_eq!(deliver.parent_span_id, by_name("sink.write").span_id);
    let bulk = by_name("elasticsearch.bulk");
    assert_eq!(bulk.parent_span_id, deliver.span_id);
    assert_eq!(bulk.kind, 3, "client span");
    // Elasticsearch received the bulk span's traceparent.
    let sent = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/logagg-logs/_bulk"))
        .find_map(|r| r.headers.get("traceparent").cloned())
        .expect("a bulk request with traceparent");
    assert_eq!(sent, format!("00-{caller_trace}-{}-01", bulk.span_id));

    // The service's JSON logs carry the trace id and the correlation id.
    let (status, _) = get(&format!("{base}/health")).await;
    assert_eq!(status, 200);
    assert_eq!(ingest.terminate(), Some(0));
    let logs = std::fs::read_to_string(&log_file).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("corr-trace-test-1"))
        .unwrap_or_else(|| panic!("no log line with the correlation id:\n{logs}"));
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(line.to_string().contains(caller_trace), "{line}");
    handle.stop(true).await;
}

#[actix_web::test]
async fn no_endpoint_means_no_exporter_and_no_noise() {
    let tmp = tempfile::tempdir().unwrap();
    let log_file = tmp.path().join("ingestd.log");
    let ingest = IngestProcess::spawn_with(tmp.path(), &[], |c| {
        c.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log_file).unwrap());
    })
    .await;
    let base = ingest.base.clone();
    let (status, _) = post(
        &format!("{base}/logs/ingest"),
        &json!({"message": "m", "source": "s"}),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(ingest.terminate(), Some(0));
    let logs = std::fs::read_to_string(&log_file).unwrap();
    assert!(logs.contains("\"otlp\":false"), "{logs}");
    let mut open_warnings = 0;
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_ne!(v["level"], json!("ERROR"), "{line}");
        // The one warning a run without a keys file must give (issue 13).
        if v["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no API keys file"))
        {
            open_warnings += 1;
            continue;
        }
        assert_ne!(v["level"], json!("WARN"), "{line}");
    }
    assert_eq!(open_warnings, 1, "{logs}");
    // No log line per ingested log at info.
    assert!(!logs.contains("log accepted"), "{logs}");
}
