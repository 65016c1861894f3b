//! Collectors for the histogram and facets, reading fast fields only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use log_model::{HistogramQuery, Level};

use super::collector::Stop;
use crate::model::keep_most_frequent;

/// Counts per bucket of the histogram's range, per level.
pub type LevelCounts = Vec<[u64; 5]>;

fn level_slot(name: &str) -> Option<usize> {
    name.parse::<Level>().ok().map(Level::rank)
}

/// Counts matching logs per time bucket and level.
pub struct HistogramCollector {
    /// The first bucket's start, in microseconds.
    first_us: i64,
    interval_us: i64,
    buckets: usize,
    /// Past it, segments stop counting (the answer says so).
    pub stop: Stop,
}

impl HistogramCollector {
    pub fn new(q: &HistogramQuery) -> Self {
        let starts = q.bucket_starts();
        HistogramCollector {
            first_us: starts.first().copied().unwrap_or_default() * 1000,
            interval_us: q.interval_ms * 1000,
            buckets: starts.len(),
            stop: Stop::new(q.budget.deadline),
        }
    }
}

pub struct HistogramSegment {
    /// Buffers for one block of documents' values.
    ts_block: Vec<Option<i64>>,
    level_block: Vec<Option<u64>>,
    ts: Column<i64>,
    level: Option<StrColumn>,
    /// Level slot of each level ordinal of this segment.
    slots: Vec<Option<usize>>,
    first_us: i64,
    interval_us: i64,
    counts: LevelCounts,
    stop: Stop,
    calls: u32,
}

