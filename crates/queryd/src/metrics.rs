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
    /// Bytes of the store's files not verified whole yet.
    pub unverified_bytes: IntGauge,
    /// Live tails open now.
    pub tail_streams: IntGauge,
    /// Logs sent to live tails.
    pub tail_events: IntCounter,
    /// Live tails the service ended, by reason (`slow_consumer`,
    /// `too_many_matches`, `store_error`, `limit`).
    pub tail_cut: IntCounterVec,
    /// Logs written by exports.
    pub exported_logs: IntCounter,
    /// Expensive reads refused for want of a slot, by the limit reached
    /// (`process`, `key`).
    pub reads_refused: IntCounterVec,
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
                "Answers that do not cover everything they should (damage, a budget reached, a cut export), by kind",
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
        let unverified_bytes = IntGauge::new(
            "queryd_store_unverified_bytes",
            "Bytes of the embedded store's files whose checksums the background pass has not verified yet",
        )?;
        registry.register(Box::new(unverified_bytes.clone()))?;
        let tail_streams = IntGauge::new("queryd_tail_streams", "Live tails open now")?;
        let tail_events = IntCounter::new("queryd_tail_events_total", "Logs sent to live tails")?;
        let tail_cut = IntCounterVec::new(
            Opts::new(
                "queryd_tail_cut_total",
                "Live tails ended or refused by the service, by reason",
            ),
            &["reason"],
        )?;
        let exported_logs =
            IntCounter::new("queryd_exported_logs_total", "Logs written by exports")?;
        let reads_refused = IntCounterVec::new(
            Opts::new(
                "queryd_expensive_reads_refused_total",
                "Expensive reads (patterns, histogram, facets, export, context) refused with 429, by the limit reached",
            ),
            &["limit"],
        )?;
        registry.register(Box::new(reads_refused.clone()))?;
        registry.register(Box::new(tail_streams.clone()))?;
        registry.register(Box::new(tail_events.clone()))?;
        registry.register(Box::new(tail_cut.clone()))?;
        registry.register(Box::new(exported_logs.clone()))?;
        for reason in ["slow_consumer", "too_many_matches", "store_error", "limit"] {
            tail_cut.with_label_values(&[reason]);
        }
        for kind in [
            "search",
            "patterns",
            "histogram",
            "facets",
            "context",
            "export",
            "tail",
        ] {
            store_errors.with_label_values(&[kind]);
            partial_answers.with_label_values(&[kind]);
        }
        for limit in ["process", "key"] {
            reads_refused.with_label_values(&[limit]);
        }
        Ok(Metrics {
            http,
            store_seconds,
            hits_returned,
            store_errors,
            partial_answers,
            damaged_partitions,
            unverified_bytes,
            tail_streams,
            tail_events,
            tail_cut,
            exported_logs,
            reads_refused,
        })
    }
}
