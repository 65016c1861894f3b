//! Search, patterns, histogram, facets, export and tail requests as
//! clients send them, and the validated queries the stores answer. Every
//! request kind filters logs with one [`Filter`]: the query language
//! ([`crate::query`]), the older single-field filters, and a time range.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer};

use crate::log::parse_timestamp;
use crate::query::{Expr, Keyword, Leaf};
use crate::{FieldError, Level, ReadRequest, Tenants};

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

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

mod budget;
mod cursor;
mod filter;
mod patterns;
mod requests;
mod time;

pub use budget::*;
pub use cursor::*;
pub use filter::*;
pub use patterns::*;
pub use requests::*;
pub use time::*;

#[cfg(test)]
mod tests;
