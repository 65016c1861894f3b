//! The Elasticsearch door's wire types: bulk bodies as they come in
//! (action and document lines), the answers' shapes (items, created
//! documents, errors), and the mapping of documents to logs.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use log_model::mapping::{map_log, FieldMap};
use log_model::{FieldError, Limits};

use crate::pipeline::{IngestError, Item};

/// One action of a bulk request.
pub struct Action<'a> {
    /// `create`, `index`, `update`, `delete`.
    pub name: &'static str,
    pub index: Option<Cow<'a, str>>,
    pub id: Option<Cow<'a, str>>,
    /// The document line (`None` for `delete`).
    pub doc: Option<Result<Value, String>>,
}

/// An action line: one of the four names, holding its metadata; any other
/// shape fails to parse (the request's fault).
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ActionLine<'a> {
    Create(#[serde(borrow)] ActionMeta<'a>),
    Index(#[serde(borrow)] ActionMeta<'a>),
    Update(#[serde(borrow)] ActionMeta<'a>),
    Delete(#[serde(borrow)] ActionMeta<'a>),
}

/// What an action line says (other members, `routing`, `pipeline`, `_type`,
/// are accepted and not used). Strings borrow from the body when they can.
#[derive(Deserialize)]
struct ActionMeta<'a> {
    #[serde(default, borrow)]
    _index: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    _id: Option<Id<'a>>,
}

/// `_id` as Elasticsearch takes it: a string, or a number written as one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(serde_json::Number),
}

impl<'a> Id<'a> {
    fn into_text(self) -> Cow<'a, str> {
        match self {
            Id::Text(t) => t,
            Id::Number(n) => Cow::Owned(n.to_string()),
        }
    }
}

/// Splits a bulk body into actions. A line that is not an action is the
/// whole request's fault, as in Elasticsearch.
pub fn parse_bulk(body: &[u8]) -> Result<Vec<Action<'_>>, IngestError> {
    let mut lines = body
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    let mut actions = Vec::new();
    while let Some((line_no, line)) = lines.next() {
        let malformed = |why: String| {
            IngestError::InvalidBody(format!("Malformed action/metadata line [{line_no}]: {why}"))
        };
        let action: ActionLine = serde_json::from_slice(line).map_err(|e| {
            malformed(format!(
                "expected one of [create, delete, index, update] holding an object: {e}"
            ))
        })?;
        let (name, meta) = match action {
            ActionLine::Create(m) => ("create", m),
            ActionLine::Index(m) => ("index", m),
            ActionLine::Update(m) => ("update", m),
            ActionLine::Delete(m) => ("delete", m),
        };
        let doc = if name == "delete" {
            None
        } else {
            let Some((_, doc)) = lines.next() else {
                return Err(malformed(format!("the {name} action has no document line")));
            };
            Some(serde_json::from_slice::<Value>(doc).map_err(|e| e.to_string()))
        };
        actions.push(Action {
            name,
            index: meta._index,
            id: meta._id.map(Id::into_text),
            doc,
        });
    }
    Ok(actions)
}

#[derive(Serialize)]
pub struct BulkResponse<'a> {
    pub took: u64,
    pub errors: bool,
    pub items: Vec<BulkItem<'a>>,
}

/// One action's answer: `{"<action>": {...}}`.
pub struct BulkItem<'a> {
    pub action: &'a str,
    pub body: ItemBody<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum ItemBody<'a> {
    Created(Created<'a>),
    Refused {
        _index: &'a str,
        _id: Option<&'a str>,
        status: u16,
        error: ItemError<'a>,
    },
}

/// A stored document's answer, with the members clients read (shard
/// figures, meaningless here, are left out to keep the answer small).
#[derive(Serialize)]
pub struct Created<'a> {
    _index: &'a str,
    _id: &'a str,
    _version: u32,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
}

#[derive(Serialize)]
pub struct ItemError<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub reason: String,
}

impl Serialize for BulkItem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.action, &self.body)?;
        map.end()
    }
}

pub fn created<'a>(index: &'a str, id: &'a str, status: Option<u16>) -> Created<'a> {
    Created {
        _index: index,
        _id: id,
        _version: 1,
        result: "created",
        status,
    }
}

/// The `reason` label (and `FieldError::kind`) of an action that is not
/// `create` or `index`.
pub const UNSUPPORTED_ACTION: &str = "unsupported_action";

/// A document mapped to a log, or why it is not one. The client's own id
/// is kept as `metadata._id` (logs get their own; no dedupe by it).
pub fn decode_document(
    doc: Result<Value, String>,
    index: Option<&str>,
    client_id: Option<&str>,
    fields: &FieldMap,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Item {
    let doc = doc.map_err(|e| {
        FieldError::new(
            "",
            "invalid_json",
            format!("failed to parse the document: {e}"),
        )
    })?;
    let mut log = map_log(doc, index, fields, limits, now)?;
    if let Some(id) = client_id {
        log.metadata
            .get_or_insert_with(Default::default)
            .insert("_id".into(), Value::String(id.to_string()));
    }
    Ok(log)
}

/// Maps the documents of parsed actions to logs (taking them out of the
/// actions), one item per action.
pub fn decode_bulk(
    actions: &mut [Action<'_>],
    default_index: Option<&str>,
    fields: &FieldMap,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Vec<Item> {
    actions
        .iter_mut()
        .map(|action| match (action.name, action.doc.take()) {
            ("create" | "index", Some(doc)) => {
                let index = action.index.as_deref().or(default_index);
                decode_document(doc, index, action.id.as_deref(), fields, limits, now)
            }
            (name, _) => Err(FieldError::new(
                "",
                UNSUPPORTED_ACTION,
                format!("logagg's ingest port takes create and index actions; {name} is not supported (logs are immutable)"),
            )),
        })
        .collect()
}

/// An item's refusal as Elasticsearch words it: its error type and text.
pub fn refusal(e: &FieldError) -> ItemError<'static> {
    let kind = if e.kind == UNSUPPORTED_ACTION {
        "illegal_argument_exception"
    } else {
        "document_parsing_exception"
    };
    let reason = if e.field.is_empty() {
        e.reason.clone()
    } else {
        format!("[{}] {}", e.field, e.reason)
    };
    ItemError { kind, reason }
}

/// Elasticsearch's error body.
pub fn error_body(status: StatusCode, kind: &str, reason: &str) -> Value {
    json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason,
        },
        "status": status.as_u16(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_bodies_split_into_actions() {
        let body = b"{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"x\"}\r\n\n{\"delete\":{\"_id\":\"1\"}}\n{\"create\":{}}\n{bad\n";
        let actions = parse_bulk(body).unwrap();
        assert_eq!(actions.len(), 3);
        assert_eq!(actions[0].index.as_deref(), Some("a"));
        assert!(actions[0].doc.as_ref().unwrap().is_ok());
        assert_eq!(actions[1].name, "delete");
        assert!(actions[1].doc.is_none());
        // A bad document is the document's fault...
        assert!(actions[2].doc.as_ref().unwrap().is_err());
        // ...a bad action line, the request's.
        for bad in [
            &b"{\"index\":{}}\n{}\n{oops}\n{}\n"[..],
            b"{\"upsert\":{}}\n{}\n",
            b"{\"index\":{},\"create\":{}}\n{}\n",
            b"{\"index\":{}}\n",
            b"[1]\n",
        ] {
            let e = parse_bulk(bad).err().expect("refused");
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert!(e.to_string().contains("Malformed action"), "{e}");
        }
    }
}
