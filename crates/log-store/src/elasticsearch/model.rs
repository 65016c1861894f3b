//! Elasticsearch wire types: the document we index, and the parts of bulk,
//! search and aggregation responses we read. Serde stays here.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use log_model::{Level, StoredLog};

/// A log as indexed in the data stream (see
/// `deploy/elasticsearch/index-template.json`): `StoredLog` under the names
/// the mapping uses. It borrows from the log when writing (no copy per
/// document on the sink's path) and owns its fields when read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EsDoc<'a> {
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    pub log_id: Cow<'a, str>,
    pub level: Level,
    pub message: Cow<'a, str>,
    pub source: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Cow<'a, Map<String, Value>>>,
    /// The numeric leaves of `metadata` as (dotted key, value) pairs, a
    /// `nested` field: `flattened` compares everything as text, these
    /// answer `metadata.<key> >= N` as numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty", skip_deserializing)]
    pub metadata_numbers: Vec<NumberLeaf>,
    pub received_at: DateTime<Utc>,
    pub pattern_id: Cow<'a, str>,
    #[serde(default)]
    pub template: Cow<'a, str>,
    /// Always written (the mapping's `tenant` keyword), so that a tenant's
    /// reads are one term; documents indexed before tenants have none and
    /// are the default tenant's.
    #[serde(default = "default_tenant")]
    pub tenant: Cow<'a, str>,
}

fn default_tenant() -> Cow<'static, str> {
    Cow::Borrowed(log_model::DEFAULT_TENANT)
}

impl<'a> From<&'a StoredLog> for EsDoc<'a> {
    fn from(log: &'a StoredLog) -> Self {
        let text = |s: &'a String| Cow::Borrowed(s.as_str());
        EsDoc {
            timestamp: log.timestamp,
            log_id: text(&log.id),
            level: log.level,
            message: text(&log.message),
            source: text(&log.source),
            service: log.service.as_ref().map(text),
            trace_id: log.trace_id.as_ref().map(text),
            span_id: log.span_id.as_ref().map(text),
            metadata: log.metadata.as_ref().map(Cow::Borrowed),
            metadata_numbers: log.metadata.as_ref().map(number_leaves).unwrap_or_default(),
            received_at: log.received_at,
            pattern_id: text(&log.pattern_id),
            template: text(&log.template),
            tenant: text(&log.tenant),
        }
    }
}

/// One numeric metadata leaf.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumberLeaf {
    pub key: String,
    pub value: f64,
}

/// Most numeric leaves kept per log (Elasticsearch refuses a document with
/// more than `index.mapping.nested_objects.limit`, 10,000, nested objects).
pub const MAX_NUMBER_LEAVES: usize = 100;

