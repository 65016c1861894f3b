//! The Elasticsearch sink: batches documents into bulk requests (by bytes and
//! count; the indexer's commit interval is the linger), keeps a bounded
//! number in flight, and settles every document before its WAL position is
//! committed.
//!
//! **Invariant:** the committed position (a checkpoint file next to the WAL)
//! advances only when every document written before it is settled: stored,
//! already there (409), or dead-lettered. Until then the WAL keeps it, and a
//! replay re-sends it under the same `_id`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn, Instrument};

use log_model::StoredLog;

use super::client::EsClient;
use super::config::EsSettings;
use super::encoder::{bulk_body, BulkDoc};
use super::model::EsError;
use super::retry::{backoff, decide, Decision, ItemFate};
use super::setup;
use crate::{
    read_checkpoint, write_checkpoint, Health, LogWriter, Settled, StoreError, WriteOutcome,
};

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    duplicates: AtomicU64,
    retried: AtomicU64,
    dead_lettered_stream: AtomicU64,
    dead_lettered_file: AtomicU64,
    bulk_requests: AtomicU64,
    bulk_seconds: std::sync::Mutex<Vec<f64>>,
}

struct Shared {
    client: EsClient,
    stream: String,
    deadletter_stream: String,
    install: setup::Install,
    installed: Mutex<bool>,
    /// Whether this process installs the policy, templates and streams.
    setup: bool,
    health: Health,
    abandon: Arc<AtomicBool>,
    counters: Counters,
    deadletter_file: PathBuf,
    /// Whether the data stream was refreshed for the replay check.
    refreshed: Mutex<bool>,
}

/// Writes logs to an Elasticsearch data stream; see the module docs.
pub struct EsWriter {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    max_bytes: usize,
    max_docs: usize,
    buffer: Vec<BulkDoc>,
    buffer_bytes: usize,
    /// The span current when the buffer's first document was written (the
    /// indexer's `sink.write`, a child of the request): bulk spans join it.
    buffer_span: Option<tracing::Span>,
    /// The buffer holds logs received before this writer opened: replayed
    /// from the WAL after a crash, perhaps stored already.
    buffer_replayed: bool,
    /// When this writer opened.
    opened_at: chrono::DateTime<Utc>,
    in_flight: JoinSet<Result<(), StoreError>>,
    permits: Arc<Semaphore>,
    written: u64,
    committed: u64,
    checkpoint: PathBuf,
}

/// Where the writer keeps its state.
#[derive(Debug, Clone)]
pub struct EsWriterPaths {
    /// The committed WAL position (keep it beside the WAL it refers to).
    pub checkpoint: PathBuf,
    /// Last resort for documents the dead-letter stream refuses too.
    pub deadletter_file: PathBuf,
}

impl EsWriter {
    /// `abandon`, once set, makes pending deliveries give up (at shutdown,
    /// after a grace period): their logs stay in the WAL for the next start.
    pub fn open(
        settings: &EsSettings,
        retention_days: u32,
        paths: EsWriterPaths,
        health: Health,
        abandon: Arc<AtomicBool>,
    ) -> Result<EsWriter, StoreError> {
        let client = EsClient::new(settings)?;
        let committed = read_checkpoint(&paths.checkpoint)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("es-sink")
            .enable_all()
            .build()
            .map_err(|e| StoreError::io("tokio runtime", e))?;
        Ok(EsWriter {
            rt,
            shared: Arc::new(Shared {
                client,
                stream: settings.elasticsearch_data_stream.clone(),
                deadletter_stream: settings.elasticsearch_deadletter_stream.clone(),
                install: setup::Install {
                    retention_days,
                    layout: setup::Layout {
                        shards: settings.elasticsearch_shards,
                        replicas: settings.elasticsearch_replicas,
                    },
                    snapshots: settings
                        .elasticsearch_snapshot_repository
                        .as_ref()
                        .filter(|r| !r.trim().is_empty())
                        .map(|repository| setup::Snapshots {
                            repository: repository.clone(),
                            location: settings.elasticsearch_snapshot_location.clone(),
                            schedule: settings.elasticsearch_snapshot_schedule.clone(),
                        }),
                },
                // Without setup, the operators installed everything.
                installed: Mutex::new(!settings.elasticsearch_setup),
                setup: settings.elasticsearch_setup,
                health,
                abandon,
                counters: Counters::default(),
                deadletter_file: paths.deadletter_file,
                refreshed: Mutex::new(false),
            }),
            max_bytes: settings.bulk_max_bytes,
            max_docs: settings.bulk_max_docs.max(1),
            buffer: Vec::new(),
            buffer_bytes: 0,
            buffer_span: None,
            buffer_replayed: false,
            opened_at: Utc::now(),
            in_flight: JoinSet::new(),
            permits: Arc::new(Semaphore::new(settings.bulk_in_flight as usize)),
            written: committed,
            committed,
            checkpoint: paths.checkpoint,
        })
    }

