//! Logs -> `_bulk` NDJSON bodies (`create` with the log id as `_id`, so a
//! replayed log answers 409 instead of being stored twice).

use serde_json::json;

use log_model::StoredLog;

use super::model::EsDoc;

/// One document of a bulk request, kept for retries and dead-lettering.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkDoc {
    pub id: String,
    /// The document's JSON.
    pub source: String,
}

impl BulkDoc {
    pub fn from_log(log: &StoredLog) -> BulkDoc {
        BulkDoc {
            id: log.id.clone(),
            source: serde_json::to_string(&EsDoc::from(log)).expect("a document always serialises"),
        }
    }

    /// Bytes this document adds to a bulk body.
    pub fn encoded_len(&self) -> usize {
        self.id.len() + self.source.len() + 32
    }
}

/// The NDJSON body for `docs`.
pub fn bulk_body(docs: &[&BulkDoc]) -> Vec<u8> {
    let mut body = Vec::with_capacity(docs.iter().map(|d| d.encoded_len()).sum());
    for doc in docs {
        let action = json!({"create": {"_id": doc.id}});
        serde_json::to_writer(&mut body, &action).expect("action serialises");
        body.push(b'\n');
        body.extend_from_slice(doc.source.as_bytes());
        body.push(b'\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_create_actions_with_the_log_id() {
        let log = StoredLog {
            id: "0190-a".into(),
            timestamp: "2026-11-28T10:00:00Z".parse().unwrap(),
            level: log_model::Level::Error,
            message: "disk full".into(),
            source: "db-1".into(),
            service: None,
            trace_id: None,
            span_id: None,
            metadata: Some(serde_json::from_str(r#"{"k":1}"#).unwrap()),
            received_at: "2026-11-28T10:00:01Z".parse().unwrap(),
            pattern_id: "abc".into(),
            template: "disk full".into(),
            tenant: log_model::DEFAULT_TENANT.into(),
        };
        let doc = BulkDoc::from_log(&log);
        let body = String::from_utf8(bulk_body(&[&doc, &doc])).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], r#"{"create":{"_id":"0190-a"}}"#);
        let source: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(
            source,
            json!({"@timestamp":"2026-11-28T10:00:00Z","log_id":"0190-a","level":"ERROR","message":"disk full",
                   "source":"db-1","metadata":{"k":1},"metadata_numbers":[{"key":"k","value":1.0}],"received_at":"2026-11-28T10:00:01Z","pattern_id":"abc","template":"disk full","tenant":"default"})
        );
        assert!(body.ends_with('\n'));
    }
}
