//! The OpenAPI documents against the routes the services really have, and
//! Schemathesis (a real OpenAPI fuzzer, installed by `.ci/run`) against
//! both services.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::util::{get, Stack};

const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "PUT", "DELETE"];

/// A path of the document with its parameters filled in.
fn concrete(path: &str, params: &[Value]) -> String {
    let mut out = path.to_string();
    for p in params {
        let name = p["name"].as_str().unwrap_or_default();
        let value = match (name, p["schema"]["pattern"].as_str()) {
            ("tail", Some("^_.*$")) => "_no_such_api".to_string(),
            ("tail", _) => "stats".to_string(),
            ("index", _) => "logs".to_string(),
            ("file", _) => p["example"].as_str().unwrap_or("x").to_string(),
            ("id", _) => "01a224d9-5e6b-71a4-807b-29b2eeff11ca".to_string(),
            _ => "x".to_string(),
        };
        out = out.replace(&format!("{{{name}}}"), &value);
    }
    out
}

/// A path template as a regex over concrete paths (a parameter's pattern,
/// when it has one, is what it matches).
fn template_regex(path: &str, params: &[Value]) -> Regex {
    let mut re = String::from("^");
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            re.push('/');
        }
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let pattern = params
                    .iter()
                    .find(|p| p["name"] == name)
                    .and_then(|p| p["schema"]["pattern"].as_str())
                    .map(|p| p.trim_start_matches('^').trim_end_matches('$').to_string())
                    .unwrap_or_else(|| "[^/]+".to_string());
                re.push_str(&format!("(?:{pattern})"));
            }
            None => re.push_str(&regex::escape(seg)),
        }
    }
    re.push('$');
    Regex::new(&re).unwrap()
}

