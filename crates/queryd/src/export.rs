//! `GET|POST /logs/export`: a whole result set as NDJSON, one log per
//! line, streamed page by page with the cursor (nothing of the set is held
//! beyond one page).

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;
use tracing::error;

use log_model::search::MAX_LIMIT;
use log_model::{ExportQuery, Filter, SearchQuery, SortOrder};
use log_store::SearchPage;
use svc_kit::ApiError;

use crate::api::{key_of, search_page, AppState};
use crate::budget::{refused, ExpensiveRead};

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
    /// What the pages so far could not read (damaged partitions): told at
    /// the end, which then is not a clean one.
    missing: Vec<String>,
    /// The error that ends the transfer, after its error line.
    abort: Option<actix_web::Error>,
    /// Set once the transfer has been ended.
    done: bool,
    /// The key each page after the first takes its expensive-read slot
    /// for (held while the page is read, not while the client reads it).
    key: Option<String>,
}

impl Export {
    /// Ends the transfer as incomplete: counted as a partial answer, the
    /// error line to write last, then (at the next poll) the abort.
    fn cut_short(&mut self, error: &str, detail: String) -> Bytes {
        self.state
            .metrics
            .partial_answers
            .with_label_values(&["export"])
            .inc();
        let line = error_line(error, &detail, &self.missing);
        self.abort = Some(actix_web::error::ErrorServiceUnavailable(detail));
        line
    }

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

/// The last line of an export that could not deliver everything: an error
/// answer's body ([`svc_kit::error::ErrorBody`]) with what was left out.
fn error_line(error: &str, detail: &str, missing: &[String]) -> Bytes {
    let mut extra = serde_json::Map::new();
    extra.insert("missing".into(), serde_json::json!(missing));
    let body = svc_kit::error::ErrorBody {
        error,
        detail,
        field: None,
        extra: Some(&extra),
    };
    let mut line = serde_json::to_vec(&body).expect("an error body always serialises");
    line.push(b'\n');
    Bytes::from(line)
}

/// Streams every matching log. Errors found before the first byte are
/// JSON answers. Each page is read holding an expensive-read slot (the
/// first the request's, each next one waited for up to the read time
/// budget); the client reads without one. A transfer that cannot deliver
/// every match (a store failure, no slot for a page in time, or a damaged
/// partition some page could not read) writes the
/// logs it has, then one error line (`{"error", "detail", "missing"}`),
/// then ends without the chunked encoding's last chunk: an HTTP client
/// sees a failed transfer, never a short answer that looks whole.
pub async fn export(
    state: Arc<AppState>,
    q: ExportQuery,
    text: String,
    read: ExpensiveRead,
) -> Result<HttpResponse, ApiError> {
    let mut export = Export {
        state: state.clone(),
        filter: q.filter,
        order: q.order,
        remaining: q.limit,
        page: None,
        failed: None,
        missing: Vec::new(),
        abort: None,
        done: false,
        key: read.slot.key().map(str::to_string),
    };
    let first = search_page(&state, "export", export.query(None)).await?;
    drop(read);
    let partial = !first.missing.is_empty();
    export.page = Some(first);
    let body = stream::unfold(export, |mut ex| async move {
        if ex.done {
            return None;
        }
        if let Some(abort) = ex.abort.take() {
            // A moment for the error line to leave (the server flushes what
            // it holds while the stream waits), then the abort.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            ex.done = true;
            return Some((Err(abort), ex));
        }
        if let Some(e) = ex.failed.take() {
            error!(error = %e, "export cut short");
            let line = ex.cut_short(e.error, e.detail);
            return Some((Ok(line), ex));
        }
        let Some(mut page) = ex.page.take() else {
            if ex.missing.is_empty() {
                return None;
            }
            error!(missing = ?ex.missing, "export cut short: damaged partitions");
            let detail = format!(
                "the export is incomplete: {} could not be read",
                ex.missing.join(", ")
            );
            let line = ex.cut_short("partial", detail);
            return Some((Ok(line), ex));
        };
        for m in page.missing.drain(..) {
            if !ex.missing.contains(&m) {
                ex.missing.push(m);
            }
        }
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
            match ex.state.reads.wait_for(ex.key.as_deref()).await {
                Ok(_slot) => match search_page(&ex.state, "export", query).await {
                    Ok(next) => ex.page = Some(next),
                    Err(e) => ex.failed = Some(e),
                },
                Err(which) => ex.failed = Some(refused(&ex.state, which)),
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
