//! Times as clients write them: RFC 3339, or relative to now (`now-15m`).

use super::*;

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
pub(super) fn split_length(text: &str) -> Option<(i64, &str)> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    Some((text[..unit_at].parse().ok()?, &text[unit_at..]))
}

/// Milliseconds in a unit of length: ms, s, m, h, d, w.
pub(super) fn unit_ms(unit: &str) -> Option<i64> {
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

pub(super) fn time_field(
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
