//! Load modes against any logagg deployment: `ingest` (closed loop),
//! `latency` (open loop at a fixed rate), `search` (a mix of queries),
//! `patterns`. Each returns a report with a human table and JSON.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{json, Value};

use crate::gen::{self, Rng};
use crate::protocol::Protocol;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

pub(crate) fn histogram() -> Histogram<u64> {
    // Microseconds, 1 us to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

pub(crate) fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: h.max() as f64 / 1000.0,
    }
}

pub(crate) fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record((d.as_micros() as u64).max(1));
}

/// The HTTP client of every mode. With `LOGBENCH_API_KEY` set, every
/// request carries it (`Authorization: Bearer`), for a deployment with
/// keys (give the key the scopes the mode needs, or `admin`). With
/// `LOGBENCH_CA_CERT` (a PEM file), HTTPS targets signed by that CA are
/// trusted, for a deployment with `--tls-cert`.
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(key) = std::env::var("LOGBENCH_API_KEY") {
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .expect("LOGBENCH_API_KEY is a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .default_headers(headers);
    if let Ok(path) = std::env::var("LOGBENCH_CA_CERT") {
        let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("LOGBENCH_CA_CERT {path}: {e}"));
        let ca = reqwest::Certificate::from_pem(&pem)
            .unwrap_or_else(|e| panic!("LOGBENCH_CA_CERT {path}: {e}"));
        builder = builder.add_root_certificate(ca);
    }
    builder.build().expect("http client")
}