impl Collector for HistogramCollector {
    type Fruit = LevelCounts;
    type Child = HistogramSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let fast = reader.fast_fields();
        let level = fast.str("level")?;
        let slots = match &level {
            Some(col) => (0..col.num_terms() as u64)
                .map(|ord| {
                    let mut name = String::new();
                    col.ord_to_str(ord, &mut name).ok()?;
                    level_slot(&name)
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(HistogramSegment {
            ts_block: vec![None; tantivy::COLLECT_BLOCK_BUFFER_LEN],
            level_block: vec![None; tantivy::COLLECT_BLOCK_BUFFER_LEN],
            ts: fast.i64("ts")?,
            level,
            slots,
            first_us: self.first_us,
            interval_us: self.interval_us,
            counts: vec![[0; 5]; self.buckets],
            stop: self.stop.clone(),
            calls: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<LevelCounts>) -> tantivy::Result<LevelCounts> {
        let mut out = vec![[0; 5]; self.buckets];
        for fruit in fruits {
            add_counts(&mut out, &fruit);
        }
        Ok(out)
    }
}

/// Adds `more` into `into`, bucket by bucket.
pub fn add_counts(into: &mut LevelCounts, more: &LevelCounts) {
    for (a, b) in into.iter_mut().zip(more) {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
    }
}

impl SegmentCollector for HistogramSegment {
    type Fruit = LevelCounts;

    fn collect(&mut self, doc: DocId, _: Score) {
        if self.stop.due(&mut self.calls) {
            return;
        }
        let Some(ts) = self.ts.first(doc) else {
            return;
        };
        let bucket = (ts - self.first_us).div_euclid(self.interval_us);
        if bucket < 0 || bucket as usize >= self.counts.len() {
            return;
        }
        let slot = self
            .level
            .as_ref()
            .and_then(|l| l.ords().first(doc))
            .and_then(|ord| self.slots.get(ord as usize).copied().flatten());
        if let Some(slot) = slot {
            self.counts[bucket as usize][slot] += 1;
        }
    }

    /// A block at a time: the columns' values are read in batches.
    fn collect_block(&mut self, docs: &[DocId]) {
        let n = docs.len().min(self.ts_block.len());
        // The clock is read once every 1024 blocks here.
        if self.stop.due(&mut self.calls) {
            return;
        }
        if n < docs.len() {
            docs.iter().for_each(|d| self.collect(*d, 0.0));
            return;
        }
        self.ts_block[..n].fill(None);
        self.level_block[..n].fill(None);
        self.ts.first_vals(docs, &mut self.ts_block[..n]);
        if let Some(level) = &self.level {
            level.ords().first_vals(docs, &mut self.level_block[..n]);
        }
        let buckets = self.counts.len() as i64;
        // A multiplication by the inverse, corrected by one where rounding
        // crosses a bucket's edge: an integer division per log was most of
        // the cost of a week's histogram.
        let inverse = 1.0 / self.interval_us as f64;
        for (ts, ord) in self.ts_block[..n].iter().zip(&self.level_block[..n]) {
            let (Some(ts), Some(ord)) = (ts, ord) else {
                continue;
            };
            let offset = ts - self.first_us;
            if offset < 0 {
                continue;
            }
            let mut bucket = (offset as f64 * inverse) as i64;
            if bucket * self.interval_us > offset {
                bucket -= 1;
            } else if (bucket + 1) * self.interval_us <= offset {
                bucket += 1;
            }
            if bucket >= buckets {
                continue;
            }
            if let Some(Some(slot)) = self.slots.get(*ord as usize) {
                self.counts[bucket as usize][*slot] += 1;
            }
        }
    }

    fn harvest(self) -> LevelCounts {
        self.counts
    }
}

/// The fields facets count.
pub const FACET_FIELDS: [&str; 3] = ["level", "service", "source"];

/// Value counts of each facet field.
pub type FieldCounts = Vec<HashMap<String, u64>>;

/// Counts the values of [`FACET_FIELDS`] among matching logs, keeping at
/// most `kept` values of a field.
pub struct FacetCollector {
    pub kept: usize,
    pub stop: Stop,
    /// Set when values were dropped to stay within `kept`.
    pub cut: Arc<AtomicBool>,
}

impl FacetCollector {
    pub fn new(kept: usize, stop: Stop) -> Self {
        FacetCollector {
            kept: kept.max(1),
            stop,
            cut: Arc::default(),
        }
    }

    /// Keeps the `kept` most frequent values of `counts` (ties by value).
    fn bound(&self, counts: &mut HashMap<String, u64>) {
        if counts.len() <= self.kept {
            return;
        }
        self.cut.store(true, Ordering::Relaxed);
        let mut all: Vec<(String, u64)> = counts.drain().collect();
        keep_most_frequent(&mut all, self.kept);
        counts.extend(all);
    }

    /// Adds `more` into `into`, then bounds each field.
    pub fn merge_into(&self, into: &mut FieldCounts, more: FieldCounts) {
        for (into, more) in into.iter_mut().zip(more) {
            for (value, n) in more {
                *into.entry(value).or_default() += n;
            }
            self.bound(into);
        }
    }
}

pub struct FacetSegment {
    columns: Vec<Option<StrColumn>>,
    /// Per field, a count per term ordinal.
    counts: Vec<Vec<u64>>,
    kept: usize,
    cut: Arc<AtomicBool>,
    stop: Stop,
    calls: u32,
}

impl Collector for FacetCollector {
    type Fruit = FieldCounts;
    type Child = FacetSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let fast = reader.fast_fields();
        let mut columns = Vec::new();
        let mut counts = Vec::new();
        for name in FACET_FIELDS {
            let col = fast.str(name)?;
            counts.push(vec![0; col.as_ref().map_or(0, |c| c.num_terms())]);
            columns.push(col);
        }
        Ok(FacetSegment {
            columns,
            counts,
            kept: self.kept,
            cut: self.cut.clone(),
            stop: self.stop.clone(),
            calls: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FieldCounts>) -> tantivy::Result<FieldCounts> {
        let mut out: FieldCounts = vec![HashMap::new(); FACET_FIELDS.len()];
        for fruit in fruits {
            self.merge_into(&mut out, fruit);
        }
        Ok(out)
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = FieldCounts;

    fn collect(&mut self, doc: DocId, _: Score) {
        if self.stop.due(&mut self.calls) {
            return;
        }
        for (col, counts) in self.columns.iter().zip(self.counts.iter_mut()) {
            if let Some(ord) = col.as_ref().and_then(|c| c.ords().first(doc)) {
                counts[ord as usize] += 1;
            }
        }
    }

    /// The segment's counted values by name; past `kept`, its most
    /// frequent (ties by ordinal, which is the value's order).
    fn harvest(self) -> FieldCounts {
        let kept = self.kept;
        self.columns
            .iter()
            .zip(self.counts)
            .map(|(col, counts)| {
                let mut out = HashMap::new();
                let Some(col) = col else { return out };
                let mut present: Vec<(u64, u64)> = counts
                    .into_iter()
                    .enumerate()
                    .filter(|(_, n)| *n > 0)
                    .map(|(ord, n)| (ord as u64, n))
                    .collect();
                if keep_most_frequent(&mut present, kept) {
                    self.cut.store(true, Ordering::Relaxed);
                }
                for (ord, n) in present {
                    let mut name = String::new();
                    if col.ord_to_str(ord, &mut name).is_ok() {
                        out.insert(name, n);
                    }
                }
                out
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    /// The bucket by multiplication equals the bucket by division, at and
    /// around every edge.
    #[test]
    fn buckets_by_inverse_match_division() {
        for interval in [1_000_000i64, 7_200_000_000, 86_400_000_000, 3, 999_999_937] {
            let inverse = 1.0 / interval as f64;
            for k in [0i64, 1, 2, 83, 2000, 1_000_000] {
                for delta in [-2i64, -1, 0, 1, 2] {
                    let offset = k * interval + delta;
                    if offset < 0 {
                        continue;
                    }
                    let mut bucket = (offset as f64 * inverse) as i64;
                    if bucket * interval > offset {
                        bucket -= 1;
                    } else if (bucket + 1) * interval <= offset {
                        bucket += 1;
                    }
                    assert_eq!(bucket, offset / interval, "{interval} {offset}");
                }
            }
        }
    }
}
