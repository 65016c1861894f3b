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
    /// Inclusive.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive.
    pub end: Option<DateTime<Utc>>,
    pub limit: usize,
    pub offset: usize,
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

impl TextQuery {
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
            text: self.query.as_deref().and_then(TextQuery::parse),
            levels,
            source: non_empty(self.source),
            service: non_empty(self.service),
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
        // i64 is enough: at most 87,600 hours (3.2e14 us) times 500 buckets.
        let start = self.start.timestamp_micros();
        let span = (self.end.timestamp_micros() - start).max(1);
        let offset = (micros - start).clamp(0, span - 1);
        (offset * self.buckets as i64 / span) as usize
    }

    /// Length of one trend bucket, in milliseconds (at least 1).
    pub fn bucket_millis(&self) -> i64 {
        ((self.end - self.start).num_milliseconds() / self.buckets as i64).max(1)
    }
}

impl PatternsRequest {
    pub fn into_query(self, now: DateTime<Utc>) -> Result<PatternsQuery, FieldError> {
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
            text: self.query.as_deref().and_then(TextQuery::parse),
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
}
