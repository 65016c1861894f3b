//! Search, histogram, facets, export and context requests, and the
//! validated queries they become.

use super::*;

/// `POST /logs/search` body, or `GET /logs/search` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchRequest {
    #[serde(flatten)]
    #[param(ignore)]
    pub filter: FilterParams,
    #[serde(default, deserialize_with = "num_limit")]
    pub limit: Option<usize>,
    /// Results to skip (old clients; `cursor` reaches further).
    #[serde(default, deserialize_with = "num_offset")]
    pub offset: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    pub order: Option<String>,
    /// Count matches exactly up to this many (default 10,000, as Elasticsearch), or `true`:
    /// all of them, `false`: none. Past the bound `total_count` is a lower
    /// bound and `total_relation` says `gte`.
    #[serde(default, deserialize_with = "track_total")]
    pub track_total: Option<TrackTotal>,
}

/// How far a search counts its matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackTotal {
    All(bool),
    UpTo(u64),
}

/// In the OpenAPI documents: a boolean or a count.
impl utoipa::PartialSchema for TrackTotal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .into()
    }
}

impl utoipa::ToSchema for TrackTotal {}

/// Matches counted exactly by default: past this many, counting costs more
/// than the page (`total_count` is then a lower bound).
pub const DEFAULT_TRACK_TOTAL: u64 = 10_000;

pub(super) fn track_total<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TrackTotal>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Bool(bool),
        Num(u64),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::Bool(b)) => Some(TrackTotal::All(b)),
        Some(Either::Num(n)) => Some(TrackTotal::UpTo(n)),
        Some(Either::Text(t)) => match t.trim() {
            "" => None,
            "true" => Some(TrackTotal::All(true)),
            "false" => Some(TrackTotal::All(false)),
            n => Some(TrackTotal::UpTo(n.parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "track_total: {t:?} is neither true, false nor a number"
                ))
            })?)),
        },
    })
}

/// A validated search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub filter: Filter,
    pub limit: usize,
    pub offset: usize,
    pub order: SortOrder,
    /// Only logs after this key in `order` (the cursor's).
    pub after: Option<SortKey>,
    /// Count matches exactly up to this many (`total_count`; `u64::MAX`:
    /// every one); `None`: no count (exports, tails, context).
    pub track_total: Option<u64>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            filter: Filter::default(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            order: SortOrder::Desc,
            after: None,
            track_total: Some(DEFAULT_TRACK_TOTAL),
        }
    }
}

impl SearchQuery {
    /// A search of `tenants`' logs, every other setting at its default.
    pub fn over(tenants: Tenants) -> SearchQuery {
        SearchQuery {
            filter: Filter {
                tenant: tenants,
                ..Filter::default()
            },
            ..SearchQuery::default()
        }
    }

    /// The cursor that continues after `last` (a log of this page).
    pub fn cursor_after(&self, ts: i64, id: &str) -> Cursor {
        Cursor {
            order: self.order,
            key: SortKey {
                ts,
                id: id.to_string(),
            },
        }
    }
}

pub(super) fn range_error(field: &str, reason: &str) -> FieldError {
    FieldError::new(field, "invalid_field", reason)
}

impl ReadRequest for SearchRequest {
    type Query = SearchQuery;

    fn describe(&self) -> String {
        self.filter.describe()
    }

    fn into_query(self, now: DateTime<Utc>, tenants: Tenants) -> Result<SearchQuery, FieldError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(range_error("limit", "must be between 1 and 1000"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_RESULT_WINDOW - 1 {
            return Err(range_error("offset", "must be at most 9999"));
        }
        if offset + limit > MAX_RESULT_WINDOW {
            return Err(range_error(
                "offset",
                "offset + limit must be at most 10000; page further with cursor (next_cursor of each answer)",
            ));
        }
        let mut order = SortOrder::from_param(self.order)?;
        let after = match non_empty(self.cursor) {
            None => None,
            Some(c) => {
                if offset > 0 {
                    return Err(range_error(
                        "offset",
                        "cannot be used with cursor: the cursor says where the page starts",
                    ));
                }
                let cursor = Cursor::parse(&c)?;
                order = cursor.order;
                Some(cursor.key)
            }
        };
        Ok(SearchQuery {
            filter: self.filter.into_filter(now, tenants)?,
            limit,
            offset,
            order,
            after,
            track_total: Some(match self.track_total {
                None => DEFAULT_TRACK_TOTAL,
                Some(TrackTotal::All(true)) => u64::MAX,
                Some(TrackTotal::All(false)) => 0,
                Some(TrackTotal::UpTo(n)) => n,
            }),
        })
    }
}

/// `GET|POST /logs/histogram`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistogramRequest {
    #[serde(flatten)]
    #[param(ignore)]
    pub filter: FilterParams,
    /// Bucket length (`30s`, `5m`, `1h`, `1d`); automatic when left out.
    pub interval: Option<String>,
}

/// Most buckets a histogram may have.
pub const MAX_HISTOGRAM_BUCKETS: i64 = 2000;

/// Bucket lengths an automatic interval picks from, in milliseconds.
pub(super) const NICE_INTERVALS: [i64; 19] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    604_800_000,
];

/// A validated histogram request: buckets of `interval_ms` aligned to the
/// epoch, covering `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramQuery {
    pub filter: Filter,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub interval_ms: i64,
    /// What the request may spend (its deadline; the buckets bound its
    /// memory).
    pub budget: ReadBudget,
}

impl HistogramQuery {
    /// The start (ms) of the bucket holding `ms`.
    pub fn bucket_start(&self, ms: i64) -> i64 {
        ms.div_euclid(self.interval_ms) * self.interval_ms
    }

