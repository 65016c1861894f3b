//! Log ids in the index (schema 6).
//!
//! Ingest gives every log a UUID, written in its canonical form (lower-case
//! hex, hyphenated: 36 characters). Such an id is kept in the `id_hi` and
//! `id_lo` columns only, whose order is the id's, and indexed by a short
//! key: the low [`ID_KEY_BITS`] bits of the id, a random part of any UUID.
//! An id lookup reads the key's postings (about one log in 4,096 of a
//! segment) and keeps the logs whose columns spell the id. Any other id (a
//! client's own, from an older peer) stays a term of the `id` field, as
//! every id was before.
//!
//! The term of a random 36-character id cost about 17 bytes a log (term
//! dictionary and postings); the key costs about 2.
//!
//! Ranges of ids (a prefix, "after this id") are ranges of the 128-bit
//! number: canonical ids sort as their numbers do.

use std::fmt;

use tantivy::columnar::Column;
use tantivy::query::{
    AllQuery, EmptyScorer, EnableScoring, Explanation, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term, TERMINATED};

/// Bits of the id in its key: 4,096 keys, so a segment's postings of a
/// key hold one log in 4,096 of it.
pub const ID_KEY_BITS: u32 = 12;

/// The length of a canonical id.
const CANONICAL_LEN: usize = 36;

fn is_dash_position(i: usize) -> bool {
    matches!(i, 8 | 13 | 18 | 23)
}

/// The characters a canonical id may have at position `i`, in order.
fn allowed(i: usize) -> &'static [u8] {
    if is_dash_position(i) {
        b"-"
    } else {
        b"0123456789abcdef"
    }
}

/// The id as the two numbers of the `id_hi` and `id_lo` columns, when it
/// is a UUID in canonical form (what ingest makes); `None` otherwise, and
/// such an id is kept as it is.
pub fn id_parts(id: &str) -> Option<(u64, u64)> {
    let v = canonical(id.as_bytes())?;
    Some(((v >> 64) as u64, v as u64))
}

/// The id the two column values spell (lower-case, hyphenated, as ingest
/// writes it).
pub fn id_from_parts(hi: u64, lo: u64) -> String {
    uuid::Uuid::from_u128((u128::from(hi) << 64) | u128::from(lo)).to_string()
}

/// The key an id with these low 64 bits is indexed by.
pub fn id_key(lo: u64) -> u64 {
    lo & ((1 << ID_KEY_BITS) - 1)
}

/// The number a canonical id spells.
fn canonical(id: &[u8]) -> Option<u128> {
    if id.len() != CANONICAL_LEN || !id.iter().enumerate().all(|(i, c)| allowed(i).contains(c)) {
        return None;
    }
    let mut v = 0u128;
    for &c in id.iter().filter(|&&c| c != b'-') {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        };
        v = (v << 4) | u128::from(digit);
    }
    Some(v)
}

/// `prefix` completed with the least (or greatest) characters a canonical
/// id may have after it. `prefix` must be a canonical id's prefix.
fn fill(prefix: &[u8], greatest: bool) -> u128 {
    let mut id = prefix.to_vec();
    for i in prefix.len()..CANONICAL_LEN {
        let options = allowed(i);
        id.push(if greatest {
            options[options.len() - 1]
        } else {
            options[0]
        });
    }
    canonical(&id).expect("a filled prefix is canonical")
}

/// How many leading bytes of `text` a canonical id could begin with.
fn valid_prefix(text: &[u8]) -> usize {
    text.iter()
        .take(CANONICAL_LEN)
        .enumerate()
        .take_while(|(i, c)| allowed(*i).contains(c))
        .count()
}

/// The canonical ids that begin with `prefix`, as a range of numbers
/// (both ends included); `None` when no canonical id does.
pub fn prefix_range(prefix: &str) -> Option<(u128, u128)> {
    let p = prefix.as_bytes();
    (p.len() <= CANONICAL_LEN && valid_prefix(p) == p.len())
        .then(|| (fill(p, false), fill(p, true)))
}

