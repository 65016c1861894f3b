use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::HttpMetrics;

/// A running HTTP server (see [`start`]).
pub struct Running {
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets the requests in flight finish, and waits.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// Starts a service's HTTP server on `listener`: its routes and app data
/// from `configure`, around them what every service has (the request
/// middleware with traces and metrics, JSON errors for query strings and
/// unknown routes). Signals are the caller's business.
pub fn start<F>(
    listener: TcpListener,
    metrics: HttpMetrics,
    workers: Option<usize>,
    shutdown_timeout_secs: u64,
    configure: F,
) -> std::io::Result<Running>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let metrics = web::Data::new(metrics);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .app_data(crate::error::query_config())
            .wrap(from_fn(crate::metrics::track))
            .configure(configure.clone())
            .default_service(web::to(crate::error::not_found))
    })
    .disable_signals()
    .shutdown_timeout(shutdown_timeout_secs);
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    let server = server.listen(listener)?.run();
    Ok(Running {
        handle: server.handle(),
        task: tokio::spawn(server),
    })
}