    /// Sends the buffer as one bulk request, waiting for a free slot first.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let docs = std::mem::take(&mut self.buffer);
        self.buffer_bytes = 0;
        let replayed = std::mem::take(&mut self.buffer_replayed);
        let parent = self.buffer_span.take().unwrap_or_else(tracing::Span::none);
        let span = tracing::info_span!(parent: &parent, "sink.deliver", documents = docs.len());
        let permit = self
            .rt
            .block_on(self.permits.clone().acquire_owned())
            .expect("the semaphore is never closed");
        let shared = self.shared.clone();
        self.in_flight.spawn_on(
            async move {
                let result = async {
                    let docs = if replayed {
                        drop_stored(&shared, docs).await?
                    } else {
                        docs
                    };
                    deliver(&shared, docs).await
                }
                .await;
                drop(permit);
                result
            }
            .instrument(span),
            self.rt.handle(),
        );
        // Surface a failed delivery early.
        while let Some(done) = self.in_flight.try_join_next() {
            flatten(done)?;
        }
        Ok(())
    }
}

fn flatten(
    joined: Result<Result<(), StoreError>, tokio::task::JoinError>,
) -> Result<(), StoreError> {
    joined.map_err(|e| StoreError::Unavailable(format!("bulk task failed: {e}")))?
}

impl LogWriter for EsWriter {
    fn committed_position(&self) -> u64 {
        self.committed
    }

    fn write(&mut self, logs: &[StoredLog], end_position: u64) -> Result<WriteOutcome, StoreError> {
        for log in logs {
            let doc = BulkDoc::from_log(log);
            if !self.buffer.is_empty()
                && (self.buffer_bytes + doc.encoded_len() > self.max_bytes
                    || self.buffer.len() >= self.max_docs)
            {
                self.flush()?;
            }
            if self.buffer.is_empty() {
                self.buffer_span = Some(tracing::Span::current());
            }
            self.buffer_bytes += doc.encoded_len();
            self.buffer_replayed |= log.received_at < self.opened_at;
            self.buffer.push(doc);
        }
        self.written = self.written.max(end_position);
        // Counted as delivered when Elasticsearch settles them (see `take_settled`).
        Ok(WriteOutcome::default())
    }

    fn commit(&mut self) -> Result<u64, StoreError> {
        self.flush()?;
        let mut first_error = None;
        while let Some(done) = self.rt.block_on(self.in_flight.join_next()) {
            if let Err(e) = flatten(done) {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if self.written != self.committed {
            write_checkpoint(&self.checkpoint, self.written)?;
            self.committed = self.written;
        }
        Ok(self.committed)
    }

    fn refresh(&mut self) -> Result<(), StoreError> {
        let path = format!("/{}/_refresh", self.shared.stream);
        let answer =
            self.rt
                .block_on(self.shared.client.json(reqwest::Method::POST, &path, None))?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "refresh answered {}: {}",
                answer.status,
                answer.text()
            )))
        }
    }

    fn apply_retention(&mut self, _now: chrono::DateTime<Utc>) -> Result<usize, StoreError> {
        // The ILM policy deletes old backing indices.
        Ok(0)
    }

    fn take_settled(&mut self) -> Settled {
        let c = &self.shared.counters;
        Settled {
            delivered: c.delivered.swap(0, Ordering::Relaxed),
            duplicates: c.duplicates.swap(0, Ordering::Relaxed),
            retried: c.retried.swap(0, Ordering::Relaxed),
            dead_lettered_stream: c.dead_lettered_stream.swap(0, Ordering::Relaxed),
            dead_lettered_file: c.dead_lettered_file.swap(0, Ordering::Relaxed),
            requests: c.bulk_requests.swap(0, Ordering::Relaxed),
            request_seconds: std::mem::take(&mut *c.bulk_seconds.lock().expect("lock")),
        }
    }
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}

/// Sleeps, waking early when deliveries are abandoned.
async fn pause(shared: &Shared, attempt: u32) -> Result<(), StoreError> {
    let mut left = backoff(attempt, jitter());
    while !left.is_zero() {
        if shared.abandon.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "delivery abandoned at shutdown; the logs stay in the wal".into(),
            ));
        }
        let step = left.min(Duration::from_millis(100));
        tokio::time::sleep(step).await;
        left -= step;
    }
    if shared.abandon.load(Ordering::Acquire) {
        return Err(StoreError::Unavailable(
            "delivery abandoned at shutdown; the logs stay in the wal".into(),
        ));
    }
    Ok(())
}

