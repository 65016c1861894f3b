//! Ingest-time cost of templating: `cargo bench -p log-patterns`.
//!
//! Input: the `Content` of every Loghub-2k line (22,000 real log lines from
//! 11 systems) when `../shared/datasets/loghub-2k` is there, else a few
//! built-in typical lines.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/loghub-2k");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(text) =
                std::fs::read_to_string(entry.path().join(format!("{name}_2k.log_structured.csv")))
            else {
                continue;
            };
            for line in text.lines().skip(1) {
                if let Some(content) = content_field(line) {
                    out.push(content);
                }
            }
        }
    }
    if out.is_empty() {
        out = [
            "Connection to 10.0.0.12:5432 timed out after 3000ms",
            "Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6",
            "Invalid user admin from 187.141.143.180",
            "session opened for user root by (uid=0)",
            "GET /api/users/42 200 12ms",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
    }
    out
}

/// The Content column: the third field from the end (…,Content,EventId,EventTemplate).
fn content_field(line: &str) -> Option<String> {
    let mut reader = csv_fields(line);
    let n = reader.len();
    (n >= 3).then(|| reader.swap_remove(n - 3))
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let mut group = c.benchmark_group("template_of");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function(format!("{} loghub lines", lines.len()), |b| {
        b.iter(|| {
            for line in &lines {
                black_box(log_patterns::pattern_of(black_box(line)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
