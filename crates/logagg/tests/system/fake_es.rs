//! A small fake Elasticsearch on 127.0.0.1: keeps documents by `_id` per data
//! stream, answers bulk, ILM, template, data-stream, health and search
//! requests with bodies shaped as Elasticsearch's documented responses,
//! records every request, and can be told to fail.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// How the fake misbehaves.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Every request answers 503 (cluster_block_exception).
    pub down: bool,
    /// The next N requests get their connection closed without an answer.
    pub drop_next: usize,
    /// Each bulk answer waits this long (after the request took effect).
    pub delay: Duration,
    /// The first N `create` attempts of each id answer an item-level 429.
    pub item_429_attempts: u32,
    /// Documents whose message contains this answer an item-level 400 mapping error.
    pub mapping_error_marker: Option<String>,
    /// The dead-letter stream refuses documents too (400).
    pub deadletter_refuses: bool,
    /// The first N `create` attempts of each id answer an item-level 403
    /// (a missing privilege) and the next N a 404 (a missing index).
    pub item_403_404_attempts: u32,
    /// The next N bulk requests answer a proxy's HTML 400 page.
    pub html_400_next: usize,
    /// Bulk bodies larger than this answer 413 (`http.max_content_length`).
    pub max_content_length: Option<usize>,
    /// Roll each data stream over when its write index is this old (as an
    /// ILM `max_age`), checked at each bulk request.
    pub rollover_age: Option<Duration>,
}

pub struct State {
    /// stream -> (backing index generation, id) -> document. `create`
    /// refuses an id already in the current backing index only, as a data
    /// stream does.
    pub docs: BTreeMap<String, BTreeMap<(u32, String), Value>>,
    /// stream -> its current backing index generation (rollovers).
    pub generation: HashMap<String, u32>,
    /// stream -> when its current backing index was made.
    pub generation_born: HashMap<String, std::time::Instant>,
    /// template name -> its mapping (from PUT _index_template, PUT _mapping).
    pub mappings: HashMap<String, Value>,
    /// `search.max_buckets`.
    pub max_buckets: usize,
    pub requests: Vec<Recorded>,
    /// id -> create attempts
    pub attempts: HashMap<String, u32>,
    /// id -> 201 answers given
    pub created: HashMap<String, u32>,
    pub data_streams: Vec<String>,
    pub faults: Faults,
}

impl Default for State {
    fn default() -> Self {
        State {
            docs: BTreeMap::new(),
            generation: HashMap::new(),
            generation_born: HashMap::new(),
            mappings: HashMap::new(),
            max_buckets: crate::fake_search::MAX_BUCKETS,
            requests: Vec::new(),
            attempts: HashMap::new(),
            created: HashMap::new(),
            data_streams: Vec::new(),
            faults: Faults::default(),
        }
    }
}

impl State {
    fn backing_index(&self, stream: &str) -> String {
        format!(
            ".ds-{stream}-2026.11.28-{:06}",
            self.generation.get(stream).copied().unwrap_or(1)
        )
    }

    /// Why the stream's mapping refuses `doc`, if it does: a field it does
    /// not name (strict), or a keyword too long to index.
    fn mapping_refusal(&self, stream: &str, doc: &Value) -> Option<(String, String)> {
        let mapping = self
            .mappings
            .iter()
            .filter(|(name, _)| stream.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, m)| m)?;
        let props = &mapping["properties"];
        if mapping["dynamic"] == "strict" {
            if let Some(field) = doc
                .as_object()?
                .keys()
                .find(|k| props.get(k.as_str()).is_none())
            {
                return Some((
                    "strict_dynamic_mapping_exception".into(),
                    format!("[1:2] mapping set to strict, dynamic introduction of [{field}] within [_doc] is not allowed"),
                ));
            }
        }
        for (name, spec) in props.as_object()? {
            let Some(text) = doc[name].as_str() else {
                continue;
            };
            let ignored = spec["ignore_above"]
                .as_u64()
                .is_some_and(|max| text.chars().count() as u64 > max);
            if spec["type"] == "keyword" && !ignored && text.len() > 32_766 {
                return Some((
                    "illegal_argument_exception".into(),
                    format!("Document contains at least one immense term in field=\"{name}\" (whose UTF8 encoding is longer than the max length 32766), all of which were skipped."),
                ));
            }
        }
        None
    }
}

