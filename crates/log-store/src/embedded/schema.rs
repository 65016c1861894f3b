use tantivy::schema::OwnedValue;
use tantivy::schema::{
    Field, IndexRecordOption, JsonObjectOptions, NumericOptions, Schema, TextFieldIndexing,
    TextOptions, FAST, INDEXED, STORED,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

use log_model::StoredLog;

use super::ids::{id_key, id_parts};

/// The tokenizer of `message`: split on anything that is not a letter or a
/// digit, lowercase, drop absurdly long tokens. Queries go through the same.
pub const MESSAGE_TOKENIZER: &str = "logmsg";

#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    /// Event time, microseconds since the epoch.
    pub ts: Field,
    pub level: Field,
    pub source: Field,
    pub service: Field,
    pub pattern_id: Field,
    pub template: Field,
    pub message: Field,
    /// The whole log as JSON, returned by searches.
    pub doc: Field,
    /// Added in schema 2 (partitions made before lack them: see
    /// [`has_search_fields`]).
    pub trace_id: Field,
    /// The metadata object, every leaf indexed whole (exact match) at its
    /// dotted path, as Elasticsearch's `flattened` type.
    pub metadata: Field,
    /// Added in schema 3: the id (a UUID) as two fast columns, high and low
    /// 64 bits, whose order is the id's: pages order logs of one time by
    /// id without reading their stored documents.
    pub id_hi: Field,
    pub id_lo: Field,
    /// Added in schema 4: the tenant that wrote the log, on every log
    /// (partitions made before hold only the default tenant's logs: see
    /// [`has_tenant`]).
    pub tenant: Field,
    /// Added in schema 6: the key of a canonical id (`ids::id_key`); such
    /// an id is no longer a term of `id`, which keeps the other ids (see
    /// [`has_id_keys`]).
    pub id_key: Field,
}

/// Whether a partition's schema has the fields added in schema 2
/// (`trace_id`, `metadata`); the writer starts a new generation of a day
/// whose partition predates them.
pub fn has_search_fields(schema: &Schema) -> bool {
    schema.get_field("trace_id").is_ok() && schema.get_field("metadata").is_ok()
}

/// Whether a partition's schema indexes canonical ids by key (schema 6);
/// in an older one every id is a term of `id`.
pub fn has_id_keys(schema: &Schema) -> bool {
    schema.get_field("id_key").is_ok()
}

/// Whether a partition's schema has the `tenant` field (schema 4). An
/// older partition's logs are all the default tenant's.
pub fn has_tenant(schema: &Schema) -> bool {
    schema.get_field("tenant").is_ok()
}

pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // No field norms anywhere: they serve relevance scoring, and every read
    // orders by time (a byte per document and text field saved; schema 5).
    let exact = || {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
    };
    let keyword = exact().set_fast(None);
    let message = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(MESSAGE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions)
            .set_fieldnorms(false),
    );
    let fields = Fields {
        id: b.add_text_field("id", exact()),
        ts: b.add_i64_field("ts", NumericOptions::default().set_indexed().set_fast()),
        level: b.add_text_field("level", keyword.clone()),
        source: b.add_text_field("source", keyword.clone()),
        service: b.add_text_field("service", keyword.clone()),
        pattern_id: b.add_text_field("pattern_id", keyword.clone()),
        template: b.add_text_field("template", keyword),
        message: b.add_text_field("message", message),
        doc: b.add_text_field("doc", STORED),
        // New fields go last: the ones before keep their numbers, so
        // partitions of the older schema read with these `Fields`.
        trace_id: b.add_text_field("trace_id", exact()),
        metadata: b.add_json_field(
            "metadata",
            JsonObjectOptions::default()
                .set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer("raw")
                        .set_index_option(IndexRecordOption::Basic)
                        .set_fieldnorms(false),
                )
                .set_expand_dots_enabled(),
        ),
        id_hi: b.add_u64_field("id_hi", FAST),
        id_lo: b.add_u64_field("id_lo", FAST),
        tenant: b.add_text_field("tenant", exact()),
        id_key: b.add_u64_field("id_key", INDEXED),
    };
    (b.build(), fields)
}

