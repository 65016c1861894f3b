use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use log_model::StoredLog;
use serde::Serialize;

/// One page of search results, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchPage {
    pub logs: Vec<StoredLog>,
    /// Every match, not only this page (or a lower bound: see below).
    pub total_count: u64,
    /// `total_count` stopped at the request's bound: there are more.
    pub total_is_lower_bound: bool,
    /// What could not be read (damaged day partitions, failed shards): when
    /// not empty, the answer is partial.
    pub missing: Vec<String>,
}

/// Counts of matching logs per time bucket, per level.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Each bucket's start (milliseconds since the epoch, aligned to the
    /// interval) and its counts per level, in `Level::ALL` order; every
    /// bucket of the range, oldest first, empty ones included.
    pub buckets: Vec<(i64, [u64; 5])>,
    pub missing: Vec<String>,
    /// The budgets the request reached, each as a sentence: when not
    /// empty, the answer is partial.
    pub limited: Vec<String>,
}

/// The top values of level, service and source among matching logs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facets {
    pub total_count: u64,
    /// Field name, then its values and counts, most frequent first (ties by value).
    pub fields: Vec<(String, Vec<(String, u64)>)>,
    pub missing: Vec<String>,
    /// The budgets the request reached, each as a sentence: when not
    /// empty, the answer is partial.
    pub limited: Vec<String>,
}

/// The `size` most frequent values (ties by value, ascending).
pub fn top_values(
    counts: impl IntoIterator<Item = (String, u64)>,
    size: usize,
) -> Vec<(String, u64)> {
    let mut values: Vec<(String, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    keep_most_frequent(&mut values, size);
    values.sort_by(by_count);
    values
}

/// Most frequent first, ties by key (ascending).
pub fn by_count<K: Ord>(a: &(K, u64), b: &(K, u64)) -> std::cmp::Ordering {
    b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))
}

/// Keeps the `n` most frequent of `counts` (ties by key, ascending), in no
/// order; says whether any were dropped.
pub fn keep_most_frequent<K: Ord>(counts: &mut Vec<(K, u64)>, n: usize) -> bool {
    if counts.len() <= n {
        return false;
    }
    counts.select_nth_unstable_by(n, by_count);
    counts.truncate(n);
    true
}

/// ERROR/CRITICAL (or the asked levels) logs of a window grouped into
/// patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct PatternsPage {
    pub patterns: Vec<PatternGroup>,
    /// Logs in the window that matched the filters, over all groups.
    pub total_logs: u64,
    /// What could not be read: when not empty, the answer is partial.
    #[serde(skip)]
    pub missing: Vec<String>,
    /// The budgets the request reached, each as a sentence: when not
    /// empty, the answer is partial.
    #[serde(skip)]
    pub limited: Vec<String>,
}

/// One pattern: logs of one event, whatever their variable parts.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Pattern)]
pub struct PatternGroup {
    /// The template: the messages' constant words, `<*>` for what varies.
    pub pattern: String,
    /// Stable hash of `pattern` (for a single ingest template, the
    /// `pattern_id` stored with each of its logs).
    pub pattern_id: String,
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Service name to count; logs without a service are not listed.
    pub services: BTreeMap<String, u64>,
    /// Level to count.
    pub levels: BTreeMap<String, u64>,
    /// Counts in equal time buckets across the window, oldest first.
    pub trend: Vec<u64>,
    /// Up to [`SAMPLES`] real messages of the group, newest first.
    pub samples: Vec<String>,
    /// Nothing of this pattern was seen before `new_since` (null when the
    /// request gave no `new_since`).
    pub is_new: Option<bool>,
    /// The `pattern_id`s stored with this pattern's logs: the ingest
    /// templates the query-time merge joined (search
    /// `pattern_id:(a OR b)` for its logs).
    pub pattern_ids: Vec<String>,
}

/// How many sample messages a pattern group carries.
pub const SAMPLES: usize = 3;

/// A group for one ingest template, as a backend computes it, before the
/// query-time merge.
#[derive(Debug, Clone, PartialEq)]
pub struct RawGroup {
    pub group: PatternGroup,
    /// Sample candidates with their time (microseconds), any order.
    pub samples: Vec<(i64, String)>,
}

impl RawGroup {
    /// Folds another group into this one (same template, or one event).
    pub fn absorb(&mut self, other: RawGroup) {
        self.group.absorb_counts(other.group);
        self.samples.extend(other.samples);
        self.samples
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        self.samples.dedup();
        self.samples.truncate(SAMPLES);
    }
}

