use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use svc_kit::HttpMetrics;

/// ingestd's metrics, all under the `ingestd_` prefix.
#[derive(Clone)]
pub struct Metrics {
    pub http: HttpMetrics,
    pub logs_received: IntCounterVec,
    pub logs_accepted: IntCounterVec,
    pub logs_rejected: IntCounterVec,
    pub bytes_received: IntCounter,
    pub wal_bytes: IntGauge,
    pub wal_backlog_bytes: IntGauge,
    pub wal_backlog_logs: IntGauge,
    pub wal_fsync_duration: Histogram,
    pub batch_size: Histogram,
    pub bulk_in_flight: IntGauge,
    pub wal_max_bytes: IntGauge,
    pub bulk_duration: Histogram,
    pub wal_damaged: IntCounterVec,
    pub wal_damaged_bytes: IntCounter,
    pub index_partitions_damaged: IntGauge,
    pub logs_indexed: IntCounter,
    pub logs_duplicate: IntCounter,
    pub logs_expired: IntCounter,
    pub logs_dead_lettered: IntCounterVec,
    pub bulk_requests: IntCounter,
    pub bulk_retried: IntCounter,
    pub index_commits: IntCounter,
    pub store_errors: IntCounter,
    pub indexing_lag_seconds: Gauge,
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
) -> prometheus::Result<Histogram> {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let http = HttpMetrics::new("ingestd")?;
        let registry = http.registry.clone();
        let logs_rejected = IntCounterVec::new(
            Opts::new(
                "ingestd_logs_rejected_total",
                "Logs refused, by protocol and reason",
            ),
            &["protocol", "reason"],
        )?;
        registry.register(Box::new(logs_rejected.clone()))?;
        let by_protocol = |name: &str, help: &str| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), &["protocol"])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let fgauge = |name: &str, help: &str| -> prometheus::Result<Gauge> {
            let g = Gauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        Ok(Metrics {
            logs_received: by_protocol(
                "ingestd_logs_received_total",
                "Logs received in requests, valid or not, by protocol (native, elasticsearch, otlp)",
            )?,
            logs_accepted: by_protocol(
                "ingestd_logs_accepted_total",
                "Logs made durable in the WAL and acknowledged, by protocol",
            )?,
            logs_rejected,
            bytes_received: counter(
                &registry,
                "ingestd_received_bytes_total",
                "Request body bytes received on ingest routes",
            )?,
            wal_bytes: gauge("ingestd_wal_bytes", "Bytes of WAL on disk")?,
            wal_backlog_bytes: gauge(
                "ingestd_wal_backlog_bytes",
                "WAL bytes acknowledged but not yet committed to the store",
            )?,
            wal_backlog_logs: gauge(
                "ingestd_wal_backlog_logs",
                "Logs acknowledged but not yet committed to the store",
            )?,
            wal_fsync_duration: histogram(
                &registry,
                "ingestd_wal_fsync_duration_seconds",
                "Time to write and fsync one WAL group commit",
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    1.0,
                ],
            )?,
            batch_size: histogram(
                &registry,
                "ingestd_batch_size_logs",
                "Valid logs per accepted ingest request",
                vec![
                    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0,
                ],
            )?,
            bulk_duration: histogram(
                &registry,
                "ingestd_bulk_request_duration_seconds",
                "Time of each Elasticsearch bulk request, answered or not",
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            )?,
            wal_max_bytes: gauge(
                "ingestd_wal_max_bytes",
                "The WAL backlog cap (WAL_MAX_BYTES): ingest answers 429 above it",
            )?,
            bulk_in_flight: gauge(
                "ingestd_bulk_requests_in_flight",
                "Bulk requests to Elasticsearch waiting for an answer",
            )?,
            wal_damaged: {
                let c = IntCounterVec::new(
                    Opts::new(
                        "ingestd_wal_damaged_total",
                        "Damaged WAL ranges found and copied to the quarantine, by kind (corrupt, torn_tail)",
                    ),
                    &["kind"],
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            index_partitions_damaged: gauge(
                "ingestd_index_partitions_damaged",
                "Day partitions found damaged and written around (see /ready and the service log)",
            )?,
            wal_damaged_bytes: counter(
                &registry,
                "ingestd_wal_damaged_bytes_total",
                "Bytes of the damaged WAL ranges",
            )?,
            logs_indexed: counter(
                &registry,
                "ingestd_logs_indexed_total",
                "Logs written to the store",
            )?,
            logs_duplicate: counter(
                &registry,
                "ingestd_logs_duplicate_total",
                "Replayed logs the store already held (not stored twice)",
            )?,
            logs_expired: counter(
                &registry,
                "ingestd_logs_expired_total",
                "Logs past retention when they reached the store (not stored)",
            )?,
            logs_dead_lettered: {
                let c = IntCounterVec::new(
                    Opts::new(
                        "ingestd_logs_dead_lettered_total",
                        "Logs the store refused for good, by where they were kept (stream, file, wal)",
                    ),
                    &["place"],
                )?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            bulk_requests: counter(
                &registry,
                "ingestd_bulk_requests_total",
                "Bulk requests sent to Elasticsearch, retries included",
            )?,
            bulk_retried: counter(
                &registry,
                "ingestd_bulk_retried_total",
                "Documents sent again after a per-item 429 or 5xx",
            )?,
            index_commits: counter(&registry, "ingestd_index_commits_total", "Store commits")?,
            store_errors: counter(
                &registry,
                "ingestd_store_errors_total",
                "Store write or commit failures (retried)",
            )?,
            indexing_lag_seconds: fgauge(
                "ingestd_indexing_lag_seconds",
                "Age of the oldest acknowledged log not yet searchable (0 when none)",
            )?,
            http,
        })
    }

    /// Brings the WAL figures up to date (called on each scrape).
    pub fn refresh_wal(&self, wal: &crate::wal::Wal, committed: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let end = wal.durable_end();
        self.wal_bytes.set((end - wal.start()) as i64);
        self.wal_backlog_bytes
            .set(end.saturating_sub(committed) as i64);
        self.wal_backlog_logs.set(wal.backlog_logs().max(0));
        let stats = wal.stats();
        let catch_up = |counter: &IntCounter, total: u64| {
            counter.inc_by(total.saturating_sub(counter.get()));
        };
        catch_up(
            &self.wal_damaged.with_label_values(&["corrupt"]),
            stats.corrupt_ranges.load(Relaxed),
        );
        catch_up(
            &self.wal_damaged.with_label_values(&["torn_tail"]),
            stats.torn_tails.load(Relaxed),
        );
        catch_up(&self.wal_damaged_bytes, stats.damaged_bytes.load(Relaxed));
    }

    /// Shows the label values that alerts use at 0 before anything happens.
    pub fn init_labels(&self) {
        for protocol in crate::pipeline::Protocol::ALL {
            let protocol = protocol.label();
            self.logs_received.with_label_values(&[protocol]);
            self.logs_accepted.with_label_values(&[protocol]);
            for reason in ["wal_full", "wal_error"] {
                self.logs_rejected.with_label_values(&[protocol, reason]);
            }
        }
        for kind in ["corrupt", "torn_tail"] {
            self.wal_damaged.with_label_values(&[kind]);
        }
        for place in ["stream", "file", "wal"] {
            self.logs_dead_lettered.with_label_values(&[place]);
        }
    }

    /// Counts what the store settled since the last look.
    pub fn settled(&self, s: log_store::Settled) {
        self.logs_indexed.inc_by(s.delivered);
        self.logs_duplicate.inc_by(s.duplicates);
        self.bulk_retried.inc_by(s.retried);
        self.bulk_requests.inc_by(s.requests);
        for seconds in &s.request_seconds {
            self.bulk_duration.observe(*seconds);
        }
        self.logs_dead_lettered
            .with_label_values(&["stream"])
            .inc_by(s.dead_lettered_stream);
        self.logs_dead_lettered
            .with_label_values(&["file"])
            .inc_by(s.dead_lettered_file);
    }

    pub fn reject(&self, protocol: &str, reason: &str, count: u64) {
        self.logs_rejected
            .with_label_values(&[protocol, reason])
            .inc_by(count);
    }
}