pub fn register_tokenizers(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(256))
        .filter(LowerCaser)
        .build();
    index.tokenizers().register(MESSAGE_TOKENIZER, analyzer);
}

pub fn to_document(fields: &Fields, log: &StoredLog) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    match id_parts(&log.id) {
        Some((hi, lo)) => {
            doc.add_u64(fields.id_hi, hi);
            doc.add_u64(fields.id_lo, lo);
            doc.add_u64(fields.id_key, id_key(lo));
        }
        None => doc.add_text(fields.id, &log.id),
    }
    doc.add_i64(fields.ts, log.timestamp.timestamp_micros());
    doc.add_text(fields.level, log.level.as_str());
    doc.add_text(fields.source, &log.source);
    if let Some(service) = &log.service {
        doc.add_text(fields.service, service);
    }
    doc.add_text(fields.pattern_id, &log.pattern_id);
    doc.add_text(fields.tenant, &log.tenant);
    doc.add_text(fields.template, &log.template);
    doc.add_text(fields.message, &log.message);
    if let Some(trace_id) = &log.trace_id {
        doc.add_text(fields.trace_id, trace_id);
    }
    if let Some(metadata) = &log.metadata {
        let object = metadata
            .iter()
            .map(|(k, v)| (k.clone(), indexed(v)))
            .collect();
        doc.add_field_value(fields.metadata, &OwnedValue::Object(object));
    }
    // Without what the columns hold (see `StoredDoc`); no copy of the log
    // on the indexing path.
    doc.add_text(
        fields.doc,
        serde_json::to_string(&StoredDoc::of(log)).expect("a log always serialises"),
    );
    doc
}

/// The stored document: the log without what its columns already hold:
/// the template (the `template` column keeps it once per distinct value;
/// reads drop it anyway), the id (`id_hi`, `id_lo`), and the keyword
/// columns' level, source, service and pattern id. The reader fills them
/// back from the columns ([`StoredBody`]).
#[derive(serde::Serialize)]
struct StoredDoc<'a> {
    /// Kept only for an id that is not a UUID (ingest makes only UUIDs).
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// Kept whole only when the `ts` column and `ts_ns` cannot give it
    /// back (a leap second).
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a chrono::DateTime<chrono::Utc>>,
    /// The nanoseconds past the microsecond the `ts` column holds.
    #[serde(skip_serializing_if = "is_zero")]
    ts_ns: u32,
    /// Kept whole only when it does not read as its template.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    /// Otherwise the text around the template's constant words, in order
    /// (`message_values`): the template, in its column, gives the words.
    #[serde(skip_serializing_if = "Option::is_none")]
    message_values: Option<Vec<&'a str>>,
    /// Kept only when empty (a column would hold nothing to read back).
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    /// As `source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// Kept whole only when `received_after_ns` cannot give it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    received_at: Option<&'a chrono::DateTime<chrono::Utc>>,
    /// Nanoseconds from the timestamp to the receipt (shorter than the
    /// time written out, and as exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    received_after_ns: Option<i64>,
    /// As `source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
}

