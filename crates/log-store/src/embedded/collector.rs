//! A tantivy collector that groups matching logs by template, reading the
//! fast fields only (no stored documents).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use log_patterns::pattern_id_of;

use crate::model::SAMPLES;
use crate::PatternGroup;

pub struct PatternCollector;

#[derive(Default)]
struct SegmentGroup {
    count: u64,
    min_ts: i64,
    max_ts: i64,
    /// Service term ordinal to count.
    services: HashMap<u64, u64>,
    /// The newest documents, newest first (at most SAMPLES).
    newest: Vec<(i64, DocId)>,
}

/// A document that may become a sample: its time and where it is.
pub type Candidate = (i64, DocAddress);

/// Keeps the `SAMPLES` newest of `candidates`, newest first.
pub fn newest<T>(mut candidates: Vec<(i64, T)>) -> Vec<(i64, T)> {
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    candidates.truncate(SAMPLES);
    candidates
}

pub struct PatternSegmentCollector {
    segment: SegmentOrdinal,
    template: Option<StrColumn>,
    service: Option<StrColumn>,
    ts: Column<i64>,
    groups: HashMap<u64, SegmentGroup>,
}

/// Template to group, with its sample candidates.
pub type Groups = HashMap<String, (PatternGroup, Vec<Candidate>)>;

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
        Ok(PatternSegmentCollector {
            segment,
            template: fast.str("template")?,
            service: fast.str("service")?,
            ts: fast.i64("ts")?,
            groups: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Groups>) -> tantivy::Result<Groups> {
        Ok(merge_groups(fruits))
    }
}

/// Merges per-segment (or per-partition) groups of the same template.
pub fn merge_groups<T>(
    fruits: impl IntoIterator<Item = HashMap<String, (PatternGroup, Vec<(i64, T)>)>>,
) -> HashMap<String, (PatternGroup, Vec<(i64, T)>)> {
    let mut all: HashMap<String, (PatternGroup, Vec<(i64, T)>)> = HashMap::new();
    for fruit in fruits {
        for (template, (group, candidates)) in fruit {
            match all.get_mut(&template) {
                Some((existing, existing_candidates)) => {
                    existing.merge(group);
                    existing_candidates.extend(candidates);
                    let merged = newest(std::mem::take(existing_candidates));
                    *existing_candidates = merged;
                }
                None => {
                    all.insert(template, (group, newest(candidates)));
                }
            }
        }
    }
    all
}

impl SegmentCollector for PatternSegmentCollector {
    type Fruit = Groups;

    fn collect(&mut self, doc: DocId, _: Score) {
        let Some(template) = &self.template else {
            return;
        };
        let ord = template.ords().first(doc).unwrap_or(u64::MAX);
        let ts = self.ts.first(doc).unwrap_or_default();
        let group = self.groups.entry(ord).or_insert_with(|| SegmentGroup {
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            ..Default::default()
        });
        group.count += 1;
        group.min_ts = group.min_ts.min(ts);
        group.max_ts = group.max_ts.max(ts);
        if let Some(service) = self.service.as_ref().and_then(|s| s.ords().first(doc)) {
            *group.services.entry(service).or_default() += 1;
        }
        if group.newest.len() < SAMPLES || group.newest.last().is_some_and(|(t, _)| ts > *t) {
            let at = group.newest.partition_point(|(t, _)| *t >= ts);
            group.newest.insert(at, (ts, doc));
            group.newest.truncate(SAMPLES);
        }
    }

    fn harvest(self) -> Groups {
        let mut out = Groups::new();
        let mut buf = String::new();
        for (ord, group) in self.groups {
            buf.clear();
            if ord != u64::MAX {
                if let Some(template) = &self.template {
                    let _ = template.ord_to_str(ord, &mut buf);
                }
            }
            let mut services = BTreeMap::new();
            for (sord, count) in group.services {
                let mut name = String::new();
                if let Some(col) = &self.service {
                    let _ = col.ord_to_str(sord, &mut name);
                }
                *services.entry(name).or_default() += count;
            }
            let candidates = group
                .newest
                .iter()
                .map(|(ts, doc)| (*ts, DocAddress::new(self.segment, *doc)))
                .collect();
            out.insert(
                buf.clone(),
                (
                    PatternGroup {
                        pattern: buf.clone(),
                        pattern_id: pattern_id_of(&buf),
                        count: group.count,
                        first_seen: time_of(group.min_ts),
                        last_seen: time_of(group.max_ts),
                        services,
                        samples: Vec::new(),
                    },
                    candidates,
                ),
            );
        }
        out
    }
}
