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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 10, minute, 0).unwrap()
    }

    /// One ingest template's group: `count` logs between `first` and
    /// `last` (minutes), one service, a trend of two buckets, and one
    /// sample per minute given.
    fn raw(pattern: &str, count: u64, service: &str, minutes: &[u32]) -> RawGroup {
        let first = *minutes.iter().min().unwrap();
        let last = *minutes.iter().max().unwrap();
        RawGroup {
            group: PatternGroup {
                pattern: pattern.to_string(),
                pattern_id: log_patterns::pattern_id_of(pattern),
                count,
                first_seen: at(first),
                last_seen: at(last),
                services: BTreeMap::from([(service.to_string(), count)]),
                levels: BTreeMap::from([("ERROR".to_string(), count)]),
                trend: vec![count / 2, count - count / 2],
                samples: Vec::new(),
                is_new: None,
                pattern_ids: Vec::new(),
            },
            samples: minutes
                .iter()
                .map(|&m| (at(m).timestamp_micros(), format!("{pattern} at {m}")))
                .collect(),
        }
    }

    #[test]
    fn unrelated_templates_are_ranked_by_count_and_cut_at_the_limit() {
        let groups = vec![
            raw("connection refused by upstream", 5, "api", &[1]),
            raw("cache miss ratio above threshold", 40, "web", &[2]),
            raw("worker pool exhausted while scheduling", 12, "jobs", &[3]),
        ];
        let page = finish_patterns(groups, 2, None);
        assert_eq!(
            page.total_logs, 57,
            "every group counts, not only those shown"
        );
        let shown: Vec<(&str, u64)> = page
            .patterns
            .iter()
            .map(|g| (g.pattern.as_str(), g.count))
            .collect();
        assert_eq!(
            shown,
            [
                ("cache miss ratio above threshold", 40),
                ("worker pool exhausted while scheduling", 12)
            ]
        );
        for g in &page.patterns {
            assert_eq!(g.is_new, None, "no new_since asked");
            assert_eq!(g.pattern_ids, std::slice::from_ref(&g.pattern_id));
            assert_eq!(g.pattern_id, log_patterns::pattern_id_of(&g.pattern));
        }
    }

    #[test]
    fn one_event_split_over_templates_is_one_group_with_every_count() {
        let groups = vec![
            raw("disk sda1 failed on write", 3, "db", &[1, 9]),
            raw("disk sdb1 failed on write", 4, "db", &[5]),
            raw("disk sdc1 failed on write", 2, "backup", &[7, 2, 8]),
            raw("leader election lost in term", 1, "raft", &[4]),
        ];
        let ids: Vec<String> = groups.iter().map(|g| g.group.pattern_id.clone()).collect();
        let seen = HashSet::from([ids[1].clone()]);
        let page = finish_patterns(groups, 10, Some(&seen));
        assert_eq!(page.patterns.len(), 2, "{:?}", page.patterns);
        let disk = &page.patterns[0];
        assert_eq!(disk.pattern, "disk <*> failed on write");
        assert_eq!(disk.pattern_id, log_patterns::pattern_id_of(&disk.pattern));
        assert_eq!(disk.count, 9);
        assert_eq!((disk.first_seen, disk.last_seen), (at(1), at(9)));
        assert_eq!(
            disk.services,
            BTreeMap::from([("db".to_string(), 7), ("backup".to_string(), 2)])
        );
        assert_eq!(disk.trend.iter().sum::<u64>(), 9);
        assert_eq!(disk.levels["ERROR"], 9);
        let mut members = ids[..3].to_vec();
        members.sort();
        assert_eq!(disk.pattern_ids, members, "search finds its logs by these");
        assert_eq!(
            disk.samples,
            [
                "disk sda1 failed on write at 9",
                "disk sdc1 failed on write at 8",
                "disk sdc1 failed on write at 7"
            ],
            "the newest {SAMPLES} of all members"
        );
        assert_eq!(disk.is_new, Some(false), "one member was seen before");
        let raft = &page.patterns[1];
        assert_eq!(raft.pattern, "leader election lost in term");
        assert_eq!(raft.is_new, Some(true));
        assert_eq!(page.total_logs, 10);
    }

    #[test]
    fn returned_members_are_the_templates_of_the_groups_returned() {
        let groups = vec![
            raw("disk sda1 failed on write", 3, "db", &[1]),
            raw("disk sdb1 failed on write", 4, "db", &[2]),
            raw("disk sdc1 failed on write", 2, "db", &[3]),
            raw("leader election lost in term", 8, "raft", &[4]),
            raw("cache miss ratio above threshold", 1, "web", &[5]),
        ];
        let merged = merge_groups(&groups);
        let mut members = returned_members(&groups, &merged, 2);
        members.sort();
        assert_eq!(
            members,
            [0, 1, 2, 3],
            "the disk event (9) and the election (8)"
        );
        let page = finish_merged(groups.clone(), merged, 2, None);
        let returned: HashSet<String> = page
            .patterns
            .iter()
            .flat_map(|g| g.pattern_ids.iter().cloned())
            .collect();
        let expected: HashSet<String> = members
            .iter()
            .map(|&i| groups[i].group.pattern_id.clone())
            .collect();
        assert_eq!(returned, expected);
    }

    #[test]
    fn keeping_the_most_frequent_breaks_ties_by_key() {
        let mut counts = vec![("b", 2), ("a", 2), ("c", 5), ("d", 1)];
        assert!(keep_most_frequent(&mut counts, 2));
        counts.sort_by(by_count);
        assert_eq!(counts, [("c", 5), ("a", 2)]);
        let mut few = vec![("x", 1)];
        assert!(!keep_most_frequent(&mut few, 2), "nothing dropped");
        let top = top_values([("x".into(), 0), ("y".into(), 3)], 5);
        assert_eq!(top, [("y".to_string(), 3)], "zero counts are not values");
    }
}
