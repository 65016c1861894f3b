//! The fake cluster's search: evaluates the query DSL subset the project
//! sends (bool with filter/must/should/must_not, term, terms, range, ids,
//! match, match_phrase, match_all), sorts, pages, and computes the
//! aggregations it uses (terms, min, max, top_hits, date_histogram),
//! counting every bucket against `search.max_buckets` as Elasticsearch does.
//! `message` is analyzed by the index template's own analyzer definition.

use std::cmp::Ordering;

use chrono::DateTime;
use serde_json::{json, Map, Value};

/// Elasticsearch 8's default `search.max_buckets`.
pub const MAX_BUCKETS: usize = 65_536;

/// A refusal as Elasticsearch words it.
pub type Refusal = (u16, Value);

fn refuse(status: u16, kind: &str, reason: &str) -> Refusal {
    (
        status,
        json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}),
    )
}

/// The words of `text` as the template's `logagg_message` analyzer makes
/// them (its pattern, with Java's `IsAlphabetic` as Rust's `Alphabetic`).
pub fn analyze(text: &str) -> Vec<String> {
    use std::sync::OnceLock;
    static SPLIT: OnceLock<(regex::Regex, usize)> = OnceLock::new();
    let (split, max) = SPLIT.get_or_init(|| {
        let template: Value = serde_json::from_str(include_str!(
            "../../../../deploy/elasticsearch/index-template.json"
        ))
        .unwrap();
        let analysis = &template["template"]["settings"]["analysis"];
        let pattern = analysis["tokenizer"]["logagg_words"]["pattern"]
            .as_str()
            .unwrap()
            .replace("\\p{IsAlphabetic}", "\\p{Alphabetic}");
        let max = analysis["filter"]["logagg_long"]["max"].as_u64().unwrap() as usize;
        (regex::Regex::new(&pattern).unwrap(), max)
    });
    split
        .split(text)
        .filter(|w| !w.is_empty() && w.chars().count() <= *max)
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn the_analyzer_is_the_template_s_own() {
    let template: Value = serde_json::from_str(include_str!(
        "../../../../deploy/elasticsearch/index-template.json"
    ))
    .unwrap();
    assert_eq!(
        template["template"]["settings"]["analysis"]["analyzer"]["logagg_message"]["filter"],
        json!(["logagg_long", "lowercase"])
    );
    assert_eq!(
        template["template"]["mappings"]["properties"]["message"]["analyzer"],
        "logagg_message"
    );
}

// Regression (issue 16, finding 5): `message` used the standard tokenizer on
// Elasticsearch (`smith` did not match `john.smith`) while the embedded
// store splits on anything not a letter or digit. The template's analyzer
// now splits as the embedded tokenizer does.
#[test]
fn the_elasticsearch_analyzer_splits_words_as_the_embedded_index() {
    for text in [
        "john.smith@example.com wrote to ops@example.org",
        "GET https://api.example.com/v1/users?id=42&x=y HTTP/1.1",
        "user-42 logged in from 10.0.0.1:8080 (pid=3131)",
        "Ünïcödé wörds, naïve café, 東京 ２０２６ ⅻ ½",
        "snake_case and CamelCase and kebab-case/path\\win",
        "!!! ... --- ::: *** ###",
        "tab\tnew\nline\r\nend",
        "emoji 🙂 between words😀and digits٣",
    ] {
        let embedded: Vec<String> = log_model::search::words(text)
            .map(str::to_lowercase)
            .collect();
        assert_eq!(analyze(text), embedded, "{text:?}");
    }
    assert!(analyze("john.smith").contains(&"smith".to_string()));
    assert!(analyze("example.com").contains(&"com".to_string()));
}

fn millis(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis()),
        _ => None,
    }
}

/// A field of a document: `log_id` also answers `_id`.
fn field<'a>(doc: &'a Value, name: &str) -> &'a Value {
    match name {
        "_id" => &doc["log_id"],
        _ => &doc[name],
    }
}

