//! The retry decision: a pure function from a bulk answer (status and body)
//! to the fate of each document, and the backoff between attempts.

use std::time::Duration;

use super::model::{BulkResponse, ErrorResponse, EsError};

/// What happens to one document of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemFate {
    /// 200/201: stored.
    Stored,
    /// 409 on `create`: already stored (a replay); counts as delivered.
    Duplicate,
    /// 429, `es_rejected_execution_exception`, 5xx, and 403/404 (a missing
    /// privilege, a blocked or missing index: not the document's fault, and
    /// mended by an operator): send this one again.
    Retry(String),
    /// Any other 4xx (a mapping error...): it will never be taken; dead-letter it.
    Reject { status: u16, error: EsError },
}

/// What happens to a whole bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The request was processed; one fate per document, in order.
    Items(Vec<ItemFate>),
    /// Nothing was processed (transport error, 429, 5xx, auth, missing data
    /// stream...): send it all again later. `reinstall` asks to install the
    /// template and data stream first.
    RetryAll { reason: String, reinstall: bool },
    /// The request itself is refused for good (400 or 413 on a request of
    /// one document).
    RejectAll { status: u16, error: EsError },
    /// The request is refused as a whole (413 too large; 400 from
    /// Elasticsearch): send each half on its own, so that a bad or huge
    /// document costs only itself.
    Split { reason: String },
}

fn item_fate(status: u16, error: Option<EsError>) -> ItemFate {
    let error = error.unwrap_or_else(|| EsError {
        kind: String::new(),
        reason: None,
    });
    match status {
        200 | 201 => ItemFate::Stored,
        409 => ItemFate::Duplicate,
        429 => ItemFate::Retry(format!("429 {}", error.kind)),
        403 | 404 => ItemFate::Retry(format!("{status} {}", error.kind)),
        _ if error.kind == "es_rejected_execution_exception" => ItemFate::Retry(error.kind),
        500..=599 => ItemFate::Retry(format!("{status} {}", error.kind)),
        _ => ItemFate::Reject { status, error },
    }
}

