use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use log_model::StoredLog;
use serde::Serialize;

/// One page of search results, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub logs: Vec<StoredLog>,
    /// Every match, not only this page.
    pub total_count: u64,
}

/// ERROR/CRITICAL (or the asked levels) logs of a window grouped by template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternsPage {
    pub patterns: Vec<PatternGroup>,
    /// Logs in the window that matched the filters, over all groups.
    pub total_logs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternGroup {
    pub pattern: String,
    pub pattern_id: String,
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Service name to count; logs without a service are not listed.
    pub services: BTreeMap<String, u64>,
    /// Up to [`SAMPLES`] real messages of the group, newest first.
    pub samples: Vec<String>,
}

/// How many sample messages a pattern group carries.
pub const SAMPLES: usize = 3;

impl PatternGroup {
    /// Folds another group of the same template into this one.
    pub fn merge(&mut self, other: PatternGroup) {
        self.count += other.count;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        for (service, count) in other.services {
            *self.services.entry(service).or_default() += count;
        }
        if self.samples.len() < SAMPLES {
            let room = SAMPLES - self.samples.len();
            self.samples.extend(other.samples.into_iter().take(room));
        }
    }
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
