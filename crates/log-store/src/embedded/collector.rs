//! A tantivy collector that groups matching logs by ingest template, reading
//! fast fields only (stored documents are read later, for the few samples).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use log_model::PatternsQuery;
use log_patterns::pattern_id_of;

use crate::model::SAMPLES;
use crate::PatternGroup;

/// Groups by template; the trend buckets split `[start, end)` of the query.
pub struct PatternCollector {
    pub window: Option<PatternsQuery>,
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
    template: Option<StrColumn>,
    service: Option<StrColumn>,
    level: Option<StrColumn>,
    ts: Column<i64>,
    /// Indexed by template ordinal (dense in a segment); the last slot is
    /// for documents without a template.
    groups: Vec<Option<SegmentGroup>>,
    /// The window the trend buckets split, when there is a trend.
    window: Option<PatternsQuery>,
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
        let template = fast.str("template")?;
        let slots = template.as_ref().map_or(0, |t| t.num_terms()) + 1;
        Ok(PatternSegmentCollector {
            segment,
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
        let Some(template) = &self.template else {
            return;
        };
        let slot = template
            .ords()
            .first(doc)
            .map_or(self.groups.len() - 1, |o| o as usize);
        let ts = self.ts.first(doc).unwrap_or_default();
        let buckets = self.window.as_ref().map_or(0, |w| w.buckets);
        let group = self.groups[slot].get_or_insert_with(|| SegmentGroup {
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            trend: vec![0; buckets],
            ..Default::default()
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
        if let Some(window) = &self.window {
            group.trend[window.bucket_of(ts)] += 1;
        }
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
            if let (Some(col), true) = (&self.template, slot != no_template) {
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
