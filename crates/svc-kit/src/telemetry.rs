//! The services' own telemetry: JSON log lines on stderr (level from
//! `RUST_LOG`) and OpenTelemetry traces over OTLP/HTTP, configured by the
//! standard `OTEL_*` variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`). With no
//! endpoint there is no exporter, and nothing is said about it.
//!
//! Spans carry W3C trace context: [`extract`] continues a caller's trace
//! from its `traceparent` header, [`inject`] adds ours to outgoing requests.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Flushes the exporter when dropped (or at [`Telemetry::shutdown`]).
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered; call before the process exits.
    pub fn shutdown(mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

fn otlp_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none")
        || std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim() == "true");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Installs the JSON log layer and the OpenTelemetry layer. `service` is the
/// service name when `OTEL_SERVICE_NAME` is not set. Calling it twice is harmless.
pub fn init(service: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .with_writer(std::io::stderr);
    let mut builder = SdkTracerProvider::builder();
    let mut exporting = false;
    if otlp_configured() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => {
                builder = builder.with_batch_exporter(exporter);
                exporting = true;
            }
            Err(error) => eprintln!(
                "{{\"level\":\"ERROR\",\"message\":\"otlp exporter not built: {error}\"}}"
            ),
        }
    }
    let resource = if std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) {
        Resource::builder().build()
    } else {
        Resource::builder()
            .with_service_name(service.to_string())
            .build()
    };
    let provider = builder.with_resource(resource).build();
    let tracer = provider.tracer("logagg");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(otel)
        .try_init()
        .is_ok();
    if installed {
        tracing::info!(service, otlp = exporting, "telemetry started");
    }
    Telemetry {
        provider: (installed && exporting).then_some(provider),
    }
}

/// The caller's trace context, from a W3C `traceparent` (and `tracestate`).
pub fn extract(headers: &actix_web::http::header::HeaderMap) -> Context {
    let carrier: HashMap<String, String> = ["traceparent", "tracestate"]
        .iter()
        .filter_map(|name| {
            headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.to_string(), v.to_string()))
        })
        .collect();
    TraceContextPropagator::new().extract(&carrier)
}

/// The `traceparent` (and `tracestate`) headers of `span`, for an outgoing
/// request; empty when the span is not traced.
pub fn inject(span: &tracing::Span) -> Vec<(String, String)> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.into_iter().collect()
}

/// The trace id of `span` in hex (32 characters), if it is traced.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
