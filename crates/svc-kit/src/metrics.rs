use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Latency buckets from 0.5 ms (an ingest ack on a warm disk) to 10 s (a
/// wide search on a cold cache).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Request counts and latencies by route; one per service, registered in the
/// service's own registry under its prefix.
#[derive(Clone)]
pub struct HttpMetrics {
    pub registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// Requests refused for want of a valid key or scope, by reason.
    pub auth_rejected: IntCounterVec,
    /// Requests refused because their key was over its rate, by what
    /// the rate counts (`requests`, `logs`).
    pub rate_limited: IntCounterVec,
}

impl HttpMetrics {
    /// A new registry for the service `prefix`, with the process metrics
    /// (`<prefix>_process_*`) and the request metrics in it.
    pub fn new(prefix: &str) -> prometheus::Result<Self> {
        let registry = Registry::new();
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::new(std::process::id() as i32, prefix),
        ))?;
        let requests = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_http_requests_total"),
                "HTTP requests answered, by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                format!("{prefix}_http_request_duration_seconds"),
                "HTTP request latency, from the request's arrival to its answer, by route, method and status",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method", "status"],
        )?;
        let auth_rejected = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_auth_rejected_total"),
                "Requests refused for want of a valid API key, scope or tenant, by reason (missing, wrong_key, malformed, scope, tenant; throttled: a wrong key from an address past its burst of failures, answered 429)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_rate_limited_total"),
                "Requests refused (429) because their API key was over its rate, by what the rate counts (requests, logs)",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(auth_rejected.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        Ok(HttpMetrics {
            registry,
            requests,
            duration,
            auth_rejected,
            rate_limited,
        })
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests
            .with_label_values(&[route, method, &status])
            .inc();
        self.duration
            .with_label_values(&[route, method, &status])
            .observe(seconds);
    }

    /// The answer to `GET /metrics`: the registry in Prometheus' text format.
    pub fn response(&self) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(self.render())
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding never fails");
        String::from_utf8(out).expect("text format is UTF-8")
    }
}

/// Middleware (for `actix_web::middleware::from_fn`) that traces every
/// request (a server span continuing the caller's `traceparent`) and records
/// it in the app's [`HttpMetrics`]. The route label is the matched pattern,
/// or `unmatched`, so paths never explode the label set.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use tracing::field::Empty;
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let started = Instant::now();
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();
    let method = method_label(req.method()).to_string();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {}", req.path()),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        url.path = %req.path(),
        http.route = Empty,
        http.response.status_code = Empty,
        correlation_id = Empty,
        trace_id = Empty,
        key_id = Empty,
    );
    let _ = span.set_parent(crate::telemetry::extract(req.headers()));
    if let Some(id) = crate::telemetry::trace_id(&span) {
        span.record("trace_id", id);
    }
    let response = next.call(req).instrument(span.clone()).await?;
    let response = crate::error::json_error_body(response).await;
    let status = response.status().as_u16();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    span.record("http.route", route.as_str());
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    if let Some(metrics) = metrics {
        metrics.observe(&route, &method, status, started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// The method as a label: the standard methods by name, anything else
/// `other`, so that made-up methods cannot grow the label set.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
