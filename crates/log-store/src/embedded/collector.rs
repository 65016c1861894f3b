//! A tantivy collector that groups matching logs by ingest template, reading
//! fast fields only (stored documents are read later, for the few samples).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use log_model::PatternsQuery;
use log_patterns::{pattern_hash, pattern_id_of};

use crate::model::SAMPLES;
use crate::PatternGroup;

/// Groups by template; the trend buckets split `[start, end)` of the query.
pub struct PatternCollector {
    pub window: PatternsQuery,
    /// Only these templates (by [`pattern_hash`]) are grouped; `None`: all.
    pub keep: Option<Arc<HashSet<u64>>>,
    pub stop: Stop,
}

/// A read's deadline, shared by its collectors: once it has passed, they
/// stop counting and the answer says so.
#[derive(Clone, Default)]
pub struct Stop {
    deadline: Option<Instant>,
    hit: Arc<AtomicBool>,
}

impl Stop {
    pub fn new(deadline: Option<Instant>) -> Self {
        Stop {
            deadline,
            hit: Arc::default(),
        }
    }

    /// Whether the deadline has passed; the clock is read at the first
    /// call and then once every 1024 (a call per document or block).
    pub fn due(&self, calls: &mut u32) -> bool {
        if self.hit.load(Ordering::Relaxed) {
            return true;
        }
        *calls = calls.wrapping_add(1);
        if *calls % 1024 == 1 && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.hit.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Whether some collector stopped short.
    pub fn hit(&self) -> bool {
        self.hit.load(Ordering::Relaxed)
    }
}

/// The number of distinct templates in a searcher's segments' dictionaries
/// (an upper bound of the distinct templates a query over it can meet).
pub fn template_terms(reader: &SegmentReader) -> usize {
    match reader.fast_fields().str("template") {
        Ok(Some(column)) => column.num_terms(),
        _ => 0,
    }
}

/// A segment's template column, read document by document within the
/// read's deadline: what each collector below starts its `collect` with.
pub struct TemplateSlots {
    column: Option<StrColumn>,
    stop: Stop,
    calls: u32,
}

impl TemplateSlots {
    fn open(reader: &SegmentReader, stop: &Stop) -> tantivy::Result<Self> {
        Ok(TemplateSlots {
            column: reader.fast_fields().str("template")?,
            stop: stop.clone(),
            calls: 0,
        })
    }

    /// One slot per template of the segment, and the last for documents
    /// without one.
    fn len(&self) -> usize {
        self.column.as_ref().map_or(0, |c| c.num_terms()) + 1
    }

