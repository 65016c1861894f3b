//! Any text as a query, and any JSON as a search or patterns request:
//! parsing and validation never panic, what they accept stays within the
//! limits, and every time falls in a trend bucket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_model::search::{words, MAX_QUERY_WORDS, MAX_WORD_BYTES};
use log_model::{PatternsRequest, SearchRequest, TextQuery};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(Some(q)) = TextQuery::parse_checked(&text) {
        assert!(!q.clauses.is_empty());
        let all: Vec<&str> = q.clauses.iter().flat_map(|c| words(c.text())).collect();
        assert!(!all.is_empty() && all.len() <= MAX_QUERY_WORDS);
        assert!(all.iter().all(|w| w.len() <= MAX_WORD_BYTES));
    }
    if let Ok(req) = serde_json::from_slice::<SearchRequest>(data) {
        if let Ok(q) = req.into_query() {
            assert!(q.limit >= 1 && q.offset + q.limit <= 10_000);
        }
    }
    if let Ok(req) = serde_json::from_slice::<PatternsRequest>(data) {
        if let Ok(q) = req.into_query(chrono::Utc::now()) {
            assert!(q.start <= q.end);
            for t in [i64::MIN, -1, 0, q.start.timestamp_micros(), q.end.timestamp_micros(), i64::MAX] {
                assert!(q.bucket_of(t) < q.buckets);
            }
            assert!(q.bucket_millis() >= 1);
        }
    }
});