    /// Every bucket start of the range, oldest first.
    pub fn bucket_starts(&self) -> Vec<i64> {
        let first = self.bucket_start(self.start.timestamp_millis());
        let last = self.bucket_start((self.end.timestamp_millis() - 1).max(first));
        std::iter::successors(Some(first), |b| b.checked_add(self.interval_ms))
            .take_while(|b| *b <= last)
            .collect()
    }
}

/// Longest histogram interval: a year.
pub const MAX_INTERVAL_MS: i64 = 366 * 86_400_000;

/// `30s`, `5m`, `1h`, `1d`, `1w` (or `500ms`) in milliseconds, at most a year.
pub fn parse_interval(text: &str) -> Option<i64> {
    let (n, unit) = split_length(text.trim())?;
    n.checked_mul(unit_ms(unit)?)
        .filter(|ms| (1..=MAX_INTERVAL_MS).contains(ms))
}

/// The interval for about 60 to 150 buckets over `span_ms`.
pub fn auto_interval(span_ms: i64) -> i64 {
    NICE_INTERVALS
        .iter()
        .copied()
        .find(|i| span_ms / i <= 150)
        .unwrap_or_else(|| (span_ms / 150).max(1))
        .min(MAX_INTERVAL_MS)
}

impl ReadRequest for HistogramRequest {
    type Query = HistogramQuery;

    fn describe(&self) -> String {
        self.filter.describe()
    }

    /// The range defaults to the last 24 hours (to `end_time`).
    fn into_query(
        self,
        now: DateTime<Utc>,
        tenants: Tenants,
    ) -> Result<HistogramQuery, FieldError> {
        let filter = self.filter.into_filter(now, tenants)?;
        let end = filter.end.unwrap_or(now);
        let start = filter.start.unwrap_or(end - Duration::hours(24));
        if end <= start {
            return Err(range_error("start_time", "must be before end_time"));
        }
        let span = (end - start).num_milliseconds().max(1);
        let interval_ms = match non_empty(self.interval) {
            None => auto_interval(span),
            Some(text) => {
                let ms = parse_interval(&text).ok_or_else(|| {
                    range_error(
                        "interval",
                        "must be a length such as 30s, 5m, 1h or 1d, at most a year",
                    )
                })?;
                if span / ms > MAX_HISTOGRAM_BUCKETS {
                    return Err(range_error(
                        "interval",
                        "makes more than 2000 buckets over the range; use a longer one or leave it out",
                    ));
                }
                ms
            }
        };
        if span / interval_ms > MAX_HISTOGRAM_BUCKETS {
            return Err(range_error(
                "start_time",
                "the range is too long for a histogram (more than 2000 yearly buckets)",
            ));
        }
        Ok(HistogramQuery {
            filter: Filter {
                start: Some(start),
                end: Some(end),
                ..filter
            },
            start,
            end,
            interval_ms,
            budget: ReadBudget::default(),
        })
    }
}

/// `GET|POST /logs/facets`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FacetsRequest {
    #[serde(flatten)]
    #[param(ignore)]
    pub filter: FilterParams,
    /// Values per field (default 10, at most 100).
    #[serde(default, deserialize_with = "num_size")]
    pub size: Option<usize>,
}

/// A validated facets request.
#[derive(Debug, Clone, PartialEq)]
pub struct FacetsQuery {
    pub filter: Filter,
    pub size: usize,
    /// What the request may spend: its deadline and the distinct values
    /// of a field kept while counting.
    pub budget: ReadBudget,
}

impl ReadRequest for FacetsRequest {
    type Query = FacetsQuery;

    fn describe(&self) -> String {
        self.filter.describe()
    }

    fn into_query(self, now: DateTime<Utc>, tenants: Tenants) -> Result<FacetsQuery, FieldError> {
        let size = self.size.unwrap_or(10);
        if !(1..=100).contains(&size) {
            return Err(range_error("size", "must be between 1 and 100"));
        }
        Ok(FacetsQuery {
            filter: self.filter.into_filter(now, tenants)?,
            size,
            budget: ReadBudget::default(),
        })
    }
}

/// `GET|POST /logs/export`: every matching log, as NDJSON.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportRequest {
    #[serde(flatten)]
    #[param(ignore)]
    pub filter: FilterParams,
    pub order: Option<String>,
    /// At most this many logs (default: all).
    #[serde(default, deserialize_with = "num_limit")]
    pub limit: Option<u64>,
}

/// A validated export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportQuery {
    pub filter: Filter,
    pub order: SortOrder,
    pub limit: Option<u64>,
}

impl ReadRequest for ExportRequest {
    type Query = ExportQuery;

    fn describe(&self) -> String {
        self.filter.describe()
    }

    fn into_query(self, now: DateTime<Utc>, tenants: Tenants) -> Result<ExportQuery, FieldError> {
        if self.limit == Some(0) {
            return Err(range_error("limit", "must be at least 1"));
        }
        Ok(ExportQuery {
            filter: self.filter.into_filter(now, tenants)?,
            order: SortOrder::from_param(self.order)?,
            limit: self.limit,
        })
    }
}

/// `GET /logs/{id}/context`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContextRequest {
    /// Logs before (older); default 10, at most 1000.
    #[serde(default, deserialize_with = "num_before")]
    pub before: Option<usize>,
    /// Logs after (newer); default 10, at most 1000.
    #[serde(default, deserialize_with = "num_after")]
    pub after: Option<usize>,
}

impl ContextRequest {
    /// `(before, after)`.
    pub fn counts(&self) -> Result<(usize, usize), FieldError> {
        let check = |field: &str, v: Option<usize>| {
            let v = v.unwrap_or(10);
            if v > MAX_LIMIT {
                return Err(range_error(field, "must be at most 1000"));
            }
            Ok(v)
        };
        Ok((check("before", self.before)?, check("after", self.after)?))
    }
}
