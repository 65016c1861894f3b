//! The filter every read shares: the fields clients send
//! ([`FilterParams`]) and what the stores compile ([`Filter`]).

use super::*;

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
    /// Whose logs: set by the service from the caller, never from the
    /// request's query. Left unset ([`Tenants::Unscoped`]), the stores
    /// refuse the read.
    pub tenant: Tenants,
}

impl Filter {
    /// Every log of `tenants` in `[start, end)` matching `expr`.
    pub fn new(
        expr: Expr,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        tenants: Tenants,
    ) -> Filter {
        Filter {
            expr,
            start,
            end,
            id_after: None,
            tenant: tenants,
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

    /// The filter: the query language ANDed with the single-field filters,
    /// over `tenants`' logs.
    pub fn into_filter(self, now: DateTime<Utc>, tenants: Tenants) -> Result<Filter, FieldError> {
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
        Ok(Filter::new(Expr::and(parts), start, end, tenants))
    }
}