/// The numeric leaves of a metadata object at their dotted paths (arrays
/// give one pair per number), at most [`MAX_NUMBER_LEAVES`].
pub fn number_leaves(metadata: &Map<String, Value>) -> Vec<NumberLeaf> {
    let mut out = Vec::new();
    log_model::metadata_leaves(metadata, &mut |path, leaf| {
        if let Some(value) = leaf.as_f64().filter(|f| f.is_finite()) {
            if out.len() < MAX_NUMBER_LEAVES {
                out.push(NumberLeaf {
                    key: path.to_string(),
                    value,
                });
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_leaves_at_dotted_paths() {
        let m: Map<String, Value> = serde_json::from_str(
            r#"{"http":{"status":503,"ok":false},"ms":1.5,"tags":[1,"a",2],"s":"7"}"#,
        )
        .unwrap();
        let got: Vec<(String, f64)> = number_leaves(&m)
            .into_iter()
            .map(|l| (l.key, l.value))
            .collect();
        assert_eq!(
            got,
            [
                ("http.status".to_string(), 503.0),
                ("ms".to_string(), 1.5),
                ("tags".to_string(), 1.0),
                ("tags".to_string(), 2.0)
            ]
        );
        let many: Map<String, Value> = (0..500)
            .map(|i| (format!("k{i}"), Value::from(i)))
            .collect();
        assert_eq!(number_leaves(&many).len(), MAX_NUMBER_LEAVES);
    }
}

impl From<EsDoc<'_>> for StoredLog {
    fn from(doc: EsDoc<'_>) -> Self {
        StoredLog {
            id: doc.log_id.into_owned(),
            timestamp: doc.timestamp,
            level: doc.level,
            message: doc.message.into_owned(),
            source: doc.source.into_owned(),
            service: doc.service.map(Cow::into_owned),
            trace_id: doc.trace_id.map(Cow::into_owned),
            span_id: doc.span_id.map(Cow::into_owned),
            metadata: doc.metadata.map(Cow::into_owned),
            received_at: doc.received_at,
            pattern_id: doc.pattern_id.into_owned(),
            template: doc.template.into_owned(),
            tenant: doc.tenant.into_owned(),
        }
    }
}

/// `POST /_bulk` response, trimmed by `filter_path`.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub errors: bool,
    #[serde(default)]
    pub items: Vec<BulkItem>,
}

/// One item: `{"create": {...}}` (or another action name).
#[derive(Debug, Clone, Deserialize)]
pub struct BulkItem(pub std::collections::HashMap<String, BulkItemResult>);

impl BulkItem {
    pub fn result(&self) -> Option<&BulkItemResult> {
        self.0.values().next()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct BulkItemResult {
    #[serde(default)]
    pub _id: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub error: Option<EsError>,
}

/// An error object as Elasticsearch reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EsError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `{"error": {...}, "status": N}` bodies of failed requests.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorResponse {
    pub error: Value,
    #[serde(default)]
    pub status: Option<u16>,
}

impl ErrorResponse {
    pub fn kind(&self) -> &str {
        self.error.get("type").and_then(Value::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchResponse {
    pub hits: Hits,
    #[serde(default)]
    pub aggregations: Option<Value>,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default, rename = "_shards")]
    pub shards: Option<Shards>,
}

/// `_shards` of a search answer: a 200 may still have shards that failed.
#[derive(Debug, Clone, Deserialize)]
pub struct Shards {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub failed: u64,
}

impl SearchResponse {
    /// The answer of a search over nothing (no data stream yet).
    pub fn empty() -> SearchResponse {
        SearchResponse {
            hits: Hits {
                total: Some(Total {
                    value: 0,
                    relation: None,
                }),
                hits: Vec::new(),
            },
            aggregations: None,
            timed_out: false,
            shards: None,
        }
    }

    /// What the answer could not cover: failed shards, a timeout. Empty
    /// when it is whole.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if let Some(shards) = self.shards.as_ref().filter(|s| s.failed > 0) {
            missing.push(format!(
                "{} of {} shards failed",
                shards.failed, shards.total
            ));
        }
        if self.timed_out {
            missing.push("the search timed out".to_string());
        }
        missing
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hits {
    pub total: Option<Total>,
    #[serde(default)]
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Total {
    pub value: u64,
    /// `eq`, or `gte` when the count stopped at `track_total_hits`.
    #[serde(default)]
    pub relation: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hit {
    #[serde(rename = "_source")]
    pub source: EsDoc<'static>,
}

/// `aggregations.patterns` of a patterns request.
#[derive(Debug, Clone, Deserialize)]
pub struct PatternsAgg {
    pub buckets: Vec<PatternBucket>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PatternBucket {
    pub key: String,
    pub doc_count: u64,
    #[serde(default)]
    pub first_seen: Option<MetricValue>,
    #[serde(default)]
    pub last_seen: Option<MetricValue>,
    #[serde(default)]
    pub services: Option<TermsAgg>,
    #[serde(default)]
    pub levels: Option<TermsAgg>,
    #[serde(default)]
    pub template: Option<TermsAgg>,
    #[serde(default)]
    pub samples: Option<TopHits>,
    #[serde(default)]
    pub trend: Option<Histogram>,
}

/// A `date_histogram` aggregation.
#[derive(Debug, Clone, Deserialize)]
pub struct Histogram {
    pub buckets: Vec<HistogramBucket>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistogramBucket {
    /// Bucket start, epoch milliseconds.
    pub key: i64,
    pub doc_count: u64,
}

/// A `top_hits` aggregation of message samples.
#[derive(Debug, Clone, Deserialize)]
pub struct TopHits {
    pub hits: SampleHits,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SampleHits {
    pub hits: Vec<SampleHit>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SampleHit {
    #[serde(rename = "_source")]
    pub source: SampleSource,
    #[serde(default)]
    pub sort: Option<SortValues>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SampleSource {
    pub message: String,
}

/// Sort values of a hit (the sample's time comes first).
#[derive(Debug, Clone, Deserialize)]
pub struct SortValues(pub Vec<serde_json::Value>);

#[derive(Debug, Clone, Deserialize)]
pub struct MetricValue {
    /// Epoch milliseconds for date fields.
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TermsAgg {
    pub buckets: Vec<TermsBucket>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TermsBucket {
    pub key: String,
    pub doc_count: u64,
}
