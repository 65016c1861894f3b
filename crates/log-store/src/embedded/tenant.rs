//! A tenant's logs among a query's matches, settled segment by segment.
//!
//! A tenant term is cheap where the tenant is rare and costly where it is
//! nearly every log (its postings are then the whole segment, walked by
//! every query). So each segment picks, from its own postings: no log of
//! the tenant, nothing matches; only the tenant's logs (one tenant, or a
//! segment written by one tenant's batches), the query as it is; mostly the
//! tenant's logs, the query without the other tenants' (short) postings;
//! otherwise, the query and the tenant's term.

use tantivy::query::{
    BooleanQuery, EmptyScorer, EnableScoring, Explanation, Occur, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, Score, Searcher, SegmentReader, Term};

/// Most other tenants a segment's reads exclude one by one.
const MAX_EXCLUDED_TENANTS: usize = 64;

/// `inner`, limited to the logs of the tenant whose term is `tenant`.
#[derive(Debug)]
pub struct TenantQuery {
    inner: Box<dyn Query>,
    tenant: Term,
    /// The other tenants with logs in the searcher's segments (`None`:
    /// more than [`MAX_EXCLUDED_TENANTS`]).
    others: Option<Vec<Term>>,
}

impl TenantQuery {
    pub fn new(searcher: &Searcher, field: Field, name: &str, inner: Box<dyn Query>) -> Self {
        let tenant = Term::from_field_text(field, name);
        // One tenant's partition (the usual case): every segment takes the
        // query as it is, and no term dictionary need be walked.
        let deleted = searcher
            .segment_readers()
            .iter()
            .any(|s| s.num_deleted_docs() > 0);
        let whole = !deleted && searcher.doc_freq(&tenant).ok() == Some(searcher.num_docs());
        let others = if whole {
            Some(Vec::new())
        } else {
            other_tenants(searcher, field, name)
        };
        TenantQuery {
            inner,
            tenant,
            others,
        }
    }
}

/// The tenants other than `tenant` with logs in the searcher's segments.
fn other_tenants(searcher: &Searcher, field: Field, tenant: &str) -> Option<Vec<Term>> {
    let mut others = std::collections::BTreeSet::new();
    for segment in searcher.segment_readers() {
        let index = segment.inverted_index(field).ok()?;
        let mut stream = index.terms().stream().ok()?;
        while stream.advance() {
            let name = std::str::from_utf8(stream.key()).ok()?;
            if name != tenant {
                others.insert(name.to_string());
                if others.len() > MAX_EXCLUDED_TENANTS {
                    return None;
                }
            }
        }
    }
    Some(
        others
            .into_iter()
            .map(|name| Term::from_field_text(field, &name))
            .collect(),
    )
}

impl Clone for TenantQuery {
    fn clone(&self) -> Self {
        TenantQuery {
            inner: self.inner.box_clone(),
            tenant: self.tenant.clone(),
            others: self.others.clone(),
        }
    }
}

fn term(t: &Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic))
}

impl Query for TenantQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let with_term = BooleanQuery::new(vec![
            (Occur::Must, self.inner.box_clone()),
            (Occur::Must, term(&self.tenant)),
        ]);
        let without_others = self
            .others
            .as_ref()
            .map(|others| {
                let mut clauses = vec![(Occur::Must, self.inner.box_clone())];
                clauses.extend(others.iter().map(|t| (Occur::MustNot, term(t))));
                BooleanQuery::new(clauses).weight(scoring)
            })
            .transpose()?;
        Ok(Box::new(TenantWeight {
            tenant: self.tenant.clone(),
            inner: self.inner.weight(scoring)?,
            with_term: with_term.weight(scoring)?,
            without_others,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
        visitor(&self.tenant, false);
    }
}

struct TenantWeight {
    tenant: Term,
    inner: Box<dyn Weight>,
    with_term: Box<dyn Weight>,
    without_others: Option<Box<dyn Weight>>,
}

impl TenantWeight {
    /// The weight that answers for `reader` (`None`: the segment holds
    /// none of the tenant's logs).
    fn pick(&self, reader: &SegmentReader) -> tantivy::Result<Option<&dyn Weight>> {
        let logs = reader
            .inverted_index(self.tenant.field())?
            .doc_freq(&self.tenant)?;
        if logs == 0 {
            return Ok(None);
        }
        if reader.num_deleted_docs() > 0 {
            return Ok(Some(self.with_term.as_ref()));
        }
        let all = reader.max_doc();
        Ok(Some(if logs == all {
            self.inner.as_ref()
        } else if logs * 2 > all {
            self.without_others
                .as_deref()
                .unwrap_or(self.with_term.as_ref())
        } else {
            self.with_term.as_ref()
        }))
    }
}

impl Weight for TenantWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        match self.pick(reader)? {
            Some(w) => w.scorer(reader, boost),
            None => Ok(Box::new(EmptyScorer)),
        }
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.with_term.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        match self.pick(reader)? {
            Some(w) => w.count(reader),
            None => Ok(0),
        }
    }

    fn for_each(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        match self.pick(reader)? {
            Some(w) => w.for_each(reader, callback),
            None => Ok(()),
        }
    }

    fn for_each_no_score(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        match self.pick(reader)? {
            Some(w) => w.for_each_no_score(reader, callback),
            None => Ok(()),
        }
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        match self.pick(reader)? {
            Some(w) => w.for_each_pruning(threshold, reader, callback),
            None => Ok(()),
        }
    }
}
