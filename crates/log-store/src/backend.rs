//! The one way into the configured store. ingestd, queryd and logagg open
//! what they need here and never name a backend: the writers the indexer
//! drives, the reader queryd serves from, the hook that makes a commit
//! visible to a reader in the same process, where each WAL directory's
//! committed position is kept, and the embedded store's own tools (check,
//! backup) as capabilities that are absent on a cluster.
//!
//! **Invariant:** only log-store names a backend (a test over the other
//! crates' sources keeps it so).

use crate::scoped::ScopeChecked;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::elasticsearch::{EsReader, EsWriter, EsWriterPaths};
use crate::embedded::{EmbeddedReader, EmbeddedSettings, EmbeddedWriter};
use crate::{Health, LogReader, LogWriter, StoreArgs, StoreError};

/// Called after each commit of a writer, so that a reader in the same
/// process sees the commit at once.
pub type CommitHook = Arc<dyn Fn() + Send + Sync>;

/// Opens a writer: the indexer opens one at start and again after a
/// failure.
pub type WriterFactory = Box<dyn Fn() -> Result<Box<dyn LogWriter>, StoreError> + Send + Sync>;

/// What the ingest service tells the writers it opens.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Memory of the embedded store's index writer.
    pub heap_bytes: usize,
    /// Indexing threads of the embedded store.
    pub threads: usize,
    /// Whether the store answers, shared with readiness.
    pub health: Health,
    /// Set at shutdown after a grace period: deliveries still failing give
    /// up (their logs stay in the WAL for the next start).
    pub abandon: Arc<AtomicBool>,
}

/// The configured store: a cluster when `ELASTICSEARCH_URL` is set, the
/// embedded indexes under the data directory otherwise.
#[derive(Debug, Clone)]
pub struct Backend {
    args: StoreArgs,
}

/// The file, beside a replica's WAL directory, where the cluster's writer
/// keeps the position it has committed.
const CLUSTER_CHECKPOINT: &str = "es-checkpoint";

impl Backend {
    pub fn new(args: &StoreArgs) -> Backend {
        Backend { args: args.clone() }
    }

    /// For logs and answers: `elasticsearch` or `embedded`.
    pub fn name(&self) -> &'static str {
        if self.is_cluster() {
            "elasticsearch"
        } else {
            "embedded"
        }
    }

    pub fn args(&self) -> &StoreArgs {
        &self.args
    }

    /// Whether logs live in a cluster. Then several ingest replicas may
    /// share one data volume, each claiming a WAL directory of its own.
    pub fn is_cluster(&self) -> bool {
        self.args.uses_elasticsearch()
    }

    /// Whether the store's own check and backups apply (the embedded store;
    /// a cluster has its own: health and snapshots).
    pub fn is_local(&self) -> bool {
        !self.is_cluster()
    }

    /// Opens writers for the process that holds the WAL directory
    /// `wal_dir`.
    pub fn writers(&self, wal_dir: &Path, options: WriterOptions) -> WriterFactory {
        let args = self.args.clone();
        if self.is_cluster() {
            let paths = EsWriterPaths {
                checkpoint: wal_dir.join(CLUSTER_CHECKPOINT),
                deadletter_file: args
                    .data_dir
                    .join("deadletter")
                    .join("es-deadletter.ndjson"),
            };
            Box::new(move || {
                EsWriter::open(
                    &args.es,
                    args.retention_days,
                    paths.clone(),
                    options.health.clone(),
                    options.abandon.clone(),
                )
                .map(|w| Box::new(w) as Box<dyn LogWriter>)
            })
        } else {
            let settings = EmbeddedSettings {
                heap_bytes: options.heap_bytes,
                threads: options.threads,
                retention: chrono::Duration::days(i64::from(args.retention_days)),
                ..EmbeddedSettings::default()
            };
            Box::new(move || {
                EmbeddedWriter::open(&args.data_dir, settings.clone())
                    .map(|w| Box::new(w) as Box<dyn LogWriter>)
            })
        }
    }

    /// The reader of a process that only reads (queryd on its own): on
    /// the embedded store it notices commits by polling.
    pub fn reader(&self) -> Result<Arc<dyn LogReader>, StoreError> {
        if self.is_cluster() {
            Ok(Arc::new(ScopeChecked(EsReader::new(&self.args.es)?)))
        } else {
            Ok(Arc::new(ScopeChecked(EmbeddedReader::open(
                &self.args.data_dir,
            ))))
        }
    }

    /// The reader of a process that also writes (the all-in-one binary)
    /// and, on the embedded store, the hook to give its writer so that
    /// each commit is visible at once.
    pub fn shared_reader(&self) -> Result<(Arc<dyn LogReader>, Option<CommitHook>), StoreError> {
        if self.is_cluster() {
            return Ok((self.reader()?, None));
        }
        let reader = EmbeddedReader::open(&self.args.data_dir);
        let reload = reader.clone();
        Ok((
            Arc::new(ScopeChecked(reader)),
            Some(Arc::new(move || reload.committed())),
        ))
    }
}

/// The WAL directories a data directory may hold, each with the file its
/// committed position is kept in: `wal/` (the embedded store, whose
/// checkpoint sits with its indexes) and `wal/N/` (one per ingest replica
/// on a cluster).
pub fn wal_checkpoints(data_dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let base = data_dir.join("wal");
    let checkpoint = crate::embedded::index_root(data_dir).join("checkpoint");
    let mut dirs = vec![(base.clone(), checkpoint)];
    if let Ok(entries) = std::fs::read_dir(&base) {
        let mut slots: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .map(|e| e.path())
            .collect();
        slots.sort();
        dirs.extend(slots.into_iter().map(|d| {
            let cp = d.join(CLUSTER_CHECKPOINT);
            (d, cp)
        }));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The services and the binary open the store through [`super::Backend`]
    /// and the tools log-store exports: no line of their code names a
    /// backend's module or type, so that a new backend (or a second engine
    /// dialect) is a change inside log-store.
    #[test]
    fn only_log_store_names_a_backend() {
        let named = regex::Regex::new(
            r"log_store::(embedded|elasticsearch)\b|\b(Es|Embedded)(Writer|Reader|Settings|WriterPaths)\b|\btantivy::",
        )
        .unwrap();
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for name in ["ingestd", "queryd", "logagg"] {
            sources(&crates.join(name).join("src"), &mut files);
        }
        assert!(
            files.len() >= 15,
            "the services' sources are not where they were"
        );
        let mut found = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if named.is_match(code) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "backend named outside log-store:\n{}",
            found.join("\n")
        );
    }
}
