use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, STORED,
    STRING,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

use log_model::StoredLog;

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
}

pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let keyword = STRING | FAST;
    let message = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(MESSAGE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        ts: b.add_i64_field("ts", NumericOptions::default().set_indexed().set_fast()),
        level: b.add_text_field("level", keyword.clone()),
        source: b.add_text_field("source", keyword.clone()),
        service: b.add_text_field("service", keyword.clone()),
        pattern_id: b.add_text_field("pattern_id", keyword.clone()),
        template: b.add_text_field("template", keyword),
        message: b.add_text_field("message", message),
        doc: b.add_text_field("doc", STORED),
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
    doc.add_text(fields.id, &log.id);
    doc.add_i64(fields.ts, log.timestamp.timestamp_micros());
    doc.add_text(fields.level, log.level.as_str());
    doc.add_text(fields.source, &log.source);
    if let Some(service) = &log.service {
        doc.add_text(fields.service, service);
    }
    doc.add_text(fields.pattern_id, &log.pattern_id);
    doc.add_text(fields.template, &log.template);
    doc.add_text(fields.message, &log.message);
    // Stored whole (no copy of the log on the indexing path); reads drop
    // the template from search answers.
    doc.add_text(
        fields.doc,
        serde_json::to_string(log).expect("a log always serialises"),
    );
    doc
}
