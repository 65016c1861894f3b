//! Compiles a [`SearchQuery`] (and the filters of a [`PatternsQuery`]) into
//! a tantivy query. User text goes through the message tokenizer, never
//! through a query parser.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use tantivy::query::{AllQuery, BooleanQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::Term;

use log_model::{Level, MetadataFilter, TextClause, TextQuery};

use super::schema::Fields;

/// The filters that searches and pattern requests share.
pub struct Filters<'a> {
    pub text: Option<&'a TextQuery>,
    pub levels: &'a [Level],
    pub source: Option<&'a str>,
    pub service: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub metadata: Option<&'a MetadataFilter>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl Filters<'_> {
    /// Whether the filters need the fields of schema 2.
    pub fn need_search_fields(&self) -> bool {
        self.trace_id.is_some() || self.metadata.is_some()
    }
}

/// A metadata leaf equal to the filter's value: as text, and as the number
/// or boolean the text spells (the index keeps JSON numbers as numbers;
/// Elasticsearch's `flattened` keeps them as text, so both match there).
fn metadata_query(field: tantivy::schema::Field, filter: &MetadataFilter) -> Box<dyn Query> {
    let term = || Term::from_field_json_path(field, &filter.path, true);
    let mut terms = Vec::new();
    let mut text = term();
    text.append_type_and_str(&filter.value);
    terms.push(text);
    let value = filter.value.trim();
    if let Ok(i) = value.parse::<i64>() {
        let mut t = term();
        t.append_type_and_fast_value(i);
        terms.push(t);
        if i >= 0 {
            let mut t = term();
            t.append_type_and_fast_value(i as u64);
            terms.push(t);
        }
    } else if let Ok(u) = value.parse::<u64>() {
        let mut t = term();
        t.append_type_and_fast_value(u);
        terms.push(t);
    }
    if let Ok(f) = value.parse::<f64>() {
        if f.is_finite() {
            let mut t = term();
            t.append_type_and_fast_value(f);
            terms.push(t);
        }
    }
    if let Ok(b) = value.parse::<bool>() {
        let mut t = term();
        t.append_type_and_fast_value(b);
        terms.push(t);
    }
    Box::new(BooleanQuery::new(
        terms
            .into_iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::Basic));
                (Occur::Should, q)
            })
            .collect(),
    ))
}

pub fn compile(
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
    filters: &Filters<'_>,
) -> Box<dyn Query> {
    let mut must: Vec<Box<dyn Query>> = Vec::new();
    let keyword = |field, value: &str| -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        ))
    };
    match filters.levels {
        [] => {}
        [one] => must.push(keyword(fields.level, one.as_str())),
        many => must.push(Box::new(BooleanQuery::new(
            many.iter()
                .map(|l| (Occur::Should, keyword(fields.level, l.as_str())))
                .collect(),
        ))),
    }
    if let Some(source) = filters.source {
        must.push(keyword(fields.source, source));
    }
    if let Some(service) = filters.service {
        must.push(keyword(fields.service, service));
    }
    if let Some(trace_id) = filters.trace_id {
        must.push(keyword(fields.trace_id, trace_id));
    }
    if let Some(metadata) = filters.metadata {
        must.push(metadata_query(fields.metadata, metadata));
    }
    if filters.start.is_some() || filters.end.is_some() {
        let lower = filters.start.map_or(Bound::Unbounded, |t| {
            Bound::Included(Term::from_field_i64(fields.ts, t.timestamp_micros()))
        });
        let upper = filters.end.map_or(Bound::Unbounded, |t| {
            Bound::Excluded(Term::from_field_i64(fields.ts, t.timestamp_micros()))
        });
        must.push(Box::new(RangeQuery::new(lower, upper)));
    }
    if let Some(text) = filters.text {
        for clause in &text.clauses {
            let raw = match clause {
                TextClause::Word(w) => w.as_str(),
                TextClause::Phrase(p) => p.as_str(),
            };
            let terms = tokens(analyzer, raw)
                .into_iter()
                .map(|t| Term::from_field_text(fields.message, &t))
                .collect::<Vec<_>>();
            match terms.len() {
                // Only punctuation: nothing in the index can match it alone.
                0 => {}
                1 => must.push(Box::new(TermQuery::new(
                    terms.into_iter().next().expect("one term"),
                    IndexRecordOption::Basic,
                ))),
                // A word the tokenizer splits (`user-42`) is a phrase too.
                _ => must.push(Box::new(PhraseQuery::new(terms))),
            }
        }
    }
    match must.len() {
        0 => Box::new(AllQuery),
        1 => must.pop().expect("one clause"),
        _ => Box::new(BooleanQuery::new(
            must.into_iter().map(|q| (Occur::Must, q)).collect(),
        )),
    }
}

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}
