//! `logbench overload`: many costly pattern requests over high-cardinality
//! errors, against the ingest path. Seeds `distinct` ERROR logs, each its
//! own template; then measures the ingest ack latency at a fixed rate
//! alone, and again while `concurrent` clients ask for the patterns of the
//! window back to back; with the server's pid, its resident memory (peak
//! during the pattern load, and a while after it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::load::{client, histogram, latency, percentiles, record, LatencyReport, Percentiles};

/// How the run is shaped.
#[derive(Debug, Clone)]
pub struct OverloadOptions {
    /// ERROR logs seeded, each its own template.
    pub distinct: u64,
    /// Pattern clients at once.
    pub concurrent: usize,
    /// Ingest rate (single logs per second) of both latency phases.
    pub rate: f64,
    /// Seconds of each latency phase.
    pub seconds: u64,
    /// Rounds of (alone, under load).
    pub rounds: u64,
    /// Seconds to wait after seeding (merges settle).
    pub settle_secs: u64,
    /// `limit` of each pattern request.
    pub limit: usize,
    /// The server process (its resident memory is read from /proc).
    pub pid: Option<u32>,
    pub seed: u64,
    pub quiet: bool,
}

/// The pattern clients' answers.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PatternAnswers {
    pub answered: u64,
    /// Answers marked partial (a budget reached).
    pub partial: u64,
    /// Refused with 429 (no slot free).
    pub refused: u64,
    pub errors: u64,
    /// Latency of every request, answered or refused.
    pub latency: Option<Percentiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverloadReport {
    pub seeded: u64,
    pub seed_seconds: f64,
    /// Each round's ingest latency alone, then under the pattern load.
    pub ingest_alone: Vec<LatencyReport>,
    pub ingest_under_load: Vec<LatencyReport>,
    /// The median of the rounds' ingest p99 under the pattern load over
    /// the median of their p99 alone.
    pub p99_ratio: f64,
    pub patterns: PatternAnswers,
    /// Peak resident memory of the server during the pattern load, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Resident memory 10 s after the pattern load ended, MiB.
    pub rss_after_mib: Option<f64>,
}

/// A word of letters g-z only (never read as hex) for each number.
fn word(mut n: u64) -> String {
    let mut out = String::new();
    for _ in 0..5 {
        out.push(char::from(b'g' + (n % 20) as u8));
        n /= 20;
    }
    out
}

