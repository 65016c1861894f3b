//! `logbench mixed`: the SRE's reads while logs arrive. A fixed ingest
//! rate runs in the background (or none: `--rate 0`) while each kind of
//! query runs in turn; then the histogram over 7 days, cursor paging deep
//! into a result set, live tail delay from acknowledgement to event, and
//! the export rate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::load::{bodies, client, histogram, median, percentiles, record, QueryReport};

/// The query kinds: name and request body (each asks for 100 logs).
pub fn query_kinds() -> Vec<(&'static str, Value)> {
    let q = |text: &str| json!({"query": text, "limit": 100});
    vec![
        ("word", q("deadline")),
        ("phrase", q("\"connection reset by peer\"")),
        ("field", q("service:svc-07 level:ERROR")),
        ("boolean", q("(failed OR rejected) AND NOT level:INFO")),
        ("prefix", q("checks*")),
        ("comparison", q("metadata.attempt>=3 level>=WARNING")),
        ("broad_word", q("in")),
        ("broad_level", q("level:INFO")),
        ("broad_negation", q("-level:DEBUG")),
        ("everything", json!({"limit": 100})),
    ]
}

#[derive(Debug, Clone, Serialize)]
pub struct PagingReport {
    pub pages: u64,
    /// Median time of the first 10 pages and of the last 10, in ms.
    pub first_pages_p50_ms: f64,
    pub last_pages_p50_ms: f64,
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TailReport {
    pub events: u64,
    pub missed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub logs: u64,
    pub seconds: f64,
    pub logs_per_sec: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MixedReport {
    pub ingest_rate_target: f64,
    /// Logs acknowledged per second while the reads ran.
    pub ingest_rate_achieved: f64,
    pub ingest_errors: u64,
    pub queries: Vec<QueryReport>,
    pub paging: PagingReport,
    pub tail: TailReport,
    pub export: ExportReport,
}

/// Open-loop batches of 500 at `rate` logs/s until `stop`.
fn background_ingest(
    ingest_url: &str,
    rate: f64,
    seed: u64,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    let url = format!("{ingest_url}/logs/batch-ingest");
    tokio::spawn(async move {
        if rate <= 0.0 {
            return;
        }
        const BATCH: usize = 500;
        let interval = Duration::from_secs_f64(BATCH as f64 / rate);
        let c = client();
        let started = Instant::now();
        let mut i = 0u64;
        while !stop.load(Ordering::Acquire) {
            let due = started + interval * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            // Made fresh for each request: times over the last second, as a
            // shipper's logs have (a resent body would pile thousands of
            // logs onto a few instants).
            let body = bodies(seed ^ i, 1, BATCH, 1.0 / 3600.0, None).remove(0);
            let (c, url, acked, errors) = (c.clone(), url.clone(), acked.clone(), errors.clone());
            tokio::spawn(async move {
                let r = c
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 202 => {
                        acked.fetch_add(BATCH as u64, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            i += 1;
        }
    })
}

/// Pages `pages` deep (100 logs a page) through every log, newest first.
async fn paging(query_url: &str, pages: u64) -> PagingReport {
    let c = client();
    let url = format!("{query_url}/logs/search");
    let mut cursor = Value::Null;
    let mut times = Vec::new();
    for _ in 0..pages {
        let mut body = json!({"limit": 100, "query": "-level:DEBUG"});
        if !cursor.is_null() {
            body["cursor"] = cursor.clone();
        }
        let t = Instant::now();
        let answer: Value = match c.post(&url).json(&body).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        cursor = answer["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    let n = times.len();
    let first = median(times.iter().take(10).copied().collect());
    let last = median(times.iter().skip(n.saturating_sub(10)).copied().collect());
    PagingReport {
        pages: n as u64,
        first_pages_p50_ms: first,
        last_pages_p50_ms: last,
        ratio: if first > 0.0 { last / first } else { 0.0 },
    }
}

/// Sends `count` marked logs one at a time and times each from its
/// acknowledgement to its tail event.
async fn tail_delay(ingest_url: &str, query_url: &str, count: u64) -> TailReport {
    let marker = format!("tailmark{}", std::process::id());
    let url = format!("{query_url}/logs/tail?query={marker}");
    let Ok(mut stream) = client()
        .get(&url)
        .timeout(Duration::from_secs(3600))
        .send()
        .await
    else {
        return TailReport {
            events: 0,
            missed: count,
            p50_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
        };
    };
    let acks: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> =
        Default::default();
    let reader_acks = acks.clone();
    let reader = tokio::spawn(async move {
        let mut delays = Vec::new();
        let mut buffer = String::new();
        let deadline = Instant::now() + Duration::from_secs(count * 2 + 30);
        while (delays.len() as u64) < count && Instant::now() < deadline {
            let Ok(Ok(Some(chunk))) =
                tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await
            else {
                break;
            };
            let seen = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue;
                };
                let Ok(log) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                let Some(message) = log["message"].as_str() else {
                    continue;
                };
                // The ack may be recorded just after the event: wait for it.
                for _ in 0..100 {
                    if let Some(at) = reader_acks.lock().unwrap().get(message) {
                        delays.push(seen.saturating_duration_since(*at).as_secs_f64() * 1000.0);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        delays
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = client();
    for i in 0..count {
        let message = format!("{marker} event {i}");
        let r = c
            .post(format!("{ingest_url}/logs/ingest"))
            .json(&json!({"message": message, "source": "logbench", "level": "INFO"}))
            .send()
            .await;
        if r.is_ok_and(|r| r.status().as_u16() == 202) {
            acks.lock().unwrap().insert(message, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delays = reader.await.unwrap_or_default();
    let events = delays.len() as u64;
    let mut h = histogram();
    for ms in delays {
        record(&mut h, Duration::from_secs_f64(ms / 1000.0));
    }
    let p = percentiles(&h);
    TailReport {
        events,
        missed: count.saturating_sub(events),
        p50_ms: p.p50_ms,
        p99_ms: p.p99_ms,
        max_ms: p.max_ms,
    }
}

/// Exports up to `limit` logs and counts the lines.
async fn export(query_url: &str, limit: u64) -> ExportReport {
    let t = Instant::now();
    let mut logs = 0u64;
    if let Ok(mut r) = client()
        .get(format!("{query_url}/logs/export?limit={limit}"))
        .timeout(Duration::from_secs(3600))
        .send()
        .await
    {
        while let Ok(Some(chunk)) = r.chunk().await {
            logs += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    ExportReport {
        logs,
        seconds,
        logs_per_sec: logs as f64 / seconds.max(1e-9),
    }
}

/// Settings of one mixed run.
#[derive(Debug, Clone)]
pub struct MixedOptions {
    pub rate: f64,
    pub iterations: u64,
    pub pages: u64,
    pub tail_events: u64,
    pub export_logs: u64,
    pub seed: u64,
    pub quiet: bool,
}

pub async fn mixed(ingest_url: &str, query_url: &str, o: &MixedOptions) -> MixedReport {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let ingest = background_ingest(
        ingest_url,
        o.rate,
        o.seed,
        stop.clone(),
        acked.clone(),
        errors.clone(),
    );
    let started = Instant::now();
    // Let the ingest reach its rate first.
    tokio::time::sleep(Duration::from_secs(if o.rate > 0.0 { 3 } else { 0 })).await;
    let mut queries = Vec::new();
    for (kind, body) in query_kinds() {
        let url = format!("{query_url}/logs/search");
        queries.push(
            crate::load::run_queries(kind, o.iterations, o.quiet, move |c| {
                c.post(&url).json(&body)
            })
            .await,
        );
    }
    let histogram_url = format!("{query_url}/logs/histogram?start_time=now-7d");
    queries.push(
        crate::load::run_queries("histogram_7d", o.iterations, o.quiet, move |c| {
            c.get(&histogram_url)
        })
        .await,
    );
    let facets_url = format!("{query_url}/logs/facets?start_time=now-1h");
    queries.push(
        crate::load::run_queries("facets_1h", o.iterations.min(50), o.quiet, move |c| {
            c.get(&facets_url)
        })
        .await,
    );
    let paging = paging(query_url, o.pages).await;
    let tail = tail_delay(ingest_url, query_url, o.tail_events).await;
    let export = export(query_url, o.export_logs).await;
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Release);
    let _ = ingest.await;
    MixedReport {
        ingest_rate_target: o.rate,
        ingest_rate_achieved: acked.load(Ordering::Relaxed) as f64 / seconds,
        ingest_errors: errors.load(Ordering::Relaxed),
        queries,
        paging,
        tail,
        export,
    }
}
