//! API keys on both ports: who gets in, with which scope, in which of the
//! ways clients present a key; the keys file read again on change.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use svc_kit::auth::{add_key, Scope};

use crate::util::{eventually, get_text, metric, Stack};

struct Keys {
    ingest: String,
    query: String,
    admin: String,
}

fn keys_file(dir: &Path) -> (std::path::PathBuf, Keys) {
    let path = dir.join("keys.toml");
    let keys = Keys {
        ingest: add_key(&path, "shipper", "default", &[Scope::Ingest]).unwrap(),
        query: add_key(&path, "sre", "default", &[Scope::Query]).unwrap(),
        admin: add_key(&path, "ops", "default", &[Scope::Admin]).unwrap(),
    };
    (path, keys)
}

async fn send(
    method: reqwest::Method,
    url: &str,
    auth: Option<(&str, String)>,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn bearer(secret: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {secret}")))
}

#[actix_web::test]
async fn keys_and_scopes_on_both_ports() {
    let dir = tempfile::tempdir().unwrap();
    let (path, keys) = keys_file(dir.path());
    let stack = Stack::start_with(&["--auth-keys", path.to_str().unwrap()]).await;
    let ingest = format!("{}/logs/ingest?refresh=wait_for", stack.ingest);
    let search = format!("{}/logs/search?query=guarded", stack.query);
    let log = json!({"message": "guarded write", "source": "auth-test"});
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // No key, a wrong key, a malformed header: 401 in the API's shape,
    // with a challenge browsers answer (the UI then sends Basic auth).
    for auth in [
        None,
        bearer("not-a-key"),
        Some(("authorization", "Digest x".to_string())),
    ] {
        for (method, url, body) in [(&post, &ingest, Some(&log)), (&get, &search, None)] {
            let (status, headers, body) = send(method.clone(), url, auth.clone(), body).await;
            assert_eq!(status, 401, "{url} with {auth:?}: {body}");
            assert_eq!(body["error"], "unauthorized");
            assert!(body["detail"].as_str().unwrap().len() > 10);
            assert!(headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic realm="));
        }
    }
    // A key without the scope: 403.
    let (status, _, body) = send(post.clone(), &ingest, bearer(&keys.query), Some(&log)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("ingest scope"));
    let (status, _, body) = send(get.clone(), &search, bearer(&keys.ingest), None).await;
    assert_eq!(status, 403, "{body}");

    // Every way of presenting the ingest key writes; the admin key too.
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let forms: Vec<Option<(&str, String)>> = vec![
        bearer(&keys.ingest),
        Some((
            "authorization",
            format!("ApiKey {}", b64(format!("shipper:{}", keys.ingest))),
        )),
        Some((
            "authorization",
            format!("Basic {}", b64(format!("shipper:{}", keys.ingest))),
        )),
        Some(("x-api-key", keys.ingest.clone())),
        bearer(&keys.admin),
    ];
    let written = forms.len();
    for auth in forms {
        let (status, _, body) = send(post.clone(), &ingest, auth.clone(), Some(&log)).await;
        assert_eq!(status, 202, "{auth:?}: {body}");
    }
    // The query key reads them (as does admin); nothing was written by the
    // refused requests.
    for secret in [&keys.query, &keys.admin] {
        let (status, _, body) = send(get.clone(), &search, bearer(secret), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total_count"], written);
    }

    // Open without a key: health, metrics (by default), the docs and the
    // UI's page; the UI's data is not.
    for url in [
        format!("{}/health", stack.ingest),
        format!("{}/health", stack.query),
        format!("{}/metrics", stack.ingest),
        format!("{}/openapi.json", stack.ingest),
        format!("{}/docs/", stack.query),
        format!("{}/ui", stack.query),
    ] {
        let res = reqwest::get(&url).await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
    }
    // Every refusal is counted, by reason.
    let text = get_text(&format!("{}/metrics", stack.ingest)).await;
    for (reason, at_least) in [
        ("missing", 1.0),
        ("wrong_key", 1.0),
        ("malformed", 1.0),
        ("scope", 1.0),
    ] {
        let n = metric(
            &text,
            &format!("ingestd_auth_rejected_total{{reason=\"{reason}\"}}"),
        )
        .unwrap_or(0.0);
        assert!(n >= at_least, "{reason}: {n}");
    }
    stack.stop().await;
}

#[actix_web::test]
async fn metrics_can_require_the_admin_scope() {
    let dir = tempfile::tempdir().unwrap();
    let (path, keys) = keys_file(dir.path());
    let stack = Stack::start_with(&["--auth-keys", path.to_str().unwrap(), "--metrics-auth"]).await;
    let url = format!("{}/metrics", stack.ingest);
    let (status, _, _) = send(reqwest::Method::GET, &url, None, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = send(reqwest::Method::GET, &url, bearer(&keys.ingest), None).await;
    assert_eq!(status, 403);
    let res = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&keys.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("ingestd_http_requests_total"));
    stack.stop().await;
}

#[actix_web::test]
async fn the_keys_file_is_read_again_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, keys) = keys_file(dir.path());
    let stack = Stack::start_with(&["--auth-keys", path.to_str().unwrap()]).await;
    let search = format!("{}/logs/search", stack.query);
    let status_with = |secret: String| {
        let search = search.clone();
        async move {
            send(reqwest::Method::GET, &search, bearer(&secret), None)
                .await
                .0
        }
    };
    // A key added while the service runs works within the reload period.
    let late = add_key(&path, "late", "default", &[Scope::Query]).unwrap();
    eventually(Duration::from_secs(6), "the new key to work", || async {
        (status_with(late.clone()).await == 200).then_some(())
    })
    .await;
    // A file that no longer reads keeps the keys in force.
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, "this is [not toml").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status_with(late.clone()).await, 200);
    // A key removed from the file stops working.
    let without_late: String = good
        .split("[[key]]")
        .filter(|block| !block.contains("id = \"late\""))
        .collect::<Vec<_>>()
        .join("[[key]]");
    std::fs::write(&path, without_late).unwrap();
    eventually(
        Duration::from_secs(6),
        "the removed key to be refused",
        || async { (status_with(late.clone()).await == 401).then_some(()) },
    )
    .await;
    assert_eq!(status_with(keys.query.clone()).await, 200);
    stack.stop().await;
}

