//! Search, patterns, histogram, facets, export and tail requests as
//! clients send them, and the validated queries the stores answer. Every
//! request kind filters logs with one [`Filter`]: the query language
//! ([`crate::query`]), the older single-field filters, and a time range.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer};

use crate::log::parse_timestamp;
use crate::query::{Expr, Keyword, Leaf};
use crate::{FieldError, Level};

/// Most results one search page may return.
pub const MAX_LIMIT: usize = 1000;
/// Deepest page by `offset`: `offset + limit` may not exceed this (as
/// Elasticsearch's `index.max_result_window`); page with `cursor` to go
/// further.
pub const MAX_RESULT_WINDOW: usize = 10_000;
pub const DEFAULT_LIMIT: usize = 100;

/// Longest `query` text, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most words and conditions in a `query` (the words of phrases count).
pub const MAX_QUERY_WORDS: usize = 64;
/// Longest word the index keeps, in bytes: longer ones are not indexed, so
/// a query word longer than this could never match.
pub const MAX_WORD_BYTES: usize = 255;

/// The words of a text as the message index splits them: runs of letters
/// and digits (everything else separates).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// A number given as JSON number or as text (query strings carry text, and
/// the original API took `"100"` too). Anything else is refused with a
/// sentence that names the field (`field` in the message is what the
/// error handlers look for) and says what is wanted.
fn num_named<'de, D, T>(d: D, field: &str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + serde::de::DeserializeOwned,
{
    use serde::de::Error;
    let integer = std::any::type_name::<T>() != "f64";
    let wanted = if integer {
        "a whole number of at least 0"
    } else {
        "a number"
    };
    let refuse =
        |got: &str| D::Error::custom(format!("field `{field}` must be {wanted} (got {got})"));
    let value = Option::<serde_json::Value>::deserialize(d)?;
    let text = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(t)) if t.trim().is_empty() => return Ok(None),
        Some(serde_json::Value::String(t)) => t.trim().to_string(),
        Some(other) => return Err(refuse(&other.to_string())),
    };
    match text.parse::<T>() {
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(refuse(&format!("{text:?}"))),
    }
}

/// One deserializer per numeric field, so that errors name it.
macro_rules! num_fields {
    ($($name:ident => $field:literal),* $(,)?) => {
        $(
            fn $name<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
            where
                D: Deserializer<'de>,
                T: std::str::FromStr + serde::de::DeserializeOwned,
            {
                num_named(d, $field)
            }
        )*
    };
}

num_fields! {
    num_limit => "limit",
    num_offset => "offset",
    num_size => "size",
    num_before => "before",
    num_after => "after",
    num_hours => "hours",
    num_buckets => "buckets",
}

/// The filter fields every read request takes (flattened into each).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// The query language: words, "phrases", prefix*, AND/OR/NOT,
    /// field:value, level>=WARNING, metadata.path>=N.
    pub query: Option<String>,
    /// One level or a comma-separated list; aliases accepted.
    pub level: Option<String>,
    pub source: Option<String>,
    pub service: Option<String>,
    /// The W3C trace id (32 hex characters) the logs carry.
    pub trace_id: Option<String>,
    /// `key:value`: logs whose metadata holds `value` at `key` (a dotted
    /// path; exact, case-sensitive).
    pub metadata: Option<String>,
    /// RFC 3339, or relative to now (`now-15m`). Inclusive.
    pub start_time: Option<String>,
    /// RFC 3339, or relative to now (`now`, `now-1h`). Exclusive.
    pub end_time: Option<String>,
}

/// Which logs a request reads: all of `expr`, within `[start, end)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub expr: Expr,
    /// Inclusive.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive.
    pub end: Option<DateTime<Utc>>,
    /// Only logs whose id sorts after this one (ids are UUIDv7: by time of
    /// receipt). Live tail reads with it.
    pub id_after: Option<String>,
    /// Only this tenant's logs; `None` reads every tenant's (a service
    /// without keys). Set by the service from the caller, never from the
    /// request's query.
    pub tenant: Option<String>,
}

