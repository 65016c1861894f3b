//! The stage after the ack: WAL reader -> store writer -> commit -> WAL GC.
//! Runs on its own thread, since the store's writer blocks.
//!
//! **Invariant:** the WAL is read from the store's committed position, so
//! after a restart every acknowledged log is written again unless the store
//! already holds it; segments are deleted only below a committed position.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use log_store::{LogWriter, StoreError};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tokio::sync::watch;
use tracing::{error, info, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::Metrics;

use crate::pipeline::WalBatch;
use crate::wal::{Record, Wal};

/// How often the indexer, while it waits for logs, lets the store tidy
/// up (`LogWriter::maintain`).
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(10);

/// Opens (or reopens, after an error) the store's writer.
pub use log_store::WriterFactory;

/// Called after each commit, before waiting requests are answered (the
/// all-in-one process reloads its readers here).
pub use log_store::CommitHook;

pub struct IndexerConfig {
    pub commit_interval: Duration,
    /// Bytes of WAL read per step.
    pub read_bytes: usize,
    pub retention_check: Duration,
    pub dead_letter_dir: PathBuf,
}

/// What the HTTP side sees of the indexer.
#[derive(Clone)]
pub struct IndexerStatus {
    /// The committed (searchable) WAL position.
    pub committed: Arc<AtomicU64>,
    /// False while the store fails.
    pub healthy: Arc<AtomicBool>,
    pub searchable: watch::Receiver<u64>,
    /// Requests waiting for their logs to be searchable (`refresh=wait_for`).
    pub refresh_waiters: Arc<AtomicUsize>,
    /// Damaged parts of the store the writer found and wrote around.
    pub damage: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

pub struct Indexer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub status: IndexerStatus,
}

impl Indexer {
    pub fn spawn(
        wal: Wal,
        open_writer: WriterFactory,
        config: IndexerConfig,
        metrics: Metrics,
        on_commit: Option<CommitHook>,
    ) -> Result<Indexer, StoreError> {
        let writer = open_writer()?;
        let committed_at_start = writer.committed_position();
        let (searchable_tx, searchable) = watch::channel(committed_at_start);
        let status = IndexerStatus {
            committed: Arc::new(AtomicU64::new(committed_at_start)),
            healthy: Arc::new(AtomicBool::new(true)),
            searchable,
            refresh_waiters: Arc::new(AtomicUsize::new(0)),
            // Damage the store already knows of (a day removed while it
            // ran before) is told from the start.
            damage: Arc::new(std::sync::Mutex::new(writer.damage())),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            wal,
            open_writer,
            config,
            metrics,
            on_commit,
            searchable_tx,
            status: status.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || worker.run(writer))
            .map_err(|e| StoreError::Unavailable(format!("spawning the indexer: {e}")))?;
        Ok(Indexer {
            stop,
            thread: Some(thread),
            status,
        })
    }

    /// Indexes and commits everything in the WAL, then stops. Close the WAL
    /// first so that nothing more arrives.
    pub fn drain_and_stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    wal: Wal,
    open_writer: WriterFactory,
    config: IndexerConfig,
    metrics: Metrics,
    on_commit: Option<CommitHook>,
    searchable_tx: watch::Sender<u64>,
    status: IndexerStatus,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(&mut self, mut writer: Box<dyn LogWriter>) {
        loop {
            match self.index_until_stopped(writer.as_mut()) {
                Ok(()) => return,
                Err(error) => {
                    self.metrics.store_errors.inc();
                    self.status.healthy.store(false, Ordering::Release);
                    error!(%error, "indexing failed; reopening the store and replaying from its commit");
                    if self.stop.load(Ordering::Acquire) && self.wal.is_closed() {
                        // Nothing acknowledged is lost: the WAL keeps it for the next start.
                        error!(
                            "stopping with logs still in the wal; they are indexed at next start"
                        );
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    drop(writer);
                    writer = loop {
                        match (self.open_writer)() {
                            Ok(w) => break w,
                            Err(error) => {
                                error!(%error, "store still failing");
                                std::thread::sleep(Duration::from_secs(1));
                            }
                        }
                    };
                }
            }
        }
    }

    fn index_until_stopped(&mut self, writer: &mut dyn LogWriter) -> Result<(), StoreError> {
        let mut reader = self.wal.reader(writer.committed_position());
        let mut last_commit = Instant::now();
        let mut last_retention: Option<Instant> = None;
        let mut last_maintenance = Instant::now();
        // Append time of the oldest record read but not committed.
        let mut oldest_pending: Option<i64> = None;
        // Logs read since the last commit.
        let mut pending_logs = 0u64;
        loop {
            if last_retention.is_none_or(|t| t.elapsed() >= self.config.retention_check) {
                let dropped = writer.apply_retention(Utc::now())?;
                if dropped > 0 {
                    self.after_commit(writer.committed_position());
                }
                last_retention = Some(Instant::now());
            }
            let records = reader
                .read(self.config.read_bytes)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            for record in &records {
                oldest_pending.get_or_insert(record.appended_at_micros);
                pending_logs += u64::from(record.count);
                self.write_record(writer, record)?;
            }
            let pending = reader.position() > writer.committed_position();
            let stopping = self.stop.load(Ordering::Acquire);
            if pending && (stopping || last_commit.elapsed() >= self.config.commit_interval) {
                let committed =
                    tracing::info_span!("sink.commit", wal.position = reader.position())
                        .in_scope(|| writer.commit());
                self.metrics.settled(writer.take_settled());
                let position = committed?;
                self.wal.logs_committed(std::mem::take(&mut pending_logs));
                self.metrics.index_commits.inc();
                if self.status.refresh_waiters.load(Ordering::Acquire) > 0 {
                    if let Err(error) = writer.refresh() {
                        warn!(%error, "refresh for waiting requests failed");
                    }
                }
                // Before the waiters wake: an answer that waited for this
                // commit finds its damage already told.
                *self.status.damage.lock().expect("lock") = writer.damage();
                self.after_commit(position);
                if let Err(error) = self.wal.collect_garbage(position) {
                    warn!(%error, "wal garbage collection failed");
                }
                oldest_pending = None;
                last_commit = Instant::now();
            }
            self.status.healthy.store(true, Ordering::Release);
            let lag = oldest_pending.map_or(0.0, |t| {
                (Utc::now().timestamp_micros() - t).max(0) as f64 / 1e6
            });
            self.metrics.indexing_lag_seconds.set(lag);
            if !records.is_empty() {
                continue;
            }
            if !pending && last_maintenance.elapsed() >= MAINTENANCE_INTERVAL {
                if let Err(error) = writer.maintain() {
                    warn!(%error, "store maintenance failed");
                }
                last_maintenance = Instant::now();
            }
            if stopping
                && self.wal.is_closed()
                && reader.position() >= self.wal.durable_end()
                && !pending
            {
                info!(position = reader.position(), "indexer drained");
                return Ok(());
            }
            let wait = if pending {
                self.config
                    .commit_interval
                    .saturating_sub(last_commit.elapsed())
                    .min(Duration::from_millis(100))
            } else {
                Duration::from_millis(100)
            };
            self.wal
                .wait_beyond(reader.position(), wait.max(Duration::from_millis(1)));
        }
    }

    fn write_record(&self, writer: &mut dyn LogWriter, record: &Record) -> Result<(), StoreError> {
        let batch: WalBatch = match serde_json::from_slice(&record.payload) {
            Ok(batch) => batch,
            Err(error) => {
                // Cannot happen for records this version wrote; keep it rather than lose it.
                error!(%error, position = record.pos.start, "undecodable wal record dead-lettered");
                self.dead_letter(record);
                return Ok(());
            }
        };
        // A child of the request that made the logs durable.
        let span = tracing::info_span!(
            "sink.write",
            logs = batch.logs.len(),
            wal.position = record.pos.end
        );
        if let Some(traceparent) = &batch.traceparent {
            let parent = TraceContextPropagator::new().extract(&HashMap::from([(
                "traceparent".to_string(),
                traceparent.clone(),
            )]));
            let _ = span.set_parent(parent);
        }
        let outcome = span.in_scope(|| writer.write(&batch.logs, record.pos.end))?;
        self.metrics.logs_indexed.inc_by(outcome.written as u64);
        self.metrics
            .logs_duplicate
            .inc_by(outcome.duplicates as u64);
        self.metrics.logs_expired.inc_by(outcome.expired as u64);
        if outcome.expired > 0 {
            warn!(
                expired = outcome.expired,
                "logs past retention when indexed were not stored"
            );
        }
        Ok(())
    }

    fn dead_letter(&self, record: &Record) {
        self.metrics
            .logs_dead_lettered
            .with_label_values(&["wal"])
            .inc();
        let dir = &self.config.dead_letter_dir;
        let result = std::fs::create_dir_all(dir).and_then(|()| {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("wal-records.bin"))?;
            file.write_all(&(record.payload.len() as u64).to_le_bytes())?;
            file.write_all(&record.payload)?;
            file.sync_data()
        });
        if let Err(error) = result {
            error!(%error, "dead-letter write failed");
        }
    }

    fn after_commit(&self, position: u64) {
        if let Some(hook) = &self.on_commit {
            hook();
        }
        self.status.committed.store(position, Ordering::Release);
        let _ = self.searchable_tx.send(position);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use log_model::StoredLog;
    use log_store::WriteOutcome;

    use super::*;
    use crate::pipeline::{enrich, WalBatch};

    /// A store in memory: the messages written, and the positions written
    /// and committed.
    #[derive(Clone, Default)]
    struct Memory {
        messages: Arc<Mutex<Vec<String>>>,
        written: Arc<AtomicU64>,
        committed: Arc<AtomicU64>,
    }

    struct MemoryWriter(Memory);

    impl LogWriter for MemoryWriter {
        fn committed_position(&self) -> u64 {
            self.0.committed.load(Ordering::Acquire)
        }

        fn write(&mut self, logs: &[StoredLog], end: u64) -> Result<WriteOutcome, StoreError> {
            let mut messages = self.0.messages.lock().unwrap();
            messages.extend(logs.iter().map(|l| l.message.clone()));
            self.0.written.store(end, Ordering::Release);
            Ok(WriteOutcome {
                written: logs.len(),
                ..WriteOutcome::default()
            })
        }

        fn commit(&mut self) -> Result<u64, StoreError> {
            let at = self.0.written.load(Ordering::Acquire);
            self.0.committed.fetch_max(at, Ordering::AcqRel);
            Ok(self.committed_position())
        }

        fn apply_retention(&mut self, _: chrono::DateTime<Utc>) -> Result<usize, StoreError> {
            Ok(0)
        }
    }

    fn payload(messages: &[&str]) -> Vec<u8> {
        let logs: Vec<StoredLog> = messages
            .iter()
            .map(|m| {
                let log = log_model::parse_log(
                    serde_json::json!({"message": m, "level": "INFO", "source": "unit"}),
                    &log_model::limits::Limits::default(),
                    Utc::now(),
                )
                .unwrap();
                enrich(log, Utc::now(), "t")
            })
            .collect();
        serde_json::to_vec(&WalBatch {
            traceparent: None,
            logs: std::borrow::Cow::Borrowed(&logs),
        })
        .unwrap()
    }

    /// Records reach the writer in WAL order and are committed; a record
    /// that does not decode is dead-lettered whole (its bytes kept) and
    /// counted, and the records after it are still indexed; each commit
    /// calls the hook.
    #[test]
    fn records_are_written_in_order_and_an_undecodable_one_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let wal = Wal::open(
            Wal::lock(&dir.path().join("wal")).unwrap(),
            1 << 20,
            0,
            None,
        )
        .unwrap();
        let memory = Memory::default();
        let commits = Arc::new(AtomicUsize::new(0));
        let metrics = Metrics::new().unwrap();
        let indexer = {
            let (memory, commits) = (memory.clone(), commits.clone());
            Indexer::spawn(
                wal.clone(),
                Box::new(move || Ok(Box::new(MemoryWriter(memory.clone())) as Box<dyn LogWriter>)),
                IndexerConfig {
                    commit_interval: Duration::from_millis(20),
                    read_bytes: 1 << 20,
                    retention_check: Duration::from_secs(600),
                    dead_letter_dir: dir.path().join("deadletter"),
                },
                metrics.clone(),
                Some(Arc::new(move || {
                    commits.fetch_add(1, Ordering::AcqRel);
                })),
            )
            .unwrap()
        };
        let garbage = b"{\"logs\": not json".to_vec();
        let end = rt.block_on(async {
            wal.append(payload(&["one", "two"]), 2).await.unwrap();
            wal.append(garbage.clone(), 1).await.unwrap();
            wal.append(payload(&["three"]), 1).await.unwrap().end
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while indexer.status.committed.load(Ordering::Acquire) < end {
            assert!(
                Instant::now() < deadline,
                "the indexer did not commit the WAL's end"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        wal.close();
        indexer.drain_and_stop();
        assert_eq!(*memory.messages.lock().unwrap(), ["one", "two", "three"]);
        assert_eq!(memory.committed.load(Ordering::Acquire), end);
        assert!(commits.load(Ordering::Acquire) >= 1);
        let kept = std::fs::read(dir.path().join("deadletter").join("wal-records.bin")).unwrap();
        assert_eq!(kept[..8], (garbage.len() as u64).to_le_bytes());
        assert_eq!(kept[8..], garbage[..]);
        assert_eq!(
            metrics.logs_dead_lettered.with_label_values(&["wal"]).get(),
            1
        );
    }

    /// A payload written by the ingest side reads back the same, and one
    /// without a trace context (older records) still decodes.
    #[test]
    fn a_wal_payload_reads_back_as_written() {
        let bytes = payload(&["alpha"]);
        let batch: WalBatch = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(batch.logs.len(), 1);
        assert_eq!(batch.logs[0].message, "alpha");
        assert_eq!(batch.traceparent, None);
        let logs = serde_json::to_value(&batch.logs).unwrap();
        let old: WalBatch = serde_json::from_value(serde_json::json!({ "logs": logs })).unwrap();
        assert_eq!(old.logs, batch.logs);
    }
}