#[actix_web::test]
async fn cors_is_closed_unless_origins_are_configured() {
    let preflight = |url: String, origin: &'static str| async move {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap()
    };
    let allowed = |res: &reqwest::Response| {
        res.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    // Closed by default: no CORS header for any origin.
    let closed = Stack::start().await;
    let res = preflight(format!("{}/logs/search", closed.query), "http://ui.example").await;
    assert_eq!(allowed(&res), None);
    let res = reqwest::Client::new()
        .get(format!("{}/logs/search", closed.query))
        .header("origin", "http://ui.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(allowed(&res), None);
    closed.stop().await;

    // Configured: that origin, with keys; preflights need none.
    let dir = tempfile::tempdir().unwrap();
    let (path, keys) = keys_file(dir.path());
    let open = Stack::start_with(&[
        "--auth-keys",
        path.to_str().unwrap(),
        "--cors-origins",
        "http://ui.example,http://grafana.example",
    ])
    .await;
    let res = preflight(format!("{}/logs/search", open.query), "http://ui.example").await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(allowed(&res).as_deref(), Some("http://ui.example"));
    let methods = res.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "{methods}"
    );
    let res = reqwest::Client::new()
        .get(format!("{}/logs/search", open.query))
        .header("origin", "http://grafana.example")
        .bearer_auth(&keys.query)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(allowed(&res).as_deref(), Some("http://grafana.example"));
    // Another origin gets no permission.
    let res = preflight(format!("{}/logs/search", open.query), "http://evil.example").await;
    assert_ne!(allowed(&res).as_deref(), Some("http://evil.example"));
    assert!(!res.status().is_success());
    open.stop().await;
}

#[actix_web::test]
async fn a_key_over_its_rate_waits_and_another_key_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let noisy = add_key(&path, "noisy", "default", &[Scope::Ingest]).unwrap();
    let quiet = add_key(&path, "quiet", "default", &[Scope::Ingest]).unwrap();
    let chatty = add_key(&path, "chatty", "default", &[Scope::Query]).unwrap();
    let calm = add_key(&path, "calm", "default", &[Scope::Query]).unwrap();
    // Rates set per key in the file.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("id = \"noisy\"", "id = \"noisy\"\nlogs_per_sec = 100.0")
        .replace("id = \"chatty\"", "id = \"chatty\"\nrequests_per_sec = 2.0");
    std::fs::write(&path, text).unwrap();
    let stack = Stack::start_with(&["--auth-keys", path.to_str().unwrap()]).await;
    let batch: Value = (0..150)
        .map(|i| json!({"message": format!("flood {i}"), "source": "noisy"}))
        .collect();
    let url = format!("{}/logs/batch-ingest", stack.ingest);
    let client = reqwest::Client::new();
    let send_as = |secret: &str| client.post(&url).bearer_auth(secret).json(&batch).send();
    // A batch larger than a second's worth passes; the key then waits it off.
    assert_eq!(send_as(&noisy).await.unwrap().status(), 202);
    let refused = send_as(&noisy).await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry), "Retry-After {retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // Meanwhile the other key writes as fast as it likes.
    for _ in 0..10 {
        assert_eq!(send_as(&quiet).await.unwrap().status(), 202);
    }
    // The Elasticsearch bulk route refuses the noisy key as Elasticsearch
    // does (shippers retry on 429).
    let bulk = format!(
        "{}\n{}\n",
        json!({"create": {}}),
        json!({"message": "bulk flood", "host": {"name": "n"}})
    );
    let res = client
        .post(format!("{}/_bulk", stack.ingest))
        .bearer_auth(&noisy)
        .header("content-type", "application/x-ndjson")
        .body(bulk)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "es_rejected_execution_exception");
    // After waiting as told, it writes again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(send_as(&noisy).await.unwrap().status(), 202);

    // Requests per second on the query port: the third quick search of a
    // key allowed two is refused; another key is not.
    let search = format!("{}/logs/search?limit=1", stack.query);
    let status = |secret: String| {
        let client = client.clone();
        let search = search.clone();
        async move {
            client
                .get(&search)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(status(chatty.clone()).await.status(), 200);
    assert_eq!(status(chatty.clone()).await.status(), 200);
    let third = status(chatty.clone()).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    for _ in 0..5 {
        assert_eq!(status(calm.clone()).await.status(), 200);
    }

    // Counted, without key or tenant labels.
    let text = get_text(&format!("{}/metrics", stack.ingest)).await;
    assert!(metric(&text, "ingestd_rate_limited_total{kind=\"logs\"}").unwrap() >= 2.0);
    assert!(
        metric(
            &text,
            "ingestd_logs_rejected_total{protocol=\"native\",reason=\"rate_limited\"}"
        )
        .unwrap()
            >= 150.0,
        "{}",
        text.lines()
            .filter(|l| l.contains("rejected"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let text = get_text(&format!("{}/metrics", stack.query)).await;
    assert_eq!(
        metric(&text, "queryd_rate_limited_total{kind=\"requests\"}"),
        Some(1.0)
    );
    assert!(!text.contains("noisy") && !text.contains("chatty"));
    stack.stop().await;
}
