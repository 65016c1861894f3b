//! What one expensive read may spend.

/// What one expensive read may spend; a store that reaches a bound answers
/// with what it has and says why the answer is partial.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadBudget {
    /// Distinct ingest templates a patterns request groups: past this, the
    /// most frequent are grouped and the others only counted.
    pub max_templates: usize,
    /// Distinct values of one field a facets request keeps while counting:
    /// past this, the most frequent are kept and their counts become lower
    /// bounds.
    pub max_values: usize,
    /// When the store stops reading (`None`: no time bound).
    pub deadline: Option<std::time::Instant>,
}

/// Default of [`ReadBudget::max_templates`]: the query-time merge of this
/// many templates takes about a tenth of a second on one core.
pub const DEFAULT_MAX_TEMPLATES: usize = 10_000;

/// Default of [`ReadBudget::max_values`]: about 4 MiB of short values per
/// field.
pub const DEFAULT_MAX_VALUES: usize = 50_000;

impl Default for ReadBudget {
    fn default() -> Self {
        ReadBudget {
            max_templates: DEFAULT_MAX_TEMPLATES,
            max_values: DEFAULT_MAX_VALUES,
            deadline: None,
        }
    }
}

impl ReadBudget {
    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
    }
}