impl<'a> StoredDoc<'a> {
    fn of(log: &'a StoredLog) -> StoredDoc<'a> {
        // A field added to StoredLog must be placed here or in a column
        // (the destructuring does not compile otherwise).
        let StoredLog {
            id,
            timestamp,
            level: _,
            message,
            source,
            service,
            trace_id,
            span_id,
            metadata,
            received_at,
            pattern_id,
            template,
            tenant,
        } = log;
        let empty = |s: &'a String| s.is_empty().then_some(s.as_str());
        let message_values = message_values(template, message);
        let (ts_micros, ts_ns) = time_parts(timestamp);
        let timestamp_kept = time_from_parts(ts_micros, ts_ns) != Some(*timestamp);
        let received_after_ns = (*received_at - *timestamp)
            .num_nanoseconds()
            .filter(|&ns| received_after(timestamp, ns) == Some(*received_at));
        StoredDoc {
            id: id_parts(id).is_none().then_some(id.as_str()),
            timestamp: timestamp_kept.then_some(timestamp),
            ts_ns: if timestamp_kept { 0 } else { ts_ns },
            message: message_values.is_none().then_some(message.as_str()),
            message_values,
            source: empty(source),
            service: service.as_ref().and_then(empty),
            trace_id: trace_id.as_ref(),
            span_id: span_id.as_ref(),
            metadata: metadata.as_ref(),
            received_at: received_after_ns.is_none().then_some(received_at),
            received_after_ns,
            pattern_id: empty(pattern_id),
            tenant: (tenant != log_model::DEFAULT_TENANT).then_some(tenant.as_str()),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A time as the `ts` column's microseconds and the nanoseconds past them.
pub fn time_parts(t: &chrono::DateTime<chrono::Utc>) -> (i64, u32) {
    (t.timestamp_micros(), t.timestamp_subsec_nanos() % 1000)
}

/// The time of [`time_parts`]; `None` out of range.
pub fn time_from_parts(micros: i64, ns: u32) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_micros(micros)?
        .checked_add_signed(chrono::Duration::nanoseconds(i64::from(ns)))
}

/// The time `ns` nanoseconds after `t`; `None` out of range.
pub fn received_after(
    t: &chrono::DateTime<chrono::Utc>,
    ns: i64,
) -> Option<chrono::DateTime<chrono::Utc>> {
    t.checked_add_signed(chrono::Duration::nanoseconds(ns))
}

/// Templates longer than this keep their messages whole (a column's
/// value must stay well inside tantivy's term size).
const MAX_SPLIT_TEMPLATE: usize = 8 << 10;

/// The template's constant words, in order: its text split at its
/// placeholders (`<*>`) and at whitespace.
fn template_words(template: &str) -> impl Iterator<Item = &str> {
    template
        .split(log_patterns::WILDCARD)
        .flat_map(str::split_whitespace)
}

/// The message cut around its template's constant words: the text before
/// the first, between each two, and after the last (values, and the
/// whitespace as the message has it), so that these and the words,
/// interleaved, are the message again, byte for byte
/// ([`message_from_values`]). `None` when a word of the template is not in
/// the message in order, or the template is missing or long.
pub fn message_values<'a>(template: &str, message: &'a str) -> Option<Vec<&'a str>> {
    if template.is_empty() || template.len() > MAX_SPLIT_TEMPLATE {
        return None;
    }
    let mut rest = message;
    let mut values = Vec::new();
    for word in template_words(template) {
        let at = rest.find(word)?;
        values.push(&rest[..at]);
        rest = &rest[at + word.len()..];
    }
    values.push(rest);
    Some(values)
}

/// The message of `template` with `values` around its constant words;
/// `None` when their numbers do not fit.
pub fn message_from_values<S: AsRef<str>>(template: &str, values: &[S]) -> Option<String> {
    let (first, values) = values.split_first()?;
    let mut message = String::with_capacity(
        template.len() + values.iter().map(|v| v.as_ref().len()).sum::<usize>(),
    );
    message.push_str(first.as_ref());
    let mut values = values.iter();
    for word in template_words(template) {
        message.push_str(word);
        message.push_str(values.next()?.as_ref());
    }
    values.next().is_none().then_some(message)
}

/// A stored document as read: what [`StoredDoc`] writes, or the whole log
/// as earlier releases wrote it. What is absent is in the columns.
#[derive(Debug, serde::Deserialize)]
pub struct StoredBody<'a> {
    #[serde(default)]
    pub id: Option<String>,
    /// Absent where the `ts` column and `ts_ns` give it.
    #[serde(default)]
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub ts_ns: u32,
    #[serde(default)]
    pub level: Option<log_model::Level>,
    #[serde(default)]
    pub message: Option<String>,
    /// Borrowed from the stored JSON where no escape was decoded.
    #[serde(default, borrow)]
    pub message_values: Option<Vec<std::borrow::Cow<'a, str>>>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub span_id: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Absent where `received_after_ns` gives it.
    #[serde(default)]
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub received_after_ns: Option<i64>,
    #[serde(default)]
    pub pattern_id: Option<String>,
    /// Only in bodies of releases before the template had its own column.
    #[serde(default)]
    pub template: String,
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A metadata value as the index keeps it, built from the log's without a
/// copy of the whole map first. Strings stay text: tantivy's own conversion
/// would index date-like strings as dates, which `metadata=key:value` (and
/// Elasticsearch's `flattened`) match as text.
fn indexed(value: &serde_json::Value) -> OwnedValue {
    use serde_json::Value;
    match value {
        Value::Null => OwnedValue::Null,
        Value::Bool(b) => OwnedValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => OwnedValue::I64(i),
            (None, Some(u)) => OwnedValue::U64(u),
            _ => OwnedValue::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => OwnedValue::Str(s.clone()),
        Value::Array(items) => OwnedValue::Array(items.iter().map(indexed).collect()),
        Value::Object(map) => {
            OwnedValue::Object(map.iter().map(|(k, v)| (k.clone(), indexed(v))).collect())
        }
    }
}

#[cfg(test)]
mod stored_doc_tests {
    use super::*;

