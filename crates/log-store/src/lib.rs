//! How logs sit at rest. One write trait ([`LogWriter`]), used by ingestd's
//! indexer, and one read trait ([`LogReader`]), used by queryd; each backend
//! implements both.
//!
//! # Layout
//! - [`embedded`]: tantivy indexes on local disk, one per UTC day.
//! - [`elasticsearch`]: a data stream in an Elasticsearch cluster, over its REST API.
//! - [`model`]: what reads return: search pages and pattern groups.
//!
//! **Invariant:** a writer records, with the logs it commits, the WAL
//! position they came from; [`LogWriter::committed_position`] is where WAL
//! replay starts after a restart, and a replayed log that the store already
//! holds is not stored again.

use std::future::Future;
use std::pin::Pin;

use log_model::{FacetsQuery, HistogramQuery, PatternsQuery, SearchQuery, StoredLog};

pub mod backend;
pub mod elasticsearch;
pub mod embedded;
pub mod model;
mod scoped;

pub use backend::{wal_checkpoints, Backend, CommitHook, WriterFactory, WriterOptions};
pub use model::{Facets, Histogram, PatternGroup, PatternsPage, SearchPage};

/// The embedded store's own tools (`logagg check`, `backup`, `restore`;
/// [`Backend::is_local`] says when they apply) and its retention rule,
/// which ingest applies to every backend.
pub use embedded::backup;
pub use embedded::{check as check_indexes, oldest_kept_day, PartitionReport};

use std::path::PathBuf;

use clap::Args;

/// Settings shared by both services (and the all-in-one binary).
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where the WAL and the embedded indexes live.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Logs older than this many days are deleted (whole days at a time), and
    /// older ones are refused at ingest.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_days: u32,

    /// The backup repository of `POST /admin/backup` on the ingest port
    /// (embedded store only; without it the route answers 404).
    #[arg(long, env = "BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,

    #[command(flatten)]
    pub es: elasticsearch::EsSettings,
}

impl StoreArgs {
    /// Whether logs live in Elasticsearch rather than the embedded store.
    pub fn uses_elasticsearch(&self) -> bool {
        self.es
            .elasticsearch_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
    }
}

/// A future boxed so that readers can sit behind `dyn LogReader`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The index failed (its own error, as text: the type names no
    /// backend's).
    #[error("index error: {0}")]
    Index(String),
    #[error("io error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt stored document: {0}")]
    Corrupt(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A read that named no tenants ([`log_model::Tenants::Unscoped`]): a
    /// bug of the service, refused so that it never reads every tenant.
    #[error("a read without a tenant scope was refused")]
    Unscoped,
}

impl From<tantivy::TantivyError> for StoreError {
    fn from(error: tantivy::TantivyError) -> Self {
        StoreError::Index(error.to_string())
    }
}

impl StoreError {
    /// What a client may be told: the kind of failure, without paths,
    /// addresses or panic text (those go to the service log).
    pub fn public_detail(&self) -> &'static str {
        match self {
            StoreError::Index(_) => "the index could not be read",
            StoreError::Io { .. } => "a storage read or write failed",
            StoreError::Corrupt(_) => "a stored document is damaged",
            StoreError::Unavailable(_) => "the store is unavailable",
            StoreError::Unscoped => "the read named no tenant",
        }
    }

    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// What one [`LogWriter::write`] call did with its logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Added to the store (searchable after the next commit).
    pub written: usize,
    /// Already in the store from an earlier run (a replay); not added again.
    pub duplicates: usize,
    /// Older than the retention window by the time they reached the store;
    /// counted, not stored.
    pub expired: usize,
}

/// The write side of a backend. Calls come from one thread, in WAL order;
/// they may block.
pub trait LogWriter: Send {
    /// The WAL position up to which every log is durably in the store. Replay
    /// starts here.
    fn committed_position(&self) -> u64;

    /// Adds the logs of one WAL record; `end_position` is the WAL position
    /// just past that record.
    fn write(&mut self, logs: &[StoredLog], end_position: u64) -> Result<WriteOutcome, StoreError>;

    /// Makes every written log durable and searchable; returns the new
    /// committed position.
    fn commit(&mut self) -> Result<u64, StoreError>;

    /// Deletes what is older than the retention window; returns how many
    /// partitions were dropped.
    fn apply_retention(&mut self, now: chrono::DateTime<chrono::Utc>) -> Result<usize, StoreError>;