/// The least number whose canonical id sorts after `text` (byte order);
/// `None` when no canonical id does. The canonical ids after `text` are
/// the numbers from there on, as canonical ids sort as their numbers.
pub fn first_after(text: &str) -> Option<u128> {
    let x = text.as_bytes();
    let p = valid_prefix(x);
    if p == CANONICAL_LEN {
        // `text` is a canonical id, or one followed by more: the next one.
        return canonical(&x[..CANONICAL_LEN])
            .expect("a valid prefix of full length is canonical")
            .checked_add(1);
    }
    if p == x.len() {
        // A shorter prefix: every id beginning with it sorts after it.
        return Some(fill(x, false));
    }
    // `x[p]` cannot be at `p`: the least id is `x[..j]`, then the least
    // character greater than `x[j]` that may be at `j`, then the least
    // completion; for the last `j <= p` where there is such a character.
    (0..=p).rev().find_map(|j| {
        let c = allowed(j).iter().find(|&&c| c > x[j])?;
        let mut id = x[..j].to_vec();
        id.push(*c);
        Some(fill(&id, false))
    })
}

/// The logs of `inner` whose id (in the `id_hi` and `id_lo` columns) is in
/// `low..=high`. Logs without those columns (ids kept as terms) are not
/// among them. A segment whose ids are all outside the range is skipped
/// from its columns' bounds.
pub struct IdRangeQuery {
    inner: Box<dyn Query>,
    low: u128,
    high: u128,
}

impl IdRangeQuery {
    /// Every log whose id is in `low..=high`.
    pub fn range(low: u128, high: u128) -> Self {
        IdRangeQuery {
            inner: Box::new(AllQuery),
            low,
            high,
        }
    }

    /// The log whose id is `id`, found through its key in `key_field`.
    pub fn exact(key_field: Field, id: u128) -> Self {
        IdRangeQuery {
            inner: Box::new(TermQuery::new(
                Term::from_field_u64(key_field, id_key(id as u64)),
                IndexRecordOption::Basic,
            )),
            low: id,
            high: id,
        }
    }
}

impl Clone for IdRangeQuery {
    fn clone(&self) -> Self {
        IdRangeQuery {
            inner: self.inner.box_clone(),
            low: self.low,
            high: self.high,
        }
    }
}

impl fmt::Debug for IdRangeQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IdRange({:032x}..={:032x}, {:?})",
            self.low, self.high, self.inner
        )
    }
}

impl Query for IdRangeQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(IdRangeWeight {
            inner: self.inner.weight(scoring)?,
            low: self.low,
            high: self.high,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct IdRangeWeight {
    inner: Box<dyn Weight>,
    low: u128,
    high: u128,
}

impl IdRangeWeight {
    /// The segment's id columns, unless none of its ids can be in range.
    fn columns(&self, reader: &SegmentReader) -> tantivy::Result<Option<(Column, Column)>> {
        let fast = reader.fast_fields();
        let (Ok(hi), Ok(lo)) = (fast.u64("id_hi"), fast.u64("id_lo")) else {
            return Ok(None);
        };
        let (low_hi, high_hi) = ((self.low >> 64) as u64, (self.high >> 64) as u64);
        if hi.values.num_vals() == 0 || hi.max_value() < low_hi || hi.min_value() > high_hi {
            return Ok(None);
        }
        Ok(Some((hi, lo)))
    }
}

impl Weight for IdRangeWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some((hi, lo)) = self.columns(reader)? else {
            return Ok(Box::new(EmptyScorer));
        };
        let mut scorer = IdRangeScorer {
            inner: self.inner.scorer(reader, boost)?,
            hi,
            lo,
            low: self.low,
            high: self.high,
        };
        let doc = scorer.inner.doc();
        if doc != TERMINATED && !scorer.matches(doc) {
            scorer.advance();
        }
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("id in range", scorer.score()))
    }
}

struct IdRangeScorer {
    inner: Box<dyn Scorer>,
    hi: Column,
    lo: Column,
    low: u128,
    high: u128,
}

impl IdRangeScorer {
    fn matches(&self, doc: DocId) -> bool {
        match (self.hi.first(doc), self.lo.first(doc)) {
            (Some(hi), Some(lo)) => {
                let id = (u128::from(hi) << 64) | u128::from(lo);
                self.low <= id && id <= self.high
            }
            _ => false,
        }
    }
}

impl DocSet for IdRangeScorer {
    fn advance(&mut self) -> DocId {
        loop {
            let doc = self.inner.advance();
            if doc == TERMINATED || self.matches(doc) {
                return doc;
            }
        }
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.inner.seek(target);
        if doc == TERMINATED || self.matches(doc) {
            doc
        } else {
            self.advance()
        }
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for IdRangeScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: u128) -> String {
        uuid::Uuid::from_u128(v).to_string()
    }