#[derive(Clone)]
pub struct FakeEs {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeEs {
    pub async fn start() -> FakeEs {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> FakeEs {
        Self::serve(port, Arc::new(Mutex::new(State::default()))).await
    }

    async fn serve(port: u16, state: Arc<Mutex<State>>) -> FakeEs {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = task_state.clone();
                tokio::spawn(async move {
                    let _ = serve_connection(stream, state).await;
                });
            }
        });
        FakeEs { url, state }
    }

    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.state.lock().unwrap().faults);
    }

    /// Ids stored in `stream`.
    /// The ids stored in `stream`, once per backing index that holds them.
    pub fn ids(&self, stream: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .docs
            .get(stream)
            .map(|d| d.keys().map(|(_, id)| id.clone()).collect())
            .unwrap_or_default()
    }

    /// Rolls `stream` over to a new backing index.
    pub fn rollover(&self, stream: &str) {
        let mut state = self.state.lock().unwrap();
        *state.generation.entry(stream.to_string()).or_insert(1) += 1;
    }

    pub fn doc(&self, stream: &str, id: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .docs
            .get(stream)
            .and_then(|d| d.iter().find(|((_, i), _)| i == id).map(|(_, v)| v.clone()))
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The largest number of 201 answers any one id got (1 when nothing was stored twice).
    pub fn max_created_per_id(&self) -> u32 {
        self.state
            .lock()
            .unwrap()
            .created
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = vec![0u8; 65536];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let mut body = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);
        if headers.get("content-encoding").is_some_and(|e| e == "gzip") {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain)?;
            body = plain;
        }
        let recorded = Recorded {
            method,
            path,
            headers,
            body,
        };
        let (drop_it, delay) = {
            let mut s = state.lock().unwrap();
            s.requests.push(recorded.clone());
            let drop_it = s.faults.drop_next > 0;
            if drop_it {
                s.faults.drop_next -= 1;
            }
            let delay = if recorded.path.contains("/_bulk") {
                s.faults.delay
            } else {
                Duration::ZERO
            };
            (drop_it, delay)
        };
        if drop_it {
            return Ok(()); // closes the connection without an answer
        }
        // Answer (and store) first, then wait: a client that dies meanwhile
        // never learns that its documents were stored, as with a real cluster.
        let (status, answer) = answer(&recorded, &mut state.lock().unwrap());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // A string answer is a page (a proxy's), not JSON.
        let (body, content_type) = match answer {
            Value::String(page) => (page, "text/html"),
            json => (json.to_string(), "application/json"),
        };
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            413 => "Request Entity Too Large",
            _ => "Service Unavailable",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}

fn error_body(kind: &str, reason: &str, status: u16) -> Value {
    json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status})
}

fn answer(req: &Recorded, s: &mut State) -> (u16, Value) {
    if s.faults.down {
        return (
            503,
            error_body(
                "cluster_block_exception",
                "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];",
                503,
            ),
        );
    }
    let path = req.path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("PUT", ["_ilm", "policy", _]) => (200, json!({"acknowledged": true})),
        // A repository of type fs needs a location (under path.repo on a
        // real cluster); the answers are Elasticsearch's documented ones.
        ("PUT", ["_snapshot", _]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            if body["type"] == "fs" && body["settings"]["location"].as_str().is_none() {
                (
                    500,
                    json!({"error": {"type": "repository_exception", "reason": "[fs] missing location"}, "status": 500}),
                )
            } else {
                (200, json!({"acknowledged": true}))
            }
        }
        ("PUT", ["_slm", "policy", _]) => (200, json!({"acknowledged": true})),
        // A template's mapping applies from the next backing index; the
        // fake applies it at once unless the stream exists already (then
        // only a PUT _mapping changes the current one).
        ("PUT", ["_index_template", name]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            if !s.data_streams.iter().any(|d| d == name) || !s.mappings.contains_key(*name) {
                s.mappings
                    .insert(name.to_string(), body["template"]["mappings"].clone());
            }
            (200, json!({"acknowledged": true}))
        }
        ("PUT", [name, "_mapping"]) => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let mapping = s.mappings.entry(name.to_string()).or_insert(json!({}));
            for (k, v) in body["properties"].as_object().into_iter().flatten() {
                mapping["properties"][k] = v.clone();
            }
            (200, json!({"acknowledged": true}))
        }
        ("PUT", ["_data_stream", name]) => {
            if s.data_streams.iter().any(|d| d == name) {
                (
                    400,
                    error_body(
                        "resource_already_exists_exception",
                        &format!("data_stream [{name}] already exists"),
                        400,
                    ),
                )
            } else {
                s.data_streams.push(name.to_string());
                (200, json!({"acknowledged": true}))
            }
        }
        ("GET", ["_cluster", "health"]) => (
            200,
            json!({"cluster_name": "fake", "status": "green", "timed_out": false, "number_of_nodes": 1}),
        ),
        ("POST", [_, "_bulk"]) if s.faults.html_400_next > 0 => {
            s.faults.html_400_next -= 1;
            (
                400,
                Value::String("<html><head><title>400 Bad Request</title></head><body><center><h1>400 Bad Request</h1></center><hr><center>nginx</center></body></html>".into()),
            )
        }
        ("POST", [_, "_bulk"])
            if s.faults
                .max_content_length
                .is_some_and(|max| req.body.len() > max) =>
        {
            let reason = format!(
                "entity content is too long [{}] for the configured buffer limit [{}]",
                req.body.len(),
                s.faults.max_content_length.unwrap_or(0)
            );
            (
                413,
                error_body("request_entity_too_large_exception", &reason, 413),
            )
        }
        ("POST", [stream, "_bulk"]) => bulk(stream, &req.body, s),
        ("POST", [_, "_refresh"]) => (
            200,
            json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}),
        ),
        ("POST", [stream, "_search"]) => {
            let Some(docs) = s.docs.get(*stream) else {
                return (
                    404,
                    error_body(
                        "index_not_found_exception",
                        &format!("no such index [{stream}]"),
                        404,
                    ),
                );
            };
            let docs: Vec<&Value> = docs.values().collect();
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            crate::fake_search::search(&docs, &body, s.max_buckets)
        }
        _ => (
            404,
            error_body(
                "resource_not_found_exception",
                &format!("no handler for {} {}", req.method, req.path),
                404,
            ),
        ),
    }
}

