use clap::Args;
use log_model::Limits;
pub use log_store::StoreArgs;
use std::net::SocketAddr;

/// ingestd's settings: flags, each with an environment variable.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// The keys and CORS origins in force (from [`svc_kit::auth::AuthArgs`];
    /// set by the binary).
    #[arg(skip)]
    pub access: svc_kit::auth::Access,

    /// Address of the ingest API.
    #[arg(long, env = "INGEST_ADDR", default_value = "0.0.0.0:8080")]
    pub ingest_addr: SocketAddr,

    /// When the WAL holds this many bytes not yet indexed, ingest answers 429.
    #[arg(long, env = "WAL_MAX_BYTES", default_value_t = 1 << 30)]
    pub wal_max_bytes: u64,

    /// Size at which the WAL starts a new segment file.
    #[arg(long, env = "WAL_SEGMENT_BYTES", default_value_t = 64 << 20)]
    pub wal_segment_bytes: u64,

    /// How often new logs are committed to the index (made searchable).
    #[arg(long, env = "COMMIT_INTERVAL_MS", default_value_t = 500)]
    pub commit_interval_ms: u64,

    /// tantivy indexing heap per open day partition, in MiB (at least 15 per thread).
    #[arg(long, env = "INDEX_HEAP_MB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(15..=4096))]
    pub index_heap_mb: u64,

    /// tantivy indexing threads per open day partition.
    #[arg(long, env = "INDEX_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub index_threads: u64,

    /// How far in the future a log's timestamp may be, in seconds (422 beyond).
    #[arg(long, env = "MAX_FUTURE_SECS", default_value_t = 86_400)]
    pub max_future_secs: u64,

    /// Largest request body, in bytes (413 above).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 10 << 20)]
    pub max_body_bytes: usize,

    /// Most logs in one batch request (413 above).
    #[arg(long, env = "MAX_BATCH_LEN", default_value_t = 10_000)]
    pub max_batch_len: usize,

    /// Largest `message`, in bytes.
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 32 * 1024)]
    pub max_message_bytes: usize,

    /// Largest `metadata` object, in bytes of JSON.
    #[arg(long, env = "MAX_METADATA_BYTES", default_value_t = 16 * 1024)]
    pub max_metadata_bytes: usize,

    /// Deepest nesting of `metadata`.
    #[arg(long, env = "MAX_METADATA_DEPTH", default_value_t = 8)]
    pub max_metadata_depth: usize,

    /// At shutdown, how long deliveries that keep failing (Elasticsearch
    /// down) are retried before giving up; their logs stay in the WAL.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "INGEST_WORKERS")]
    pub ingest_workers: Option<usize>,
}

impl IngestArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_message_bytes: self.max_message_bytes,
            max_metadata_bytes: self.max_metadata_bytes,
            max_metadata_depth: self.max_metadata_depth,
            ..Limits::default()
        }
    }
}

/// Command line of the `ingestd` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "ingestd", version, about = "Log ingest: HTTP -> WAL -> index")]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub auth: svc_kit::auth::AuthArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::PathBuf;

    #[test]
    fn defaults_match_the_readme() {
        let cli = Cli::try_parse_from(["ingestd"]).unwrap();
        assert_eq!(cli.ingest.ingest_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(cli.store.data_dir, PathBuf::from("./data"));
        assert_eq!(cli.store.retention_days, 7);
        assert!(Cli::try_parse_from(["ingestd", "--index-heap-mb", "3"]).is_err());
    }
}
