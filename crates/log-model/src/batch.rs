//! A batch request's body as items: a JSON array (or `{"logs": [...]}`),
//! or NDJSON, one log a line. Each item is then validated on its own.

use serde_json::Value;

/// How a batch body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    Json,
    NdJson,
}

/// Why a body is not a batch at all (nothing in it can be taken).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("malformed JSON: {0}")]
    InvalidJson(String),
    #[error("expected a JSON array of logs (or NDJSON with Content-Type: application/x-ndjson)")]
    NotABatch,
}

/// Splits a batch body into its items: each a JSON value, or the reason its
/// NDJSON line is not JSON (so one bad line costs that line only). Blank
/// NDJSON lines are skipped.
pub fn split_batch(
    body: &[u8],
    format: BatchFormat,
) -> Result<Vec<Result<Value, String>>, BatchError> {
    match format {
        BatchFormat::Json => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => Ok(items.into_iter().map(Ok).collect()),
            Ok(Value::Object(mut obj)) => match obj.remove("logs") {
                Some(Value::Array(items)) => Ok(items.into_iter().map(Ok).collect()),
                _ => Err(BatchError::NotABatch),
            },
            Ok(_) => Err(BatchError::NotABatch),
            Err(e) => Err(BatchError::InvalidJson(e.to_string())),
        },
        BatchFormat::NdJson => Ok(body
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| {
                serde_json::from_slice::<Value>(line).map_err(|e| format!("malformed JSON: {e}"))
            })
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(
        body: &str,
        format: BatchFormat,
        expected: Result<Vec<Result<Value, ()>>, BatchError>,
    ) {
        let got = split_batch(body.as_bytes(), format)
            .map(|items| items.into_iter().map(|i| i.map_err(|_| ())).collect());
        assert_eq!(got, expected, "{body:?}");
    }

    #[test]
    fn splits_batches() {
        use BatchFormat::*;
        check("[]", Json, Ok(vec![]));
        check(
            "[{\"a\":1}, 2]",
            Json,
            Ok(vec![Ok(json!({"a":1})), Ok(json!(2))]),
        );
        check("{\"logs\": [{}]}", Json, Ok(vec![Ok(json!({}))]));
        check("{\"logs\": 3}", Json, Err(BatchError::NotABatch));
        check("{\"message\": \"m\"}", Json, Err(BatchError::NotABatch));
        check("\"text\"", Json, Err(BatchError::NotABatch));
        assert!(matches!(
            split_batch(b"[{", Json),
            Err(BatchError::InvalidJson(_))
        ));
        check(
            "{\"a\":1}\n\n  \n{\"b\":2}\r\n",
            NdJson,
            Ok(vec![Ok(json!({"a":1})), Ok(json!({"b":2}))]),
        );
        check(
            "{\"a\":1}\nnot json\n[1]",
            NdJson,
            Ok(vec![Ok(json!({"a":1})), Err(()), Ok(json!([1]))]),
        );
        check("", NdJson, Ok(vec![]));
    }
}