async fn ensure_installed(shared: &Shared) -> Result<(), StoreError> {
    let mut installed = shared.installed.lock().await;
    if !*installed {
        setup::install(
            &shared.client,
            &shared.stream,
            &shared.deadletter_stream,
            &shared.install,
        )
        .await?;
        *installed = true;
    }
    Ok(())
}

/// Leaves out of `docs` those already in the data stream, in any backing
/// index. `create` with the log's id refuses a second copy only within one
/// backing index; logs replayed from the WAL after a crash may have been
/// stored before a rollover. So replayed logs are first looked up by id
/// across the data stream (after a refresh, so that every stored one is
/// seen). Needs the `read` privilege; without it, the lookup is skipped
/// with a warning (exactly-once then holds within a backing index).
async fn drop_stored(shared: &Shared, docs: Vec<BulkDoc>) -> Result<Vec<BulkDoc>, StoreError> {
    let mut attempt = 0u32;
    loop {
        match stored_ids(shared, &docs).await {
            Ok(Some(stored)) if !stored.is_empty() => {
                let before = docs.len();
                let docs: Vec<BulkDoc> = docs
                    .into_iter()
                    .filter(|d| !stored.contains(&d.id))
                    .collect();
                let skipped = (before - docs.len()) as u64;
                shared
                    .counters
                    .duplicates
                    .fetch_add(skipped, Ordering::Relaxed);
                info!(skipped, "replayed logs already in elasticsearch (perhaps in an older backing index) not sent again");
                return Ok(docs);
            }
            Ok(_) => return Ok(docs),
            Err(e) => {
                warn!(error = %e, "looking up replayed logs failed; retrying");
                shared.health.fail(e.to_string());
                pause(shared, attempt).await?;
                attempt += 1;
            }
        }
    }
}

/// The ids of `docs` found in the data stream; `None` when the lookup is
/// not allowed (403) or the stream does not exist yet.
async fn stored_ids(
    shared: &Shared,
    docs: &[BulkDoc],
) -> Result<Option<std::collections::HashSet<String>>, StoreError> {
    use reqwest::Method;
    {
        let mut refreshed = shared.refreshed.lock().await;
        if !*refreshed {
            let answer = shared
                .client
                .json(Method::POST, &format!("/{}/_refresh", shared.stream), None)
                .await?;
            if answer.status >= 500 {
                return Err(StoreError::Unavailable(format!(
                    "refresh answered {}",
                    answer.status
                )));
            }
            *refreshed = true;
        }
    }
    let mut found = std::collections::HashSet::new();
    for chunk in docs.chunks(1000) {
        let ids: Vec<&str> = chunk.iter().map(|d| d.id.as_str()).collect();
        let body = json!({"query": {"ids": {"values": ids}}, "_source": false, "size": ids.len()});
        let answer = shared
            .client
            .json(
                Method::POST,
                &format!("/{}/_search", shared.stream),
                Some(&body),
            )
            .await?;
        match answer.status {
            200 => {}
            404 => return Ok(None),
            401 | 403 => {
                warn!(status = answer.status, "cannot look up replayed logs (the `read` privilege is missing): a log stored before a rollover may be stored again");
                return Ok(None);
            }
            status => {
                return Err(StoreError::Unavailable(format!(
                    "looking up replayed logs answered {status}"
                )))
            }
        }
        let hits: serde_json::Value = serde_json::from_slice(&answer.body)
            .map_err(|e| StoreError::Unavailable(format!("unreadable search answer: {e}")))?;
        for hit in hits["hits"]["hits"].as_array().into_iter().flatten() {
            if let Some(id) = hit["_id"].as_str() {
                found.insert(id.to_string());
            }
        }
    }
    Ok(Some(found))
}

