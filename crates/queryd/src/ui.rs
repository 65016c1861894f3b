//! The web UI: one page and its script and style, compiled into the binary
//! (`crates/queryd/ui/`, plain HTML, CSS and JavaScript; no build step, no
//! request to anywhere but this service). The page talks to the query API
//! of the same origin.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse, ResponseError};
use utoipa_actix_web::service_config::ServiceConfig;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/app.css");
const ICON: &str = include_str!("../ui/icon.svg");

/// What the page may load and talk to: this service only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(index).service(asset);
}

/// Whether a request's `Accept` prefers HTML (a browser's navigation) to
/// JSON: `text/html` listed with a quality above JSON's (or JSON absent).
pub fn prefers_html(req: &HttpRequest) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let quality = |wanted: &str| -> Option<f32> {
        accept.split(',').find_map(|item| {
            let mut parts = item.split(';');
            let mime = parts.next()?.trim().to_ascii_lowercase();
            if mime != wanted {
                return None;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some(q)
        })
    };
    match (quality("text/html"), quality("application/json")) {
        (Some(html), Some(json)) => html > json,
        (Some(html), None) => html > 0.0,
        _ => false,
    }
}

/// The UI's page, with the headers that keep it to this service.
pub fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(INDEX)
}

/// The web UI.
///
/// Search with the query language, the volume histogram, pages of logs
/// with their details and context, error patterns and live tail. The
/// page's state is in its URL.
#[utoipa::path(
    tag = "ui",
    responses((status = 200, description = "The web UI", content_type = "text/html", body = String))
)]
#[get("/ui")]
async fn index() -> HttpResponse {
    page()
}

/// The UI's script, style and icon.
#[utoipa::path(
    tag = "ui",
    params(("file" = String, Path, description = "`app.js`, `app.css` or `icon.svg`", example = "app.js")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"),
            (String = "text/css"),
            (String = "image/svg+xml")
        )),
        (status = 404, description = "`not_found`: no such file", body = svc_kit::error::ErrorBody)
    )
)]
#[get("/ui/{file}")]
async fn asset(file: web::Path<String>) -> HttpResponse {
    let (body, kind) = match file.as_str() {
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "app.css" => (STYLE, "text/css; charset=utf-8"),
        "icon.svg" => (ICON, "image/svg+xml"),
        other => {
            return svc_kit::ApiError::new(
                actix_web::http::StatusCode::NOT_FOUND,
                "not_found",
                format!("the UI has no file {other:?}"),
            )
            .error_response()
        }
    };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn html_is_preferred_only_when_asked_for() {
        let with = |accept: &str| {
            prefers_html(
                &TestRequest::default()
                    .insert_header((header::ACCEPT, accept))
                    .to_http_request(),
            )
        };
        // What Chromium and Firefox send on a navigation.
        assert!(with(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
        ));
        assert!(!with("application/json"));
        assert!(!with("*/*"));
        assert!(!with("application/json, text/html;q=0.5"));
        assert!(with("application/json;q=0.5, text/html"));
        assert!(!with("text/html;q=0"));
        assert!(!prefers_html(&TestRequest::default().to_http_request()));
    }
}
