//! The Elasticsearch API on the ingest port, the subset shippers use:
//! `GET|HEAD /` (an Elasticsearch 8 node), `/_license`, `/_cluster/health`,
//! the setup calls shippers make at start (templates, data streams, ILM
//! policies, ingest pipelines, nodes: answered as "already there"), and the
//! writes: `/_bulk`, `/{index}/_bulk` (`create` and `index` actions),
//! `/{index}/_doc` and `/{index}/_create/{id}`.
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch` (the clients'
//! product check) and Elasticsearch's body shapes (in [`model`]); documents
//! are mapped to the native shape by [`log_model::mapping`] and go through
//! the one [`crate::pipeline`] call. This is the Elasticsearch *door*; the
//! Elasticsearch *backend* (where logs may be stored) is log-store's.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::LazyLock;
use std::time::Instant;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa_actix_web::service_config::ServiceConfig;

use log_model::mapping::FieldMap;

use crate::pipeline::{AppState, IngestError, Protocol};

pub mod model;
use model::{
    created, decode_bulk, decode_document, error_body, parse_bulk, refusal, BulkItem, BulkResponse,
    ItemBody, ItemError,
};

/// The Elasticsearch version the ingest port answers as.
pub const VERSION: &str = "8.17.0";
const NODE: &str = "logagg-ingestd";
const CLUSTER: &str = "logagg";
const ES: Protocol = Protocol::Elasticsearch;
const LICENSE_UID: &str = "00000000-0000-0000-0000-00000000109a";

/// The Elasticsearch routes, one table for both the server and the OpenAPI
/// document (neither can list a route the other lacks).
struct EsRoute {
    path: &'static str,
    methods: &'static [Method],
    handler: Handler,
    summary: &'static str,
}

#[derive(Clone, Copy)]
enum Handler {
    Root,
    Bulk,
    OneDoc,
    License,
    Xpack,
    ClusterHealth,
    Nodes,
    Setup,
    Unknown,
}

const GET: &[Method] = &[Method::GET];
const GET_HEAD: &[Method] = &[Method::GET, Method::HEAD];
const WRITE: &[Method] = &[Method::POST, Method::PUT];
const SETUP: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::PUT,
    Method::POST,
    Method::DELETE,
];

const ROUTES: &[EsRoute] = &[
    EsRoute {
        path: "/",
        methods: GET_HEAD,
        handler: Handler::Root,
        summary: "Cluster information, as Elasticsearch 8 answers it (shippers check it at start)",
    },
    EsRoute {
        path: "/_bulk",
        methods: WRITE,
        handler: Handler::Bulk,
        summary: "The bulk API: NDJSON action and document lines; each document is a log",
    },
    EsRoute {
        path: "/{index}/_bulk",
        methods: WRITE,
        handler: Handler::Bulk,
        summary: "The bulk API with a default index",
    },
    EsRoute {
        path: "/{index}/_doc",
        methods: &[Method::POST],
        handler: Handler::OneDoc,
        summary: "One document (a log)",
    },
    EsRoute {
        path: "/{index}/_doc/{id}",
        methods: WRITE,
        handler: Handler::OneDoc,
        summary: "One document with the client's id",
    },
    EsRoute {
        path: "/{index}/_create/{id}",
        methods: WRITE,
        handler: Handler::OneDoc,
        summary: "One document, created",
    },
    EsRoute {
        path: "/_license",
        methods: GET,
        handler: Handler::License,
        summary: "The license, as clients that check it expect",
    },
    EsRoute {
        path: "/_xpack",
        methods: GET,
        handler: Handler::Xpack,
        summary: "Features, as clients that check them expect",
    },
    EsRoute {
        path: "/_cluster/health",
        methods: GET,
        handler: Handler::ClusterHealth,
        summary: "Cluster health (green while ingest takes logs)",
    },
    EsRoute {
        path: "/_cluster/health/{index}",
        methods: GET,
        handler: Handler::ClusterHealth,
        summary: "Cluster health of an index",
    },
    EsRoute {
        path: "/_nodes",
        methods: GET,
        handler: Handler::Nodes,
        summary: "This node, for clients that sniff",
    },
    EsRoute {
        path: "/_nodes/{tail:.*}",
        methods: GET,
        handler: Handler::Nodes,
        summary: "This node, for clients that sniff",
    },
    EsRoute {
        path: "/_index_template",
        methods: GET,
        handler: Handler::Setup,
        summary: "Index templates (none are kept)",
    },
    EsRoute {
        path: "/_index_template/{name}",
        methods: SETUP,
        handler: Handler::Setup,
        summary: "An index template: writes are acknowledged, reads answer as for one that exists",
    },
    EsRoute {
        path: "/_component_template/{name}",
        methods: SETUP,
        handler: Handler::Setup,
        summary: "A component template, as above",
    },
    EsRoute {
        path: "/_template/{name}",
        methods: SETUP,
        handler: Handler::Setup,
        summary: "A legacy template, as above",
    },
    EsRoute {
        path: "/_data_stream/{name}",
        methods: SETUP,
        handler: Handler::Setup,
        summary: "A data stream, as above",
    },
    EsRoute {
        path: "/_ilm/policy/{name}",
        methods: SETUP,
        handler: Handler::Setup,
        summary: "An ILM policy, as above (logagg's retention applies)",
    },
    EsRoute {
        path: "/_ingest/pipeline/{name}",
        methods: SETUP,
        handler: Handler::Setup,
        summary: "An ingest pipeline, as above (not run)",
    },
    EsRoute {
        path: "/{tail:_.*}",
        methods: SETUP,
        handler: Handler::Unknown,
        summary: "Any other Elasticsearch API: 400 as Elasticsearch answers for a handler it lacks",
    },
];

fn route_to(handler: Handler) -> actix_web::Route {
    let route = web::route();
    match handler {
        Handler::Root => route.to(root),
        Handler::Bulk => route.to(bulk),
        Handler::OneDoc => route.to(one_doc),
        Handler::License => route.to(license),
        Handler::Xpack => route.to(xpack),
        Handler::ClusterHealth => route.to(cluster_health),
        Handler::Nodes => route.to(nodes),
        Handler::Setup => route.to(setup),
        Handler::Unknown => route.to(unknown),
    }
}

pub fn configure(cfg: &mut ServiceConfig) {
    for r in ROUTES {
        let mut guard = actix_web::guard::Any(actix_web::guard::Method(r.methods[0].clone()));
        for m in &r.methods[1..] {
            guard = guard.or(actix_web::guard::Method(m.clone()));
        }
        cfg.route(r.path, route_to(r.handler).guard(guard));
    }
}

/// The Elasticsearch routes in the OpenAPI document, from [`ROUTES`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{
        HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder,
    };
    use utoipa::openapi::{ContentBuilder, ObjectBuilder, Required, ResponseBuilder};
    let body = || {
        ContentBuilder::new()
            .schema(Some(ObjectBuilder::new()))
            .build()
    };
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        // One pass over the segments: `{name:regex}` is actix's; OpenAPI
        // names the segment `{name}` and the regex becomes its pattern.
        let mut segments = Vec::new();
        let mut params = Vec::new();
        for seg in r.path.split('/') {
            let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                segments.push(seg.to_string());
                continue;
            };
            let (name, pattern) = match inner.split_once(':') {
                Some((name, regex)) => (name, Some(format!("^{regex}$"))),
                None => (inner, None),
            };
            segments.push(format!("{{{name}}}"));
            params.push(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::String)
                            .min_length(Some(1))
                            .pattern(pattern),
                    ))
                    .build(),
            );
        }
        let path = segments.join("/");
        for method in r.methods {
            let http = match *method {
                Method::GET => HttpMethod::Get,
                Method::HEAD => HttpMethod::Head,
                Method::PUT => HttpMethod::Put,
                Method::DELETE => HttpMethod::Delete,
                _ => HttpMethod::Post,
            };
            let writes = matches!(r.handler, Handler::Bulk | Handler::OneDoc);
            let mut op = OperationBuilder::new()
                .tag("elasticsearch")
                .summary(Some(r.summary))
                .parameters(Some(params.clone()))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("As Elasticsearch answers (per-item outcomes for _bulk)")
                        .content("application/json", body()),
                );
            if writes {
                op = op.response(
                    "201",
                    ResponseBuilder::new()
                        .description("Created (one document)")
                        .content("application/json", body()),
                );
            }
            for (status, text) in [
                (
                    "400",
                    "Elasticsearch's error body (`illegal_argument_exception`, ...)",
                ),
                (
                    "404",
                    "A path that is none of these: the service's own error body",
                ),
                ("401", "`unauthorized`: no valid API key (with a keys file); the service's own error body"),
                ("403", "`forbidden`: the key lacks the ingest scope; the service's own error body"),
                ("405", "Method not allowed here"),
                ("413", "`content_too_long_exception`"),
                ("415", "`media_type_header_exception`"),
                (
                    "429",
                    "`es_rejected_execution_exception`: the write-ahead log is full, or the key is over its rate; `Retry-After`",
                ),
                (
                    "503",
                    "`unavailable_shards_exception`: the write-ahead log cannot be written",
                ),
            ] {
                op = op.response(
                    status,
                    ResponseBuilder::new()
                        .description(text)
                        .content("application/json", body()),
                );
            }
            paths = paths.path(path.clone(), PathItem::new(http, op.build()));
        }
    }
    let mut doc = utoipa::openapi::OpenApiBuilder::new().paths(paths).build();
    doc.tags = Some(vec![utoipa::openapi::tag::TagBuilder::new()
        .name("elasticsearch")
        .description(Some(
            "The part of Elasticsearch's REST API that log shippers use: _bulk and the calls made at start",
        ))
        .build()]);
    doc
}

/// An answer as Elasticsearch gives it: the product header, and the
/// media type the client asked for (`application/vnd.elasticsearch+json;
/// compatible-with=8` when it asked for that, JSON otherwise).
fn answer(req: &HttpRequest, status: StatusCode, body: &impl Serialize) -> HttpResponse {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let content_type = match compatible_with(accept) {
        Some(version) => format!("application/vnd.elasticsearch+json;compatible-with={version}"),
        None => "application/json".to_string(),
    };
    let mut res = HttpResponse::build(status);
    res.insert_header(("X-Elastic-Product", "Elasticsearch"))
        .insert_header((header::CONTENT_TYPE, content_type));
    if req.method() == Method::HEAD {
        return res.finish();
    }
    res.body(serde_json::to_vec(body).unwrap_or_default())
}