/// `VmRSS` (or another field) of a process, in MiB.
pub fn proc_status_mib(pid: u32, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn seed(ingest_url: &str, o: &OverloadOptions) -> f64 {
    let c = client();
    let started = Instant::now();
    let batch = 5000u64;
    let mut sent = 0;
    while sent < o.distinct {
        let n = batch.min(o.distinct - sent);
        let logs: Vec<Value> = (sent..sent + n)
            .map(|i| {
                serde_json::json!({
                    "level": "ERROR",
                    "message": format!(
                        "{} rejected the {} call from {}",
                        word(i),
                        word(i.wrapping_mul(7919) % 3_200_000),
                        word(i.wrapping_mul(104_729) % 3_200_000)
                    ),
                    "source": "overload",
                    "service": format!("svc-{}", i % 5),
                })
            })
            .collect();
        sent += n;
        let last = sent >= o.distinct;
        let url = format!(
            "{ingest_url}/logs/batch-ingest{}",
            if last { "?refresh=wait_for" } else { "" }
        );
        loop {
            match c.post(&url).json(&logs).send().await {
                Ok(r) if r.status().as_u16() == 202 => break,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    started.elapsed().as_secs_f64()
}

/// Pattern clients asking back to back until `stop`, counted in `answers`.
fn pattern_clients(
    query_url: &str,
    o: &OverloadOptions,
    stop: &Arc<AtomicBool>,
    answers: &Arc<Mutex<(PatternAnswers, hdrhistogram::Histogram<u64>)>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let url = format!("{query_url}/logs/patterns?hours=24&limit={}", o.limit);
    (0..o.concurrent)
        .map(|_| {
            let (stop, answers, url) = (stop.clone(), answers.clone(), url.clone());
            tokio::spawn(async move {
                let c = client();
                while !stop.load(Ordering::Acquire) {
                    let t = Instant::now();
                    let r = c.get(&url).send().await;
                    let outcome = match r {
                        Ok(r) if r.status().as_u16() == 429 => Err(true),
                        // The body read whole, not parsed: the load is
                        // the server's, not this client's.
                        Ok(r) if r.status().is_success() => Ok(r.bytes().await.ok()),
                        _ => Err(false),
                    };
                    let took = t.elapsed();
                    let refused = {
                        let mut a = answers.lock().unwrap();
                        record(&mut a.1, took);
                        match outcome {
                            Ok(body) => {
                                a.0.answered += 1;
                                let partial = b"\"partial\":true";
                                if body
                                    .is_some_and(|b| b.windows(partial.len()).any(|w| w == partial))
                                {
                                    a.0.partial += 1;
                                }
                                false
                            }
                            Err(true) => {
                                a.0.refused += 1;
                                true
                            }
                            Err(false) => {
                                a.0.errors += 1;
                                false
                            }
                        }
                    };
                    if refused {
                        // As a client honouring Retry-After would, sooner.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            })
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Seeds, lets the store settle, then alternates `rounds` times: the
/// ingest latency alone, then under the pattern load (side by side in
/// time, so that drift hits both).
pub async fn overload(ingest_url: &str, query_url: &str, o: &OverloadOptions) -> OverloadReport {
    let seed_seconds = seed(ingest_url, o).await;
    tokio::time::sleep(Duration::from_secs(o.settle_secs)).await;
    let duration = Duration::from_secs(o.seconds);
    let answers = Arc::new(Mutex::new((PatternAnswers::default(), histogram())));
    let mut ingest_alone = Vec::new();
    let mut ingest_under_load = Vec::new();
    let mut peak_rss_mib: Option<f64> = None;
    for round in 0..o.rounds.max(1) {
        let seed = o.seed + 2 * round;
        ingest_alone.push(latency(ingest_url, o.rate, duration, seed, o.quiet).await);
        // The peak from here on (root may reset a process's high-water mark).
        if let Some(pid) = o.pid {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients = pattern_clients(query_url, o, &stop, &answers);
        let rss = o.pid.map(|pid| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut peak: f64 = 0.0;
                while !stop.load(Ordering::Acquire) {
                    if let Some(now) = proc_status_mib(pid, "VmRSS:") {
                        peak = peak.max(now);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                peak.max(proc_status_mib(pid, "VmHWM:").unwrap_or(0.0))
            })
        });
        ingest_under_load.push(latency(ingest_url, o.rate, duration, seed + 1, o.quiet).await);
        stop.store(true, Ordering::Release);
        for c in clients {
            let _ = c.await;
        }
        if let Some(task) = rss {
            if let Ok(peak) = task.await {
                peak_rss_mib = Some(peak_rss_mib.map_or(peak, |p: f64| p.max(peak)));
            }
        }
    }
    let rss_after_mib = match o.pid {
        Some(pid) => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            proc_status_mib(pid, "VmRSS:")
        }
        None => None,
    };
    let (mut patterns, hist) = {
        let a = answers.lock().unwrap();
        (a.0.clone(), a.1.clone())
    };
    patterns.latency = Some(percentiles(&hist));
    let p99 = |runs: &[LatencyReport]| median(runs.iter().map(|r| r.ack_latency.p99_ms).collect());
    let p99_ratio = p99(&ingest_under_load) / p99(&ingest_alone).max(0.001);
    OverloadReport {
        seeded: o.distinct,
        seed_seconds,
        ingest_alone,
        ingest_under_load,
        p99_ratio,
        patterns,
        peak_rss_mib,
        rss_after_mib,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_and_never_hex() {
        let words: std::collections::HashSet<String> = (0..100_000).map(word).collect();
        assert_eq!(words.len(), 100_000);
        assert!(words
            .iter()
            .all(|w| w.bytes().all(|b| (b'g'..=b'z').contains(&b))));
    }
}
