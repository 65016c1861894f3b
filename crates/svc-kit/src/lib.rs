//! What ingestd and queryd share at the HTTP edge.
//!
//! # Layout
//! - [`auth`]: API keys (the keys file, how clients present a key, the
//!   guard that checks a request's scope).
//! - [`error`]: [`ApiError`], the one HTTP error type: a status and a JSON
//!   body `{"error": ..., "detail": ...}`, and the JSON/query extractor error
//!   handlers that answer in the same shape.
//! - [`metrics`]: per-route request counts and latency histograms, and the
//!   `/metrics` answer.
//! - [`server`]: starts a service's HTTP server with all of the above.
//! - [`telemetry`]: JSON service logs and OpenTelemetry traces.
//! - [`throttle`]: failed authentication throttled per client address.
//! - [`shutdown_signal`]: SIGTERM or Ctrl-C.

pub mod auth;
pub mod error;
pub mod metrics;
pub mod server;
pub mod telemetry;
pub mod throttle;
pub mod tls;

pub use error::ApiError;
pub use metrics::HttpMetrics;

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}