    #[test]
    fn the_stored_document_is_the_log_without_what_columns_hold() {
        let mut metadata = serde_json::Map::new();
        metadata.insert("attempt".into(), serde_json::json!(3));
        let log = StoredLog {
            id: "0190b6a2-7c1e-7cc1-8a2b-0123456789ab".into(),
            timestamp: chrono::Utc::now(),
            level: log_model::Level::Error,
            message: "disk full on db-7".into(),
            source: "host-7".into(),
            service: Some("storage".into()),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some("00f067aa0ba902b7".into()),
            metadata: Some(metadata),
            received_at: chrono::Utc::now(),
            pattern_id: "30659de5d39c605f".into(),
            template: "disk full on <*>".into(),
            tenant: "acme".into(),
        };
        let stored = serde_json::to_string(&StoredDoc::of(&log)).unwrap();
        for column in [
            "template",
            "disk full",
            "0190b6a2",
            "pattern_id",
            "level",
            "ERROR",
            "host-7",
            "storage",
        ] {
            assert!(!stored.contains(column), "{column} in {stored}");
        }
        let body: StoredBody = serde_json::from_str(&stored).unwrap();
        // The message, as the text around its template's words.
        assert_eq!(body.message, None);
        assert_eq!(body.message_values.unwrap(), ["", " ", " ", " db-7"]);
        assert_eq!(body.trace_id, log.trace_id);
        assert_eq!(body.span_id, log.span_id);
        assert_eq!(body.metadata, log.metadata);
        // The times, as the `ts` column's microseconds and what they leave.
        assert_eq!(body.timestamp, None);
        let (micros, _) = time_parts(&log.timestamp);
        assert_eq!(time_from_parts(micros, body.ts_ns), Some(log.timestamp));
        assert_eq!(body.received_at, None);
        assert_eq!(
            received_after(&log.timestamp, body.received_after_ns.unwrap()),
            Some(log.received_at)
        );
        // Times the short forms cannot carry are kept whole: a leap second,
        // a receipt centuries from the timestamp.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_123)
            .unwrap()
            .and_utc();
        let far = StoredLog {
            timestamp: leap,
            received_at: leap + chrono::Duration::days(400 * 365),
            ..log.clone()
        };
        let stored = serde_json::to_string(&StoredDoc::of(&far)).unwrap();
        let body: StoredBody = serde_json::from_str(&stored).unwrap();
        assert_eq!(body.timestamp, Some(far.timestamp));
        assert_eq!(body.received_at, Some(far.received_at));
        assert_eq!((body.ts_ns, body.received_after_ns), (0, None));
        assert_eq!(body.tenant.as_deref(), Some("acme"));
        assert!(body.id.is_none() && body.level.is_none() && body.source.is_none());
        assert!(body.service.is_none() && body.pattern_id.is_none());
        // The default tenant is left out, as StoredLog leaves it out.
        let default = StoredLog {
            tenant: log_model::DEFAULT_TENANT.into(),
            ..log.clone()
        };
        let stored = serde_json::to_string(&StoredDoc::of(&default)).unwrap();
        let body: StoredBody = serde_json::from_str(&stored).unwrap();
        assert!(body.tenant.is_none());
        // What a column cannot give back stays in the body: an id that is
        // not a UUID, empty strings.
        let odd = StoredLog {
            id: "not-a-uuid".into(),
            source: String::new(),
            service: Some(String::new()),
            pattern_id: String::new(),
            ..log.clone()
        };
        let stored = serde_json::to_string(&StoredDoc::of(&odd)).unwrap();
        let body: StoredBody = serde_json::from_str(&stored).unwrap();
        assert_eq!(body.id.as_deref(), Some("not-a-uuid"));
        assert_eq!(body.source.as_deref(), Some(""));
        assert_eq!(body.service.as_deref(), Some(""));
        assert_eq!(body.pattern_id.as_deref(), Some(""));
        // An earlier release's body (the whole log) reads with everything.
        let whole = serde_json::to_string(&log).unwrap();
        let old: StoredBody = serde_json::from_str(&whole).unwrap();
        assert_eq!(old.id.as_deref(), Some(log.id.as_str()));
        assert_eq!(old.level, Some(log.level));
        assert_eq!(old.source.as_deref(), Some("host-7"));
        assert_eq!(old.service.as_deref(), Some("storage"));
        assert_eq!(old.pattern_id.as_deref(), Some(log.pattern_id.as_str()));
        assert_eq!(old.template, log.template);
    }
}

#[cfg(test)]
mod message_values_tests {
    use super::*;

