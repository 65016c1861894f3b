//! queryd: SREs search the stored logs and see their error patterns.
//!
//! # Layout
//! - [`answers`]: the answers' types (the OpenAPI document describes them).
//! - [`api`]: the service's state, what every read shares (timing, store
//!   failures, coverage), the service routes, and [`api::configure`].
//! - [`reads`]: search, patterns, histogram, facets, context and export.
//! - [`budget`]: what expensive reads may spend (slots per process and key, deadlines, template caps).
//! - [`export`]: `/logs/export`, a result set streamed as NDJSON.
//! - [`tail`]: `/logs/tail`, live tail over Server-Sent Events.
//! - [`metrics`]: the `queryd_*` Prometheus metrics.
//! - [`ui`]: the web UI (`/ui`, and `/` for browsers), assets in the binary.
//!
//! The store is a [`log_store::LogReader`], which the caller opens with
//! [`log_store::Backend`]: Elasticsearch when `ELASTICSEARCH_URL` is set,
//! else the embedded store.

pub mod answers;
pub mod api;
pub mod budget;
pub mod export;
pub mod metrics;
pub mod reads;
pub mod tail;
pub mod ui;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::web;
use clap::Args;
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

    #[command(flatten)]
    pub reads: ReadArgs,

    /// The keys and CORS origins in force (from [`svc_kit::auth::AuthArgs`];
    /// set by the binary).
    #[arg(skip)]
    pub access: svc_kit::auth::Access,
}

/// What expensive reads (patterns, histogram, facets, export, context) may
/// spend; see [`budget`].
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Expensive reads running at once in the process; more are refused
    /// with 429 and `Retry-After` (default: one per core, at least 2).
    /// They run only on cores ingest leaves idle (`SCHED_IDLE`; nice 19
    /// where that is refused); more of them at once than cores costs
    /// ingest all the same (BENCHMARKS.md, "Expensive reads").
    #[arg(long, env = "MAX_EXPENSIVE_READS")]
    pub max_expensive_reads: Option<usize>,

    /// Expensive reads running at once for one API key (with a keys file).
    #[arg(long, env = "MAX_EXPENSIVE_READS_PER_KEY", default_value_t = 4)]
    pub max_expensive_reads_per_key: usize,

    /// Seconds an expensive read may take; past it, the store answers what
    /// it has read, marked partial with the reason. Also how long each
    /// page of an export after the first waits for a slot.
    #[arg(long, env = "READ_TIME_BUDGET_SECS", default_value_t = 4.0)]
    pub read_time_budget_secs: f64,

    /// Distinct ingest templates one patterns request groups: past it, the
    /// most frequent are grouped and the answer is marked partial.
    #[arg(long, env = "MAX_PATTERN_TEMPLATES", default_value_t = log_model::search::DEFAULT_MAX_TEMPLATES)]
    pub max_pattern_templates: usize,

    /// MiB per second the background pass reads to verify the embedded
    /// store's files whole (their checksums), newest first; 0: off.
    #[arg(long, env = "VERIFY_MIB_PER_SEC", default_value_t = 32)]
    pub verify_mib_per_sec: u64,

    /// Slots to take reads' slots from instead of new ones made from the
    /// limits above (a test holds one to stand for a running read).
    #[arg(skip)]
    pub shared: Option<std::sync::Arc<budget::ReadSlots>>,
}

impl Default for ReadArgs {
    fn default() -> Self {
        ReadArgs {
            max_expensive_reads: None,
            max_expensive_reads_per_key: 4,
            read_time_budget_secs: 4.0,
            max_pattern_templates: log_model::search::DEFAULT_MAX_TEMPLATES,
            verify_mib_per_sec: 32,
            shared: None,
        }
    }
}

impl ReadArgs {
    pub fn limits(&self) -> budget::ReadLimits {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        budget::ReadLimits {
            per_process: self.max_expensive_reads.unwrap_or(cores.max(2)).max(1),
            per_key: self.max_expensive_reads_per_key.max(1),
            time: std::time::Duration::from_secs_f64(
                self.read_time_budget_secs.clamp(0.01, 3600.0),
            ),
            max_templates: self.max_pattern_templates.max(1),
        }
    }
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
    store.verify_in_background(args.reads.verify_mib_per_sec.saturating_mul(1 << 20));
    let state = web::Data::new(api::AppState {
        store,
        metrics: metrics.clone(),
        tails: tail::Tails::new(args.max_tails),
        reads: match &args.reads.shared {
            Some(slots) => slots.clone(),
            None => budget::ReadSlots::new(args.reads.limits()),
        },
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