    #[test]
    fn canonical_ids_only_are_split() {
        let id = "0190b6a2-7c1e-7cc1-8a2b-0123456789ab";
        let (hi, lo) = id_parts(id).unwrap();
        assert_eq!(id_from_parts(hi, lo), id);
        for other in [
            "0190B6A2-7C1E-7CC1-8A2B-0123456789AB",
            "0190b6a27c1e7cc18a2b0123456789ab",
            "{0190b6a2-7c1e-7cc1-8a2b-0123456789ab}",
            "0190b6a2-7c1e-7cc1-8a2b-0123456789abc",
            "0190b6a2-7c1e-7cc1-8a2b-0123456789a",
            "0190b6a2+7c1e-7cc1-8a2b-0123456789ab",
            "not-a-uuid",
            "",
        ] {
            assert_eq!(id_parts(other), None, "{other}");
        }
    }

    /// A little pseudo-random generator, fixed seed: the same cases in
    /// every run.
    fn numbers(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// Strings near canonical ids: prefixes, edits at any position to any
    /// byte around the alphabet, extensions.
    fn probes(ids: &[u128], next: &mut impl FnMut() -> u64) -> Vec<String> {
        let bytes = b"0189:@`afgz-./ ~";
        let mut out = vec![String::new(), "-".into(), "g".into(), "~".into()];
        for &id in ids {
            let t = text(id);
            let cut = (next() % 37) as usize;
            out.push(t[..cut].to_string());
            let mut edited = t.clone().into_bytes();
            let at = (next() % 36) as usize;
            edited[at] = bytes[(next() % bytes.len() as u64) as usize];
            edited.truncate(at + 1 + (next() % (36 - at as u64)) as usize);
            out.push(String::from_utf8(edited).unwrap());
            out.push(format!(
                "{t}{}",
                bytes[(next() % bytes.len() as u64) as usize] as char
            ));
            out.push(t);
        }
        out
    }

    /// Checked against what the ranges mean, byte order of the texts, on
    /// ids with runs of 0 and f digits (the edges of every position).
    #[test]
    fn ranges_agree_with_the_order_of_the_texts() {
        let mut next = numbers(0x2545_f491_4f6c_dd1d);
        let mut ids: Vec<u128> = (0..300)
            .map(|_| {
                let v = (u128::from(next()) << 64) | u128::from(next());
                // Runs of 0 and f digits: the edges of every position.
                let mask = (u128::from(next()) << 64) | u128::from(next());
                match next() % 3 {
                    0 => v & mask,
                    1 => v | !mask,
                    _ => v,
                }
            })
            .collect();
        ids.extend([0, u128::MAX, 1, u128::MAX - 1]);
        let probes = probes(&ids, &mut next);
        for probe in &probes {
            let after = first_after(probe);
            let prefix = prefix_range(probe);
            for &id in &ids {
                let t = text(id);
                assert_eq!(
                    after.is_some_and(|a| id >= a),
                    t.as_str() > probe.as_str(),
                    "{t} after {probe:?} (first {after:?})"
                );
                assert_eq!(
                    prefix.is_some_and(|(low, high)| low <= id && id <= high),
                    t.starts_with(probe.as_str()),
                    "{t} begins with {probe:?}"
                );
            }
            // The bounds themselves are on the right side.
            if let Some(a) = after {
                assert!(text(a).as_str() > probe.as_str(), "{probe:?}");
                if a > 0 {
                    assert!(text(a - 1).as_str() <= probe.as_str(), "{probe:?}");
                }
            }
            if let Some((low, high)) = prefix {
                assert!(text(low).starts_with(probe.as_str()));
                assert!(text(high).starts_with(probe.as_str()));
                assert!(low == 0 || !text(low - 1).starts_with(probe.as_str()));
                assert!(high == u128::MAX || !text(high + 1).starts_with(probe.as_str()));
            }
        }
        assert_eq!(first_after(&text(u128::MAX)), None);
        assert_eq!(first_after("g"), None);
        assert_eq!(first_after(""), Some(0));
        assert_eq!(prefix_range(""), Some((0, u128::MAX)));
    }

    #[test]
    fn the_key_is_the_low_bits() {
        assert_eq!(id_key(0xffff_ffff_ffff_f123), 0x123);
        assert!(id_key(u64::MAX) < 1 << ID_KEY_BITS);
    }
}
