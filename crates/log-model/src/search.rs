//! Search and patterns requests as clients send them, and the validated
//! queries the stores compile.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use validator::Validate;

use crate::log::parse_timestamp;
use crate::{FieldError, Level};

/// Most results one search page may return.
pub const MAX_LIMIT: usize = 1000;
/// Deepest page: `offset + limit` may not exceed this (as Elasticsearch's
/// `index.max_result_window`); narrow the time range to look further.
pub const MAX_RESULT_WINDOW: usize = 10_000;
pub const DEFAULT_LIMIT: usize = 100;

/// `POST /logs/search` body, or `GET /logs/search` query parameters.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
pub struct SearchRequest {
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
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    #[validate(range(min = 1, max = 1000, message = "must be between 1 and 1000"))]
    pub limit: Option<usize>,
    #[validate(range(max = 9999, message = "must be at most 9999"))]
    pub offset: Option<usize>,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchQuery {
    pub text: Option<TextQuery>,
    /// Empty means every level.
    pub levels: Vec<Level>,
    pub source: Option<String>,
    pub service: Option<String>,
    /// Lower-case hex.
    pub trace_id: Option<String>,
    pub metadata: Option<MetadataFilter>,
    /// Inclusive.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive.
    pub end: Option<DateTime<Utc>>,
    pub limit: usize,
    pub offset: usize,
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

/// The parsed `query` text: every clause must match `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    pub clauses: Vec<TextClause>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextClause {
    /// A bare word: matches when the message contains it (case-insensitive).
    Word(String),
    /// `"a quoted phrase"`: the words in this order, next to each other.
    Phrase(String),
}

impl TextClause {
    pub fn text(&self) -> &str {
        match self {
            TextClause::Word(t) | TextClause::Phrase(t) => t,
        }
    }
}

/// Longest `query` text, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most words in a `query` (the words of phrases count).
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

fn query_error(reason: impl Into<String>) -> FieldError {
    FieldError::new("query", "invalid_query", reason)
}

impl TextQuery {
    /// Parses the `query` of a request and checks that it can be answered:
    /// at most [`MAX_QUERY_BYTES`] and [`MAX_QUERY_WORDS`], no word the
    /// index could not hold, and something searchable in it. Clauses with
    /// no word in them (only punctuation) are dropped, as the index drops
    /// punctuation; a query of nothing else is refused rather than read as
    /// "match everything". `Ok(None)` for an empty or blank query.
    pub fn parse_checked(input: &str) -> Result<Option<TextQuery>, FieldError> {
        if input.len() > MAX_QUERY_BYTES {
            return Err(query_error(format!(
                "is {} bytes; the limit is {MAX_QUERY_BYTES}",
                input.len()
            )));
        }
        let Some(parsed) = TextQuery::parse(input) else {
            return Ok(None);
        };
        let mut count = 0;
        for word in parsed.clauses.iter().flat_map(|c| words(c.text())) {
            count += 1;
            if word.len() > MAX_WORD_BYTES {
                let shown: String = word.chars().take(20).collect();
                return Err(query_error(format!(
                    "the word {shown:?}... is {} bytes; words longer than {MAX_WORD_BYTES} bytes are not indexed, so it cannot match",
                    word.len()
                )));
            }
        }
        if count > MAX_QUERY_WORDS {
            return Err(query_error(format!(
                "holds {count} words; the limit is {MAX_QUERY_WORDS}"
            )));
        }
        let clauses: Vec<TextClause> = parsed
            .clauses
            .into_iter()
            .filter(|c| words(c.text()).next().is_some())
            .collect();
        if clauses.is_empty() {
            return Err(query_error(
                "holds nothing searchable (only punctuation); leave it out to match every log",
            ));
        }
        Ok(Some(TextQuery { clauses }))
    }