/// The leaves a keyword query on `name` sees: the field itself, or, under
/// the `flattened` field `metadata`, every leaf at the dotted path (keys may
/// hold dots themselves; arrays give each element).
fn leaves<'a>(doc: &'a Value, name: &str) -> Vec<&'a Value> {
    fn walk<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, path, out)),
            Value::Object(obj) if !path.is_empty() => {
                if let Some(v) = obj.get(path) {
                    walk(v, "", out);
                }
                for (i, _) in path.match_indices('.') {
                    if let Some(v) = obj.get(&path[..i]) {
                        walk(v, &path[i + 1..], out);
                    }
                }
            }
            leaf if path.is_empty() && !leaf.is_object() => out.push(leaf),
            _ => {}
        }
    }
    match name.strip_prefix("metadata.") {
        Some(path) => {
            let mut out = Vec::new();
            walk(&doc["metadata"], path, &mut out);
            out
        }
        None => vec![field(doc, name)],
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn single(q: &Value) -> Result<(&str, &Value), Refusal> {
    let obj = q.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        refuse(
            400,
            "parsing_exception",
            &format!("expected one field in {q}"),
        )
    })?;
    let (k, v) = obj.iter().next().expect("one");
    Ok((k.as_str(), v))
}

/// Whether `doc` matches `query`.
pub fn matches(doc: &Value, query: &Value) -> Result<bool, Refusal> {
    let (kind, body) = single(query)?;
    Ok(match kind {
        "match_all" => true,
        "bool" => {
            let all = |key: &str| -> Result<Vec<bool>, Refusal> {
                body.get(key)
                    .map(|v| match v {
                        Value::Array(a) => a.iter().map(|q| matches(doc, q)).collect(),
                        q => Ok(vec![matches(doc, q)?]),
                    })
                    .unwrap_or(Ok(Vec::new()))
            };
            let (filter, must, should, must_not) = (
                all("filter")?,
                all("must")?,
                all("should")?,
                all("must_not")?,
            );
            // Elasticsearch: with filter or must, should clauses are optional
            // unless minimum_should_match says how many must match.
            let scoring = !filter.is_empty() || !must.is_empty();
            let min_should = match body.get("minimum_should_match") {
                Some(v) => v.as_u64().ok_or_else(|| {
                    refuse(
                        400,
                        "parsing_exception",
                        "[minimum_should_match] must be a number here",
                    )
                })? as usize,
                None if scoring => 0,
                None => usize::from(!should.is_empty()),
            };
            filter.iter().all(|b| *b)
                && must.iter().all(|b| *b)
                && must_not.iter().all(|b| !*b)
                && should.iter().filter(|b| **b).count() >= min_should
        }
        "term" => {
            let (name, value) = single(body)?;
            let value = value.get("value").unwrap_or(value);
            leaves(doc, name)
                .into_iter()
                .any(|leaf| as_text(leaf).is_some() && as_text(leaf) == as_text(value))
        }
        "terms" => {
            let (name, values) = single(body)?;
            let have = as_text(field(doc, name));
            have.is_some()
                && values
                    .as_array()
                    .ok_or_else(|| refuse(400, "parsing_exception", "[terms] expects an array"))?
                    .iter()
                    .any(|v| as_text(v) == have)
        }
        "ids" => {
            let have = as_text(&doc["log_id"]);
            body["values"]
                .as_array()
                .is_some_and(|vs| vs.iter().any(|v| as_text(v) == have))
        }
        "range" => {
            let (name, bounds) = single(body)?;
            let value = field(doc, name);
            let in_range = |ord: &dyn Fn(&Value) -> Option<Ordering>| {
                [
                    ("gte", true, true),
                    ("gt", false, true),
                    ("lte", true, false),
                    ("lt", false, false),
                ]
                .iter()
                .all(|(k, equal_ok, above)| match bounds.get(*k) {
                    None => true,
                    Some(b) => match ord(b) {
                        Some(Ordering::Equal) => *equal_ok,
                        Some(Ordering::Greater) => *above,
                        Some(Ordering::Less) => !*above,
                        None => false,
                    },
                })
            };
            if name.starts_with('@') || name.ends_with("_at") {
                // Dates: compared in milliseconds.
                let Some(t) = millis(value) else {
                    return Ok(false);
                };
                in_range(&|b| millis(b).map(|b| t.cmp(&b)))
            } else if let Some(x) = value.as_f64() {
                in_range(&|b| b.as_f64().and_then(|b| x.partial_cmp(&b)))
            } else if let Some(x) = value.as_str() {
                // Keywords: compared as text.
                in_range(&|b| as_text(b).map(|b| x.cmp(b.as_str())))
            } else {
                false
            }
        }
        "match_none" => false,
        "exists" => {
            let name = body["field"].as_str().unwrap_or("");
            leaves(doc, name).into_iter().any(|v| !v.is_null())
        }
        "prefix" => {
            let (name, prefix) = single(body)?;
            let prefix = as_text(prefix.get("value").unwrap_or(prefix)).unwrap_or_default();
            if name == "message" {
                // A text field: the prefix is matched against its terms.
                analyze(field(doc, name).as_str().unwrap_or(""))
                    .iter()
                    .any(|t| t.starts_with(&prefix))
            } else {
                leaves(doc, name)
                    .into_iter()
                    .filter_map(as_text)
                    .any(|v| v.starts_with(&prefix))
            }
        }
        "nested" => {
            // Each object under `path` is its own document.
            let path = body["path"].as_str().unwrap_or("");
            let query = &body["query"];
            let items = match &doc[path] {
                Value::Array(items) => items.clone(),
                Value::Null => Vec::new(),
                one => vec![one.clone()],
            };
            let mut any = false;
            for item in items {
                let mut inner = Map::new();
                for (k, v) in item.as_object().into_iter().flatten() {
                    inner.insert(format!("{path}.{k}"), v.clone());
                }
                any |= matches(&Value::Object(inner), query)?;
            }
            any
        }
        "match_phrase" | "match" => {
            let (name, text) = single(body)?;
            let text = text.get("query").unwrap_or(text);
            let want = analyze(text.as_str().unwrap_or(""));
            let have = analyze(field(doc, name).as_str().unwrap_or(""));
            // No words: Elasticsearch's zero_terms_query is `none`.
            if want.is_empty() {
                false
            } else if kind == "match_phrase" {
                have.windows(want.len()).any(|w| w == want.as_slice())
            } else {
                want.iter().any(|w| have.contains(w))
            }
        }
        other => {
            return Err(refuse(
                400,
                "parsing_exception",
                &format!("unknown query [{other}]"),
            ))
        }
    })
}