impl Filter {
    /// Every log of `[start, end)` matching `expr`.
    pub fn new(expr: Expr, start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Filter {
        Filter {
            expr,
            start,
            end,
            id_after: None,
            tenant: None,
        }
    }

    /// Whether the filter reads `trace_id` or `metadata` (fields older
    /// embedded partitions do not index).
    pub fn needs_search_fields(&self) -> bool {
        self.expr.any_leaf(&mut |l| {
            matches!(
                l,
                Leaf::Metadata(_)
                    | Leaf::MetadataRange { .. }
                    | Leaf::Term {
                        field: Keyword::TraceId,
                        ..
                    }
                    | Leaf::TermPrefix {
                        field: Keyword::TraceId,
                        ..
                    }
            )
        })
    }

    /// The same filter, reading only `tenant`'s logs (`None`: every
    /// tenant's).
    pub fn of_tenant(self, tenant: Option<String>) -> Filter {
        Filter { tenant, ..self }
    }

    /// The same filter, its time range narrowed to `[start, end)`.
    pub fn within(&self, start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Filter {
        let start = match (self.start, start) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let end = match (self.end, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Filter {
            start,
            end,
            ..self.clone()
        }
    }
}

/// Logs whose metadata holds `value` at the dotted `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFilter {
    pub path: String,
    pub value: String,
}

impl MetadataFilter {
    /// `key:value` (the value is everything after the first colon).
    pub fn parse(text: &str) -> Result<MetadataFilter, FieldError> {
        let invalid = |reason: &str| FieldError::new("metadata", "invalid_field", reason);
        let (path, value) = text
            .split_once(':')
            .ok_or_else(|| invalid("must be key:value, e.g. index:logs-web"))?;
        let path = path.trim().strip_prefix("metadata.").unwrap_or(path.trim());
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(invalid("the key must be a non-empty dotted path"));
        }
        if value.is_empty() || value.len() > MAX_WORD_BYTES {
            return Err(invalid("the value must be 1 to 255 bytes"));
        }
        Ok(MetadataFilter {
            path: path.to_string(),
            value: value.to_string(),
        })
    }
}

/// A trace id as logs carry it: 32 hex characters, lower-cased.
pub fn parse_trace_id(text: &str) -> Result<String, FieldError> {
    let text = text.trim();
    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(FieldError::new(
            "trace_id",
            "invalid_field",
            "must be 32 hexadecimal characters",
        ))
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A time as RFC 3339 or relative to `now`: `now`, `now-15m`, `now+1h`
/// (units s, m, h, d, w).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let Some(rest) = text.strip_prefix("now") else {
        return parse_timestamp(text);
    };
    if rest.is_empty() {
        return Ok(now);
    }
    let bad = || {
        format!("{text:?} is neither an RFC 3339 timestamp nor a relative time such as now-15m (units s, m, h, d, w)")
    };
    let (sign, amount) = match rest.as_bytes()[0] {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => return Err(bad()),
    };
    let (n, unit) = split_length(amount).ok_or_else(bad)?;
    // Whole seconds and up (no `ms` here).
    let unit_ms = unit_ms(unit).filter(|ms| *ms >= 1000).ok_or_else(bad)?;
    n.checked_mul(unit_ms / 1000)
        .and_then(Duration::try_seconds)
        .and_then(|d| now.checked_add_signed(d * sign))
        .ok_or_else(|| format!("{text:?} is out of range"))
}

/// `15m` as 15 and `m`: digits, then the unit after them.
fn split_length(text: &str) -> Option<(i64, &str)> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    Some((text[..unit_at].parse().ok()?, &text[unit_at..]))
}

/// Milliseconds in a unit of length: ms, s, m, h, d, w.
fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    })
}

