//! queryd: SREs search the stored logs and see their error patterns.
//!
//! # Layout
//! - [`answers`]: the answers' types (the OpenAPI document describes them).
//! - [`api`]: search, patterns, histogram, facets, context and the service routes.
//! - [`export`]: `/logs/export`, a result set streamed as NDJSON.
//! - [`tail`]: `/logs/tail`, live tail over Server-Sent Events.
//! - [`metrics`]: the `queryd_*` Prometheus metrics.
//! - [`ui`]: the web UI (`/ui`, and `/` for browsers), assets in the binary.
//!
//! The backend is a [`log_store::LogReader`]; [`open_configured_store`] picks it from
//! the configuration: Elasticsearch when `ELASTICSEARCH_URL` is set, else the
//! embedded store.

pub mod answers;
pub mod api;
pub mod export;
pub mod metrics;
pub mod tail;
pub mod ui;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::web;
use clap::Args;
use log_store::elasticsearch::EsReader;
use log_store::embedded::EmbeddedReader;
use log_store::{LogReader, StoreArgs};
use tracing::info;

/// queryd's own settings.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// Address of the query API.
    #[arg(long, env = "QUERY_ADDR", default_value = "0.0.0.0:8081")]
    pub query_addr: SocketAddr,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "QUERY_WORKERS")]
    pub query_workers: Option<usize>,

    /// Live tails (`/logs/tail`) open at once; more are refused with 429.
    #[arg(long, env = "MAX_TAILS", default_value_t = 64)]
    pub max_tails: usize,

    /// The keys and CORS origins in force (from [`svc_kit::auth::AuthArgs`];
    /// set by the binary).
    #[arg(skip)]
    pub access: svc_kit::auth::Access,
}

/// Command line of the `queryd` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "queryd", version, about = "Log search and error patterns")]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub query: QueryArgs,
    #[command(flatten)]
    pub auth: svc_kit::auth::AuthArgs,
}

/// The embedded store's reader over `data_dir`.
pub fn open_store(data_dir: &std::path::Path) -> EmbeddedReader {
    EmbeddedReader::open(data_dir)
}

/// The configured backend: Elasticsearch when its URL is set, else the
/// embedded store under the data directory.
pub fn open_configured_store(
    store: &StoreArgs,
) -> Result<Arc<dyn LogReader>, log_store::StoreError> {
    if store.uses_elasticsearch() {
        Ok(Arc::new(EsReader::new(&store.es)?))
    } else {
        Ok(Arc::new(open_store(&store.data_dir)))
    }
}

/// Called after each commit of a writer in the same process.
pub type ReloadHook = Arc<dyn Fn() + Send + Sync>;

/// The store for a process that also writes it (the all-in-one binary):
/// the configured reader and, on the embedded store, the hook that makes
/// each commit visible to it at once (give it to `ingestd::run`).
pub fn open_shared_store(
    store: &StoreArgs,
) -> Result<(Arc<dyn LogReader>, Option<ReloadHook>), log_store::StoreError> {
    if store.uses_elasticsearch() {
        return Ok((open_configured_store(store)?, None));
    }
    let reader = open_store(&store.data_dir);
    let reload = reader.clone();
    Ok((Arc::new(reader), Some(Arc::new(move || reload.committed()))))
}

/// What a request to the query port needs: the query scope, except for
/// the web UI's page and files and the API docs (static; their data comes
/// from the API, which asks for a key).
fn scope_of(_: &actix_web::http::Method, path: &str) -> Option<svc_kit::auth::Scope> {
    let open = path == "/"
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
        || path == "/ui"
        || path.starts_with("/ui/");
    (!open).then_some(svc_kit::auth::Scope::Query)
}

/// queryd's OpenAPI document, built from the routes as they are registered.
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| svc_kit::server::openapi(api::API_INFO, api::configure))
        .clone()
}

/// Serves the query API on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    store: Arc<dyn LogReader>,
    args: QueryArgs,
    shutdown: impl Future<Output = ()>,
) -> Result<(), std::io::Error> {
    let metrics = metrics::Metrics::new().map_err(std::io::Error::other)?;
    let state = web::Data::new(api::AppState {
        store,
        metrics: metrics.clone(),
        tails: tail::Tails::new(args.max_tails),
    });
    let address = listener.local_addr()?;
    let server = svc_kit::server::start(
        listener,
        metrics.http.clone(),
        args.query_workers,
        10,
        openapi(),
        svc_kit::auth::Gate {
            access: args.access.clone(),
            scope_of,
        },
        move |cfg: &mut utoipa_actix_web::service_config::ServiceConfig| {
            cfg.app_data(state.clone())
                .app_data(svc_kit::error::json_config(1 << 20));
            api::configure(cfg);
        },
    )?;
    info!(%address, "queryd listening");
    shutdown.await;
    server.stop().await;
    info!("queryd stopped");
    Ok(())
}
