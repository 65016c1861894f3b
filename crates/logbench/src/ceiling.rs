//! Ceilings measured in the same run as the end-to-end figures: the raw
//! tantivy indexing rate of the same documents in process (no HTTP, no WAL),
//! an HTTP endpoint that accepts and discards the same bodies, and the WAL's
//! fsync'd append rate. End-to-end figures are reported as ratios of these.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::Utc;
use serde::Serialize;

use log_model::{parse_log, Limits, StoredLog};
use log_store::embedded::{EmbeddedSettings, EmbeddedWriter};
use log_store::LogWriter;

use crate::gen::{self, Rng};
use crate::load::{self, IngestOptions, IngestReport};

#[derive(Debug, Clone, Serialize)]
pub struct CeilingReport {
    pub logs: u64,
    pub tantivy_logs_per_sec: f64,
    pub http_discard_logs_per_sec: f64,
    pub wal_logs_per_sec: f64,
    pub wal_mb_per_sec: f64,
    pub end_to_end: Option<IngestReport>,
    /// End-to-end searchable rate / tantivy ceiling.
    pub searchable_vs_tantivy: Option<f64>,
    /// End-to-end acked rate / HTTP discard ceiling.
    pub acked_vs_http_discard: Option<f64>,
    /// End-to-end acked rate / WAL ceiling.
    pub acked_vs_wal: Option<f64>,
}

/// The generated logs as the store keeps them (enriched as ingest does).
fn stored_logs(seed: u64, n: usize) -> Vec<StoredLog> {
    let mut rng = Rng::new(seed);
    let now = Utc::now();
    (0..n)
        .map(|_| {
            let log = parse_log(gen::log(&mut rng, now), &Limits::default(), now)
                .expect("generated logs are valid");
            ingestd::api::enrich(log, now, log_model::DEFAULT_TENANT)
        })
        .collect()
}

/// Raw tantivy: the embedded writer with ingestd's default settings, in process.
pub fn tantivy_rate(seed: u64, n: usize, batch: usize) -> f64 {
    let logs = stored_logs(seed, n);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut writer =
        EmbeddedWriter::open(dir.path(), EmbeddedSettings::default()).expect("open store");
    let started = Instant::now();
    for (i, chunk) in logs.chunks(batch).enumerate() {
        writer.write(chunk, (i + 1) as u64).expect("write");
    }
    writer.commit().expect("commit");
    n as f64 / started.elapsed().as_secs_f64()
}

/// A server that reads each body and answers 202 without looking at it.
fn discard_server() -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(|| {
                App::new()
                    .app_data(web::PayloadConfig::new(64 << 20))
                    .route(
                        "/logs/batch-ingest",
                        web::post().to(|body: web::Bytes| async move {
                            HttpResponse::Accepted()
                                .json(serde_json::json!({"success": true, "bytes": body.len()}))
                        }),
                    )
            })
            .workers(2)
            .listen(listener)
            .expect("listen")
            .run();
            let _ = tx.send(server.handle());
            let _ = server.await;
        });
    });
    (url, rx.recv().expect("server started"))
}

/// The WAL's fsync'd append rate with `concurrency` appenders of the same bodies.
pub async fn wal_rate(
    seed: u64,
    batch: usize,
    concurrency: usize,
    duration: Duration,
) -> (f64, f64) {
    let bodies = Arc::new(load::bodies(seed, 16, batch, 0.0, None));
    let dir = tempfile::tempdir().expect("temp dir");
    let lock = ingestd::wal::Wal::lock(dir.path()).expect("lock");
    let wal = ingestd::wal::Wal::open(lock, 64 << 20, 0, None).expect("open wal");
    let (logs, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (wal, bodies, logs, bytes, stop) = (
            wal.clone(),
            bodies.clone(),
            logs.clone(),
            bytes.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Acquire) {
                let body = bodies[i % bodies.len()].clone();
                i += 1;
                let len = body.len() as u64;
                if wal.append(body, batch as u32).await.is_ok() {
                    logs.fetch_add(batch as u64, Ordering::Relaxed);
                    bytes.fetch_add(len, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Release);
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    wal.close();
    (
        logs.load(Ordering::Relaxed) as f64 / seconds,
        bytes.load(Ordering::Relaxed) as f64 / seconds / 1e6,
    )
}

/// Measures the three ceilings, then (with a target) the end-to-end ingest.
pub async fn ceiling(
    o: &IngestOptions,
    tantivy_logs: usize,
    target: Option<(&str, Option<&str>)>,
) -> CeilingReport {
    let seed = o.seed;
    let batch = o.batch;
    let tantivy = tokio::task::spawn_blocking(move || tantivy_rate(seed, tantivy_logs, batch))
        .await
        .expect("tantivy run");
    let (url, handle) = discard_server();
    let discard = load::ingest(&url, None, o).await;
    handle.stop(false).await;
    let duration = o.duration.unwrap_or(Duration::from_secs(10));
    let (wal_logs, wal_mb) = wal_rate(o.seed, o.batch, o.concurrency, duration).await;
    let end_to_end = match target {
        Some((ingest, query)) => Some(load::ingest(ingest, query, o).await),
        None => None,
    };
    let ratio = |a: Option<f64>, b: f64| a.map(|a| a / b);
    CeilingReport {
        logs: tantivy_logs as u64,
        tantivy_logs_per_sec: tantivy,
        http_discard_logs_per_sec: discard.acked_logs_per_sec,
        wal_logs_per_sec: wal_logs,
        wal_mb_per_sec: wal_mb,
        searchable_vs_tantivy: ratio(
            end_to_end.as_ref().and_then(|e| e.searchable_logs_per_sec),
            tantivy,
        ),
        acked_vs_http_discard: ratio(
            end_to_end.as_ref().map(|e| e.acked_logs_per_sec),
            discard.acked_logs_per_sec,
        ),
        acked_vs_wal: ratio(end_to_end.as_ref().map(|e| e.acked_logs_per_sec), wal_logs),
        end_to_end,
    }
}
