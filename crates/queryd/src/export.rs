//! `GET|POST /logs/export`: a whole result set as NDJSON, one log per
//! line, streamed page by page with the cursor (nothing of the set is held
//! beyond one page).

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use chrono::Utc;
use futures_util::stream;
use tracing::error;

use log_model::search::MAX_LIMIT;
use log_model::{ExportRequest, Filter, SearchQuery, SortOrder};
use log_store::SearchPage;
use svc_kit::ApiError;

use crate::api::{invalid, key_of, search_page, AppState};

struct Export {
    state: Arc<AppState>,
    filter: Filter,
    order: SortOrder,
    /// Logs still to write (`None`: all).
    remaining: Option<u64>,
    /// The page to write next; `None` once the set is read.
    page: Option<SearchPage>,
    /// A store failure to end the transfer with, after the page before it.
    failed: Option<ApiError>,
}

impl Export {
    fn query(&self, after: Option<log_model::SortKey>) -> SearchQuery {
        let limit = self
            .remaining
            .map_or(MAX_LIMIT, |r| r.min(MAX_LIMIT as u64) as usize);
        SearchQuery {
            filter: self.filter.clone(),
            limit,
            order: self.order,
            after,
            track_total: None,
            ..SearchQuery::default()
        }
    }
}

fn ndjson(page: &SearchPage) -> Bytes {
    let mut out = Vec::with_capacity(page.logs.len() * 256);
    for log in &page.logs {
        serde_json::to_writer(&mut out, log).expect("a log always serialises");
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// Streams every matching log. Errors found before the first byte are
/// JSON answers; a store failure later ends the transfer without its
/// final chunk, so clients see it was cut short.
pub async fn export(
    state: Arc<AppState>,
    request: ExportRequest,
    tenant: svc_kit::auth::TenantScope,
) -> Result<HttpResponse, ApiError> {
    let text = request.filter.describe();
    let mut q = request.into_query(Utc::now()).map_err(invalid)?;
    q.filter.tenant = tenant.0;
    let mut export = Export {
        state: state.clone(),
        filter: q.filter,
        order: q.order,
        remaining: q.limit,
        page: None,
        failed: None,
    };
    let first = search_page(&state, "export", export.query(None)).await?;
    let partial = !first.missing.is_empty();
    export.page = Some(first);
    let body = stream::unfold(export, |mut ex| async move {
        if let Some(e) = ex.failed.take() {
            error!(error = %e, "export cut short: the store failed");
            return Some((Err(actix_web::error::ErrorServiceUnavailable(e.detail)), ex));
        }
        let page = ex.page.take()?;
        let limit = ex.query(None).limit;
        let chunk = ndjson(&page);
        ex.state
            .metrics
            .exported_logs
            .inc_by(page.logs.len() as u64);
        if let Some(r) = ex.remaining.as_mut() {
            *r = r.saturating_sub(page.logs.len() as u64);
        }
        let more = page.logs.len() == limit && ex.remaining != Some(0);
        if more {
            let after = page.logs.last().map(key_of);
            let query = ex.query(after);
            match search_page(&ex.state, "export", query).await {
                Ok(next) => ex.page = Some(next),
                Err(e) => ex.failed = Some(e),
            }
        }
        Some((Ok::<Bytes, actix_web::Error>(chunk), ex))
    });
    let mut response = HttpResponse::Ok();
    response.content_type("application/x-ndjson");
    if partial {
        response.insert_header(("X-Logagg-Partial", "true"));
    }
    Ok(svc_kit::auth::Audit::attach(
        text,
        None,
        response.streaming(body),
    ))
}
