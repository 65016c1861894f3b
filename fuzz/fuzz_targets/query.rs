//! Any text as a query, and any JSON as a read request: parsing and
//! validation never panic, errors point inside the query, what is accepted
//! stays within the limits, and every time falls in a bucket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_model::query::MAX_DEPTH;
use log_model::search::MAX_QUERY_BYTES;
use log_model::{
    Cursor, Expr, FacetsRequest, HistogramRequest, PatternsRequest, ReadRequest, SearchRequest,
    Tenants,
};

fn depth(e: &Expr) -> usize {
    match e {
        Expr::All | Expr::Leaf(_) => 1,
        Expr::And(v) | Expr::Or(v) => 1 + v.iter().map(depth).max().unwrap_or(0),
        Expr::Not(inner) => 1 + depth(inner),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Expr::parse(&text) {
        Ok(e) => {
            assert!(text.len() <= MAX_QUERY_BYTES);
            // Nesting is bounded (each group, NOT and operator adds a level).
            assert!(depth(&e) <= 3 * MAX_DEPTH + 3, "{e:?}");
        }
        Err(e) => assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{text:?}: {e}"),
    }
    let _ = Cursor::parse(&text);
    let now = chrono::Utc::now();
    if let Ok(req) = serde_json::from_slice::<SearchRequest>(data) {
        if let Ok(q) = req.into_query(now, Tenants::All) {
            assert!(q.limit >= 1 && q.limit <= 1000);
            assert!(q.after.is_some() || q.offset + q.limit <= 10_000);
            if let (Some(s), Some(e)) = (q.filter.start, q.filter.end) {
                assert!(s <= e);
            }
        }
    }
    if let Ok(req) = serde_json::from_slice::<HistogramRequest>(data) {
        if let Ok(q) = req.into_query(now, Tenants::All) {
            let starts = q.bucket_starts();
            assert!(!starts.is_empty() && starts.len() <= 2001, "{}", starts.len());
            assert!(q.interval_ms >= 1);
        }
    }
    if let Ok(req) = serde_json::from_slice::<FacetsRequest>(data) {
        if let Ok(q) = req.into_query(now, Tenants::All) {
            assert!((1..=100).contains(&q.size));
        }
    }
    if let Ok(req) = serde_json::from_slice::<PatternsRequest>(data) {
        if let Ok(q) = req.into_query(now, Tenants::All) {
            assert!(q.start <= q.end);
            for t in [i64::MIN, -1, 0, q.start.timestamp_micros(), q.end.timestamp_micros(), i64::MAX] {
                assert!(q.bucket_of(t) < q.buckets);
            }
            assert!(q.bucket_millis() >= 1);
        }
    }
});
