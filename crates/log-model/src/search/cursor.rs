//! Sort order, sort keys and the cursors that continue a search.

use super::*;

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
    pub(super) fn from_param(order: Option<String>) -> Result<SortOrder, FieldError> {
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

pub(super) fn hex(bytes: &[u8]) -> String {
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