fn progress(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:12} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
        )
        .expect("valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

/// Pre-serialised native batch bodies (JSON arrays), so that the client is
/// not the bottleneck.
pub fn bodies(
    seed: u64,
    count: usize,
    batch: usize,
    spread_hours: f64,
    level: Option<&str>,
) -> Vec<Vec<u8>> {
    batches(seed, count, batch, (spread_hours, 0.0), level, &[])
        .iter()
        .map(|logs| serde_json::to_vec(logs).expect("serialises"))
        .collect()
}

/// `count` batches of `batch` logs in the native shape, with the messages
/// of `replay` (lines of a real log file) when it is not empty; their
/// times spread over `window.0` hours ending `window.1` hours ago.
pub fn batches(
    seed: u64,
    count: usize,
    batch: usize,
    (spread_hours, hours_ago): (f64, f64),
    level: Option<&str>,
    replay: &[String],
) -> Vec<Vec<Value>> {
    let mut rng = Rng::new(seed);
    let spread = chrono::Duration::milliseconds((spread_hours * 3_600_000.0) as i64);
    let back = chrono::Duration::milliseconds((hours_ago * 3_600_000.0) as i64);
    let mut next_line = 0usize;
    (0..count)
        .map(|_| {
            let mut logs: Vec<Value> = if replay.is_empty() {
                gen::batch(&mut rng, batch, Utc::now() - back, spread)
            } else {
                (0..batch)
                    .map(|_| {
                        let line = &replay[next_line % replay.len()];
                        next_line += 1;
                        let back_ms = back.num_milliseconds()
                            + rng.below(spread.num_milliseconds().max(1) as u64) as i64;
                        gen::replayed(
                            line,
                            &mut rng,
                            Utc::now() - chrono::Duration::milliseconds(back_ms),
                        )
                    })
                    .collect()
            };
            if let Some(level) = level {
                for log in &mut logs {
                    log["level"] = json!(level);
                }
            }
            logs
        })
        .collect()
}

/// What the ingest clients counted.
struct Tally {
    latency: Histogram<u64>,
    requests: u64,
    acked: u64,
    refused: u64,
    errors: u64,
    bytes: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: histogram(),
            requests: 0,
            acked: 0,
            refused: 0,
            errors: 0,
            bytes: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub batch: usize,
    pub concurrency: usize,
    pub total: Option<u64>,
    pub duration: Option<Duration>,
    pub seed: u64,
    /// Spread timestamps over this many hours before now (0: now).
    pub spread_hours: f64,
    /// The spread ends this many hours ago (0: now).
    pub hours_ago: f64,
    /// Every log at this level instead of the usual mix.
    pub level: Option<String>,
    /// Lines of a real log file to send instead of generated messages.
    pub replay: Arc<Vec<String>>,
    pub quiet: bool,
    /// The route and encoding the logs go by.
    pub protocol: Protocol,
    /// gzip the request bodies (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The server's data directory (on this machine): report the bytes on
    /// disk per log of the index and the WAL once merges have settled.
    pub data_dir: Option<std::path::PathBuf>,
    /// How long the index must stay unchanged before it is measured.
    pub settle: Duration,
}

/// Bytes on disk per log against the JSON received (`--data-dir`).
#[derive(Debug, Clone, Serialize)]
pub struct StorageReport {
    /// Mean size of a log as a JSON object in the native batch route's body.
    pub json_bytes_per_log: f64,
    pub index_bytes: u64,
    pub index_bytes_per_log: f64,
    /// What the WAL holds at the end (segments are deleted once indexed,
    /// but the last one stays).
    pub wal_bytes: u64,
    pub wal_bytes_per_log: f64,
    /// Index bytes over JSON bytes.
    pub index_vs_json: f64,
    /// Logs the figures are divided by: those of this run (use a fresh
    /// data directory).
    pub logs: u64,
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Waits until the index stops changing (merges done, including the
/// embedded store's merge of a partition idle for 30 s, which the
/// indexer looks for every 10 s: `settle` still, at most 4 minutes), then
/// measures.
async fn storage(
    data_dir: &std::path::Path,
    settle: Duration,
    logs: u64,
    json_bytes_per_log: f64,
) -> StorageReport {
    let index = data_dir.join("index");
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut last = dir_bytes(&index);
    let mut still_since = Instant::now();
    while Instant::now() < deadline && still_since.elapsed() < settle {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = dir_bytes(&index);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    let wal_bytes = dir_bytes(&data_dir.join("wal"));
    let per = |bytes: u64| bytes as f64 / logs.max(1) as f64;
    StorageReport {
        json_bytes_per_log,
        index_bytes: last,
        index_bytes_per_log: per(last),
        wal_bytes,
        wal_bytes_per_log: per(wal_bytes),
        index_vs_json: per(last) / json_bytes_per_log.max(1.0),
        logs,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub logs_acked: u64,
    pub requests: u64,
    pub refused_429: u64,
    pub errors: u64,
    pub seconds: f64,
    pub acked_logs_per_sec: f64,
    pub acked_mb_per_sec: f64,
    pub request_latency: Percentiles,
    /// From the last ack to that log being found by a search.
    pub ack_to_searchable_ms: Option<f64>,
    /// Logs acked divided by the time until the last of them was searchable.
    pub searchable_logs_per_sec: Option<f64>,
    /// Highest `*_process_resident_memory_bytes` seen on the targets.
    pub peak_rss_mb: Option<f64>,
    /// With `--data-dir`: bytes on disk per log.
    pub storage: Option<StorageReport>,
}

/// Samples the targets' resident memory every 500 ms until `stop`.
fn watch_rss(
    urls: Vec<String>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Option<f64>> {
    tokio::spawn(async move {
        let c = client();
        let mut peak: Option<f64> = None;
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            for url in &urls {
                if let Ok(r) = c.get(format!("{url}/metrics")).send().await {
                    if let Ok(text) = r.text().await {
                        for line in text
                            .lines()
                            .filter(|l| l.contains("_process_resident_memory_bytes "))
                        {
                            if let Some(v) =
                                line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok())
                            {
                                peak = Some(peak.map_or(v, |p: f64| p.max(v)));
                            }
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        peak.map(|b| b / (1024.0 * 1024.0))
    })
}

/// Closed loop: `concurrency` clients post batches back to back.
pub async fn ingest(ingest_url: &str, query_url: Option<&str>, o: &IngestOptions) -> IngestReport {
    let pool = if o.replay.is_empty() {
        64
    } else {
        (o.replay.len() / o.batch.max(1)).clamp(1, 256)
    };
    let logs_of_batches = batches(
        o.seed,
        pool,
        o.batch,
        (o.spread_hours, o.hours_ago),
        o.level.as_deref(),
        &o.replay,
    );
    let json_bytes_per_log = {
        let (bytes, logs) = logs_of_batches
            .iter()
            .fold((0usize, 0usize), |(b, n), logs| {
                let body = serde_json::to_vec(logs).expect("logs serialise");
                // Without the array's brackets and commas.
                (b + body.len() - 1 - logs.len(), n + logs.len())
            });
        bytes as f64 / logs.max(1) as f64
    };
    let bodies: Vec<Vec<u8>> = logs_of_batches
        .iter()
        .map(|logs| o.protocol.encode(logs, o.gzip))
        .collect();
    let bodies = Arc::new(bodies);
    let (protocol, gzip) = (o.protocol, o.gzip);
    let total = o.total.unwrap_or(u64::MAX);
    let deadline = o.duration.map(|d| Instant::now() + d);
    let bar = progress(
        o.total.unwrap_or(o.duration.map_or(0, |d| d.as_secs())),
        "ingest",
        o.quiet,
    );
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stats = Arc::new(Mutex::new(Tally::new()));
    let stop_rss = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut watched = vec![ingest_url.to_string()];
    watched.extend(query_url.map(str::to_string));
    let rss = watch_rss(watched, stop_rss.clone());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..o.concurrency {
        let (bodies, sent, stats, bar) = (bodies.clone(), sent.clone(), stats.clone(), bar.clone());
        let url = format!("{ingest_url}{}", protocol.path());
        let batch = o.batch as u64;
        let by_count = o.total.is_some();
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut i = worker;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if sent.fetch_add(batch, std::sync::atomic::Ordering::AcqRel) >= total {
                    break;
                }
                let body = bodies[i % bodies.len()].clone();
                i += 1;
                let t = Instant::now();
                let mut request = c.post(&url).header("content-type", protocol.content_type());
                if gzip {
                    request = request.header("content-encoding", "gzip");
                }
                // The answer is read, as a shipper reads it (and so that
                // the connection goes back to the pool).
                let status = match request.body(body.clone()).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        r.bytes().await.map(|_| status)
                    }
                    Err(e) => Err(e),
                };
                let took = t.elapsed();
                let mut s = stats.lock().unwrap();
                s.requests += 1;
                match status {
                    Ok(status) if protocol.acked(status) => {
                        record(&mut s.latency, took);
                        s.acked += batch;
                        s.bytes += body.len() as u64;
                        if by_count {
                            bar.inc(batch);
                        }
                    }
                    // Refused logs were not sent: they do not count towards --total.
                    Ok(429) => {
                        s.refused += 1;
                        sent.fetch_sub(batch, std::sync::atomic::Ordering::AcqRel);
                    }
                    _ => {
                        s.errors += 1;
                        sent.fetch_sub(batch, std::sync::atomic::Ordering::AcqRel);
                    }
                }
                drop(s);
                if !by_count {
                    bar.set_position(started.elapsed().as_secs());
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    // How long until the last acknowledged log can be found.
    let (mut lag, mut searchable_rate) = (None, None);
    let acked = stats.lock().unwrap().acked;
    if let Some(query) = query_url {
        let marker = format!(
            "logbenchmarker{:016x}",
            Rng::new(o.seed ^ started.elapsed().as_nanos() as u64).next_u64()
        );
        let c = client();
        // The marker waits its turn like any log: retry while the WAL is full.
        let mut ack = None;
        for _ in 0..600 {
            let r = c
                .post(format!("{ingest_url}/logs/ingest"))
                .json(&json!({"level": "INFO", "message": format!("end of run {marker}"), "source": "logbench"}))
                .send()
                .await;
            match r.map(|r| r.status().as_u16()) {
                Ok(429) | Ok(503) => tokio::time::sleep(Duration::from_millis(250)).await,
                other => {
                    ack = other.ok();
                    break;
                }
            }
        }
        if ack == Some(202) {
            let acked_at = Instant::now();
            let deadline = acked_at + Duration::from_secs(600);
            while Instant::now() < deadline {
                let found: Option<Value> = match c
                    .get(format!("{query}/logs/search"))
                    .query(&[("query", marker.as_str())])
                    .send()
                    .await
                {
                    Ok(r) => r.json().await.ok(),
                    Err(_) => None,
                };
                if found.is_some_and(|f| f["total_count"].as_u64() == Some(1)) {
                    lag = Some(acked_at.elapsed().as_secs_f64() * 1000.0);
                    searchable_rate = Some(acked as f64 / started.elapsed().as_secs_f64());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    stop_rss.store(true, std::sync::atomic::Ordering::Release);
    let peak_rss_mb = rss.await.ok().flatten();
    let acked = stats.lock().unwrap().acked;
    let storage = match &o.data_dir {
        Some(dir) => Some(storage(dir, o.settle, acked, json_bytes_per_log).await),
        None => None,
    };
    let s = stats.lock().unwrap();
    IngestReport {
        logs_acked: s.acked,
        requests: s.requests,
        refused_429: s.refused,
        errors: s.errors,
        seconds,
        acked_logs_per_sec: s.acked as f64 / seconds,
        acked_mb_per_sec: s.bytes as f64 / seconds / 1e6,
        request_latency: percentiles(&s.latency),
        ack_to_searchable_ms: lag,
        searchable_logs_per_sec: searchable_rate,
        peak_rss_mb,
        storage,
    }
}

/// One protocol's figures in a `protocols` run.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolRow {
    pub protocol: Protocol,
    pub gzip: bool,
    /// Median over the rounds.
    pub logs_per_sec: f64,
    /// Request bytes as sent (compressed when gzip).
    pub mb_per_sec: f64,
    pub p95_ms: f64,
    pub refused_429: u64,
    /// Answers neither acknowledged nor 429, summed over the rounds.
    pub errors: u64,
    /// The target's CPU time per acknowledged log, from the start of a run
    /// until its logs are indexed (receiving, WAL, indexing): median over
    /// the rounds. Steadier than logs/s on a shared machine.
    pub server_cpu_us_per_log: Option<f64>,
    /// `logs_per_sec` over the native route's with the same gzip setting.
    pub vs_native: f64,
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Waits (up to two minutes) until the target has indexed everything it
/// acknowledged (`ingestd_wal_backlog_bytes` 0), so that every run starts
/// from the same empty backlog.
async fn until_drained(ingest_url: &str) {
    let c = client();
    for _ in 0..1200 {
        if let Ok(r) = c.get(format!("{ingest_url}/metrics")).send().await {
            if let Ok(text) = r.text().await {
                let backlog = text
                    .lines()
                    .find_map(|l| l.strip_prefix("ingestd_wal_backlog_bytes "))
                    .and_then(|v| v.trim().parse::<f64>().ok());
                if backlog == Some(0.0) {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The target's `*_process_cpu_seconds_total` (ingestd's, or the
/// all-in-one's).
async fn cpu_seconds(ingest_url: &str) -> Option<f64> {
    let text = client()
        .get(format!("{ingest_url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("ingestd_process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
}

/// Every protocol, gzip off and on, interleaved over `rounds` (a noisy
/// machine slows all of them alike).
pub async fn protocols(ingest_url: &str, base: &IngestOptions, rounds: usize) -> Vec<ProtocolRow> {
    let combos: Vec<(Protocol, bool)> = [false, true]
        .into_iter()
        .flat_map(|gzip| Protocol::ALL.into_iter().map(move |p| (p, gzip)))
        .collect();
    let mut runs: Vec<Vec<IngestReport>> = vec![Vec::new(); combos.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); combos.len()];
    for round in 0..rounds.max(1) {
        // Each round starts with the next combination: none always runs
        // first (or last) in a round.
        for step in 0..combos.len() {
            let k = (round + step) % combos.len();
            let (protocol, gzip) = &combos[k];
            until_drained(ingest_url).await;
            let o = IngestOptions {
                protocol: *protocol,
                gzip: *gzip,
                seed: base.seed + round as u64,
                quiet: true,
                ..base.clone()
            };
            if !base.quiet {
                eprintln!(
                    "round {}/{}: {} gzip={}",
                    round + 1,
                    rounds.max(1),
                    protocol.name(),
                    gzip
                );
            }
            let before = cpu_seconds(ingest_url).await;
            let report = ingest(ingest_url, None, &o).await;
            until_drained(ingest_url).await;
            if let (Some(before), Some(after)) = (before, cpu_seconds(ingest_url).await) {
                if report.logs_acked > 0 {
                    cpu[k].push((after - before) * 1e6 / report.logs_acked as f64);
                }
            }
            runs[k].push(report);
        }
    }
    let rate = |k: usize| median(runs[k].iter().map(|r| r.acked_logs_per_sec).collect());
    combos
        .iter()
        .enumerate()
        .map(|(k, (protocol, gzip))| {
            let native = combos
                .iter()
                .position(|(p, g)| *p == Protocol::Native && g == gzip)
                .map(rate)
                .unwrap_or(0.0);
            ProtocolRow {
                protocol: *protocol,
                gzip: *gzip,
                logs_per_sec: rate(k),
                mb_per_sec: median(runs[k].iter().map(|r| r.acked_mb_per_sec).collect()),
                p95_ms: median(runs[k].iter().map(|r| r.request_latency.p95_ms).collect()),
                refused_429: runs[k].iter().map(|r| r.refused_429).sum(),
                errors: runs[k].iter().map(|r| r.errors).sum(),
                server_cpu_us_per_log: (!cpu[k].is_empty()).then(|| median(cpu[k].clone())),
                vs_native: if native > 0.0 { rate(k) / native } else { 0.0 },
            }
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub target_rate: f64,
    pub sent: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Measured from each request's scheduled time, so a slow answer delays
    /// nothing and hides nothing (no coordinated omission).
    pub ack_latency: Percentiles,
}

/// Open loop: single-log requests at `rate` per second for `duration`.
pub async fn latency(
    ingest_url: &str,
    rate: f64,
    duration: Duration,
    seed: u64,
    quiet: bool,
) -> LatencyReport {
    let mut rng = Rng::new(seed);
    let singles: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..1024)
            .map(|_| serde_json::to_vec(&gen::log(&mut rng, Utc::now())).expect("serialises"))
            .collect(),
    );
    let n = (rate * duration.as_secs_f64()) as u64;
    let bar = progress(n, "latency", quiet);
    let hist = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c = client();
    let url = format!("{ingest_url}/logs/ingest");
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at).await;
        let (c, url, hist, errors, singles) = (
            c.clone(),
            url.clone(),
            hist.clone(),
            errors.clone(),
            singles.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let body = singles[(i % singles.len() as u64) as usize].clone();
            let r = c
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let took = at.elapsed();
            if r.is_ok_and(|r| r.status().as_u16() == 202) {
                record(&mut hist.lock().unwrap(), took);
            } else {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
        bar.inc(1);
    }
    for t in tasks {
        let _ = t.await;
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let h = hist.lock().unwrap();
    LatencyReport {
        target_rate: rate,
        sent: n,
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
        seconds,
        ack_latency: percentiles(&h),
    }
}

/// The search mix: name and request body.
pub fn search_kinds() -> Vec<(&'static str, Value)> {
    let now = Utc::now();
    let ago = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
    vec![
        ("rare_term", json!({"query": "Handler27", "limit": 100})),
        ("common_term", json!({"query": "completed", "limit": 100})),
        (
            "phrase",
            json!({"query": "\"connection reset by peer\"", "limit": 100}),
        ),
        (
            "level_service",
            json!({"level": "ERROR", "service": "svc-07", "limit": 100}),
        ),
        (
            "narrow_time",
            json!({"query": "failed", "start_time": ago(5), "end_time": ago(0), "limit": 100}),
        ),
        (
            "wide_time",
            json!({"level": "WARNING", "start_time": ago(24 * 60), "end_time": ago(0), "limit": 100}),
        ),
    ]
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryReport {
    pub kind: String,
    pub errors: u64,
    /// `total_count` of the last answer.
    pub matches: u64,
    pub latency: Percentiles,
}

/// Runs each search kind `iterations` times (2 concurrent clients).
pub async fn search(query_url: &str, iterations: u64, quiet: bool) -> Vec<QueryReport> {
    let mut reports = Vec::new();
    for (kind, body) in search_kinds() {
        let url = format!("{query_url}/logs/search");
        let r = run_queries(kind, iterations, quiet, move |c| c.post(&url).json(&body)).await;
        reports.push(r);
    }
    reports
}

/// `GET /logs/patterns?hours=N`, `iterations` times.
pub async fn patterns(query_url: &str, hours: f64, iterations: u64, quiet: bool) -> QueryReport {
    let url = format!("{query_url}/logs/patterns?hours={hours}");
    run_queries("patterns", iterations, quiet, move |c| c.get(&url)).await
}

pub async fn run_queries<F>(kind: &str, iterations: u64, quiet: bool, request: F) -> QueryReport
where
    F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let bar = progress(iterations, kind, quiet);
    let request = Arc::new(request);
    // Latency, errors, and the last answer's match count.
    let state = Arc::new(Mutex::new((histogram(), 0u64, 0u64)));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (request, state, next, bar) =
            (request.clone(), state.clone(), next.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            while next.fetch_add(1, std::sync::atomic::Ordering::AcqRel) < iterations {
                let t = Instant::now();
                let r = request(&c).send().await;
                let answer: Option<Value> = match r {
                    Ok(r) if r.status().is_success() => r.json().await.ok(),
                    _ => None,
                };
                let took = t.elapsed();
                let mut s = state.lock().unwrap();
                match answer {
                    Some(a) => {
                        record(&mut s.0, took);
                        s.2 = a["total_count"]
                            .as_u64()
                            .or(a["total_logs"].as_u64())
                            .unwrap_or(0);
                    }
                    None => s.1 += 1,
                }
                bar.inc(1);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    bar.finish_and_clear();
    let s = state.lock().unwrap();
    QueryReport {
        kind: kind.to_string(),
        errors: s.1,
        matches: s.2,
        latency: percentiles(&s.0),
    }
}
