use serde::Serialize;

/// Why one log (or one request field) was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field's name; empty when the value as a whole is wrong.
    pub field: String,
    pub reason: String,
    /// A short machine-readable kind, used as the `reason` label of rejection metrics.
    #[serde(skip)]
    pub kind: &'static str,
}

impl FieldError {
    pub fn new(field: impl Into<String>, kind: &'static str, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
            kind,
        }
    }
}
