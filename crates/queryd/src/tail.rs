//! `GET /logs/tail`: matching logs as Server-Sent Events as they become
//! searchable.
//!
//! Each tail looks at the store every 100 ms (500 ms on Elasticsearch,
//! `LogReader::tail_poll`), and at once after a commit in this process,
//! for logs whose id sorts after what it has sent. Ids are UUIDv7, ordered
//! by the time ingest received the log; a log can become visible a little
//! after one received later (two requests racing to the WAL, a commit
//! between them), so each look reaches [`GRACE_MS`] back and skips the ids
//! it already sent. Each event's `id` is the highest log id the stream has
//! sent (the log's own unless it was a late one): a client that reconnects
//! with `Last-Event-ID` gets every log received after it, none twice. (A
//! log received before it but visible only after the disconnect — a commit
//! reaching one day partition before another — is not sent again: the
//! reach-back covers late logs within one stream only.) Works the same on
//! both backends and across processes (the embedded reader reloads first).
//!
//! A client that does not read is cut off once [`BUFFER`] events wait for
//! it; a query matching more than [`MAX_PER_LOOK`] logs per look ends the
//! tail with an `error` event (narrow the query).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{get, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::stream;
use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use log_model::{Filter, FilterParams, SearchQuery, SortOrder, StoredLog};
use svc_kit::ApiError;

use crate::api::{invalid, key_of, AppState};

/// How far back (by time of receipt) each look reaches.
pub const GRACE_MS: i64 = 2000;
/// Events that may wait for a slow client before it is cut off.
pub const BUFFER: usize = 2048;
/// Most new matching logs one look may find.
pub const MAX_PER_LOOK: usize = 20_000;
/// A comment line sent when nothing else was, so proxies keep the stream.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// The open tails, bounded.
#[derive(Clone)]
pub struct Tails {
    open: Arc<AtomicUsize>,
    max: usize,
}

impl Tails {
    pub fn new(max: usize) -> Tails {
        Tails {
            open: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }
}

struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `GET /logs/tail` parameters: the filters of search (its time range is
/// ignored: a tail starts now), and where to resume.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TailRequest {
    #[serde(flatten)]
    #[param(ignore)]
    pub filter: FilterParams,
    /// As the `Last-Event-ID` header (which wins), for clients that cannot
    /// set headers.
    pub last_event_id: Option<String>,
}

/// A tail as the caller may read it: the filter over the caller's tenants
/// (no time range: a tail starts now), and where to resume.
pub struct TailQuery {
    pub filter: Filter,
    pub last_event_id: Option<String>,
}

impl log_model::ReadRequest for TailRequest {
    type Query = TailQuery;

    fn describe(&self) -> String {
        self.filter.describe()
    }

    fn into_query(
        self,
        now: chrono::DateTime<Utc>,
        tenants: log_model::Tenants,
    ) -> Result<TailQuery, log_model::FieldError> {
        let mut filter = self.filter.into_filter(now, tenants)?;
        filter.start = None;
        filter.end = None;
        Ok(TailQuery {
            filter,
            last_event_id: self.last_event_id,
        })
    }
}

/// The receipt time (ms) a UUIDv7 id carries; `None` for other ids.
pub fn id_millis(id: &str) -> Option<i64> {
    let hi = i64::from_str_radix(id.get(0..8)?, 16).ok()?;
    if id.get(8..9)? != "-" {
        return None;
    }
    let lo = i64::from_str_radix(id.get(9..13)?, 16).ok()?;
    Some((hi << 16) | lo)
}

/// The smallest id string of every UUIDv7 received at or after `ms`.
pub fn id_floor(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One `log` event; its `id` is the highest log id sent so far on the
/// stream (`high`, at least the log's own).
fn event(log: &StoredLog, high: &str) -> Bytes {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(high.as_bytes());
    out.extend_from_slice(b"\nevent: log\ndata: ");
    serde_json::to_writer(&mut out, log).expect("a log always serialises");
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Live tail.
///
/// Server-Sent Events: each new matching log as a `log` event (by arrival),
/// resumable with `Last-Event-ID`. The time range does not apply.
#[utoipa::path(
    tag = "search",
    params(
        FilterParams,
        TailRequest,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (as `last_event_id`)")
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `log` events whose data is a log", content_type = "text/event-stream", body = String),
        svc_kit::error::ReadErrors,
        (status = 429, description = "`too_many_tails`: the limit of open tails is reached, or `rate_limited`: the key is over its rate; `Retry-After`", body = svc_kit::error::ErrorBody)
    )
)]
#[get("/logs/tail")]
pub async fn tail(
    state: web::Data<AppState>,
    req: HttpRequest,
    request: svc_kit::auth::Scoped<TailRequest>,
) -> Result<HttpResponse, ApiError> {
    let (
        TailQuery {
            filter,
            last_event_id,
        },
        text,
    ) = request.into_query().map_err(invalid)?;
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(last_event_id)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(id) = &resume {
        if !valid_id(id) {
            return Err(ApiError::invalid_field(
                "last_event_id",
                "is not an event id this service sent",
            ));
        }
    }
    let tails = &state.tails;
    if tails.open.fetch_add(1, Ordering::AcqRel) >= tails.max {
        tails.open.fetch_sub(1, Ordering::AcqRel);
        state.metrics.tail_cut.with_label_values(&["limit"]).inc();
        return Err(ApiError {
            retry_after_secs: Some(5),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_tails",
                format!(
                    "{} live tails are open, the most this service keeps; try again later",
                    tails.max
                ),
            )
        });
    }
    let slot = Slot(tails.open.clone());
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFER);
    // Sent at once, so that the client sees the stream is open.
    let _ = tx.try_send(Bytes::from_static(b"retry: 1000\n\n"));
    let state = state.into_inner();
    // Ids must sort after this: the resumed event, or now (a tail shows
    // what arrives after it opens).
    let floor = resume
        .clone()
        .unwrap_or_else(|| id_floor(Utc::now().timestamp_millis()));
    actix_web::rt::spawn(follow(state, filter, floor, tx, slot));
    let body = stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<Bytes, actix_web::Error>(chunk), rx))
    });
    Ok(svc_kit::auth::Audit::attach(
        text,
        None,
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(body),
    ))
}