/// The `compatible-with` version of an Elasticsearch media type.
fn compatible_with(media_type: &str) -> Option<u8> {
    if !media_type.contains("vnd.elasticsearch+") {
        return None;
    }
    media_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("compatible-with="))
        .find_map(|v| v.trim().parse().ok())
        .or(Some(8))
}

fn es_error(req: &HttpRequest, e: &IngestError) -> HttpResponse {
    let kind = match e {
        IngestError::WalFull { .. } | IngestError::RateLimited { .. } => {
            "es_rejected_execution_exception"
        }
        IngestError::BodyTooLarge { .. }
        | IngestError::DecodedTooLarge { .. }
        | IngestError::BatchTooLong { .. }
        | IngestError::BatchTooLarge { .. } => "content_too_long_exception",
        IngestError::UnsupportedMediaType(_) | IngestError::UnsupportedEncoding(_) => {
            "media_type_header_exception"
        }
        IngestError::InvalidJson(_) | IngestError::InvalidBody(_) | IngestError::EmptyBatch => {
            "illegal_argument_exception"
        }
        IngestError::WalError(_) => "unavailable_shards_exception",
        IngestError::Internal(_) => "exception",
    };
    let mut res = answer(
        req,
        e.status(),
        &error_body(e.status(), kind, &e.to_string()),
    );
    if let Some(secs) = e.retry_after_secs() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    res
}