    /// Splits on whitespace; double quotes group a phrase (an unclosed quote
    /// runs to the end). Returns `None` when nothing is left.
    pub fn parse(input: &str) -> Option<TextQuery> {
        let mut clauses = Vec::new();
        let mut rest = input;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            if let Some(after) = rest.strip_prefix('"') {
                let (phrase, next) = match after.find('"') {
                    Some(end) => (&after[..end], &after[end + 1..]),
                    None => (after, ""),
                };
                let phrase = phrase.split_whitespace().collect::<Vec<_>>().join(" ");
                if !phrase.is_empty() {
                    clauses.push(TextClause::Phrase(phrase));
                }
                rest = next;
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                clauses.push(TextClause::Word(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        (!clauses.is_empty()).then_some(TextQuery { clauses })
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn time_field(field: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, FieldError> {
    match non_empty(value) {
        None => Ok(None),
        Some(s) => parse_timestamp(&s)
            .map(Some)
            .map_err(|reason| FieldError::new(field, "invalid_timestamp", reason)),
    }
}

fn first_validation_error(errors: validator::ValidationErrors) -> FieldError {
    let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
    fields.sort_by_key(|(name, _)| name.to_string());
    let (name, errs) = fields.remove(0);
    let reason = errs
        .first()
        .and_then(|e| e.message.as_ref().map(|m| m.to_string()))
        .unwrap_or_else(|| "is invalid".to_string());
    FieldError::new(name.to_string(), "invalid_field", reason)
}

impl SearchRequest {
    pub fn into_query(self) -> Result<SearchQuery, FieldError> {
        self.validate().map_err(first_validation_error)?;
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if offset + limit > MAX_RESULT_WINDOW {
            return Err(FieldError::new(
                "offset",
                "invalid_field",
                format!(
                    "offset + limit must be at most {MAX_RESULT_WINDOW}; narrow the time range to page further"
                ),
            ));
        }
        let levels = match non_empty(self.level) {
            None => Vec::new(),
            Some(s) => Level::parse_list(&s)
                .map_err(|reason| FieldError::new("level", "invalid_level", reason))?,
        };
        let start = time_field("start_time", self.start_time)?;
        let end = time_field("end_time", self.end_time)?;
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                return Err(FieldError::new(
                    "end_time",
                    "invalid_field",
                    "must not be before start_time",
                ));
            }
        }
        Ok(SearchQuery {
            text: self
                .query
                .as_deref()
                .map_or(Ok(None), TextQuery::parse_checked)?,
            levels,
            source: non_empty(self.source),
            service: non_empty(self.service),
            trace_id: non_empty(self.trace_id)
                .as_deref()
                .map(parse_trace_id)
                .transpose()?,
            metadata: non_empty(self.metadata)
                .as_deref()
                .map(MetadataFilter::parse)
                .transpose()?,
            start,
            end,
            limit,
            offset,
        })
    }
}

/// `GET /logs/patterns` query parameters.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
pub struct PatternsRequest {
    /// Window ending now; ignored when `start_time` is given. Default 24.
    #[validate(range(
        min = 0.001,
        max = 87600.0,
        message = "must be between 0.001 and 87600"
    ))]
    pub hours: Option<f64>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Default `ERROR,CRITICAL`.
    pub level: Option<String>,
    pub service: Option<String>,
    pub source: Option<String>,
    #[validate(range(min = 1, max = 1000, message = "must be between 1 and 1000"))]
    pub limit: Option<usize>,
    /// Words (and quoted phrases) the messages must contain.
    pub query: Option<String>,
    /// A pattern is new when nothing of it was seen before this time.
    pub new_since: Option<String>,
    /// Time buckets of each pattern's trend (default 24).
    #[validate(range(min = 1, max = 500, message = "must be between 1 and 500"))]
    pub buckets: Option<usize>,
}

/// Default number of trend buckets.
pub const DEFAULT_BUCKETS: usize = 24;

/// A validated patterns request over `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternsQuery {
    pub levels: Vec<Level>,
    pub service: Option<String>,
    pub source: Option<String>,
    pub text: Option<TextQuery>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub limit: usize,
    pub buckets: usize,
    pub new_since: Option<DateTime<Utc>>,
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
    pub fn into_query(self, now: DateTime<Utc>) -> Result<PatternsQuery, FieldError> {
        if self.hours.is_some_and(|h| !h.is_finite()) {
            return Err(FieldError::new(
                "hours",
                "invalid_field",
                "must be a number between 0.001 and 87600",
            ));
        }
        self.validate().map_err(first_validation_error)?;
        let end = time_field("end_time", self.end_time)?.unwrap_or(now);
        let start = match time_field("start_time", self.start_time)? {
            Some(start) => start,
            None => {
                let hours = self.hours.unwrap_or(24.0);
                end - Duration::milliseconds((hours * 3_600_000.0) as i64)
            }
        };
        if end < start {
            return Err(FieldError::new(
                "end_time",
                "invalid_field",
                "must not be before start_time",
            ));
        }
        let levels = match non_empty(self.level) {
            None => vec![Level::Error, Level::Critical],
            Some(s) => Level::parse_list(&s)
                .map_err(|reason| FieldError::new("level", "invalid_level", reason))?,
        };
        Ok(PatternsQuery {
            levels,
            service: non_empty(self.service),
            source: non_empty(self.source),
            text: self
                .query
                .as_deref()
                .map_or(Ok(None), TextQuery::parse_checked)?,
            start,
            end,
            limit: self.limit.unwrap_or(50),
            buckets: self.buckets.unwrap_or(DEFAULT_BUCKETS),
            new_since: time_field("new_since", self.new_since)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &[&str]) {
        let got: Vec<String> = TextQuery::parse(input)
            .map(|q| q.clauses)
            .unwrap_or_default()
            .into_iter()
            .map(|c| match c {
                TextClause::Word(w) => w,
                TextClause::Phrase(p) => format!("\"{p}\""),
            })
            .collect();
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn parses_text_queries() {
        check("", &[]);
        check("   ", &[]);
        check("error", &["error"]);
        check("Database  connection", &["Database", "connection"]);
        check("\"connection failed\"", &["\"connection failed\""]);
        check(
            "db \"connection   failed\" retry",
            &["db", "\"connection failed\"", "retry"],
        );
        check("\"unclosed phrase here", &["\"unclosed phrase here\""]);
        check("\"\" word", &["word"]);
        check("a\"b c\"", &["a", "\"b c\""]);
        check("user-42 10.0.0.1", &["user-42", "10.0.0.1"]);
    }

    fn search(req: SearchRequest) -> Result<SearchQuery, String> {
        req.into_query().map_err(|e| e.field)
    }

    #[test]
    fn validates_search_requests() {
        let q = search(SearchRequest {
            query: Some("error".into()),
            level: Some("err".into()),
            limit: Some(50),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.levels, vec![Level::Error]);
        assert_eq!(q.limit, 50);
        assert_eq!(
            search(SearchRequest::default()).unwrap().limit,
            DEFAULT_LIMIT
        );
        let bad = |req: SearchRequest, field: &str| assert_eq!(search(req).unwrap_err(), field);
        bad(
            SearchRequest {
                limit: Some(0),
                ..Default::default()
            },
            "limit",
        );
        bad(
            SearchRequest {
                limit: Some(1001),
                ..Default::default()
            },
            "limit",
        );
        bad(
            SearchRequest {
                offset: Some(9500),
                limit: Some(1000),
                ..Default::default()
            },
            "offset",
        );
        bad(
            SearchRequest {
                level: Some("loud".into()),
                ..Default::default()
            },
            "level",
        );
        bad(
            SearchRequest {
                start_time: Some("noon".into()),
                ..Default::default()
            },
            "start_time",
        );
        bad(
            SearchRequest {
                start_time: Some("2024-01-02T00:00:00Z".into()),
                end_time: Some("2024-01-01T00:00:00Z".into()),
                ..Default::default()
            },
            "end_time",
        );
    }

    #[test]
    fn patterns_window_defaults_to_a_day_of_errors() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let q = PatternsRequest::default().into_query(now).unwrap();
        assert_eq!(q.end, now);
        assert_eq!(q.start, now - Duration::hours(24));
        assert_eq!(q.levels, vec![Level::Error, Level::Critical]);
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

    fn checked(input: &str) -> Result<Vec<String>, String> {
        TextQuery::parse_checked(input)
            .map(|q| {
                q.map(|q| q.clauses.iter().map(|c| c.text().to_string()).collect())
                    .unwrap_or_default()
            })
            .map_err(|e| format!("{}: {}", e.kind, e.field))
    }

    // Regressions (issue 9, finding 9): no limit on query size; a query of
    // only punctuation, or of one word over 256 characters, matched every log.
    #[test]
    fn refuses_queries_that_cannot_be_answered() {
        let refused = |input: &str| {
            assert_eq!(
                checked(input),
                Err("invalid_query: query".into()),
                "{input:?}"
            )
        };
        refused("!!!");
        refused("\"...\" -- ::");
        refused(&"a".repeat(300));
        refused(&format!("error {}", "x".repeat(256)));
        refused(&"w ".repeat(65));
        refused(&"word ".repeat(1000));
        refused(&"é".repeat(2049));
        // Punctuation beside searchable words is dropped, as the index drops it.
        assert_eq!(
            checked("error !!! timeout"),
            Ok(vec!["error".into(), "timeout".into()])
        );
        assert_eq!(checked("   "), Ok(vec![]));
        assert_eq!(checked(&"w ".repeat(64)).unwrap().len(), 64);
        assert!(checked(&"x".repeat(255)).is_ok());
        // Dotted names hold words.
        assert_eq!(
            checked("john.smith@example.com"),
            Ok(vec!["john.smith@example.com".into()])
        );
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
                start_time: Some(t(start).to_rfc3339()),
                end_time: Some(t(end).to_rfc3339()),
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
