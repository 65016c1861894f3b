//! What each ingest protocol costs the server per request, without the
//! network or the index: `cargo bench -p logbench --bench protocols`.
//!
//! The same 500 generated logs (as `logbench protocols` sends them) go from
//! the request body to durable-ready bytes by each protocol's path:
//! Content-Encoding undone (gzip runs), parsed, mapped, validated, enriched
//! (id, template, pattern), and serialised as the WAL record's payload.
//! The ratio of the native route's time to a protocol's is the share of the
//! native rate that protocol can reach when the server's CPU is the limit.

use std::hint::black_box;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ingestd::doors::elastic::model::{decode_bulk, parse_bulk};
use ingestd::doors::native::decode_batch;
use ingestd::doors::otlp::{decode, to_logs, Encoding};
use ingestd::pipeline::{decode_body, enrich, Item, Validator};
use log_model::mapping::FieldMap;
use log_model::{BatchFormat, Limits, NewLog};
use logbench::gen::{self, Rng};
use logbench::protocol::Protocol;

const LOGS: usize = 500;

fn validator() -> Validator {
    Validator {
        limits: Limits::default(),
        retention: chrono::Duration::days(7),
        max_future: chrono::Duration::days(1),
    }
}

/// Body -> validated logs, by the door's own decoding and the pipeline's
/// rules.
fn logs_of(protocol: Protocol, body: &[u8], validator: &Validator) -> Vec<NewLog> {
    let now = Utc::now();
    let limits = &validator.limits;
    let items: Vec<Item> = match protocol {
        Protocol::Native => decode_batch(body, BatchFormat::Json, limits, now).expect("a batch"),
        Protocol::Bulk => {
            let mut actions = parse_bulk(body).expect("a bulk body");
            decode_bulk(&mut actions, None, &FieldMap::default(), limits, now)
        }
        Protocol::Otlp => to_logs(
            decode(Encoding::Protobuf, body).expect("a request"),
            limits,
            now,
        ),
    };
    items
        .into_iter()
        .filter_map(|item| validator.check_time(item.ok()?, now).ok())
        .collect()
}

fn request(protocol: Protocol, gzip: bool, body: &[u8], validator: &Validator) -> Vec<u8> {
    let body =
        decode_body(gzip.then_some("gzip"), body.to_vec().into(), 64 << 20).expect("decodes");
    let now = Utc::now();
    let stored: Vec<_> = logs_of(protocol, &body, validator)
        .into_iter()
        .map(|log| enrich(log, now, log_model::DEFAULT_TENANT))
        .collect();
    serde_json::to_vec(&stored).expect("serialises")
}

fn protocols(c: &mut Criterion) {
    let logs = gen::batch(
        &mut Rng::new(42),
        LOGS,
        Utc::now(),
        chrono::Duration::hours(1),
    );
    let validator = validator();
    let mut group = c.benchmark_group("request_to_wal_payload");
    group.throughput(Throughput::Elements(LOGS as u64));
    for gzip in [false, true] {
        for protocol in Protocol::ALL {
            let body = protocol.encode(&logs, gzip);
            // Every protocol keeps all the logs.
            assert_eq!(logs_of_checked(protocol, gzip, &body, &validator), LOGS);
            let id = BenchmarkId::new(protocol.name(), if gzip { "gzip" } else { "plain" });
            group.bench_with_input(id, &body, |b, body| {
                b.iter(|| black_box(request(protocol, gzip, body, &validator)))
            });
        }
    }
    group.finish();
}

fn logs_of_checked(protocol: Protocol, gzip: bool, body: &[u8], validator: &Validator) -> usize {
    let body = decode_body(gzip.then_some("gzip"), body.to_vec().into(), 64 << 20).unwrap();
    logs_of(protocol, &body, validator).len()
}

criterion_group!(benches, protocols);
criterion_main!(benches);