fn time_field(
    field: &str,
    value: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    match non_empty(value) {
        None => Ok(None),
        Some(s) => parse_time(&s, now)
            .map(Some)
            .map_err(|reason| FieldError::new(field, "invalid_timestamp", reason)),
    }
}

impl FilterParams {
    /// The filter as the caller wrote it, `name=value` for each field set
    /// (the audit line's query).
    pub fn describe(&self) -> String {
        [
            ("query", &self.query),
            ("level", &self.level),
            ("source", &self.source),
            ("service", &self.service),
            ("trace_id", &self.trace_id),
            ("metadata", &self.metadata),
            ("start_time", &self.start_time),
            ("end_time", &self.end_time),
        ]
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v:?}")))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The filter: the query language ANDed with the single-field filters.
    pub fn into_filter(self, now: DateTime<Utc>) -> Result<Filter, FieldError> {
        let mut parts = Vec::new();
        if let Some(q) = &self.query {
            parts.push(Expr::parse(q)?);
        }
        if let Some(s) = non_empty(self.level) {
            let levels = Level::parse_list(&s)
                .map_err(|reason| FieldError::new("level", "invalid_level", reason))?;
            parts.push(Expr::Leaf(Leaf::Levels(levels)));
        }
        for (field, value) in [
            (Keyword::Source, self.source),
            (Keyword::Service, self.service),
        ] {
            if let Some(value) = non_empty(value) {
                parts.push(Expr::Leaf(Leaf::Term { field, value }));
            }
        }
        if let Some(t) = non_empty(self.trace_id) {
            parts.push(Expr::Leaf(Leaf::Term {
                field: Keyword::TraceId,
                value: parse_trace_id(&t)?,
            }));
        }
        if let Some(m) = non_empty(self.metadata) {
            parts.push(Expr::Leaf(Leaf::Metadata(MetadataFilter::parse(&m)?)));
        }
        let start = time_field("start_time", self.start_time, now)?;
        let end = time_field("end_time", self.end_time, now)?;
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                return Err(FieldError::new(
                    "end_time",
                    "invalid_field",
                    "must not be before start_time",
                ));
            }
        }
        Ok(Filter::new(Expr::and(parts), start, end))
    }
}

/// Newest first (the default) or oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Desc,
    Asc,
}

impl SortOrder {
    fn parse(text: &str) -> Result<SortOrder, FieldError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "desc" | "newest" | "newest_first" => Ok(SortOrder::Desc),
            "asc" | "oldest" | "oldest_first" => Ok(SortOrder::Asc),
            _ => Err(FieldError::new(
                "order",
                "invalid_field",
                "must be desc (newest first) or asc (oldest first)",
            )),
        }
    }

    /// `ascending` (an order of two logs oldest first) in this order.
    pub fn apply(self, ascending: std::cmp::Ordering) -> std::cmp::Ordering {
        match self {
            SortOrder::Desc => ascending.reverse(),
            SortOrder::Asc => ascending,
        }
    }

    /// `order` of a request: desc when left out.
    fn from_param(order: Option<String>) -> Result<SortOrder, FieldError> {
        non_empty(order).map_or(Ok(SortOrder::Desc), |o| SortOrder::parse(&o))
    }

    fn letter(self) -> char {
        match self {
            SortOrder::Desc => 'd',
            SortOrder::Asc => 'a',
        }
    }
}

/// Where a page ends: a log's time (microseconds) and id. Searches sort by
/// both, so every log has one place in the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub ts: i64,
    pub id: String,
}