fn bulk(stream: &str, body: &[u8], s: &mut State) -> (u16, Value) {
    if let Some(age) = s.faults.rollover_age {
        let born = *s
            .generation_born
            .entry(stream.to_string())
            .or_insert_with(std::time::Instant::now);
        if born.elapsed() >= age {
            *s.generation.entry(stream.to_string()).or_insert(1) += 1;
            s.generation_born
                .insert(stream.to_string(), std::time::Instant::now());
        }
    }
    let text = String::from_utf8_lossy(body);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut items = Vec::new();
    let mut errors = false;
    while let (Some(action), Some(source)) = (lines.next(), lines.next()) {
        let action: Value = serde_json::from_str(action).unwrap();
        let id = action["create"]["_id"]
            .as_str()
            .expect("create with _id")
            .to_string();
        let doc: Value = serde_json::from_str(source).unwrap();
        let attempts = {
            let attempts = s.attempts.entry(id.clone()).or_default();
            *attempts += 1;
            *attempts
        };
        let index = s.backing_index(stream);
        let generation = s.generation.get(stream).copied().unwrap_or(1);
        let mapping_refusal = s.mapping_refusal(stream, &doc);
        let is_deadletter = stream.contains("deadletter");
        let refusals = s.faults.item_403_404_attempts;
        let item = if !is_deadletter && attempts <= refusals {
            json!({"_index": stream, "_id": id, "status": 403, "error": {"type": "security_exception", "reason": format!("action [indices:data/write/bulk[s]] is unauthorized for API key id [k1] of user [ingest] on indices [{index}], this action is granted by the index privileges [create_doc,create,index,write,all]")}})
        } else if !is_deadletter && attempts <= 2 * refusals {
            json!({"_index": stream, "_id": id, "status": 404, "error": {"type": "index_not_found_exception", "reason": format!("no such index [{stream}]"), "index": stream}})
        } else if !is_deadletter && attempts <= 2 * refusals + s.faults.item_429_attempts {
            json!({"_index": index, "_id": id, "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}})
        } else if (!is_deadletter
            && s.faults
                .mapping_error_marker
                .as_ref()
                .is_some_and(|m| doc["message"].as_str().unwrap_or("").contains(m.as_str())))
            || (is_deadletter && s.faults.deadletter_refuses)
        {
            json!({"_index": index, "_id": id, "status": 400, "error": {"type": "document_parsing_exception", "reason": "[1:52] failed to parse field [message] of type [text] in document with id '".to_string() + &id + "'"}})
        } else if let Some((kind, reason)) = mapping_refusal {
            json!({"_index": index, "_id": id, "status": 400, "error": {"type": kind, "reason": reason}})
        } else if s
            .docs
            .get(stream)
            .is_some_and(|d| d.contains_key(&(generation, id.clone())))
        {
            json!({"_index": index, "_id": id, "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": format!("[{id}]: version conflict, document already exists (current version [1])")}})
        } else {
            s.docs
                .entry(stream.to_string())
                .or_default()
                .insert((generation, id.clone()), doc);
            *s.created.entry(id.clone()).or_default() += 1;
            json!({"_index": index, "_id": id, "_version": 1, "result": "created", "status": 201})
        };
        errors |= item["status"] != json!(201);
        items.push(json!({"create": item}));
    }
    (200, json!({"took": 3, "errors": errors, "items": items}))
}