/// Orders documents by a `sort` list (`[{"field": {"order": "desc"}}]`).
fn compare(a: &Value, b: &Value, sort: &[Value]) -> Ordering {
    for key in sort {
        let Ok((name, spec)) = single(key) else {
            continue;
        };
        let desc = spec["order"] == "desc" || spec == "desc";
        let (x, y) = (field(a, name), field(b, name));
        let ord = match (millis(x), millis(y)) {
            (Some(p), Some(q)) if name.starts_with('@') || name.ends_with("_at") => p.cmp(&q),
            _ => as_text(x).cmp(&as_text(y)),
        };
        let ord = if desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn sort_values(doc: &Value, sort: &[Value]) -> Value {
    Value::Array(
        sort.iter()
            .filter_map(|k| single(k).ok())
            .map(|(name, _)| match millis(field(doc, name)) {
                Some(ms) if name.starts_with('@') => json!(ms),
                _ => field(doc, name).clone(),
            })
            .collect(),
    )
}

fn source_of(doc: &Value, spec: Option<&Value>) -> Value {
    match spec
        .and_then(|s| s.get("includes"))
        .and_then(Value::as_array)
    {
        Some(fields) => {
            let mut out = Map::new();
            for f in fields.iter().filter_map(Value::as_str) {
                if !doc[f].is_null() {
                    out.insert(f.to_string(), doc[f].clone());
                }
            }
            Value::Object(out)
        }
        None if spec == Some(&Value::Bool(false)) => Value::Null,
        None => doc.clone(),
    }
}

/// Counts buckets as they are made; refuses past the limit.
struct Buckets {
    made: usize,
    max: usize,
}

impl Buckets {
    fn add(&mut self, n: usize) -> Result<(), Refusal> {
        self.made += n;
        if self.made > self.max {
            let reason = format!(
                "Trying to create too many buckets. Must be less than or equal to: [{}] but this number of buckets was exceeded. This limit can be set by changing the [search.max_buckets] cluster level setting.",
                self.max
            );
            let (status, mut body) =
                refuse(400, "search_phase_execution_exception", "all shards failed");
            body["error"]["caused_by"] = json!({"type": "too_many_buckets_exception", "reason": reason, "max_buckets": self.max});
            return Err((status, body));
        }
        Ok(())
    }
}

fn interval_ms(spec: &Value, key: &str) -> Result<i64, Refusal> {
    match spec.get(key) {
        None => Ok(0),
        Some(Value::String(s)) => s
            .strip_suffix("ms")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                refuse(
                    400,
                    "illegal_argument_exception",
                    &format!("cannot parse [{key}] {s}"),
                )
            }),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| refuse(400, "illegal_argument_exception", &format!("bad [{key}]"))),
    }
}

