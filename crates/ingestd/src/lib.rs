//! ingestd: services ship logs over HTTP; ingestd validates them, makes them
//! durable in a write-ahead log, acknowledges, and indexes them.
//!
//! # Layout
//! - [`config`]: flags and environment variables.
//! - [`doors`]: the protocols logs come in by (native, Elasticsearch bulk,
//!   OTLP/HTTP); each decodes its request and makes one pipeline call.
//! - [`pipeline`]: the one ingest path of every door (body, the shared
//!   rules, enrich, WAL append and fsync, the refusals and their counting).
//! - [`api`]: the service routes (`/health`, `/ready`, `/metrics`, backup).
//! - [`wal`]: the write-ahead log with group commit.
//! - [`indexer`]: WAL reader -> store writer -> commit -> WAL GC.
//! - [`metrics`]: the `ingestd_*` Prometheus metrics.
//! - [`check`]: the read-only check of a data directory (`logagg check`).
//!
//! [`run`] wires them as the pipeline of DESIGN.md:
//! `HTTP -> validate -> enrich -> WAL append (fsync) -> 202 -> indexer -> store -> checkpoint -> WAL GC`.

pub mod api;
pub mod check;
pub mod config;
pub mod doors;
pub mod indexer;
pub mod metrics;
pub mod pipeline;
/// The write-ahead log (the `log-wal` crate).
pub use log_wal as wal;

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::web;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log_store::Health;
use tracing::info;

pub use config::{Cli, IngestArgs, StoreArgs};
pub use log_store::CommitHook;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    #[error(transparent)]
    Store(#[from] log_store::StoreError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// What a request to the ingest port needs: the ingest scope, except for
/// the API docs (open; `/health` and `/metrics` are decided by svc-kit).
fn scope_of(_: &actix_web::http::Method, path: &str) -> Option<svc_kit::auth::Scope> {
    if path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/") {
        return None;
    }
    if path.starts_with("/admin/") {
        return Some(svc_kit::auth::Scope::Admin);
    }
    Some(svc_kit::auth::Scope::Ingest)
}

/// ingestd's OpenAPI document: the native and OTLP routes as they are
/// registered, and the Elasticsearch routes from their table.
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = svc_kit::server::openapi(api::API_INFO, |cfg| {
            api::configure(cfg);
        });
        doc.merge(doors::elastic::openapi());
        doc
    })
    .clone()
}

/// Serves the ingest API on `listener` until `shutdown` resolves; then stops
/// accepting, finishes the requests in flight, indexes and commits what the
/// WAL holds, and returns. `on_commit` runs after each store commit.
pub async fn run(
    listener: TcpListener,
    store: StoreArgs,
    args: IngestArgs,
    on_commit: Option<CommitHook>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let retention = chrono::Duration::days(i64::from(store.retention_days));
    let health = Health::default();
    // Set at shutdown after a grace period: deliveries still failing give up
    // (their logs stay in the WAL for the next start).
    let abandon = Arc::new(AtomicBool::new(false));
    let backend = log_store::Backend::new(&store);
    // Replicas on a cluster may share one volume: each claims its own WAL
    // directory.
    let wal_lock = if backend.is_cluster() {
        wal::Wal::claim_slot(&store.data_dir.join("wal"))?
    } else {
        wal::Wal::lock(&store.data_dir.join("wal"))?
    };
    let open_writer = backend.writers(
        wal_lock.dir(),
        log_store::WriterOptions {
            heap_bytes: (args.index_heap_mb as usize) << 20,
            threads: args.index_threads as usize,
            health: health.clone(),
            abandon: abandon.clone(),
        },
    );
    // The store says where its data ends; the WAL replays from there.
    // (On a plain thread: a writer may own a runtime, which cannot be dropped here.)
    let committed = std::thread::scope(|scope| {
        scope
            .spawn(|| open_writer().map(|w| w.committed_position()))
            .join()
            .expect("opening the store panicked")
    })?;
    let wal_dir = wal_lock.dir().to_path_buf();
    let metrics = metrics::Metrics::new()?;
    metrics.init_labels();
    metrics.wal_max_bytes.set(args.wal_max_bytes as i64);
    let wal = wal::Wal::open(
        wal_lock,
        args.wal_segment_bytes,
        committed,
        Some(metrics.wal_fsync_duration.clone()),
    )?;
    let indexer = indexer::Indexer::spawn(
        wal.clone(),
        open_writer,
        indexer::IndexerConfig {
            commit_interval: Duration::from_millis(args.commit_interval_ms),
            read_bytes: 8 << 20,
            retention_check: Duration::from_secs(600),
            dead_letter_dir: store.data_dir.join("deadletter"),
        },
        metrics.clone(),
        on_commit,
    )?;
    let state = web::Data::new(pipeline::AppState {
        wal: wal.clone(),
        indexer: indexer.status.clone(),
        store_health: health.clone(),
        metrics: metrics.clone(),
        validator: pipeline::Validator {
            limits: args.limits(),
            retention,
            max_future: chrono::Duration::seconds(
                args.max_future_secs.min(i64::MAX as u64 / 2_000) as i64,
            ),
        },
        max_body_bytes: args.max_body_bytes,
        max_batch_len: args.max_batch_len,
        wal_max_bytes: args.wal_max_bytes,
        at_cap: Default::default(),
        backup: match (&store.backup_dir, backend.is_local()) {
            (Some(repository), true) => Some(pipeline::BackupTarget {
                data_dir: store.data_dir.clone(),
                repository: repository.clone(),
                running: Default::default(),
            }),
            _ => None,
        },
    });
    let address = listener.local_addr()?;
    let server = svc_kit::server::start(
        listener,
        metrics.http.clone(),
        args.ingest_workers,
        30,
        openapi(),
        svc_kit::auth::Gate {
            access: args.access.clone(),
            scope_of,
        },
        move |cfg: &mut utoipa_actix_web::service_config::ServiceConfig| {
            cfg.app_data(state.clone());
            api::configure(cfg);
            doors::elastic::configure(cfg);
        },
    )?;
    info!(%address, wal = %wal_dir.display(), backend = backend.name(), "ingestd listening");
    shutdown.await;
    info!("ingestd stopping: no new requests, finishing those in flight");
    server.stop().await;
    wal.close();
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    std::thread::spawn(move || {
        std::thread::sleep(grace);
        abandon.store(true, Ordering::Release);
    });
    let drain = tokio::task::spawn_blocking(move || indexer.drain_and_stop());
    let _ = drain.await;
    info!("ingestd stopped");
    Ok(())
}
