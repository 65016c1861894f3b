//! Any bytes as a batch body, JSON or NDJSON: splitting and validating
//! never panic, and every item is either a valid log or a named error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_model::{parse_log, split_batch, BatchFormat, Limits};

fuzz_target!(|data: &[u8]| {
    let now = chrono::Utc::now();
    for format in [BatchFormat::Json, BatchFormat::NdJson] {
        let Ok(items) = split_batch(data, format) else {
            continue;
        };
        for item in items.into_iter().flatten() {
            match parse_log(item, &Limits::default(), now) {
                Ok(log) => {
                    assert!(!log.message.is_empty());
                    assert!(!log.source.is_empty());
                }
                Err(e) => assert!(!e.reason.is_empty()),
            }
        }
    }
});