    /// The slot of `doc`; `None` when the segment has no template column
    /// or the deadline has passed.
    fn of(&mut self, doc: DocId) -> Option<usize> {
        let column = self.column.as_ref()?;
        if self.stop.due(&mut self.calls) {
            return None;
        }
        let none = column.num_terms();
        Some(column.ords().first(doc).map_or(none, |o| o as usize))
    }
}

/// Calls `f(ord, template)` for each term of a template column, in order.
fn each_template(column: &StrColumn, mut f: impl FnMut(u64, &[u8])) -> tantivy::Result<()> {
    let mut stream = column.dictionary().stream()?;
    while stream.advance() {
        f(stream.term_ord(), stream.key());
    }
    Ok(())
}

/// A hasher for term ordinals (small dense integers): one multiply.
#[derive(Default, Clone, Copy)]
struct OrdHasher(u64);

impl std::hash::Hasher for OrdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type OrdMap = HashMap<u64, u64, std::hash::BuildHasherDefault<OrdHasher>>;

#[derive(Default)]
struct SegmentGroup {
    count: u64,
    min_ts: i64,
    max_ts: i64,
    /// Term ordinal to count.
    services: OrdMap,
    /// Level ordinal to count (five levels at most: a short list).
    levels: Vec<(u64, u64)>,
    trend: Vec<u64>,
    /// The newest documents, newest first (at most SAMPLES).
    newest: Vec<(i64, DocId)>,
}

/// A document that may become a sample: its time and where it is.
pub type Candidate = (i64, DocAddress);

/// Template to group, with its sample candidates.
pub type Groups = HashMap<String, (PatternGroup, Vec<Candidate>)>;

pub struct PatternSegmentCollector {
    segment: SegmentOrdinal,
    /// By template slot: whether it is grouped (`None`: all are).
    kept: Option<Vec<bool>>,
    template: TemplateSlots,
    service: Option<StrColumn>,
    level: Option<StrColumn>,
    ts: Column<i64>,
    /// Indexed by template slot (see [`TemplateSlots`]).
    groups: Vec<Option<Box<SegmentGroup>>>,
    /// The window the trend buckets split.
    window: PatternsQuery,
}

fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

impl Collector for PatternCollector {
    type Fruit = Groups;
    type Child = PatternSegmentCollector;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let fast = reader.fast_fields();
        let template = TemplateSlots::open(reader, &self.stop)?;
        let slots = template.len();
        let kept = match (&self.keep, &template.column) {
            (Some(keep), Some(column)) => {
                let mut kept = vec![false; slots];
                each_template(column, |ord, key| {
                    kept[ord as usize] = keep.contains(&pattern_hash(key));
                })?;
                kept[slots - 1] = keep.contains(&pattern_hash(b""));
                Some(kept)
            }
            _ => None,
        };
        Ok(PatternSegmentCollector {
            segment,
            kept,
            template,
            service: fast.str("service")?,
            level: fast.str("level")?,
            ts: fast.i64("ts")?,
            groups: (0..slots).map(|_| None).collect(),
            window: self.window.clone(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Groups>) -> tantivy::Result<Groups> {
        let mut all = Groups::new();
        for fruit in fruits {
            for (template, (group, candidates)) in fruit {
                match all.get_mut(&template) {
                    Some((existing, existing_candidates)) => {
                        existing.absorb_counts(group);
                        existing_candidates.extend(candidates);
                        existing_candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
                        existing_candidates.truncate(SAMPLES);
                    }
                    None => {
                        all.insert(template, (group, candidates));
                    }
                }
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for PatternSegmentCollector {
    type Fruit = Groups;

    fn collect(&mut self, doc: DocId, _: Score) {
        let Some(slot) = self.template.of(doc) else {
            return;
        };
        if self.kept.as_ref().is_some_and(|kept| !kept[slot]) {
            return;
        }
        let ts = self.ts.first(doc).unwrap_or_default();
        let buckets = self.window.buckets;
        let group = self.groups[slot].get_or_insert_with(|| {
            Box::new(SegmentGroup {
                min_ts: i64::MAX,
                max_ts: i64::MIN,
                trend: vec![0; buckets],
                ..Default::default()
            })
        });
        group.count += 1;
        group.min_ts = group.min_ts.min(ts);
        group.max_ts = group.max_ts.max(ts);
        if let Some(service) = self.service.as_ref().and_then(|s| s.ords().first(doc)) {
            *group.services.entry(service).or_default() += 1;
        }
        if let Some(level) = self.level.as_ref().and_then(|s| s.ords().first(doc)) {
            match group.levels.iter_mut().find(|(l, _)| *l == level) {
                Some((_, n)) => *n += 1,
                None => group.levels.push((level, 1)),
            }
        }
        group.trend[self.window.bucket_of(ts)] += 1;
        if group.newest.len() < SAMPLES || group.newest.last().is_some_and(|(t, _)| ts > *t) {
            let at = group.newest.partition_point(|(t, _)| *t >= ts);
            group.newest.insert(at, (ts, doc));
            group.newest.truncate(SAMPLES);
        }
    }

    fn harvest(self) -> Groups {
        let names = |column: &Option<StrColumn>, counts: Vec<(u64, u64)>| {
            let mut out = BTreeMap::new();
            for (ord, count) in counts {
                let mut name = String::new();
                if let Some(col) = column {
                    let _ = col.ord_to_str(ord, &mut name);
                }
                *out.entry(name).or_default() += count;
            }
            out
        };
        let mut out = Groups::new();
        let no_template = self.groups.len() - 1;
        for (slot, group) in self.groups.into_iter().enumerate() {
            let Some(group) = group else { continue };
            let mut template = String::new();
            if let (Some(col), true) = (&self.template.column, slot != no_template) {
                let _ = col.ord_to_str(slot as u64, &mut template);
            }
            let candidates = group
                .newest
                .iter()
                .map(|(ts, doc)| (*ts, DocAddress::new(self.segment, *doc)))
                .collect();
            let pattern = PatternGroup {
                pattern_id: pattern_id_of(&template),
                pattern: template.clone(),
                count: group.count,
                first_seen: time_of(group.min_ts),
                last_seen: time_of(group.max_ts),
                services: names(&self.service, group.services.into_iter().collect()),
                levels: names(&self.level, group.levels),
                trend: group.trend,
                samples: Vec::new(),
                is_new: None,
                pattern_ids: Vec::new(),
            };
            out.insert(template, (pattern, candidates));
        }
        out
    }
}

/// Counts matching documents per template, keyed by [`pattern_hash`]: the
/// cheap first pass that tells which templates a bounded request groups.
pub struct TemplateCounts {
    pub stop: Stop,
}

pub struct TemplateCountsSegment {
    template: TemplateSlots,
    /// By template slot.
    counts: Vec<u32>,
}

impl Collector for TemplateCounts {
    type Fruit = HashMap<u64, u64>;
    type Child = TemplateCountsSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let template = TemplateSlots::open(reader, &self.stop)?;
        Ok(TemplateCountsSegment {
            counts: vec![0; template.len()],
            template,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all = HashMap::new();
        for fruit in fruits {
            for (hash, count) in fruit {
                *all.entry(hash).or_default() += count;
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for TemplateCountsSegment {
    type Fruit = HashMap<u64, u64>;

    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(slot) = self.template.of(doc) {
            self.counts[slot] += 1;
        }
    }

    fn harvest(self) -> Self::Fruit {
        let mut out = HashMap::new();
        let Some(column) = &self.template.column else {
            return out;
        };
        let counts = &self.counts;
        let _ = each_template(column, |ord, key| {
            if counts[ord as usize] > 0 {
                *out.entry(pattern_hash(key)).or_default() += u64::from(counts[ord as usize]);
            }
        });
        if let Some(&n) = counts.last().filter(|n| **n > 0) {
            *out.entry(pattern_hash(b"")).or_default() += u64::from(n);
        }
        out
    }
}

/// Which of some templates any matching document carries (for "new"
/// patterns: was it seen before the window). Looks only for those
/// templates, so its memory is theirs whatever the history holds.
pub struct SeenCollector {
    pub templates: Arc<Vec<String>>,
    pub stop: Stop,
}

pub struct SeenSegment {
    template: TemplateSlots,
    /// Template slot to its index in `templates` (the last slot, documents
    /// without a template, to the empty template's).
    wanted: HashMap<usize, usize>,
    seen: Vec<bool>,
}

impl Collector for SeenCollector {
    type Fruit = Vec<bool>;
    type Child = SeenSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let template = TemplateSlots::open(reader, &self.stop)?;
        let mut wanted = HashMap::new();
        if let Some(i) = self.templates.iter().position(|t| t.is_empty()) {
            wanted.insert(template.len() - 1, i);
        }
        if let Some(column) = &template.column {
            // Few templates against a large dictionary: look each one up;
            // else read the dictionary once.
            if self.templates.len() * 8 < column.num_terms() {
                for (i, t) in self.templates.iter().enumerate() {
                    if let Some(ord) = column.dictionary().term_ord(t)? {
                        wanted.insert(ord as usize, i);
                    }
                }
            } else {
                let by_hash: HashMap<u64, usize> = self
                    .templates
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (pattern_hash(t.as_bytes()), i))
                    .collect();
                each_template(column, |ord, key| {
                    if let Some(&i) = by_hash.get(&pattern_hash(key)) {
                        if self.templates[i].as_bytes() == key {
                            wanted.insert(ord as usize, i);
                        }
                    }
                })?;
            }
        }
        Ok(SeenSegment {
            template,
            wanted,
            seen: vec![false; self.templates.len()],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<bool>>) -> tantivy::Result<Vec<bool>> {
        let mut all = vec![false; self.templates.len()];
        for fruit in fruits {
            for (a, b) in all.iter_mut().zip(fruit) {
                *a |= b;
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for SeenSegment {
    type Fruit = Vec<bool>;

    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(&i) = self
            .template
            .of(doc)
            .and_then(|slot| self.wanted.get(&slot))
        {
            self.seen[i] = true;
        }
    }

    fn harvest(self) -> Vec<bool> {
        self.seen
    }
}