/// An opaque `next_cursor`: the sort key of a page's last log, and the
/// order it was read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub order: SortOrder,
    pub key: SortKey,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = format!("{}{}:{}", self.order.letter(), self.key.ts, self.key.id);
        f.write_str(&hex(plain.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Cursor, FieldError> {
        let bad = || {
            FieldError::new(
                "cursor",
                "invalid_field",
                "is not a cursor this service gave (pass next_cursor from the previous page unchanged)",
            )
        };
        let text = text.trim();
        if text.len() > 512 || !text.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let plain = String::from_utf8(bytes).map_err(|_| bad())?;
        let order = match plain.chars().next() {
            Some('d') => SortOrder::Desc,
            Some('a') => SortOrder::Asc,
            _ => return Err(bad()),
        };
        let (ts, id) = plain[1..].split_once(':').ok_or_else(bad)?;
        let ts: i64 = ts.parse().map_err(|_| bad())?;
        if id.is_empty()
            || id.len() > 128
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad());
        }
        Ok(Cursor {
            order,
            key: SortKey {
                ts,
                id: id.to_string(),
            },
        })
    }
}

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

fn track_total<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TrackTotal>, D::Error> {
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

fn range_error(field: &str, reason: &str) -> FieldError {
    FieldError::new(field, "invalid_field", reason)
}

impl SearchRequest {
    pub fn into_query(self, now: DateTime<Utc>) -> Result<SearchQuery, FieldError> {
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
            filter: self.filter.into_filter(now)?,
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
const NICE_INTERVALS: [i64; 19] = [
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

impl HistogramRequest {
    /// The range defaults to the last 24 hours (to `end_time`).
    pub fn into_query(self, now: DateTime<Utc>) -> Result<HistogramQuery, FieldError> {
        let filter = self.filter.into_filter(now)?;
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

impl FacetsRequest {
    pub fn into_query(self, now: DateTime<Utc>) -> Result<FacetsQuery, FieldError> {
        let size = self.size.unwrap_or(10);
        if !(1..=100).contains(&size) {
            return Err(range_error("size", "must be between 1 and 100"));
        }
        Ok(FacetsQuery {
            filter: self.filter.into_filter(now)?,
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

impl ExportRequest {
    pub fn into_query(self, now: DateTime<Utc>) -> Result<ExportQuery, FieldError> {
        if self.limit == Some(0) {
            return Err(range_error("limit", "must be at least 1"));
        }
        Ok(ExportQuery {
            filter: self.filter.into_filter(now)?,
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

impl PatternsRequest {
    pub fn into_query(mut self, now: DateTime<Utc>) -> Result<PatternsQuery, FieldError> {
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
        let filter = self.filter.into_filter(now)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn search(req: SearchRequest) -> Result<SearchQuery, String> {
        req.into_query(Utc::now()).map_err(|e| e.field)
    }

    fn with_filter(filter: FilterParams) -> SearchRequest {
        SearchRequest {
            filter,
            ..Default::default()
        }
    }

    #[test]
    fn validates_search_requests() {
        let q = search(SearchRequest {
            filter: FilterParams {
                query: Some("error".into()),
                level: Some("err".into()),
                ..Default::default()
            },
            limit: Some(50),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            q.filter.expr,
            Expr::And(vec![
                Expr::Leaf(Leaf::Word("error".into())),
                Expr::Leaf(Leaf::Levels(vec![Level::Error]))
            ])
        );
        assert_eq!(q.limit, 50);
        assert_eq!(
            search(SearchRequest::default()).unwrap().limit,
            DEFAULT_LIMIT
        );
        let bad = |req: SearchRequest, field: &str| assert_eq!(search(req).unwrap_err(), field);
        let limit = |limit| SearchRequest {
            limit: Some(limit),
            ..Default::default()
        };
        bad(limit(0), "limit");
        bad(limit(1001), "limit");
        bad(
            SearchRequest {
                offset: Some(9500),
                limit: Some(1000),
                ..Default::default()
            },
            "offset",
        );
        bad(
            with_filter(FilterParams {
                level: Some("loud".into()),
                ..Default::default()
            }),
            "level",
        );
        bad(
            with_filter(FilterParams {
                start_time: Some("noon".into()),
                ..Default::default()
            }),
            "start_time",
        );
        bad(
            with_filter(FilterParams {
                start_time: Some("2024-01-02T00:00:00Z".into()),
                end_time: Some("2024-01-01T00:00:00Z".into()),
                ..Default::default()
            }),
            "end_time",
        );
        bad(
            with_filter(FilterParams {
                query: Some("(a".into()),
                ..Default::default()
            }),
            "query",
        );
        bad(
            SearchRequest {
                cursor: Some("zz".into()),
                ..Default::default()
            },
            "cursor",
        );
        bad(
            SearchRequest {
                order: Some("up".into()),
                ..Default::default()
            },
            "order",
        );
    }

    #[test]
    fn requests_read_from_query_strings_and_json_alike() {
        let from_json: SearchRequest =
            serde_json::from_str(r#"{"query":"a","limit":5,"offset":"2"}"#).unwrap();
        assert_eq!(from_json.limit, Some(5));
        assert_eq!(from_json.offset, Some(2));
        assert_eq!(from_json.filter.query.as_deref(), Some("a"));
        assert!(serde_json::from_str::<SearchRequest>(r#"{"limit":"five"}"#).is_err());
    }

    #[test]
    fn relative_times() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(
            parse_time("now-15m", now).unwrap(),
            now - Duration::minutes(15)
        );
        assert_eq!(parse_time("now-2h", now).unwrap(), now - Duration::hours(2));
        assert_eq!(parse_time("now+1d", now).unwrap(), now + Duration::days(1));
        assert_eq!(parse_time("now-1w", now).unwrap(), now - Duration::days(7));
        assert_eq!(
            parse_time("now-30s", now).unwrap(),
            now - Duration::seconds(30)
        );
        for bad in [
            "now-",
            "now-5",
            "now-5y",
            "now*2",
            "now-m",
            "now-99999999999999999w",
            "yesterday",
        ] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
        assert_eq!(
            parse_time("2026-11-28T10:00:00Z", now).unwrap(),
            "2026-11-28T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let c = Cursor {
            order: SortOrder::Asc,
            key: SortKey {
                ts: -5,
                id: "0193-abc".into(),
            },
        };
        assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        for bad in [
            "",
            "abc",
            "zz",
            &hex(b"x1:a"),
            &hex(b"d1:"),
            &hex(b"dx:a"),
            &hex(b"d1:a b"),
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
        // A cursor sets the order it was made in.
        let q = SearchRequest {
            cursor: Some(c.to_string()),
            ..Default::default()
        }
        .into_query(Utc::now())
        .unwrap();
        assert_eq!(q.order, SortOrder::Asc);
        assert_eq!(q.after, Some(c.key));
    }

    #[test]
    fn histogram_intervals() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let q = HistogramRequest::default().into_query(now).unwrap();
        assert_eq!(q.interval_ms, 600_000, "a day in 10-minute buckets");
        assert_eq!(q.bucket_starts().len(), 144);
        let week = HistogramRequest {
            filter: FilterParams {
                start_time: Some("now-7d".into()),
                ..Default::default()
            },
            ..Default::default()
        }
        .into_query(now)
        .unwrap();
        assert_eq!(week.interval_ms, 3_600_000 * 2);
        assert_eq!(parse_interval("5m"), Some(300_000));
        assert_eq!(parse_interval("0m"), None);
        assert_eq!(parse_interval("m"), None);
        let too_fine = HistogramRequest {
            interval: Some("1s".into()),
            ..Default::default()
        };
        assert_eq!(too_fine.into_query(now).unwrap_err().field, "interval");
    }

    #[test]
    fn patterns_window_defaults_to_a_day_of_errors() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let q = PatternsRequest::default().into_query(now).unwrap();
        assert_eq!(q.end, now);
        assert_eq!(q.start, now - Duration::hours(24));
        assert_eq!(
            q.filter.expr,
            Expr::Leaf(Leaf::Levels(vec![Level::Error, Level::Critical]))
        );
        let q = PatternsRequest {
            hours: Some(1.5),
            ..Default::default()
        }
        .into_query(now)
        .unwrap();
        assert_eq!(q.start, now - Duration::minutes(90));
        let err = PatternsRequest {
            hours: Some(0.0),
            ..Default::default()
        }
        .into_query(now)
        .unwrap_err();
        assert_eq!(err.field, "hours");
        let err = PatternsRequest {
            buckets: Some(0),
            ..Default::default()
        }
        .into_query(now)
        .unwrap_err();
        assert_eq!(err.field, "buckets");
        let err = PatternsRequest {
            new_since: Some("soon".into()),
            ..Default::default()
        }
        .into_query(now)
        .unwrap_err();
        assert_eq!(err.field, "new_since");
    }

    #[test]
    fn trend_buckets_split_the_window_equally() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let q = PatternsRequest {
            hours: Some(24.0),
            ..Default::default()
        }
        .into_query(now)
        .unwrap();
        let at = |h: i64| (q.start + Duration::hours(h)).timestamp_micros();
        assert_eq!(q.buckets, 24);
        assert_eq!(q.bucket_of(at(0)), 0);
        assert_eq!(q.bucket_of(at(1) - 1), 0);
        assert_eq!(q.bucket_of(at(1)), 1);
        assert_eq!(q.bucket_of(at(24) - 1), 23);
        assert_eq!(q.bucket_of(at(30)), 23, "clamped");
        assert_eq!(q.bucket_of(at(-2)), 0, "clamped");
        assert_eq!(q.bucket_millis(), 3_600_000);
    }

    // Regression (issue 9, finding 10): hours=NaN answered 200.
    #[test]
    fn refuses_hours_that_are_not_numbers() {
        for hours in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0] {
            let req = PatternsRequest {
                hours: Some(hours),
                ..Default::default()
            };
            assert_eq!(
                req.into_query(Utc::now()).unwrap_err().field,
                "hours",
                "{hours}"
            );
        }
    }

    mod windows {
        use super::*;
        use proptest::prelude::*;

        fn window(start: i64, end: i64, buckets: usize) -> PatternsQuery {
            let t = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
            PatternsRequest {
                filter: FilterParams {
                    start_time: Some(t(start).to_rfc3339()),
                    end_time: Some(t(end).to_rfc3339()),
                    ..Default::default()
                },
                buckets: Some(buckets),
                ..Default::default()
            }
            .into_query(Utc::now())
            .unwrap()
        }

        // Years 1 to 9999, in seconds.
        const FIRST: i64 = -62_135_596_800;
        const LAST: i64 = 253_402_300_799;

        proptest! {
            // Regression (issue 9, finding 7): start_time=1000-01-01 with
            // buckets=500 overflowed and indexed out of bounds.
            #[test]
            fn every_time_falls_in_a_bucket(
                a in FIRST..LAST,
                b in FIRST..LAST,
                t in FIRST..LAST,
                buckets in 1usize..=500,
            ) {
                let (start, end) = (a.min(b), a.max(b));
                let q = window(start, end, buckets);
                let micros = t.saturating_mul(1_000_000);
                let bucket = q.bucket_of(micros);
                prop_assert!(bucket < buckets);
                prop_assert!(q.bucket_millis() >= 1);
                // Inside the window, later times never fall in earlier buckets.
                prop_assert!(q.bucket_of(i64::MIN) == 0);
                let last = if end > start { buckets - 1 } else { 0 };
                prop_assert_eq!(q.bucket_of(i64::MAX), last);
                if t >= start && t < end {
                    let next = q.bucket_of((t + 1).saturating_mul(1_000_000).min(end * 1_000_000 - 1));
                    prop_assert!(next >= bucket);
                }
            }
        }

        #[test]
        fn the_widest_window_splits_evenly() {
            let q = window(FIRST, LAST, 500);
            let span = (LAST - FIRST) * 1_000_000;
            assert_eq!(q.bucket_of(FIRST * 1_000_000), 0);
            assert_eq!(q.bucket_of(FIRST * 1_000_000 + span / 2), 250);
            assert_eq!(q.bucket_of(LAST * 1_000_000), 499);
        }
    }
}