    /// Housekeeping the indexer calls every few seconds while it waits
    /// for logs (the embedded store merges idle partitions' segments).
    fn maintain(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Makes committed logs visible to searches now, for requests that wait
    /// for it (`?refresh=wait_for`); a no-op where a commit already does.
    fn refresh(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// What was settled since the last call, for backends that learn it
    /// after `write` (Elasticsearch answers bulk requests later).
    fn take_settled(&mut self) -> Settled {
        Settled::default()
    }

    /// Damaged parts of the store this writer found and wrote around (name
    /// and reason), for readiness and metrics.
    fn damage(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Fates of documents settled by a backend since the last look.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Settled {
    pub delivered: u64,
    /// Already stored (409 on create): a replay.
    pub duplicates: u64,
    /// Documents sent again after a per-item 429/5xx.
    pub retried: u64,
    pub dead_lettered_stream: u64,
    pub dead_lettered_file: u64,
    /// Bulk requests sent (with retries).
    pub requests: u64,
    /// Seconds each of those requests took, answered or not.
    pub request_seconds: Vec<f64>,
}

/// Whether the store answers, and if not, why; shared between the writer
/// and the readiness check.
#[derive(Debug, Clone, Default)]
pub struct Health {
    problem: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Health {
    /// Requests to the store waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Counts one request in flight until the guard is dropped.
    pub fn request(&self) -> InFlight {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlight(self.in_flight.clone())
    }

    pub fn ok(&self) {
        *self.problem.lock().expect("lock") = None;
    }

    pub fn fail(&self, reason: impl Into<String>) {
        *self.problem.lock().expect("lock") = Some(reason.into());
    }

    /// `None` when healthy.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().expect("lock").clone()
    }
}

/// A request in flight (see [`Health::request`]).
#[derive(Debug)]
pub struct InFlight(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    position: u64,
}

/// The WAL position a writer has committed, from its checkpoint file
/// (`{"position": N}`); 0 when there is none yet.
pub fn read_checkpoint(path: &std::path::Path) -> Result<u64, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<Checkpoint>(&bytes)
            .map(|c| c.position)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(StoreError::io(path, err)),
    }
}

/// Records a committed WAL position, atomically.
pub fn write_checkpoint(path: &std::path::Path, position: u64) -> Result<(), StoreError> {
    let body = serde_json::to_vec(&Checkpoint { position }).expect("checkpoint serialises");
    write_atomically(path, &body)
}

/// Writes a small file atomically: temp file, fsync, rename, fsync the directory.
pub fn write_atomically(path: &std::path::Path, body: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = path.with_extension("tmp");
    let io = |e| StoreError::io(&tmp, e);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(body).map_err(io)?;
    file.sync_data().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))?;
    Ok(())
}

/// The read side of a backend. Both backends answer the same requests with
/// the same semantics.
pub trait LogReader: Send + Sync {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<SearchPage, StoreError>>;
    fn patterns(&self, query: PatternsQuery) -> BoxFuture<'_, Result<PatternsPage, StoreError>>;
    fn histogram(&self, query: HistogramQuery) -> BoxFuture<'_, Result<Histogram, StoreError>>;
    fn facets(&self, query: FacetsQuery) -> BoxFuture<'_, Result<Facets, StoreError>>;
    /// Makes what was committed elsewhere visible now (live tail calls it
    /// before each look; a no-op where searches always see the latest).
    fn reload(&self) {}
    /// Woken after each commit made in this process, where the backend
    /// knows of them (live tail looks at once instead of at its next poll).
    fn commits(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
    /// How often a live tail looks for new logs: often where a look is a
    /// local read, less where it is a request to a cluster.
    fn tail_poll(&self) -> std::time::Duration {
        std::time::Duration::from_millis(100)
    }
    /// Whether the store can answer (for `/ready`).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Parts of the store found unreadable so far (name and reason).
    fn damage(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Starts verifying the store's files whole in the background, at
    /// about `bytes_per_sec` (0: not at all), where the backend keeps
    /// files of its own.
    fn verify_in_background(&self, _bytes_per_sec: u64) {}
    /// Where that verification stands (`None`: the backend has none).
    fn verification(&self) -> Option<Verification> {
        None
    }
}

/// Where the background verification of a store's files stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// Bytes verified whole.
    pub verified_bytes: u64,
    /// Bytes still to verify.
    pub pending_bytes: u64,
    /// Files found damaged.
    pub damaged_files: u64,
}