fn aggregate(docs: &[&Value], aggs: &Value, buckets: &mut Buckets) -> Result<Value, Refusal> {
    let mut out = Map::new();
    for (name, spec) in aggs.as_object().into_iter().flatten() {
        let sub = spec.get("aggs").or_else(|| spec.get("aggregations"));
        let (kind, body) = spec
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| *k != "aggs" && *k != "aggregations"))
            .ok_or_else(|| {
                refuse(
                    400,
                    "parsing_exception",
                    &format!("aggregation [{name}] has no type"),
                )
            })?;
        let result = match kind.as_str() {
            "terms" => {
                let f = body["field"].as_str().unwrap_or("");
                let size = body["size"].as_u64().unwrap_or(10) as usize;
                let include: Option<Vec<String>> = body["include"]
                    .as_array()
                    .map(|a| a.iter().filter_map(as_text).collect());
                let mut groups: std::collections::BTreeMap<String, Vec<&Value>> =
                    Default::default();
                for d in docs {
                    if let Some(key) = as_text(field(d, f)) {
                        if include.as_ref().is_none_or(|i| i.contains(&key)) {
                            groups.entry(key).or_default().push(d);
                        }
                    }
                }
                let mut keyed: Vec<(String, Vec<&Value>)> = groups.into_iter().collect();
                // Default order: count desc, then key asc (what the project asks too).
                keyed.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
                let total: usize = keyed.iter().map(|(_, d)| d.len()).sum();
                keyed.truncate(size);
                let kept: usize = keyed.iter().map(|(_, d)| d.len()).sum();
                buckets.add(keyed.len())?;
                let mut list = Vec::new();
                for (key, members) in keyed {
                    let mut b = json!({"key": key, "doc_count": members.len()});
                    if let Some(sub) = sub {
                        for (k, v) in aggregate(&members, sub, buckets)?.as_object().unwrap() {
                            b[k] = v.clone();
                        }
                    }
                    list.push(b);
                }
                json!({"doc_count_error_upper_bound": 0, "sum_other_doc_count": total - kept, "buckets": list})
            }
            "min" | "max" => {
                let f = body["field"].as_str().unwrap_or("");
                let values = docs.iter().filter_map(|d| millis(field(d, f)));
                let v = if kind == "min" {
                    values.min()
                } else {
                    values.max()
                };
                match v {
                    Some(ms) => {
                        json!({"value": ms as f64, "value_as_string": DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()})
                    }
                    None => json!({"value": null}),
                }
            }
            "top_hits" => {
                let size = body["size"].as_u64().unwrap_or(3) as usize;
                let sort: Vec<Value> = body["sort"].as_array().cloned().unwrap_or_default();
                let mut sorted: Vec<&Value> = docs.to_vec();
                sorted.sort_by(|a, b| compare(a, b, &sort));
                let hits: Vec<Value> = sorted
                    .iter()
                    .take(size)
                    .map(|d| json!({"_index": ".ds-fake", "_id": d["log_id"], "_score": null, "_source": source_of(d, body.get("_source")), "sort": sort_values(d, &sort)}))
                    .collect();
                json!({"hits": {"total": {"value": docs.len(), "relation": "eq"}, "max_score": null, "hits": hits}})
            }
            "date_histogram" => {
                let f = body["field"].as_str().unwrap_or("");
                let interval = interval_ms(body, "fixed_interval")?.max(1);
                let offset = interval_ms(body, "offset")?;
                let key_of = |t: i64| (t - offset).div_euclid(interval) * interval + offset;
                let mut counts: std::collections::BTreeMap<i64, Vec<&Value>> = Default::default();
                for d in docs {
                    if let Some(t) = millis(field(d, f)) {
                        counts.entry(key_of(t)).or_default().push(d);
                    }
                }
                if body["min_doc_count"].as_u64() == Some(0) {
                    let bounds = &body["extended_bounds"];
                    if let (Some(min), Some(max)) = (bounds["min"].as_i64(), bounds["max"].as_i64())
                    {
                        if max < min {
                            return Err(refuse(400, "illegal_argument_exception", &format!("[extended_bounds.min][{min}] cannot be greater than [extended_bounds.max][{max}] for histogram aggregation [{name}]")));
                        }
                        let mut k = key_of(min);
                        while k <= max {
                            counts.entry(k).or_default();
                            k += interval;
                        }
                    }
                    // Empty buckets between the first and last ones too.
                    if let (Some(first), Some(last)) =
                        (counts.keys().next().copied(), counts.keys().last().copied())
                    {
                        let mut k = first;
                        while k <= last {
                            counts.entry(k).or_default();
                            k += interval;
                        }
                    }
                }
                buckets.add(counts.len())?;
                let mut list = Vec::new();
                for (k, members) in counts {
                    let mut b = json!({"key_as_string": DateTime::from_timestamp_millis(k).unwrap().to_rfc3339(), "key": k, "doc_count": members.len()});
                    if let Some(sub) = sub {
                        for (name, v) in aggregate(&members, sub, buckets)?.as_object().unwrap() {
                            b[name] = v.clone();
                        }
                    }
                    list.push(b);
                }
                json!({"buckets": list})
            }
            other => {
                return Err(refuse(
                    400,
                    "parsing_exception",
                    &format!("unknown aggregation type [{other}]"),
                ))
            }
        };
        out.insert(name.clone(), result);
    }
    Ok(Value::Object(out))
}