/// Decides from the HTTP status and body of a bulk answer to `sent` documents.
pub fn decide(status: u16, body: &[u8], sent: usize) -> Decision {
    match status {
        200 => match serde_json::from_slice::<BulkResponse>(body) {
            Ok(response) if response.items.len() == sent => Decision::Items(
                response
                    .items
                    .into_iter()
                    .map(|item| match item.result() {
                        Some(r) => item_fate(r.status, r.error.clone()),
                        None => ItemFate::Retry("empty bulk item".into()),
                    })
                    .collect(),
            ),
            // `errors: false` with the items filtered out means all stored.
            Ok(response) if response.items.is_empty() && !response.errors => {
                Decision::Items(vec![ItemFate::Stored; sent])
            }
            Ok(response) => Decision::RetryAll {
                reason: format!(
                    "bulk answered {} items for {sent} documents",
                    response.items.len()
                ),
                reinstall: false,
            },
            Err(e) => Decision::RetryAll {
                reason: format!("unreadable bulk response: {e}"),
                reinstall: false,
            },
        },
        400 | 413 => {
            // Only an answer of Elasticsearch's own shape speaks of the
            // documents; anything else (a proxy's HTML page) is a transport
            // problem, retried.
            let error = serde_json::from_slice::<ErrorResponse>(body)
                .ok()
                .and_then(|e| serde_json::from_value::<EsError>(e.error).ok());
            match (status, error) {
                (400, None) => Decision::RetryAll {
                    reason: format!(
                        "bulk request answered 400 without an Elasticsearch error: {}",
                        String::from_utf8_lossy(body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ),
                    reinstall: false,
                },
                (_, error) if sent <= 1 => Decision::RejectAll {
                    status,
                    error: error.unwrap_or_else(|| EsError {
                        kind: "request_entity_too_large".into(),
                        reason: Some(
                            "the document alone is over the cluster's http.max_content_length"
                                .into(),
                        ),
                    }),
                },
                (_, error) => Decision::Split {
                    reason: format!(
                        "bulk request of {sent} documents answered {status} {}",
                        error.map(|e| e.kind).unwrap_or_default()
                    )
                    .trim_end()
                    .to_string(),
                },
            }
        }
        404 => Decision::RetryAll {
            reason: "data stream or index template missing (404)".into(),
            reinstall: true,
        },
        _ => {
            let kind = serde_json::from_slice::<ErrorResponse>(body)
                .map(|e| e.kind().to_string())
                .unwrap_or_default();
            Decision::RetryAll {
                reason: format!("bulk request answered {status} {kind}")
                    .trim_end()
                    .to_string(),
                // A data stream deleted under us shows up as index_not_found.
                reinstall: kind == "index_not_found_exception",
            }
        }
    }
}

/// Capped exponential backoff with jitter: attempt 0 waits about 100 ms,
/// doubling up to 30 s; `jitter` in [0, 1) takes off up to half.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base_ms = 100u64.saturating_mul(1u64 << attempt.min(16)).min(30_000);
    let factor = 1.0 - 0.5 * jitter.clamp(0.0, 1.0);
    Duration::from_millis((base_ms as f64 * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bodies shaped as in Elasticsearch's bulk API documentation (with
    // `filter_path=errors,items.*._id,items.*.status,items.*.error` they keep
    // only these members).
    const ALL_CREATED: &str = r#"{"took":30,"errors":false,"items":[
        {"create":{"_index":".ds-logagg-logs-2026.11.28-000001","_id":"a","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"status":201,"_seq_no":0,"_primary_term":1}},
        {"create":{"_index":".ds-logagg-logs-2026.11.28-000001","_id":"b","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"status":201,"_seq_no":1,"_primary_term":1}}]}"#;

    const MIXED: &str = r#"{"errors":true,"items":[
        {"create":{"_id":"a","status":201}},
        {"create":{"_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict, document already exists (current version [1])","index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":".ds-logagg-logs-2026.11.28-000001"}}},
        {"create":{"_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=104857600, max_coordinating_and_primary_bytes=107374182]"}}},
        {"create":{"_id":"d","status":400,"error":{"type":"document_parsing_exception","reason":"[1:48] failed to parse field [level] of type [keyword] in document with id 'd'","caused_by":{"type":"illegal_state_exception","reason":"Can't get text on a START_OBJECT at 1:48"}}}},
        {"create":{"_id":"e","status":503,"error":{"type":"unavailable_shards_exception","reason":"[.ds-logagg-logs-2026.11.28-000001][0] primary shard is not active Timeout: [1m]"}}},
        {"create":{"_id":"f","status":400,"error":{"type":"strict_dynamic_mapping_exception","reason":"[1:120] mapping set to strict, dynamic introduction of [extra] within [_doc] is not allowed"}}}]}"#;

    const REJECTED_429: &str = r#"{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}],"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"},"status":429}"#;
    const UNAVAILABLE_503: &str = r#"{"error":{"root_cause":[{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"}],"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"},"status":503}"#;
    const MALFORMED_400: &str = r#"{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]"}],"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]"},"status":400}"#;
    const NOT_FOUND_404: &str = r#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [logagg-logs]","index":"logagg-logs"}],"type":"index_not_found_exception","reason":"no such index [logagg-logs]","index":"logagg-logs"},"status":404}"#;
    const TOO_LARGE_413: &str = r#"{"error":{"root_cause":[{"type":"request_entity_too_large_exception","reason":"entity content is too long [115343360] for the configured buffer limit [104857600]"}],"type":"request_entity_too_large_exception","reason":"entity content is too long [115343360] for the configured buffer limit [104857600]"},"status":413}"#;
    const ITEM_403_404: &str = r#"{"errors":true,"items":[
        {"create":{"_index":"logagg-logs","_id":"a","status":403,"error":{"type":"security_exception","reason":"action [indices:data/write/bulk[s]] is unauthorized for API key id [k1] of user [ingest] on indices [.ds-logagg-logs-2026.11.28-000002], this action is granted by the index privileges [create_doc,create,index,write,all]"}}},
        {"create":{"_index":"logagg-logs","_id":"b","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [logagg-logs] and [require_data_stream] request flag is [true] and [logagg-logs] is not a data stream","index":"logagg-logs"}}},
        {"create":{"_index":".ds-logagg-logs-2026.11.28-000002","_id":"c","status":201}}]}"#;
    const AUTH_401: &str = r#"{"error":{"root_cause":[{"type":"security_exception","reason":"missing authentication credentials for REST request [/_bulk]"}],"type":"security_exception","reason":"missing authentication credentials for REST request [/_bulk]"},"status":401}"#;

    fn kinds(d: &Decision) -> Vec<&'static str> {
        match d {
            Decision::Items(items) => items
                .iter()
                .map(|f| match f {
                    ItemFate::Stored => "stored",
                    ItemFate::Duplicate => "duplicate",
                    ItemFate::Retry(_) => "retry",
                    ItemFate::Reject { .. } => "reject",
                })
                .collect(),
            Decision::RetryAll {
                reinstall: false, ..
            } => vec!["retry-all"],
            Decision::RetryAll {
                reinstall: true, ..
            } => vec!["reinstall-retry-all"],
            Decision::RejectAll { .. } => vec!["reject-all"],
            Decision::Split { .. } => vec!["split"],
        }
    }

    fn check(status: u16, body: &str, sent: usize, expected: &[&str]) {
        assert_eq!(
            kinds(&decide(status, body.as_bytes(), sent)),
            expected,
            "{status} {body}"
        );
    }

    #[test]
    fn decides_each_documents_fate() {
        check(200, ALL_CREATED, 2, &["stored", "stored"]);
        check(
            200,
            r#"{"errors":false}"#,
            3,
            &["stored", "stored", "stored"],
        );
        check(
            200,
            MIXED,
            6,
            &["stored", "duplicate", "retry", "reject", "retry", "reject"],
        );
        check(200, MIXED, 5, &["retry-all"]);
        check(200, "not json", 1, &["retry-all"]);
        check(429, REJECTED_429, 6, &["retry-all"]);
        check(503, UNAVAILABLE_503, 6, &["retry-all"]);
        check(502, "<html>Bad Gateway</html>", 6, &["retry-all"]);
        check(401, AUTH_401, 6, &["retry-all"]);
        check(404, NOT_FOUND_404, 6, &["reinstall-retry-all"]);
        // A whole request refused: halves, down to the one document at fault.
        check(400, MALFORMED_400, 6, &["split"]);
        check(400, MALFORMED_400, 1, &["reject-all"]);
        check(413, "", 6, &["split"]);
        check(413, TOO_LARGE_413, 6, &["split"]);
        check(413, "", 1, &["reject-all"]);
        // A proxy's page is not Elasticsearch speaking of the documents.
        check(
            400,
            "<html><body>400 Bad Request</body></html>",
            6,
            &["retry-all"],
        );
        check(
            400,
            "<html><body>400 Bad Request</body></html>",
            1,
            &["retry-all"],
        );
        // Per item: a missing privilege or a blocked/missing index is retried.
        check(200, ITEM_403_404, 3, &["retry", "retry", "stored"]);
    }

    #[test]
    fn keeps_the_error_of_a_rejected_document() {
        let Decision::Items(items) = decide(200, MIXED.as_bytes(), 6) else {
            panic!()
        };
        match &items[3] {
            ItemFate::Reject { status, error } => {
                assert_eq!(*status, 400);
                assert_eq!(error.kind, "document_parsing_exception");
                assert!(error
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("failed to parse field [level]"));
            }
            other => panic!("{other:?}"),
        }
        let Decision::RejectAll { error, .. } = decide(400, MALFORMED_400.as_bytes(), 1) else {
            panic!()
        };
        assert_eq!(error.kind, "illegal_argument_exception");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(3, 0.0), Duration::from_millis(800));
        assert_eq!(backoff(30, 0.0), Duration::from_secs(30));
        assert_eq!(backoff(2, 1.0), Duration::from_millis(200));
        assert!(backoff(40, 0.5) <= Duration::from_secs(30));
    }
}
