//! Compiles a [`Filter`] (the query language and a time range) into a
//! tantivy query. User text goes through the message tokenizer and
//! escaped regexes, never through tantivy's query parser.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query,
    RangeQuery, RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::Term;

use log_model::{Expr, Filter, Keyword, Leaf, MetadataFilter, NumRange};

use super::ids::{first_after, id_parts, prefix_range, IdRangeQuery};
use super::schema::Fields;

/// A metadata leaf equal to the filter's value: as text, and as the number
/// or boolean the text spells (the index keeps JSON numbers as numbers;
/// Elasticsearch's `flattened` keeps them as text, so both match there).
fn metadata_query(field: Field, filter: &MetadataFilter) -> Box<dyn Query> {
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
    any(terms
        .into_iter()
        .map(|t| -> Box<dyn Query> { Box::new(TermQuery::new(t, IndexRecordOption::Basic)) })
        .collect())
}

/// Numeric metadata leaves within `range`: integers (kept as i64) and
/// floats (kept as f64) are separate terms in the index, so both ranges.
/// The JSON field is not a fast field: the ranges walk its terms, and each
/// is bounded on both sides so that it stays within its path and type.
fn metadata_range(field: Field, path: &str, range: &NumRange) -> Box<dyn Query> {
    let term = |f: &dyn Fn(&mut Term)| {
        let mut t = Term::from_field_json_path(field, path, true);
        f(&mut t);
        t
    };
    let float = |b: Bound<f64>, edge: f64| match b {
        Bound::Included(x) => Bound::Included(term(&|t| t.append_type_and_fast_value(x))),
        Bound::Excluded(x) => Bound::Excluded(term(&|t| t.append_type_and_fast_value(x))),
        Bound::Unbounded => Bound::Included(term(&|t| t.append_type_and_fast_value(edge))),
    };
    // On integers every bound is inclusive: x > 4.5 is x >= 5.
    let clamp = |x: f64| x.clamp(i64::MIN as f64, i64::MAX as f64) as i64;
    let lower = match range.lower {
        Bound::Included(x) => clamp(x.ceil()),
        Bound::Excluded(x) => clamp(x.floor()).saturating_add(1),
        Bound::Unbounded => i64::MIN,
    };
    let upper = match range.upper {
        Bound::Included(x) => clamp(x.floor()),
        Bound::Excluded(x) => clamp(x.ceil()).saturating_sub(1),
        Bound::Unbounded => i64::MAX,
    };
    let int = |i: i64| Bound::Included(term(&|t| t.append_type_and_fast_value(i)));
    let mut parts: Vec<Box<dyn Query>> = vec![Box::new(InvertedIndexRangeQuery::new(
        float(range.lower, f64::NEG_INFINITY),
        float(range.upper, f64::INFINITY),
    ))];
    if lower <= upper {
        parts.push(Box::new(InvertedIndexRangeQuery::new(
            int(lower),
            int(upper),
        )));
    }
    any(parts)
}

fn any(mut parts: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match parts.len() {
        0 => Box::new(EmptyQuery),
        1 => parts.pop().expect("one"),
        _ => Box::new(BooleanQuery::new(
            parts.into_iter().map(|q| (Occur::Should, q)).collect(),
        )),
    }
}

fn all(mut parts: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match parts.len() {
        0 => Box::new(AllQuery),
        1 => parts.pop().expect("one"),
        _ => Box::new(BooleanQuery::new(
            parts.into_iter().map(|q| (Occur::Must, q)).collect(),
        )),
    }
}

/// `text` as a regular expression matching itself (ASCII punctuation escaped).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii_punctuation() || c == ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn keyword_field(fields: &Fields, k: Keyword) -> Field {
    match k {
        Keyword::Service => fields.service,
        Keyword::Source => fields.source,
        Keyword::TraceId => fields.trace_id,
        Keyword::PatternId => fields.pattern_id,
        Keyword::Id => fields.id,
    }
}

/// How a partition indexes ids: every id a term of `id` (before schema
/// 6), or canonical ids by key and in columns, the others as terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    Terms,
    Keyed,
}

/// The log whose id is `id`, where ids are keyed.
fn id_query(fields: &Fields, id: &str) -> Box<dyn Query> {
    match id_parts(id) {
        Some((hi, lo)) => Box::new(IdRangeQuery::exact(
            fields.id_key,
            (u128::from(hi) << 64) | u128::from(lo),
        )),
        None => term_query(fields.id, id),
    }
}

/// The logs whose id begins with `prefix`, where ids are keyed: canonical
/// ids in the prefix's range, other ids by their terms.
fn id_prefix_query(fields: &Fields, prefix: &str) -> Box<dyn Query> {
    let terms = prefix_query(fields.id, prefix);
    match prefix_range(prefix) {
        Some((low, high)) => any(vec![terms, Box::new(IdRangeQuery::range(low, high))]),
        None => terms,
    }
}

