//! Pattern requests and the trend arithmetic of their buckets.

use super::*;

/// `GET /logs/patterns` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatternsRequest {
    #[serde(flatten)]
    #[param(ignore)]
    pub filter: FilterParams,
    /// Window ending now; ignored when `start_time` is given. Default 24.
    #[serde(default, deserialize_with = "num_hours")]
    pub hours: Option<f64>,
    #[serde(default, deserialize_with = "num_limit")]
    pub limit: Option<usize>,
    /// A pattern is new when nothing of it was seen before this time.
    pub new_since: Option<String>,
    /// Time buckets of each pattern's trend (default 24).
    #[serde(default, deserialize_with = "num_buckets")]
    pub buckets: Option<usize>,
}

/// Default number of trend buckets.
pub const DEFAULT_BUCKETS: usize = 24;

/// A validated patterns request over `[start, end)` (the filter's range).
#[derive(Debug, Clone, PartialEq)]
pub struct PatternsQuery {
    pub filter: Filter,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub limit: usize,
    pub buckets: usize,
    pub new_since: Option<DateTime<Utc>>,
    /// What the request may spend.
    pub budget: ReadBudget,
}

impl PatternsQuery {
    /// The trend bucket of a time in the window (clamped to the window).
    pub fn bucket_of(&self, micros: i64) -> usize {
        // In i128: a window may span any two valid timestamps (years 1 to
        // 9999 are 3.2e17 us), times up to 500 buckets.
        let start = i128::from(self.start.timestamp_micros());
        let span = (i128::from(self.end.timestamp_micros()) - start).max(1);
        let offset = (i128::from(micros) - start).clamp(0, span - 1);
        let buckets = self.buckets.max(1) as i128;
        ((offset * buckets / span) as usize).min(self.buckets.max(1) - 1)
    }

    /// Length of one trend bucket, in milliseconds (at least 1).
    pub fn bucket_millis(&self) -> i64 {
        ((self.end - self.start).num_milliseconds() / self.buckets as i64).max(1)
    }
}

impl ReadRequest for PatternsRequest {
    type Query = PatternsQuery;

    fn describe(&self) -> String {
        self.filter.describe()
    }

    fn into_query(
        mut self,
        now: DateTime<Utc>,
        tenants: Tenants,
    ) -> Result<PatternsQuery, FieldError> {
        if let Some(h) = self.hours {
            if !h.is_finite() || !(0.001..=87600.0).contains(&h) {
                return Err(range_error(
                    "hours",
                    "must be a number between 0.001 and 87600",
                ));
            }
        }
        let limit = self.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(range_error("limit", "must be between 1 and 1000"));
        }
        let buckets = self.buckets.unwrap_or(DEFAULT_BUCKETS);
        if !(1..=500).contains(&buckets) {
            return Err(range_error("buckets", "must be between 1 and 500"));
        }
        // Patterns are of errors unless the request names levels.
        let names_level = self
            .filter
            .level
            .as_deref()
            .is_some_and(|l| !l.trim().is_empty())
            || self.filter.query.as_deref().is_some_and(|q| {
                Expr::parse(q).is_ok_and(|e| e.any_leaf(&mut |l| matches!(l, Leaf::Levels(_))))
            });
        if !names_level {
            self.filter.level = Some("ERROR,CRITICAL".into());
        }
        let new_since = time_field("new_since", self.new_since, now)?;
        let hours = self.hours;
        let filter = self.filter.into_filter(now, tenants)?;
        let end = filter.end.unwrap_or(now);
        let start = match filter.start {
            Some(start) => start,
            None => end - Duration::milliseconds((hours.unwrap_or(24.0) * 3_600_000.0) as i64),
        };
        if end < start {
            return Err(range_error("end_time", "must not be before start_time"));
        }
        Ok(PatternsQuery {
            filter: Filter {
                start: Some(start),
                end: Some(end),
                ..filter
            },
            start,
            end,
            limit,
            buckets,
            new_since,
            budget: ReadBudget::default(),
        })
    }
}
