//! The answers of the query API, as types: the handlers build them and the
//! OpenAPI document describes them from the same definitions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use log_model::StoredLog;
use log_store::model::PatternGroup;
use serde::Serialize;
use utoipa::ToSchema;

/// Whether an answer covers every day partition it should have read.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Coverage {
    /// True when some partitions could not be read (see `missing`) or a
    /// budget was reached (see `reasons`).
    pub partial: bool,
    /// The partitions left out (only when `partial`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The budgets the read reached (a cap on distinct templates, its time),
    /// each a sentence (only when `partial`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// Whether `total_count` is exact.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// Exact.
    Eq,
    /// A lower bound: counting stopped at `track_total`.
    Gte,
}

/// `/logs/search`: one page of logs.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchAnswer {
    /// Newest first (or oldest first with `order=asc`).
    pub logs: Vec<StoredLog>,
    pub total_count: u64,
    pub total_relation: Relation,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub took_ms: f64,
    #[serde(flatten)]
    pub coverage: Coverage,
}

/// `/logs/patterns`: the window's error patterns, most frequent first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatternsAnswer {
    pub patterns: Vec<PatternGroup>,
    /// ERROR and CRITICAL logs in the window (and filter).
    pub total_logs: u64,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub took_ms: f64,
    #[serde(flatten)]
    pub coverage: Coverage,
}

/// One bucket of a histogram.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// Start of the bucket.
    pub time: DateTime<Utc>,
    pub count: u64,
    /// Count per level (levels with none are left out).
    pub levels: BTreeMap<String, u64>,
}

/// `/logs/histogram`: matching logs per time bucket, oldest first, every
/// bucket of the range.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistogramAnswer {
    pub buckets: Vec<Bucket>,
    pub total_count: u64,
    /// The bucket length (`30s`, `5m`, `1h`).
    pub interval: String,
    pub interval_ms: i64,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub took_ms: f64,
    #[serde(flatten)]
    pub coverage: Coverage,
}

/// A value and how many logs have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// A metadata key of the sampled logs, with its top values.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyFacet {
    /// Dotted path (`http.status`).
    pub key: String,
    /// Sampled logs that have the key.
    pub count: u64,
    pub values: Vec<ValueCount>,
}

/// `/logs/facets`: top values of the matching logs' fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetsAnswer {
    pub total_count: u64,
    /// `level`, `service` and `source`: exact counts over every match.
    pub facets: BTreeMap<String, Vec<ValueCount>>,
    /// Metadata keys, counted over the newest matching logs.
    pub metadata: Vec<KeyFacet>,
    /// How many logs the metadata counts read.
    pub metadata_sample: usize,
    pub took_ms: f64,
    #[serde(flatten)]
    pub coverage: Coverage,
}

/// `/logs/{id}/context`: a log and its neighbours, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextAnswer {
    pub log: StoredLog,
    pub before: Vec<StoredLog>,
    pub after: Vec<StoredLog>,
    pub took_ms: f64,
    #[serde(flatten)]
    pub coverage: Coverage,
}

/// `/`: what this service is.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusAnswer {
    pub service: String,
    pub version: String,
    pub status: String,
    /// `METHOD /path` of every route (from the OpenAPI document).
    pub endpoints: Vec<String>,
    /// Where a browser finds the UI and the API docs.
    pub ui: String,
    pub docs: String,
}

/// `/health`: the process answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthAnswer {
    pub status: String,
    pub service: String,
}

/// `/ready`: the store answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyAnswer {
    pub ready: bool,
    /// Damage found and contained (answers that cover it are partial).
    pub warnings: Vec<String>,
    /// Why it is not ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The background verification of the store's files (embedded store):
    /// bytes verified whole, bytes not verified yet, files found damaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub verification: Option<log_store::Verification>,
}