fn term_query(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn prefix_query(field: Field, prefix: &str) -> Box<dyn Query> {
    match RegexQuery::from_pattern(&format!("{}.*", escape(prefix)), field) {
        Ok(q) => Box::new(q),
        // An escaped literal always compiles; should it not, nothing matches.
        Err(_) => Box::new(EmptyQuery),
    }
}

fn leaf(fields: &Fields, ids: Ids, analyzer: &mut TextAnalyzer, leaf: &Leaf) -> Box<dyn Query> {
    match leaf {
        Leaf::Word(text) | Leaf::Phrase(text) => {
            let mut terms: Vec<Term> = tokens(analyzer, text)
                .into_iter()
                .map(|t| Term::from_field_text(fields.message, &t))
                .collect();
            match terms.len() {
                // Nothing the index holds: the parser keeps such words out.
                0 => Box::new(EmptyQuery),
                1 => Box::new(TermQuery::new(
                    terms.pop().expect("one term"),
                    IndexRecordOption::Basic,
                )),
                // A word the tokenizer splits (`user-42`) is a phrase too.
                _ => Box::new(PhraseQuery::new(terms)),
            }
        }
        Leaf::Prefix(p) => prefix_query(fields.message, p),
        Leaf::Levels(levels) => any(levels
            .iter()
            .map(|l| term_query(fields.level, l.as_str()))
            .collect()),
        Leaf::Term {
            field: Keyword::Id,
            value,
        } if ids == Ids::Keyed => id_query(fields, value),
        Leaf::TermPrefix {
            field: Keyword::Id,
            prefix,
        } if ids == Ids::Keyed => id_prefix_query(fields, prefix),
        Leaf::Term { field, value } => term_query(keyword_field(fields, *field), value),
        Leaf::TermPrefix { field, prefix } => prefix_query(keyword_field(fields, *field), prefix),
        Leaf::Metadata(m) => metadata_query(fields.metadata, m),
        Leaf::MetadataRange { path, range } => metadata_range(fields.metadata, path, range),
    }
}

fn expr(fields: &Fields, ids: Ids, analyzer: &mut TextAnalyzer, e: &Expr) -> Box<dyn Query> {
    match e {
        Expr::All => Box::new(AllQuery),
        Expr::Leaf(l) => leaf(fields, ids, analyzer, l),
        Expr::And(parts) => all(parts
            .iter()
            .map(|p| expr(fields, ids, analyzer, p))
            .collect()),
        Expr::Or(parts) => any(parts
            .iter()
            .map(|p| expr(fields, ids, analyzer, p))
            .collect()),
        Expr::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::MustNot, expr(fields, ids, analyzer, inner)),
        ])),
    }
}

fn ts_term(fields: &Fields, micros: i64) -> Term {
    Term::from_field_i64(fields.ts, micros)
}

/// Logs of `[start, end)`.
fn time_range(
    fields: &Fields,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Option<Box<dyn Query>> {
    if start.is_none() && end.is_none() {
        return None;
    }
    let lower = start.map_or(Bound::Unbounded, |t| {
        Bound::Included(ts_term(fields, t.timestamp_micros()))
    });
    let upper = end.map_or(Bound::Unbounded, |t| {
        Bound::Excluded(ts_term(fields, t.timestamp_micros()))
    });
    Some(Box::new(RangeQuery::new(lower, upper)))
}

/// Logs at exactly this time (microseconds).
pub fn at_time(fields: &Fields, micros: i64) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        ts_term(fields, micros),
        IndexRecordOption::Basic,
    ))
}

/// The filter as one query, its tenant aside: the reader settles the
/// tenant per partition and segment (`reader::compile_for`, `TenantQuery`).
pub fn compile(
    fields: &Fields,
    ids: Ids,
    analyzer: &mut TextAnalyzer,
    filter: &Filter,
) -> Box<dyn Query> {
    let mut must = Vec::new();
    if !matches!(filter.expr, Expr::All) {
        must.push(expr(fields, ids, analyzer, &filter.expr));
    }
    must.extend(time_range(fields, filter.start, filter.end));
    if let Some(id) = &filter.id_after {
        must.push(id_after_query(fields, ids, id));
    }
    all(must)
}

/// The logs whose id sorts after `id`: by their terms, and where ids are
/// keyed, the canonical ids from the least one after it.
fn id_after_query(fields: &Fields, ids: Ids, id: &str) -> Box<dyn Query> {
    let terms: Box<dyn Query> = Box::new(RangeQuery::new(
        Bound::Excluded(Term::from_field_text(fields.id, id)),
        Bound::Unbounded,
    ));
    match (ids, first_after(id)) {
        (Ids::Keyed, Some(low)) => any(vec![terms, Box::new(IdRangeQuery::range(low, u128::MAX))]),
        _ => terms,
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