/// Why a tail ended.
enum End {
    Gone,
    Cut(&'static str),
}

async fn follow(
    state: Arc<AppState>,
    filter: log_model::Filter,
    floor: String,
    tx: mpsc::Sender<Bytes>,
    _slot: Slot,
) {
    state.metrics.tail_streams.inc();
    let end = look_loop(&state, filter, floor, &tx).await;
    state.metrics.tail_streams.dec();
    if let End::Cut(reason) = end {
        state.metrics.tail_cut.with_label_values(&[reason]).inc();
        warn!(reason, "live tail ended by the service");
    } else {
        debug!("live tail closed by the client");
    }
}

async fn look_loop(
    state: &AppState,
    mut filter: log_model::Filter,
    floor: String,
    tx: &mpsc::Sender<Bytes>,
) -> End {
    // Sent ids (with their receipt time) within the grace window.
    let mut sent: HashMap<String, i64> = HashMap::new();
    // Partitions already told as unreadable.
    let mut told: std::collections::HashSet<String> = Default::default();
    // The highest id sent: what a client resumes after.
    let mut high = floor.clone();
    let mut newest_ms = id_millis(&floor).unwrap_or(0);
    let mut last_write = Instant::now();
    let poll = state.store.tail_poll();
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let commits = state.store.commits();
    loop {
        // The next poll, or a commit in this process, whichever is first.
        match &commits {
            Some(commits) => {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = commits.notified() => {}
                }
            }
            None => {
                ticker.tick().await;
            }
        }
        if tx.is_closed() {
            return End::Gone;
        }
        state.store.reload();
        let reach = id_floor(newest_ms - GRACE_MS);
        filter.id_after = Some(if reach > floor { reach } else { floor.clone() });
        let mut found: Vec<StoredLog> = Vec::new();
        let mut after = None;
        loop {
            let query = SearchQuery {
                filter: filter.clone(),
                limit: log_model::search::MAX_LIMIT,
                order: SortOrder::Asc,
                after: after.take(),
                track_total: None,
                ..SearchQuery::default()
            };
            let mut page = match state.store.search(query).await {
                Ok(page) => page,
                Err(e) => {
                    warn!(error = %e, "live tail: the store failed");
                    let _ = tx.try_send(Bytes::from(format!(
                        "event: error\ndata: {}\n\n",
                        serde_json::json!({"error": "unavailable", "detail": e.public_detail()})
                    )));
                    return End::Cut("store_error");
                }
            };
            page.logs.iter_mut().for_each(crate::api::shape);
            // Damage under the tail is told once per partition, as an
            // event: the stream goes on with what can be read.
            let fresh: Vec<String> = page
                .missing
                .drain(..)
                .filter(|m| told.insert(m.clone()))
                .collect();
            if !fresh.is_empty() {
                state
                    .metrics
                    .partial_answers
                    .with_label_values(&["tail"])
                    .inc();
                let detail = format!(
                    "{} could not be read: its logs are not tailed",
                    fresh.join(", ")
                );
                let _ = tx.try_send(Bytes::from(format!(
                    "event: partial\ndata: {}\n\n",
                    serde_json::json!({"error": "partial", "detail": detail, "missing": fresh})
                )));
            }
            let full = page.logs.len() == log_model::search::MAX_LIMIT;
            after = page.logs.last().map(key_of);
            found.extend(page.logs.into_iter().filter(|l| !sent.contains_key(&l.id)));
            if found.len() > MAX_PER_LOOK {
                let _ = tx.try_send(Bytes::from(format!(
                    "event: error\ndata: {}\n\n",
                    serde_json::json!({"error": "too_many_matches", "detail": format!("more than {MAX_PER_LOOK} new logs matched within {} ms; narrow the query to tail it", poll.as_millis())})
                )));
                return End::Cut("too_many_matches");
            }
            if !full {
                break;
            }
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        for log in &found {
            if log.id > high {
                high.clone_from(&log.id);
            }
            match tx.try_send(event(log, &high)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => return End::Cut("slow_consumer"),
                Err(mpsc::error::TrySendError::Closed(_)) => return End::Gone,
            }
            let ms = id_millis(&log.id).unwrap_or(newest_ms);
            newest_ms = newest_ms.max(ms);
            sent.insert(log.id.clone(), ms);
            last_write = Instant::now();
        }
        state.metrics.tail_events.inc_by(found.len() as u64);
        sent.retain(|_, ms| *ms >= newest_ms - GRACE_MS - 1000);
        if last_write.elapsed() >= HEARTBEAT {
            match tx.try_send(Bytes::from_static(b": keepalive\n\n")) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return End::Gone,
            }
            last_write = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_receipt_time() {
        let id = uuid_like(1_764_320_000_123);
        assert_eq!(id_millis(&id), Some(1_764_320_000_123));
        assert!(id_floor(1_764_320_000_123) <= id);
        assert!(id_floor(1_764_320_000_124) > id);
        assert_eq!(id_millis("not-an-id"), None);
    }

    fn uuid_like(ms: i64) -> String {
        format!(
            "{:08x}-{:04x}-7abc-8def-0123456789ab",
            ms >> 16,
            ms & 0xffff
        )
    }
}
