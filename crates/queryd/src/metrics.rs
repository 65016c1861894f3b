use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts};
use svc_kit::metrics::LATENCY_BUCKETS;
use svc_kit::HttpMetrics;

/// queryd's metrics, all under the `queryd_` prefix.
#[derive(Clone)]
pub struct Metrics {
    pub http: HttpMetrics,
    /// Time spent in the store per kind of request (`search`, `patterns`).
    pub store_seconds: HistogramVec,
    pub hits_returned: IntCounter,
    pub store_errors: IntCounterVec,
    /// Answers that could not read everything they cover, by kind.
    pub partial_answers: IntCounterVec,
    /// Store parts (day partitions) found unreadable.
    pub damaged_partitions: IntGauge,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let http = HttpMetrics::new("queryd")?;
        let registry = http.registry.clone();
        let store_seconds = HistogramVec::new(
            HistogramOpts::new(
                "queryd_store_request_duration_seconds",
                "Time the store took to answer, by kind",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["kind"],
        )?;
        let hits_returned = IntCounter::new(
            "queryd_search_hits_returned_total",
            "Logs returned by searches",
        )?;
        let store_errors = IntCounterVec::new(
            Opts::new(
                "queryd_store_errors_total",
                "Store failures, by kind of request",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(store_seconds.clone()))?;
        registry.register(Box::new(hits_returned.clone()))?;
        let partial_answers = IntCounterVec::new(
            Opts::new(
                "queryd_partial_answers_total",
                "Answers that could not read every part of the store they cover (damage), by kind",
            ),
            &["kind"],
        )?;
        let damaged_partitions = IntGauge::new(
            "queryd_damaged_partitions",
            "Day partitions found unreadable (see /ready and the service log)",
        )?;
        registry.register(Box::new(store_errors.clone()))?;
        registry.register(Box::new(partial_answers.clone()))?;
        registry.register(Box::new(damaged_partitions.clone()))?;
        for kind in ["search", "patterns"] {
            store_errors.with_label_values(&[kind]);
            partial_answers.with_label_values(&[kind]);
        }
        Ok(Metrics {
            http,
            store_seconds,
            hits_returned,
            store_errors,
            partial_answers,
            damaged_partitions,
        })
    }
}