/// Sends `docs` until each one is settled (or deliveries are abandoned).
async fn deliver(shared: &Shared, mut pending: Vec<BulkDoc>) -> Result<(), StoreError> {
    let mut attempt = 0u32;
    loop {
        if let Err(e) = ensure_installed(shared).await {
            warn!(error = %e, "elasticsearch setup failed; retrying");
            shared.health.fail(e.to_string());
            pause(shared, attempt).await?;
            attempt += 1;
            continue;
        }
        let body = bulk_body(&pending.iter().collect::<Vec<_>>());
        shared
            .counters
            .bulk_requests
            .fetch_add(1, Ordering::Relaxed);
        let in_flight = shared.health.request();
        let answer = shared.client.bulk(&shared.stream, body).await;
        drop(in_flight);
        let decision = match answer {
            Ok(answer) => decide(answer.status, &answer.body, pending.len()),
            Err(e) => Decision::RetryAll {
                reason: e.to_string(),
                reinstall: false,
            },
        };
        match decision {
            Decision::RetryAll { reason, reinstall } => {
                warn!(%reason, docs = pending.len(), attempt, "bulk request failed; retrying");
                shared.health.fail(reason);
                if reinstall && !shared.setup {
                    error!("the data stream or its template is missing and ELASTICSEARCH_SETUP is false: install deploy/elasticsearch/ on the cluster; retrying");
                }
                if reinstall && shared.setup {
                    *shared.installed.lock().await = false;
                }
            }
            Decision::RejectAll { status, error } => {
                shared.health.ok();
                error!(status, error = ?error, docs = pending.len(), "bulk request refused; dead-lettering its documents");
                let rejected = pending
                    .into_iter()
                    .map(|d| (d, status, error.clone()))
                    .collect();
                dead_letter(shared, rejected).await?;
                return Ok(());
            }
            Decision::Split { reason } => {
                shared.health.ok();
                warn!(%reason, docs = pending.len(), "bulk request refused as a whole; sending each half on its own");
                let right = pending.split_off(pending.len() / 2);
                Box::pin(deliver(shared, pending)).await?;
                return Box::pin(deliver(shared, right)).await;
            }
            Decision::Items(fates) => {
                shared.health.ok();
                let mut retry = Vec::new();
                let mut rejected = Vec::new();
                for (doc, fate) in pending.into_iter().zip(fates) {
                    match fate {
                        ItemFate::Stored => {
                            shared.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        ItemFate::Duplicate => {
                            shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        ItemFate::Retry(_) => retry.push(doc),
                        ItemFate::Reject { status, error } => rejected.push((doc, status, error)),
                    }
                }
                if !rejected.is_empty() {
                    dead_letter(shared, rejected).await?;
                }
                if retry.is_empty() {
                    return Ok(());
                }
                shared
                    .counters
                    .retried
                    .fetch_add(retry.len() as u64, Ordering::Relaxed);
                pending = retry;
            }
        }
        pause(shared, attempt).await?;
        attempt += 1;
    }
}

/// Stores refused documents in the dead-letter stream, or, if that refuses
/// them too, in the dead-letter file. Retries while Elasticsearch is down.
async fn dead_letter(
    shared: &Shared,
    rejected: Vec<(BulkDoc, u16, EsError)>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let mut pending: Vec<(BulkDoc, BulkDoc)> = rejected
        .into_iter()
        .map(|(doc, status, error)| {
            let letter = json!({
                "@timestamp": now,
                "log_id": doc.id,
                "status": status,
                "error_type": error.kind,
                "error_reason": error.reason,
                "document": doc.source,
            });
            let letter = BulkDoc {
                id: doc.id.clone(),
                source: letter.to_string(),
            };
            (doc, letter)
        })
        .collect();
    let mut attempt = 0;
    loop {
        let letters: Vec<&BulkDoc> = pending.iter().map(|(_, l)| l).collect();
        let decision = match shared
            .client
            .bulk(&shared.deadletter_stream, bulk_body(&letters))
            .await
        {
            Ok(answer) => decide(answer.status, &answer.body, letters.len()),
            Err(e) => Decision::RetryAll {
                reason: e.to_string(),
                reinstall: false,
            },
        };
        let mut retry = Vec::new();
        match decision {
            Decision::RetryAll { reason, .. } => {
                warn!(%reason, "dead-letter bulk failed; retrying");
                retry = pending;
            }
            // Refused as a whole: the file keeps them (no halving for letters).
            Decision::RejectAll { .. } | Decision::Split { .. } => {
                to_file(shared, &pending)?;
                return Ok(());
            }
            Decision::Items(fates) => {
                let mut refused = Vec::new();
                for (pair, fate) in pending.into_iter().zip(fates) {
                    match fate {
                        ItemFate::Stored | ItemFate::Duplicate => {
                            shared
                                .counters
                                .dead_lettered_stream
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        ItemFate::Retry(_) => retry.push(pair),
                        ItemFate::Reject { .. } => refused.push(pair),
                    }
                }
                to_file(shared, &refused)?;
            }
        }
        if retry.is_empty() {
            return Ok(());
        }
        pending = retry;
        pause(shared, attempt).await?;
        attempt += 1;
    }
}

fn to_file(shared: &Shared, letters: &[(BulkDoc, BulkDoc)]) -> Result<(), StoreError> {
    if letters.is_empty() {
        return Ok(());
    }
    let path = &shared.deadletter_file;
    let io = |e| StoreError::io(path, e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    for (_, letter) in letters {
        file.write_all(letter.source.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
    }
    file.sync_data().map_err(io)?;
    shared
        .counters
        .dead_lettered_file
        .fetch_add(letters.len() as u64, Ordering::Relaxed);
    error!(count = letters.len(), file = %path.display(), "documents refused by the dead-letter stream written to the dead-letter file");
    Ok(())
}