/// `hits.total` as Elasticsearch counts it: exactly up to
/// `track_total_hits` (10,000 by default; `true`: all), then `gte`.
fn total_of(total: usize, track: &Value) -> Value {
    let bound = match track {
        Value::Bool(true) => usize::MAX,
        Value::Number(n) => n.as_u64().unwrap_or(10_000) as usize,
        _ => 10_000,
    };
    if total > bound {
        json!({"value": bound, "relation": "gte"})
    } else {
        json!({"value": total, "relation": "eq"})
    }
}

/// Answers a `_search` body over `docs` (the documents of every backing index).
pub fn search(docs: &[&Value], body: &Value, max_buckets: usize) -> Refusal {
    let query = body
        .get("query")
        .cloned()
        .unwrap_or(json!({"match_all": {}}));
    let mut hits = Vec::new();
    for d in docs {
        match matches(d, &query) {
            Ok(true) => hits.push(*d),
            Ok(false) => {}
            Err(refusal) => return refusal,
        }
    }
    let sort: Vec<Value> = body["sort"].as_array().cloned().unwrap_or_default();
    hits.sort_by(|a, b| compare(a, b, &sort));
    // The total counts every match, wherever the page starts.
    let total = hits.len();
    // search_after: the hits that sort after these values.
    if let Some(after) = body.get("search_after") {
        let after = after.as_array().cloned().unwrap_or_default();
        if after.len() != sort.len() || body.get("from").is_some_and(|f| f != 0) {
            return refuse(
                400,
                "illegal_argument_exception",
                "search_after needs as many values as sort fields, and from 0",
            );
        }
        hits.retain(|d| {
            let values = sort_values(d, &sort);
            let values = values.as_array().unwrap();
            for ((key, mine), theirs) in sort.iter().zip(values).zip(&after) {
                let desc =
                    single(key).is_ok_and(|(_, spec)| spec["order"] == "desc" || spec == "desc");
                let ord = match (mine.as_i64(), theirs.as_i64()) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    _ => as_text(mine).cmp(&as_text(theirs)),
                };
                let ord = if desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord == Ordering::Greater;
                }
            }
            false
        });
    }
    let from = body["from"].as_u64().unwrap_or(0) as usize;
    let size = body["size"].as_u64().unwrap_or(10) as usize;
    if from + size > 10_000 {
        return refuse(
            400,
            "illegal_argument_exception",
            "Result window is too large, from + size must be less than or equal to: [10000]",
        );
    }
    let page: Vec<Value> = hits
        .iter()
        .skip(from)
        .take(size)
        .map(|d| json!({"_index": ".ds-fake", "_id": d["log_id"], "_score": null, "_source": source_of(d, body.get("_source")), "sort": sort_values(d, &sort)}))
        .collect();
    let mut answer = json!({
        "took": 1, "timed_out": false,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": total_of(total, &body["track_total_hits"]), "max_score": null, "hits": page},
    });
    if let Some(aggs) = body.get("aggs").or_else(|| body.get("aggregations")) {
        let mut buckets = Buckets {
            made: 0,
            max: max_buckets,
        };
        match aggregate(&hits, aggs, &mut buckets) {
            Ok(result) => answer["aggregations"] = result,
            Err(refusal) => return refusal,
        }
    }
    (200, answer)
}