    fn values(template: &str, message: &str) -> Option<Vec<String>> {
        message_values(template, message).map(|v| v.into_iter().map(String::from).collect())
    }

    #[test]
    fn a_message_is_its_template_and_the_values_between() {
        let cases = [
            (
                "disk full on <*>",
                "disk full on db-7",
                vec!["", " ", " ", " db-7"],
            ),
            ("<*>", "anything at all", vec!["anything at all"]),
            ("no values", "no values", vec!["", " ", ""]),
            // Whitespace as the message has it, and text the template
            // left out (an aside), go with the values.
            ("a <*> b", "a  x (1 KB)\tb ", vec!["", "  x (1 KB)\t", " "]),
            // A word of the template that also appears in a value.
            (
                "user <*> to <*>",
                "user a to b to c",
                vec!["", " a ", " b to c"],
            ),
            (
                "klogind[<*>]: failed",
                "klogind[19272]: failed",
                vec!["", "19272", " ", ""],
            ),
        ];
        for (template, message, expected) in cases {
            let got = values(template, message).unwrap_or_else(|| panic!("{message}"));
            assert_eq!(got, expected, "{template} / {message}");
            assert_eq!(
                message_from_values(template, &got).as_deref(),
                Some(message)
            );
        }
    }

    #[test]
    fn a_message_without_its_template_words_stays_whole() {
        for (template, message) in [
            ("disk full on <*>", "disk empty on db-7"),
            ("b a", "a b"),
            ("", "no template"),
        ] {
            assert_eq!(message_values(template, message), None, "{message}");
        }
        let long = format!("{} <*>", "w".repeat(MAX_SPLIT_TEMPLATE));
        assert_eq!(message_values(&long, &long), None);
        // The numbers of words and values must fit.
        assert_eq!(message_from_values("a <*> b", &[""]), None);
        assert_eq!(message_from_values("a", &["", "", ""]), None);
        assert_eq!(message_from_values::<&str>("a", &[]), None);
    }

    /// Every line of the 11 Loghub datasets, through the shipped
    /// templating: where it splits, it comes back byte for byte.
    #[test]
    fn every_loghub_line_comes_back_from_its_values() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/datasets/loghub-2k");
        let Ok(dirs) = std::fs::read_dir(&root) else {
            panic!("{} is missing", root.display());
        };
        let (mut lines, mut split) = (0, 0);
        for dir in dirs {
            let dir = dir.unwrap().path();
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(String::from) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(dir.join(format!("{name}_2k.log"))) else {
                continue;
            };
            for message in text.lines() {
                lines += 1;
                let pattern = log_patterns::pattern_of(message);
                if let Some(values) = values(&pattern.template, message) {
                    split += 1;
                    assert_eq!(
                        message_from_values(&pattern.template, &values).as_deref(),
                        Some(message),
                        "{}",
                        pattern.template
                    );
                }
            }
        }
        assert!(lines >= 20_000, "{lines} lines read");
        // Nearly every message reads as its template.
        assert!(split * 1000 >= lines * 999, "{split} of {lines} split");
    }
}
