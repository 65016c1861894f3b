use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The five levels of the original API. Shippers send many spellings; they
/// are normalised by [`Level::from_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];

    /// The level's place in [`Level::ALL`] (counts per level are kept in
    /// arrays in that order).
    pub fn rank(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// OpenTelemetry's SeverityNumber: 1-8 TRACE and DEBUG, 9-12 INFO,
    /// 13-16 WARN, 17-20 ERROR, 21-24 FATAL; 0 (unspecified) and others are none.
    pub fn from_otel_severity(number: i64) -> Option<Level> {
        Some(match number {
            1..=8 => Level::Debug,
            9..=12 => Level::Info,
            13..=16 => Level::Warning,
            17..=20 => Level::Error,
            21..=24 => Level::Critical,
            _ => return None,
        })
    }

    /// Parses a comma-separated list such as `ERROR,critical`.
    pub fn parse_list(s: &str) -> Result<Vec<Level>, String> {
        let mut levels = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let level: Level = part.parse()?;
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        if levels.is_empty() {
            return Err("is empty".to_string());
        }
        Ok(levels)
    }
}

impl FromStr for Level {
    type Err = String;

    /// Case-insensitive; accepts the aliases of syslog, log4j, Python and Go loggers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let level = match upper.as_str() {
            "DEBUG" | "TRACE" | "DBG" | "VERBOSE" | "FINE" | "FINER" | "FINEST" | "D" | "V" => {
                Level::Debug
            }
            "INFO" | "INFORMATION" | "INFORMATIONAL" | "NOTICE" | "INF" | "I" | "LOG" => {
                Level::Info
            }
            "WARNING" | "WARN" | "WRN" | "W" => Level::Warning,
            "ERROR" | "ERR" | "SEVERE" | "E" => Level::Error,
            "CRITICAL" | "CRIT" | "FATAL" | "PANIC" | "ALERT" | "EMERG" | "EMERGENCY" | "F"
            | "C" => Level::Critical,
            _ => {
                return Err(format!(
                    "unknown level {s:?}; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
                ))
            }
        };
        Ok(level)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// In the OpenAPI documents: one of the five names (answers give only these).
impl utoipa::PartialSchema for Level {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Level::ALL.iter().map(|l| l.as_str())))
            .description(Some(
                "Severity, lowest first: DEBUG, INFO, WARNING, ERROR, CRITICAL",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Level {}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<Level>) {
        assert_eq!(input.parse::<Level>().ok(), expected, "input {input:?}");
    }

    #[test]
    fn normalises_levels_and_aliases() {
        use Level::*;
        check("DEBUG", Some(Debug));
        check("debug", Some(Debug));
        check("trace", Some(Debug));
        check("TRACE", Some(Debug));
        check("Info", Some(Info));
        check("notice", Some(Info));
        check("information", Some(Info));
        check("WARNING", Some(Warning));
        check("warn", Some(Warning));
        check(" Warn ", Some(Warning));
        check("error", Some(Error));
        check("ERR", Some(Error));
        check("severe", Some(Error));
        check("CRITICAL", Some(Critical));
        check("fatal", Some(Critical));
        check("crit", Some(Critical));
        check("panic", Some(Critical));
        check("emerg", Some(Critical));
        check("", None);
        check("loud", None);
        check("ERRORS", None);
    }

    #[test]
    fn parses_level_lists() {
        assert_eq!(
            Level::parse_list("error, CRITICAL,fatal"),
            Ok(vec![Level::Error, Level::Critical])
        );
        assert!(Level::parse_list(" , ").is_err());
        assert!(Level::parse_list("error,nope").is_err());
    }

    #[test]
    fn serialises_as_canonical_name() {
        assert_eq!(
            serde_json::to_string(&Level::Warning).unwrap(),
            "\"WARNING\""
        );
        let parsed: Level = serde_json::from_str("\"warn\"").unwrap();
        assert_eq!(parsed, Level::Warning);
    }
}