/// Whether an answer came from the server's fallback for unknown routes.
async fn fallback(res: reqwest::Response, method: &str) -> bool {
    if res.status() != 404 {
        return false;
    }
    if method == "HEAD" {
        return true;
    }
    let body: Value = res.json().await.unwrap_or_default();
    body["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("no route for"))
}

#[actix_web::test]
async fn openapi_documents_every_route_and_nothing_else() {
    let stack = Stack::start().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut documented_anywhere = BTreeSet::new();
    for base in [&stack.ingest, &stack.query] {
        let (status, doc) = get(&format!("{base}/openapi.json")).await;
        assert_eq!(status, 200);
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let templates: Vec<(Regex, &Value)> = paths
            .iter()
            .map(|(path, item)| {
                let params = operation_params(item);
                (template_regex(path, &params), item)
            })
            .collect();
        for (path, item) in paths {
            let params = operation_params(item);
            let url = format!("{base}{}", concrete(path, &params));
            for method in METHODS {
                let m = method.to_ascii_lowercase();
                let documented = item.get(&m).is_some();
                if documented {
                    documented_anywhere.insert(format!("{method} {path}"));
                    let op = &item[&m];
                    assert!(
                        op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                        "{method} {path} documents no answer"
                    );
                }
                let res = client
                    .request(method.parse().unwrap(), &url)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
                let status = res.status().as_u16();
                let concrete_path = res.url().path().to_string();
                let is_fallback = fallback(res, method).await;
                if documented {
                    assert!(
                        !is_fallback,
                        "{method} {path} is documented but {url} has no route"
                    );
                    if let Some(codes) = item[&m]["responses"].as_object() {
                        assert!(
                            codes.contains_key(&status.to_string()),
                            "{method} {url} answered {status}, which the document does not list for {path}"
                        );
                    }
                } else if !is_fallback {
                    // Served: then another documented path must cover it.
                    let covered = templates
                        .iter()
                        .any(|(re, other)| re.is_match(&concrete_path) && other.get(&m).is_some());
                    assert!(
                        covered,
                        "{method} {url} is served ({status}) but no path of the document lists it"
                    );
                }
            }
        }
        // Each document describes the error shape it refers to.
        assert!(doc["components"]["schemas"]["Error"].is_object());
    }
    // The routes the README and docs/ name are documented (leaving out the
    // page on a real Elasticsearch cluster, whose own routes it names).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs = std::fs::read_to_string(root.join("README.md")).unwrap();
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") && !path.ends_with("elasticsearch.md") {
            docs.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    let mention = Regex::new(
        r"`((?:GET|POST|PUT|HEAD|DELETE)(?:\|(?:GET|POST|PUT|HEAD|DELETE))*) (/[^`\s?]*)",
    )
    .unwrap();
    let mut checked = 0;
    for cap in mention.captures_iter(&docs) {
        let path = cap[2].trim_end_matches(['.', ',']);
        for method in cap[1].split('|') {
            let key = format!("{method} {path}");
            assert!(
                documented_anywhere.contains(&key),
                "the docs name {key}, which neither OpenAPI document lists"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} routes found in the docs");
    stack.stop().await;
}

/// Routes reach the server only through registrations the documents
/// follow: `.service(handler)` with its `#[utoipa::path]`, the
/// Elasticsearch table, and the docs routes the server adds (documented
/// with it). A bare `.route(...)` or `web::resource(...)` anywhere else in
/// the services' code would serve a path no document lists.
#[test]
fn routes_are_registered_only_where_the_documents_follow() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let allowed = [
        (
            "ingestd/src/doors/elastic/mod.rs",
            "cfg.route(r.path, route_to(r.handler)",
        ),
        (
            "svc-kit/src/server.rs",
            "app.route(\"/docs\", web::get().to(to_docs))",
        ),
    ];
    let mut found = Vec::new();
    // Every source file of the services, in their folders too.
    let mut files = Vec::new();
    let mut dirs: Vec<String> = ["queryd/src", "ingestd/src", "svc-kit/src"]
        .map(String::from)
        .to_vec();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(root.join(&dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            if path.is_dir() {
                dirs.push(name);
            } else if name.ends_with(".rs") {
                files.push((name, path));
            }
        }
    }
    assert!(
        files.len() > 20,
        "the services' sources are found: {files:?}"
    );
    for (name, path) in files {
        {
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests build their own small apps.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for line in code.lines() {
                let line = line.trim();
                if line.starts_with("//") {
                    continue;
                }
                if line.contains(".route(") || line.contains("web::resource(") {
                    let ok = allowed
                        .iter()
                        .any(|(file, text)| name == *file && line.contains(text));
                    if !ok {
                        found.push(format!("{name}: {line}"));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "routes outside the documents: {found:#?}");
}

/// The parameters of a path's operations (the first that has any).
fn operation_params(item: &Value) -> Vec<Value> {
    item.as_object()
        .unwrap()
        .values()
        .filter_map(|op| op["parameters"].as_array())
        .flat_map(|ps| ps.iter().cloned())
        .filter(|p| p["in"] == "path")
        .collect()
}

/// Schemathesis against each service: no 5xx, and every answer's status,
/// content type and body as the document describes. Bounded: a fixed
/// number of cases per operation (`SCHEMATHESIS_MAX_EXAMPLES`, default 25)
/// and a fixed seed (`SCHEMATHESIS_SEED` to try another).
#[actix_web::test]
async fn schemathesis_finds_nothing() {
    let stack = Stack::start().await;
    let examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| "25".into());
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261129".into());
    for base in [stack.ingest.clone(), stack.query.clone()] {
        let schema = format!("{base}/openapi.json");
        let mut args: Vec<String> = [
            "run",
            &schema,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "20",
            // One worker: Python's parser is not safe across the threads
            // of several ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--no-color",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // A live tail is an endless stream: Schemathesis would wait on it
        // forever. Its answers are checked in reads.rs (live_tail).
        args.extend(["--exclude-path".to_string(), "/logs/tail".to_string()]);
        // Its cache and reports go to a scratch directory, not the repo.
        let scratch = tempfile::tempdir().unwrap();
        let out = tokio::task::spawn_blocking(move || {
            // As a module of the python3 that .ci/run installed it into
            // (its `st` script may not be on PATH).
            Command::new("python3")
                .current_dir(scratch.path())
                .args(["-m", "schemathesis.cli"])
                .args(&args)
                .output()
                .expect("python3 runs (.ci/run installs Schemathesis from crates/logagg/tests/clients/requirements.txt)")
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis found problems in {base}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("generated"), "{text}");
    }
    stack.stop().await;
}
