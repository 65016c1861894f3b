//! Compiles a [`SearchQuery`] (and the filters of a [`PatternsQuery`]) into
//! a tantivy query. User text goes through the message tokenizer, never
//! through a query parser.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use tantivy::query::{AllQuery, BooleanQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::Term;

use log_model::{Level, TextClause, TextQuery};

use super::schema::Fields;

/// The filters that searches and pattern requests share.
pub struct Filters<'a> {
    pub text: Option<&'a TextQuery>,
    pub levels: &'a [Level],
    pub source: Option<&'a str>,
    pub service: Option<&'a str>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
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
