use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa::OpenApi as _;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::auth::Gate;
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

/// What a service's OpenAPI document says about it.
#[derive(Debug, Clone, Copy)]
pub struct ApiInfo {
    pub title: &'static str,
    pub description: &'static str,
}

/// A service's routes: registered through utoipa's `ServiceConfig`, so each
/// route's `#[utoipa::path]` lands in the OpenAPI document as it is served.
pub trait Routes: Fn(&mut ServiceConfig) + Clone + Send + 'static {}
impl<F: Fn(&mut ServiceConfig) + Clone + Send + 'static> Routes for F {}

/// What every document says about tenants (the header is not listed per
/// operation: it matters only to admin keys and open services).
const TENANTS: &str =
    "With API keys, each key belongs to a tenant: it writes logs to its tenant and \
reads only its tenant's logs. An admin key names another tenant with the `X-Tenant` header; any \
other key naming a tenant not its own gets 403. Without keys, `X-Tenant` picks the tenant to \
write to or read (reads without it see every tenant).";

/// The OpenAPI document of the routes `configure` registers: their paths,
/// their request and answer schemas, the error shape, and what the server
/// adds to every service (`/openapi.json`, `/docs`).
pub fn openapi(info: ApiInfo, configure: impl Routes) -> OpenApi {
    let (_, paths) = App::new()
        .into_utoipa_app()
        .configure(configure)
        .split_for_parts();
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(info.title)
                .description(Some(format!("{} {TENANTS}", info.description)))
                .version(env!("CARGO_PKG_VERSION"))
                .license(Some(utoipa::openapi::License::new("MIT"))),
        )
        .build();
    doc.merge(paths);
    split_get_post(&mut doc);
    doc.merge(crate::error::ErrorDoc::openapi());
    doc.merge(Docs::openapi());
    add_security(&mut doc);
    doc
}

/// A read route that one handler serves for GET (the query string) and
/// POST (a JSON body) is written with one `#[utoipa::path]` holding both
/// the query parameters and the body; here it becomes the two operations
/// clients see: GET with the parameters, POST with the body, each with an
/// operation id of its own (`<handler>_get`, `<handler>_post`).
fn split_get_post(doc: &mut OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::RefOr;
    for item in doc.paths.paths.values_mut() {
        let (Some(get), Some(post)) = (&mut item.get, &mut item.post) else {
            continue;
        };
        let Some(id) = get.operation_id.clone() else {
            continue;
        };
        if post.operation_id.as_ref() != Some(&id) {
            continue;
        }
        get.operation_id = Some(format!("{id}_get"));
        post.operation_id = Some(format!("{id}_post"));
        get.request_body = None;
        if let Some(params) = &mut post.parameters {
            params.retain(|p| !matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
            if params.is_empty() {
                post.parameters = None;
            }
        }
        if let Some(summary) = &post.summary {
            post.summary = Some(format!("{} (JSON body).", summary.trim_end_matches('.')));
        }
    }
}

/// The ways to present an API key (see [`crate::auth`]), each enough on
/// its own; none is needed when the service runs without a keys file.
/// Swagger UI's "Authorize" offers them.
fn add_security(doc: &mut OpenApi) {
    use utoipa::openapi::security::{
        ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
    };
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        "basic",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
    );
    components.add_security_scheme(
        "apiKeyHeader",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
    );
    doc.security = Some(vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("basic", Vec::<String>::new()),
        SecurityRequirement::new("apiKeyHeader", Vec::<String>::new()),
        SecurityRequirement::default(),
    ]);
}

/// `METHOD /path` of every operation in a document, in path order.
pub fn endpoints(doc: &OpenApi) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("HEAD", &item.head),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
            ("OPTIONS", &item.options),
        ] {
            if op.is_some() {
                out.push(format!("{method} {path}"));
            }
        }
    }
    out
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(openapi_json, docs_redirect, docs_files))]
struct Docs;

/// The interactive API docs.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "service",
    responses((status = 308, description = "To `/docs/`, Swagger UI's page"))
)]
#[allow(dead_code)]
fn docs_redirect() {}

/// Swagger UI's page (`/docs/`) and its files, served from the binary.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "service",
    params(("file" = String, Path, description = "Empty for the page, or one of its files", example = "swagger-ui.css")),
    responses(
        (status = 200, description = "The page or file", content(
            (String = "text/html"),
            (String = "text/css"),
            (String = "application/javascript"),
            (String = "image/png")
        )),
        (status = 404, description = "No such file")
    )
)]
#[allow(dead_code)]
fn docs_files() {}

async fn to_docs() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

/// This document: every route of the service, its parameters, bodies,
/// answers and errors. `/docs` renders it (Swagger UI, served from the
/// binary; no request leaves the service).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
#[allow(dead_code)]
fn openapi_json() {}

/// Starts a service's HTTP server on `listener`: its routes and app data
/// from `configure`, around them what every service has (the request
/// middleware with traces and metrics, JSON errors for query strings and
/// unknown routes, `doc` at `/openapi.json` and the interactive docs at
/// `/docs`).
/// Signals are the caller's business.
pub fn start(
    listener: TcpListener,
    metrics: HttpMetrics,
    workers: Option<usize>,
    shutdown_timeout_secs: u64,
    doc: OpenApi,
    gate: Gate,
    configure: impl Routes,
) -> std::io::Result<Running> {
    if let Some(auth) = &gate.access.auth {
        auth.watch();
    }
    let auth = gate.access.auth.map(web::Data::new);
    let cors_origins = gate.access.cors_origins;
    let tls = gate.access.tls;
    let scope_of = web::Data::new(gate.scope_of);
    let metrics = web::Data::new(metrics);
    let mut server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(metrics.clone())
            .app_data(scope_of.clone())
            .app_data(crate::error::query_config());
        if let Some(auth) = &auth {
            app = app.app_data(auth.clone());
        }
        // The guard runs inside the request's span and metrics (the
        // last `wrap` is the outermost).
        let (app, _) = app
            .wrap(from_fn(crate::auth::guard))
            .wrap(from_fn(crate::metrics::track))
            // Outermost: a preflight is answered before any key is asked.
            .wrap(actix_web::middleware::Condition::new(
                !cors_origins.is_empty(),
                crate::auth::cors(&cors_origins),
            ))
            .into_utoipa_app()
            .configure(configure.clone())
            .split_for_parts();
        app.route("/docs", web::get().to(to_docs))
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .url("/openapi.json", doc.clone())
                    .config(
                        Config::default()
                            .validator_url("none")
                            .try_it_out_enabled(true)
                            .display_request_duration(true)
                            .filter(true),
                    ),
            )
            .default_service(web::to(crate::error::not_found))
    })
    .disable_signals()
    // Answers go out as soon as written: with Nagle's algorithm a TLS
    // answer written as several records waits for the client's delayed
    // ACK (40 ms on Linux).
    .tcp_nodelay(true)
    .shutdown_timeout(shutdown_timeout_secs);
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    let server = match &tls {
        Some(tls) => {
            tls.watch();
            server.listen_rustls_0_23(listener, tls.server_config())?
        }
        None => server.listen(listener)?,
    }
    .run();
    Ok(Running {
        handle: server.handle(),
        task: tokio::spawn(server),
    })
}