async fn root(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(
        &req,
        StatusCode::OK,
        &json!({
            "name": NODE,
            "cluster_name": CLUSTER,
            "cluster_uuid": "logagg-0000000000000000",
            "version": {
                "number": VERSION,
                "build_flavor": "default",
                "build_type": "logagg",
                "build_hash": env!("CARGO_PKG_VERSION"),
                "build_date": "2026-01-01T00:00:00.000Z",
                "build_snapshot": false,
                "lucene_version": "9.12.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "You Know, for Search",
            // What logagg's own clients read here.
            "service": "ingestd",
            "logagg_version": env!("CARGO_PKG_VERSION"),
            "status": "running",
            "wal_position": state.wal.durable_end(),
            "committed_position": state.indexer.committed.load(Ordering::Acquire),
            "endpoints": [
                "POST /logs/ingest", "POST /logs/batch-ingest", "POST /_bulk", "POST /{index}/_bulk",
                "POST /v1/logs", "GET /health", "GET /ready", "GET /metrics"
            ],
        }),
    )
}

async fn license(req: HttpRequest) -> HttpResponse {
    answer(
        &req,
        StatusCode::OK,
        &json!({"license": {
            "status": "active",
            "uid": LICENSE_UID,
            "type": "basic",
            "issue_date": "2026-01-01T00:00:00.000Z",
            "issue_date_in_millis": 1_767_225_600_000i64,
            "max_nodes": 1000,
            "max_resource_units": null,
            "issued_to": CLUSTER,
            "issuer": "elasticsearch",
            "start_date_in_millis": -1,
        }}),
    )
}

async fn xpack(req: HttpRequest) -> HttpResponse {
    answer(
        &req,
        StatusCode::OK,
        &json!({
            "build": {"hash": env!("CARGO_PKG_VERSION"), "date": "2026-01-01T00:00:00.000Z"},
            "license": {"uid": LICENSE_UID, "type": "basic", "mode": "basic", "status": "active"},
            "features": {},
            "tagline": "You know, for X",
        }),
    )
}

/// Green when ingest takes logs, red when it refuses them (as `/ready`).
async fn cluster_health(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ready = !state.wal.is_closed() && !state.at_wal_cap(state.backlog());
    answer(
        &req,
        StatusCode::OK,
        &json!({
            "cluster_name": CLUSTER,
            "status": if ready { "green" } else { "red" },
            "timed_out": false,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": 1,
            "active_shards": 1,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }),
    )
}

/// This node, at the address the client reached it by (sniffing clients
/// connect to `http.publish_address`).
async fn nodes(req: HttpRequest) -> HttpResponse {
    let host = req.connection_info().host().to_string();
    answer(
        &req,
        StatusCode::OK,
        &json!({
            "_nodes": {"total": 1, "successful": 1, "failed": 0},
            "cluster_name": CLUSTER,
            "nodes": {NODE: {
                "name": NODE,
                "host": host,
                "version": VERSION,
                "build_flavor": "default",
                "roles": ["data", "ingest", "master"],
                "http": {"publish_address": host, "bound_address": [host]},
                "ingest": {"processors": []},
            }},
        }),
    )
}

/// Templates, data streams, ILM policies, ingest pipelines: what a shipper
/// installs at start. Writes are acknowledged; reads answer as for one that
/// is there (nothing is stored: logagg's own mapping and retention apply).
async fn setup(req: HttpRequest) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    let mut parts = path.splitn(3, '/');
    let (kind, second, third) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    // `_ilm/policy/{name}` and `_ingest/pipeline/{name}` have two words.
    let name = if third.is_empty() { second } else { third }.to_string();
    match *req.method() {
        Method::PUT | Method::POST | Method::DELETE => {
            return answer(&req, StatusCode::OK, &json!({"acknowledged": true}))
        }
        Method::GET | Method::HEAD => {}
        _ => {
            return answer(
                &req,
                StatusCode::METHOD_NOT_ALLOWED,
                &error_body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "illegal_argument_exception",
                    &format!("{} is not allowed on /{path}", req.method()),
                ),
            )
        }
    }
    let body = match kind {
        "_index_template" if name.is_empty() => json!({"index_templates": []}),
        "_index_template" => json!({"index_templates": [{
            "name": name,
            "index_template": {"index_patterns": [format!("{name}*")], "composed_of": [], "template": {}, "data_stream": {}},
        }]}),
        "_component_template" => json!({"component_templates": [{
            "name": name, "component_template": {"template": {}},
        }]}),
        "_template" => json!({name.clone(): {
            "order": 0, "index_patterns": [format!("{name}*")], "settings": {}, "mappings": {}, "aliases": {},
        }}),
        "_data_stream" => json!({"data_streams": [{
            "name": name,
            "timestamp_field": {"name": "@timestamp"},
            "indices": [],
            "generation": 1,
            "status": "GREEN",
            "template": name,
            "hidden": false,
            "system": false,
        }]}),
        "_ilm" => json!({name.clone(): {
            "version": 1, "modified_date": "2026-01-01T00:00:00.000Z", "policy": {"phases": {}},
        }}),
        _ => json!({name.clone(): {
            "description": "accepted by logagg's ingest port; not run (logagg maps fields itself)",
            "processors": [],
        }}),
    };
    answer(&req, StatusCode::OK, &body)
}

