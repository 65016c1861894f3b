//! logbench: benchmarks for logagg. `logbench --help` lists the modes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use logbench::load::{IngestOptions, Percentiles};
use logbench::protocol::Protocol;
use logbench::{accuracy, ceiling, load};

#[derive(Debug, Parser)]
#[command(
    name = "logbench",
    version,
    about = "Benchmarks for logagg: load modes against any URL, ceilings, pattern accuracy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Args)]
struct Common {
    /// Ingest API of the deployment under test.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    ingest_url: String,
    /// Query API of the deployment under test.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    query_url: String,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Seed of the generated logs.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Debug, Clone, Args)]
struct Load {
    /// The server's data directory, when it runs on this machine: after the
    /// run, report bytes on disk per log (index and WAL) against the JSON
    /// sent, once merges have settled. Use a fresh data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// With --data-dir: seconds the index must stay unchanged before it is
    /// measured (the embedded store merges a partition idle for 30 s,
    /// looking every 10 s).
    #[arg(long, default_value_t = 45)]
    settle_secs: u64,
    /// Logs per batch request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Stop after this many logs...
    #[arg(long)]
    total: Option<u64>,
    /// ...or after this many seconds (default 10 when neither is given).
    #[arg(long)]
    duration: Option<f64>,
    /// Spread the logs' timestamps over this many hours before now.
    #[arg(long, default_value_t = 0.0)]
    spread_hours: f64,
    /// ...ending this many hours before now (to load day by day).
    #[arg(long, default_value_t = 0.0)]
    hours_ago: f64,
    /// Send every log at this level (e.g. ERROR, to load patterns).
    #[arg(long)]
    level: Option<String>,
    /// Replay the lines of a real log file (e.g. a Loghub `.log`) as messages.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// The route the logs go by: the native batch route, the Elasticsearch
    /// bulk API, or OTLP/HTTP protobuf.
    #[arg(long, value_enum, default_value = "native")]
    protocol: Protocol,
    /// gzip the request bodies.
    #[arg(long)]
    gzip: bool,
}

impl Load {
    fn options(&self, common: &Common) -> IngestOptions {
        let duration = match (self.total, self.duration) {
            (None, None) => Some(Duration::from_secs(10)),
            (_, d) => d.map(Duration::from_secs_f64),
        };
        IngestOptions {
            batch: self.batch,
            concurrency: self.concurrency,
            total: self.total,
            duration,
            seed: common.seed,
            spread_hours: self.spread_hours,
            hours_ago: self.hours_ago,
            level: self.level.clone(),
            replay: std::sync::Arc::new(
                self.replay
                    .as_ref()
                    .map(|p| read_lines(p))
                    .unwrap_or_default(),
            ),
            quiet: common.quiet,
            protocol: self.protocol,
            gzip: self.gzip,
            data_dir: self.data_dir.clone(),
            settle: std::time::Duration::from_secs(self.settle_secs),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Closed-loop batch ingest: logs/s, MB/s, request latency, and how long
    /// until the last acknowledged log is searchable.
    Ingest {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        load: Load,
    },
    /// The same logs through each protocol (native batch route, `_bulk`,
    /// OTLP protobuf), gzip off and on, interleaved in rounds: logs/s of
    /// each and its ratio to the native route's in the same run.
    Protocols {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        load: Load,
        /// Rounds over the six combinations; the median of each is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Open-loop single-log requests at a fixed rate: ack latency percentiles.
    Latency {
        #[command(flatten)]
        common: Common,
        /// Requests per second.
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        /// Seconds.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
    },
    /// A mix of searches over a loaded store: latency percentiles per kind.
    Search {
        #[command(flatten)]
        common: Common,
        /// Requests per kind.
        #[arg(long, default_value_t = 200)]
        iterations: u64,
    },
    /// The SRE's reads while logs arrive at a fixed rate (`--rate 0`: idle):
    /// latency per query kind, histogram over 7 days, cursor page N against
    /// page 1, live tail delay from acknowledgement to event, export rate.
    Mixed {
        #[command(flatten)]
        common: Common,
        /// Background ingest, logs/s (batches of 500).
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        /// Requests per query kind (2 concurrent clients).
        #[arg(long, default_value_t = 200)]
        iterations: u64,
        /// Cursor pages to read (100 logs each).
        #[arg(long, default_value_t = 1000)]
        pages: u64,
        /// Logs sent one at a time to time the live tail.
        #[arg(long, default_value_t = 100)]
        tail_events: u64,
        /// Logs to export.
        #[arg(long, default_value_t = 500_000)]
        export_logs: u64,
    },
    /// Latency of `GET /logs/patterns` over a window.
    Patterns {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        #[arg(long, default_value_t = 50)]
        iterations: u64,
    },
    /// Costly pattern requests over high-cardinality errors against the
    /// ingest path: seeds DISTINCT ERROR logs (each its own template), then
    /// the ingest ack latency at --rate alone and while --concurrent
    /// clients ask for the patterns of 24 h back to back; with --pid, the
    /// server's peak resident memory under that load and 10 s after.
    Overload {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 200_000)]
        distinct: u64,
        #[arg(long, default_value_t = 8)]
        concurrent: usize,
        /// Single logs per second in each latency phase.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Seconds of each latency phase.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Rounds of (alone, under load), alternated.
        #[arg(long, default_value_t = 3)]
        rounds: u64,
        /// Seconds to wait after seeding, for merges to settle.
        #[arg(long, default_value_t = 20)]
        settle_secs: u64,
        /// `limit` of each pattern request.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// The server's process id, to read its memory from /proc.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Raw tantivy, HTTP-discard and WAL rates, then the end-to-end ingest
    /// against the target, with ratios.
    Ceiling {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        load: Load,
        /// Documents indexed for the tantivy ceiling.
        #[arg(long, default_value_t = 500_000)]
        tantivy_logs: usize,
        /// Measure the ceilings only.
        #[arg(long)]
        no_target: bool,
    },
    /// Grouping accuracy of error patterns on labelled Loghub-2k datasets.
    Accuracy {
        /// Folder holding <D>/<D>_2k.log_structured.csv for each dataset D.
        #[arg(default_value = "../shared/datasets/loghub-2k")]
        datasets: PathBuf,
        /// Print one JSON object per dataset instead of a table.
        #[arg(long)]
        json: bool,
        /// Score against the original (2019) labels instead of the corrected ones.
        #[arg(long)]
        original_labels: bool,
        /// Show the wrongly grouped events of this dataset (with the
        /// settings `--without` and `--merge` give).
        #[arg(long)]
        explain: Option<String>,
        /// Leave one dataset out: choose the masking rules and the merge's
        /// thresholds on the others, score it with them; the out-of-sample
        /// scores next to the in-sample ones (the shipped settings).
        #[arg(long)]
        cross_validate: bool,
        /// Score with these masking rules left out (comma-separated:
        /// quoted, units, asides, brackets, pairs, digits, booleans, dates,
        /// paths, emails, hosts, lists, parts, names, routes, messages, json), to see what
        /// each one does.
        #[arg(long, value_delimiter = ',')]
        without: Vec<String>,
        /// Score with other merge thresholds: MIN_VALUES,MIN_CONSTANTS
        /// (the shipped ones are 3,3).
        #[arg(long, value_parser = parse_merge)]
        merge: Option<log_patterns::MergeRules>,
        /// Stress the merge: score each line with every one-word value of
        /// its labelled template replaced by a plain word (no value is then
        /// masked by its shape).
        #[arg(long)]
        word_values: bool,
    },
}

fn parse_merge(text: &str) -> Result<log_patterns::MergeRules, String> {
    let (values, constants) = text
        .split_once(',')
        .ok_or("expected MIN_VALUES,MIN_CONSTANTS such as 3,3")?;
    let number = |s: &str| s.trim().parse::<usize>().map_err(|e| format!("{s:?}: {e}"));
    Ok(log_patterns::MergeRules {
        min_values: number(values)?,
        min_constants: number(constants)?,
        ..Default::default()
    })
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
        Err(e) => {
            eprintln!("logbench: cannot read {}: {e}", path.display());
            std::process::exit(2);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialises")
    );
}

fn row(name: &str, p: &Percentiles) {
    println!(
        "{name:<28} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        p.count, p.p50_ms, p.p90_ms, p.p95_ms, p.p99_ms, p.p999_ms, p.max_ms
    );
}

fn header() {
    println!(
        "{:<28} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "count", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"
    );
}

fn print_ingest(r: &load::IngestReport) {
    println!(
        "logs acked         {} in {:.1} s ({} requests, {} refused 429, {} errors)",
        r.logs_acked, r.seconds, r.requests, r.refused_429, r.errors
    );
    println!(
        "acked rate         {:.0} logs/s, {:.1} MB/s",
        r.acked_logs_per_sec, r.acked_mb_per_sec
    );
    if let (Some(lag), Some(rate)) = (r.ack_to_searchable_ms, r.searchable_logs_per_sec) {
        println!("searchable rate    {rate:.0} logs/s (last ack searchable after {lag:.0} ms)");
    }
    if let Some(rss) = r.peak_rss_mb {
        println!("peak server RSS    {rss:.0} MB");
    }
    if let Some(s) = &r.storage {
        println!(
            "on disk per log    index {:.0} B, WAL {:.0} B; JSON received {:.0} B; index/JSON {:.1}%",
            s.index_bytes_per_log,
            s.wal_bytes_per_log,
            s.json_bytes_per_log,
            s.index_vs_json * 100.0
        );
    }
    header();
    row("request", &r.request_latency);
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Ingest { common, load: l } => {
            let report = runtime().block_on(load::ingest(
                &common.ingest_url,
                Some(&common.query_url),
                &l.options(&common),
            ));
            if common.json {
                print_json(&report)
            } else {
                print_ingest(&report)
            }
        }
        Command::Protocols {
            common,
            load: l,
            rounds,
        } => {
            let base = l.options(&common);
            let rows = runtime().block_on(load::protocols(&common.ingest_url, &base, rounds));
            if common.json {
                print_json(&rows);
            } else {
                println!(
                    "{:<8} {:<5} {:>12} {:>9} {:>9} {:>8} {:>14} {:>14}",
                    "protocol",
                    "gzip",
                    "logs/s",
                    "MB/s",
                    "p95 ms",
                    "refused",
                    "vs native",
                    "cpu µs/log"
                );
                for r in &rows {
                    println!(
                        "{:<8} {:<5} {:>12.0} {:>9.1} {:>9.2} {:>8} {:>13.0}% {:>14}",
                        r.protocol.name(),
                        if r.gzip { "on" } else { "off" },
                        r.logs_per_sec,
                        r.mb_per_sec,
                        r.p95_ms,
                        r.refused_429,
                        r.vs_native * 100.0,
                        r.server_cpu_us_per_log
                            .map_or("-".to_string(), |c| format!("{c:.1}"))
                    );
                }
            }
        }
        Command::Latency {
            common,
            rate,
            duration,
        } => {
            let r = runtime().block_on(load::latency(
                &common.ingest_url,
                rate,
                Duration::from_secs_f64(duration),
                common.seed,
                common.quiet,
            ));
            if common.json {
                print_json(&r);
            } else {
                println!(
                    "{} single-log requests at {:.0}/s open loop over {:.1} s, {} errors",
                    r.sent, r.target_rate, r.seconds, r.errors
                );
                header();
                row("ack", &r.ack_latency);
            }
        }
        Command::Search { common, iterations } => {
            let reports =
                runtime().block_on(load::search(&common.query_url, iterations, common.quiet));
            if common.json {
                print_json(&reports);
            } else {
                header();
                for r in &reports {
                    row(&r.kind, &r.latency);
                }
            }
        }
        Command::Mixed {
            common,
            rate,
            iterations,
            pages,
            tail_events,
            export_logs,
        } => {
            let options = logbench::mixed::MixedOptions {
                rate,
                iterations,
                pages,
                tail_events,
                export_logs,
                seed: common.seed,
                quiet: common.quiet,
            };
            let r = runtime().block_on(logbench::mixed::mixed(
                &common.ingest_url,
                &common.query_url,
                &options,
            ));
            if common.json {
                print_json(&r);
            } else {
                println!(
                    "ingest: {:.0} logs/s acknowledged (target {:.0}), {} failed requests",
                    r.ingest_rate_achieved, r.ingest_rate_target, r.ingest_errors
                );
                header();
                for q in &r.queries {
                    row(&format!("{} ({} hits)", q.kind, q.matches), &q.latency);
                }
                println!(
                    "cursor paging: {} pages; p50 of pages 1-10 {:.1} ms, of the last 10 {:.1} ms (ratio {:.2})",
                    r.paging.pages, r.paging.first_pages_p50_ms, r.paging.last_pages_p50_ms, r.paging.ratio
                );
                println!(
                    "live tail: {} events ({} missed); delay from ack p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                    r.tail.events, r.tail.missed, r.tail.p50_ms, r.tail.p99_ms, r.tail.max_ms
                );
                println!(
                    "export: {} logs in {:.1} s = {:.0} logs/s",
                    r.export.logs, r.export.seconds, r.export.logs_per_sec
                );
            }
        }
        Command::Patterns {
            common,
            hours,
            iterations,
        } => {
            let r = runtime().block_on(load::patterns(
                &common.query_url,
                hours,
                iterations,
                common.quiet,
            ));
            if common.json {
                print_json(&r);
            } else {
                println!("patterns over {hours} h: {} logs grouped", r.matches);
                header();
                row("patterns", &r.latency);
            }
        }
        Command::Overload {
            common,
            distinct,
            concurrent,
            rate,
            seconds,
            rounds,
            settle_secs,
            limit,
            pid,
        } => {
            let o = logbench::overload::OverloadOptions {
                distinct,
                concurrent,
                rate,
                seconds,
                rounds,
                settle_secs,
                limit,
                pid,
                seed: common.seed,
                quiet: common.quiet,
            };
            let r = runtime().block_on(logbench::overload::overload(
                &common.ingest_url,
                &common.query_url,
                &o,
            ));
            if common.json {
                print_json(&r);
            } else {
                println!(
                    "seeded             {} distinct ERROR logs in {:.1} s",
                    r.seeded, r.seed_seconds
                );
                let p = &r.patterns;
                println!(
                    "patterns           {} answered ({} partial), {} refused 429, {} errors, {concurrent} clients",
                    p.answered, p.partial, p.refused, p.errors
                );
                if let Some(rss) = r.peak_rss_mib {
                    println!("peak server RSS    {rss:.0} MiB under the pattern load");
                }
                if let Some(rss) = r.rss_after_mib {
                    println!("server RSS after   {rss:.0} MiB (10 s after the load)");
                }
                println!(
                    "ingest p99 ratio   {:.2} (median of the rounds' p99 under load / alone)",
                    r.p99_ratio
                );
                header();
                for (i, (alone, loaded)) in
                    r.ingest_alone.iter().zip(&r.ingest_under_load).enumerate()
                {
                    row(
                        &format!("ingest alone, round {}", i + 1),
                        &alone.ack_latency,
                    );
                    row(
                        &format!("ingest under load, round {}", i + 1),
                        &loaded.ack_latency,
                    );
                }
                if let Some(l) = &p.latency {
                    row("patterns (all answers)", l);
                }
            }
        }
        Command::Ceiling {
            common,
            load: l,
            tantivy_logs,
            no_target,
        } => {
            let o = l.options(&common);
            let target = (!no_target)
                .then_some((common.ingest_url.as_str(), Some(common.query_url.as_str())));
            let r = runtime().block_on(ceiling::ceiling(&o, tantivy_logs, target));
            if common.json {
                print_json(&r);
            } else {
                println!(
                    "tantivy in process  {:.0} logs/s ({} logs)",
                    r.tantivy_logs_per_sec, r.logs
                );
                println!(
                    "HTTP discard        {:.0} logs/s",
                    r.http_discard_logs_per_sec
                );
                println!(
                    "WAL fsync'd appends {:.0} logs/s, {:.1} MB/s",
                    r.wal_logs_per_sec, r.wal_mb_per_sec
                );
                if let Some(e) = &r.end_to_end {
                    println!("--- end to end ---");
                    print_ingest(e);
                    let pct = |v: Option<f64>| {
                        v.map_or("-".to_string(), |v| format!("{:.0}%", v * 100.0))
                    };
                    println!("searchable / tantivy      {}", pct(r.searchable_vs_tantivy));
                    println!("acked / HTTP discard     {}", pct(r.acked_vs_http_discard));
                    println!("acked / WAL              {}", pct(r.acked_vs_wal));
                }
            }
        }
        Command::Accuracy {
            datasets,
            explain: Some(name),
            without,
            merge,
            ..
        } => {
            let path = datasets
                .join(&name)
                .join(format!("{name}_2k.log_structured.csv"));
            let config = match accuracy_config(&without, merge) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("logbench accuracy: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match accuracy::explain(&path, 40, config) {
                Ok(text) => print!("{text}"),
                Err(e) => {
                    eprintln!("logbench accuracy: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Command::Accuracy {
            datasets,
            json,
            original_labels,
            cross_validate: true,
            ..
        } => {
            if let Err(e) = run_cross_validation(&datasets, json, original_labels) {
                eprintln!("logbench accuracy: {e}");
                return ExitCode::FAILURE;
            }
        }
        Command::Accuracy {
            datasets,
            json,
            original_labels,
            without,
            merge,
            word_values,
            ..
        } => {
            let options = AccuracyOptions {
                json,
                original: original_labels,
                word_values,
            };
            if let Err(e) = run_accuracy(&datasets, options, &without, merge) {
                eprintln!("logbench accuracy: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// The shipped settings, less the rules named by `--without`, with the
/// merge's thresholds of `--merge` when given.
fn accuracy_config(
    without: &[String],
    merge: Option<log_patterns::MergeRules>,
) -> Result<accuracy::Config, String> {
    let mut config = accuracy::Config::default();
    if let Some(merge) = merge {
        config.merge = merge;
    }
    for name in without {
        let rule = log_patterns::Rules::EACH
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| format!("--without {name}: no such rule"))?;
        config.rules = config.rules.without(rule.1);
    }
    Ok(config)
}

/// How `accuracy` scores: the output's form, the labels, the lines.
struct AccuracyOptions {
    json: bool,
    original: bool,
    word_values: bool,
}

fn run_accuracy(
    dir: &std::path::Path,
    options: AccuracyOptions,
    without: &[String],
    merge: Option<log_patterns::MergeRules>,
) -> Result<(), String> {
    let AccuracyOptions {
        json,
        original,
        word_values,
    } = options;
    let sets = accuracy::datasets(dir, original)?;
    let config = accuracy_config(without, merge)?;
    if !json {
        println!(
            "{:<12} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "dataset", "lines", "events", "groups", "GA", "FGA", "TA"
        );
    }
    let mut totals = [0.0; 3];
    for (name, path) in &sets {
        let mut lines = accuracy::read_lines(path)?;
        if word_values {
            lines = accuracy::with_word_values(&lines);
        }
        let s = accuracy::score_with(name, &lines, config)?;
        if json {
            println!("{}", serde_json::to_string(&s).map_err(|e| e.to_string())?);
        } else {
            println!(
                "{:<12} {:>6} {:>7} {:>7} {:>7.3} {:>7.3} {:>7.3}",
                s.dataset,
                s.lines,
                s.true_events,
                s.predicted_groups,
                s.grouping_accuracy,
                s.group_f1,
                s.template_accuracy
            );
        }
        totals[0] += s.grouping_accuracy;
        totals[1] += s.group_f1;
        totals[2] += s.template_accuracy;
    }
    let n = sets.len() as f64;
    println!(
        "mean GA: {:.4}  mean FGA: {:.4}  mean TA: {:.4}",
        totals[0] / n,
        totals[1] / n,
        totals[2] / n
    );
    Ok(())
}

fn run_cross_validation(dir: &std::path::Path, json: bool, original: bool) -> Result<(), String> {
    let sets = accuracy::datasets(dir, original)?;
    let held = accuracy::cross_validate(&sets)?;
    if !json {
        println!(
            "{:<12} {:>7} {:>7} {:>12} {:>12}  chosen",
            "dataset", "GA in", "GA out", "FGA in/out", "TA in/out"
        );
    }
    let mut sums = [0.0; 6];
    for h in &held {
        if json {
            println!("{}", serde_json::to_string(h).map_err(|e| e.to_string())?);
        } else {
            println!(
                "{:<12} {:>7.3} {:>7.3} {:>5.3}/{:<6.3} {:>5.3}/{:<6.3}  {},{}{}{}{}{}{}",
                h.dataset,
                h.in_sample.grouping_accuracy,
                h.out_of_sample.grouping_accuracy,
                h.in_sample.group_f1,
                h.out_of_sample.group_f1,
                h.in_sample.template_accuracy,
                h.out_of_sample.template_accuracy,
                h.chosen_min_values,
                h.chosen_min_constants,
                if h.chosen_states { "" } else { " -states" },
                if h.chosen_optional_values {
                    ""
                } else {
                    " -optional"
                },
                if h.chosen_pairs { "" } else { " -pairs" },
                if h.chosen_columns { "" } else { " -columns" },
                if h.rules_left_out.is_empty() {
                    String::new()
                } else {
                    format!(" -{}", h.rules_left_out.join(" -"))
                }
            );
        }
        for (i, v) in [
            h.in_sample.grouping_accuracy,
            h.out_of_sample.grouping_accuracy,
            h.in_sample.group_f1,
            h.out_of_sample.group_f1,
            h.in_sample.template_accuracy,
            h.out_of_sample.template_accuracy,
        ]
        .into_iter()
        .enumerate()
        {
            sums[i] += v;
        }
    }
    let n = held.len() as f64;
    println!(
        "mean GA in-sample {:.4}, out-of-sample {:.4}; FGA {:.4} / {:.4}; TA {:.4} / {:.4}",
        sums[0] / n,
        sums[1] / n,
        sums[2] / n,
        sums[3] / n,
        sums[4] / n,
        sums[5] / n
    );
    println!(
        "(chosen on the other datasets: the merge's min_values,min_constants; -states when it merges states, -optional when it does not join templates by their constant words, -pairs when it does not join two neighbouring words; -columns when it does not join templates by their most frequent words; -rule for each masking rule left out)"
    );
    Ok(())
}