impl PatternGroup {
    /// Adds another group's counts, times, services, levels and trend.
    pub fn absorb_counts(&mut self, o: PatternGroup) {
        let g = self;
        g.count += o.count;
        g.first_seen = g.first_seen.min(o.first_seen);
        g.last_seen = g.last_seen.max(o.last_seen);
        for (service, count) in o.services {
            *g.services.entry(service).or_default() += count;
        }
        for (level, count) in o.levels {
            *g.levels.entry(level).or_default() += count;
        }
        if g.trend.len() < o.trend.len() {
            g.trend.resize(o.trend.len(), 0);
        }
        for (slot, count) in g.trend.iter_mut().zip(o.trend) {
            *slot += count;
        }
    }
}

/// The query-time half of pattern mining, shared by every backend: merges
/// the templates that are one event ([`log_patterns::merge_templates`]),
/// marks new patterns, ranks by count and keeps `limit`.
///
/// `seen_before` holds the pattern ids (of ingest templates) seen before
/// `new_since`, when the request asked.
pub fn finish_patterns(
    raw: Vec<RawGroup>,
    limit: usize,
    seen_before: Option<&HashSet<String>>,
) -> PatternsPage {
    let merged = merge_groups(&raw);
    finish_merged(raw, merged, limit, seen_before)
}

/// The query-time merge of `raw`'s templates (weighted by their counts).
pub fn merge_groups(raw: &[RawGroup]) -> Vec<log_patterns::Merged> {
    let templates: Vec<(&str, u64)> = raw
        .iter()
        .map(|r| (r.group.pattern.as_str(), r.group.count))
        .collect();
    log_patterns::merge_templates(&templates)
}

/// [`finish_patterns`] with the merge of `raw` already made (by
/// [`merge_groups`], over the same templates): a backend that first asked
/// [`returned_members`] merges once.
pub fn finish_merged(
    raw: Vec<RawGroup>,
    merged: Vec<log_patterns::Merged>,
    limit: usize,
    seen_before: Option<&HashSet<String>>,
) -> PatternsPage {
    let total_logs = raw.iter().map(|r| r.group.count).sum();
    let mut slots: Vec<Option<RawGroup>> = raw.iter().cloned().map(Some).collect();
    let mut groups = Vec::with_capacity(merged.len());
    for m in merged {
        let is_new = seen_before.map(|seen| {
            !m.members
                .iter()
                .any(|&i| seen.contains(&raw[i].group.pattern_id))
        });
        let mut pattern_ids: Vec<String> = m
            .members
            .iter()
            .map(|&i| raw[i].group.pattern_id.clone())
            .collect();
        pattern_ids.sort();
        pattern_ids.dedup();
        let mut members = m.members.iter().filter_map(|&i| slots[i].take());
        let Some(mut acc) = members.next() else {
            continue;
        };
        for other in members {
            acc.absorb(other);
        }
        let mut group = acc.group;
        if group.pattern != m.template {
            group.pattern_id = log_patterns::pattern_id_of(&m.template);
            group.pattern = m.template;
        }
        group.samples = acc
            .samples
            .into_iter()
            .map(|(_, message)| message)
            .collect();
        group.is_new = is_new;
        group.pattern_ids = pattern_ids;
        groups.push(group);
    }
    PatternsPage {
        patterns: rank_patterns(groups, limit),
        total_logs,
        missing: Vec::new(),
        limited: Vec::new(),
    }
}

/// The indexes (into `raw`) of the ingest templates that make up the
/// `limit` patterns [`finish_merged`] returns, given `raw`'s merge: a
/// backend that computes the costly parts of a group (services, trend,
/// samples) only for them asks for these.
pub fn returned_members(
    raw: &[RawGroup],
    merged: &[log_patterns::Merged],
    limit: usize,
) -> Vec<usize> {
    let mut ranked: Vec<(u64, String, &[usize])> = merged
        .iter()
        .filter(|m| !m.members.is_empty())
        .map(|m| {
            let count = m.members.iter().map(|&i| raw[i].group.count).sum();
            // The id finish_merged gives the group.
            let first = &raw[m.members[0]].group;
            let id = if first.pattern == m.template {
                first.pattern_id.clone()
            } else {
                log_patterns::pattern_id_of(&m.template)
            };
            (count, id, m.members.as_slice())
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(limit)
        .flat_map(|(_, _, members)| members.iter().copied())
        .collect()
}

/// Sorts groups by count (then id, for a stable order) and keeps `limit`.
pub fn rank_patterns(mut groups: Vec<PatternGroup>, limit: usize) -> Vec<PatternGroup> {
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.pattern_id.cmp(&b.pattern_id))
    });
    groups.truncate(limit);
    groups
}
