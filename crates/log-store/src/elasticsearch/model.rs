//! Elasticsearch wire types: the document we index, and the parts of bulk,
//! search and aggregation responses we read. Serde stays here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use log_model::{Level, StoredLog};

/// A log as indexed in the data stream (see `deploy/elasticsearch/index-template.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EsDoc {
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    pub log_id: String,
    pub level: Level,
    pub message: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    pub received_at: DateTime<Utc>,
    pub pattern_id: String,
    #[serde(default)]
    pub template: String,
}

impl From<&StoredLog> for EsDoc {
    fn from(log: &StoredLog) -> Self {
        EsDoc {
            timestamp: log.timestamp,
            log_id: log.id.clone(),
            level: log.level,
            message: log.message.clone(),
            source: log.source.clone(),
            service: log.service.clone(),
            trace_id: log.trace_id.clone(),
            span_id: log.span_id.clone(),
            metadata: log.metadata.clone(),
            received_at: log.received_at,
            pattern_id: log.pattern_id.clone(),
            template: log.template.clone(),
        }
    }
}

impl From<EsDoc> for StoredLog {
    fn from(doc: EsDoc) -> Self {
        StoredLog {
            id: doc.log_id,
            timestamp: doc.timestamp,
            level: doc.level,
            message: doc.message,
            source: doc.source,
            service: doc.service,
            trace_id: doc.trace_id,
            span_id: doc.span_id,
            metadata: doc.metadata,
            received_at: doc.received_at,
            pattern_id: doc.pattern_id,
            // Search answers leave the template out.
            template: String::new(),
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hit {
    #[serde(rename = "_source")]
    pub source: EsDoc,
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
    pub first_seen: MetricValue,
    pub last_seen: MetricValue,
    pub services: TermsAgg,
    #[serde(default)]
    pub levels: Option<TermsAgg>,
    pub template: TermsAgg,
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