/// Other Elasticsearch paths: what Elasticsearch says for a handler it
/// does not have.
async fn unknown(req: HttpRequest) -> HttpResponse {
    let reason = format!(
        "no handler found for uri [{}] and method [{}] (logagg's ingest port serves the bulk API and the calls shippers make at start)",
        req.path(),
        req.method()
    );
    answer(
        &req,
        StatusCode::BAD_REQUEST,
        &error_body(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            &reason,
        ),
    )
}

/// The default field mapping, built once (most requests override nothing).
static DEFAULT_FIELDS: LazyLock<FieldMap> = LazyLock::new(FieldMap::default);

/// The field mapping of a request: the defaults, overridden by query
/// parameters (`message_field=...`) or headers (`X-Logagg-Message-Field`).
fn field_map(
    req: &HttpRequest,
    params: &HashMap<String, String>,
) -> Result<Cow<'static, FieldMap>, String> {
    let mut map = Cow::Borrowed(&*DEFAULT_FIELDS);
    let setting = |name: &str| -> Option<String> {
        params.get(name).cloned().or_else(|| {
            let header = format!("x-logagg-{}", name.replace('_', "-"));
            req.headers()
                .get(header.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
    };
    for field in [
        "timestamp",
        "message",
        "level",
        "source",
        "service",
        "trace_id",
        "span_id",
    ] {
        if let Some(list) = setting(&format!("{field}_field")) {
            map.to_mut().set(field, &list)?;
        }
    }
    if let Some(source) = setting("default_source").filter(|s| !s.is_empty()) {
        map.to_mut().default_source = source;
    }
    if let Some(service) = setting("default_service").filter(|s| !s.is_empty()) {
        map.to_mut().default_service = Some(service);
    }
    Ok(map)
}

/// What both write routes read first: the field mapping, `refresh`, and
/// the body (limit and encoding undone). A refusal is the answer to send.
struct WriteRequest {
    fields: Cow<'static, FieldMap>,
    wait: bool,
    body: web::Bytes,
}

async fn write_request(
    req: &HttpRequest,
    payload: web::Payload,
    params: &HashMap<String, String>,
    state: &AppState,
) -> Result<WriteRequest, HttpResponse> {
    let fields = field_map(req, params)
        .map_err(|e| es_error(req, &state.refuse(ES, IngestError::InvalidBody(e), 1)))?;
    let wait = super::wants_refresh(params.get("refresh").map(String::as_str))
        .map_err(|e| es_error(req, &IngestError::InvalidBody(e.detail)))?;
    let body = state
        .read_body(req, payload, ES)
        .await
        .map_err(|e| es_error(req, &e))?;
    Ok(WriteRequest { fields, wait, body })
}

/// `POST|PUT /_bulk`, `/{index}/_bulk`.
async fn bulk(
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let default_index = req.match_info().get("index");
    let WriteRequest { fields, wait, body } =
        match write_request(&req, payload, &params, &state).await {
            Ok(request) => request,
            Err(refused) => return refused,
        };
    let mut actions = match parse_bulk(&body) {
        Ok(actions) if actions.is_empty() => {
            return es_error(
                &req,
                &state.refuse(
                    ES,
                    IngestError::InvalidBody("request body is required".into()),
                    1,
                ),
            )
        }
        Ok(actions) => actions,
        Err(e) => return es_error(&req, &state.refuse(ES, e, 1)),
    };
    let now = Utc::now();
    let items = tracing::info_span!("validate", logs = actions.len()).in_scope(|| {
        decode_bulk(
            &mut actions,
            default_index,
            &fields,
            &state.validator.limits,
            now,
        )
    });
    let outcome = match state.ingest(&req, ES, items, now, wait).await {
        Ok(outcome) => outcome,
        Err(e) => return es_error(&req, &e),
    };
    let errors = outcome.refusals().next().is_some();
    let items = actions
        .iter()
        .zip(&outcome.fates)
        .map(|(action, fate)| {
            let index = action.index.as_deref().or(default_index).unwrap_or("logs");
            let body = match fate {
                Ok(id) => ItemBody::Created(created(index, id, Some(201))),
                Err(e) => ItemBody::Refused {
                    _index: index,
                    _id: action.id.as_deref(),
                    status: 400,
                    error: refusal(e),
                },
            };
            BulkItem {
                action: action.name,
                body,
            }
        })
        .collect();
    answer(
        &req,
        StatusCode::OK,
        &BulkResponse {
            took: started.elapsed().as_millis() as u64,
            errors,
            items,
        },
    )
}

/// `POST /{index}/_doc`, `PUT|POST /{index}/_doc/{id}`, `/{index}/_create/{id}`:
/// one document.
async fn one_doc(
    req: HttpRequest,
    payload: web::Payload,
    params: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let index = req.match_info().get("index").unwrap_or("logs");
    let WriteRequest { fields, wait, body } =
        match write_request(&req, payload, &params, &state).await {
            Ok(request) => request,
            Err(refused) => return refused,
        };
    let now = Utc::now();
    let doc = serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string());
    let client_id = req.match_info().get("id");
    let item = decode_document(
        doc,
        Some(index),
        client_id,
        &fields,
        &state.validator.limits,
        now,
    );
    let outcome = match state.ingest(&req, ES, vec![item], now, wait).await {
        Ok(outcome) => outcome,
        Err(e) => return es_error(&req, &e),
    };
    match outcome.fates.first() {
        Some(Ok(id)) => answer(&req, StatusCode::CREATED, &created(index, id, None)),
        Some(Err(e)) => {
            let status = StatusCode::BAD_REQUEST;
            let ItemError { kind, reason } = refusal(e);
            answer(&req, status, &error_body(status, kind, &reason))
        }
        None => es_error(
            &req,
            &IngestError::Internal("the document has no fate".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_name_their_version() {
        assert_eq!(
            compatible_with("application/vnd.elasticsearch+json; compatible-with=8"),
            Some(8)
        );
        assert_eq!(
            compatible_with("application/vnd.elasticsearch+json;compatible-with=9"),
            Some(9)
        );
        assert_eq!(compatible_with("application/json"), None);
    }
}
