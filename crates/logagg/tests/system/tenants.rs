//! Tenants: each key's logs are stored under its tenant, and every read
//! route (search, patterns, histogram, facets, context, export, tail) sees
//! only the caller's tenant, on every backend: the embedded store, the fake
//! cluster (which evaluates the query DSL), and a real cluster when
//! `ELASTICSEARCH_URL` is set. An admin key names another tenant with
//! `X-Tenant`; any other key that tries is refused. And a walk of every GET
//! route in both ports' OpenAPI documents finds no answer that holds another
//! tenant's logs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use svc_kit::auth::{add_key, Scope};

use crate::reads::Events;
use crate::util::{eventually, get_text, metric, Stack};

struct Tenants {
    acme: String,
    globex: String,
    admin: String,
}

async fn start(backend: &str) -> Option<(Stack, Tenants, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let keys = Tenants {
        acme: add_key(&path, "acme-app", "acme", &[Scope::Ingest, Scope::Query]).unwrap(),
        globex: add_key(
            &path,
            "globex-app",
            "globex",
            &[Scope::Ingest, Scope::Query],
        )
        .unwrap(),
        admin: add_key(&path, "ops", "ops", &[Scope::Admin]).unwrap(),
    };
    let path = path.to_str().unwrap().to_string();
    let mut flags = vec!["--auth-keys".to_string(), path];
    match backend {
        "embedded" => {}
        "fake" => {
            let fake = crate::fake_es::FakeEs::start().await;
            flags.extend(["--elasticsearch-url".into(), fake.url.clone()]);
            flags.extend(["--commit-interval-ms".into(), "100".into()]);
        }
        _ => {
            let Ok(url) = std::env::var("ELASTICSEARCH_URL") else {
                eprintln!(
                    "ELASTICSEARCH_URL is not set: the Elasticsearch run of tenants is skipped"
                );
                return None;
            };
            let stream = format!("logagg-tenants-{}", std::process::id());
            flags.extend(["--elasticsearch-url".into(), url]);
            flags.extend(["--elasticsearch-data-stream".into(), stream]);
            flags.extend(["--commit-interval-ms".into(), "100".into()]);
        }
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Some((Stack::start_with(&flags).await, keys, dir))
}

async fn call(
    method: reqwest::Method,
    url: &str,
    key: &str,
    tenant: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(key)
        .timeout(Duration::from_secs(30));
    if let Some(t) = tenant {
        req = req.header("X-Tenant", t);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

async fn read(url: &str, key: &str) -> Value {
    let (status, body) = call(reqwest::Method::GET, url, key, None, None).await;
    assert_eq!(status, 200, "{url}: {body}");
    body
}

fn messages(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// Both tenants write the same source and service, and one event (`disk
/// full on db-N`) in both, so that any leak shows in every read.
async fn ingest(s: &Stack, k: &Tenants) {
    let post = reqwest::Method::POST;
    let batch = |tenant: &str, errors: usize, infos: usize| {
        let mut logs = Vec::new();
        for i in 0..errors {
            logs.push(
                json!({"message": format!("disk full on db-{i}"), "level": "ERROR",
                "source": "web-1", "service": "api", "metadata": {"tenant_of_test": tenant}}),
            );
        }
        for i in 0..infos {
            logs.push(
                json!({"message": format!("{tenant} user {i} logged in"), "level": "INFO",
                "source": "web-1", "service": "api"}),
            );
        }
        json!(logs)
    };
    let url = format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest);
    let (status, body) = call(
        post.clone(),
        &url,
        &k.acme,
        None,
        Some(&batch("acme", 3, 2)),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = call(
        post.clone(),
        &url,
        &k.globex,
        None,
        Some(&batch("globex", 5, 1)),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // The Elasticsearch bulk API and OTLP stamp the key's tenant too; a
    // `tenant` field in a document is only metadata.
    let bulk = "{\"create\":{}}\n{\"message\":\"acme bulk write\",\"tenant\":\"globex\",\"log.level\":\"warn\",\"host.name\":\"web-1\",\"service.name\":\"api\"}\n";
    let res = reqwest::Client::new()
        .post(format!("{}/logs-acme/_bulk?refresh=wait_for", s.ingest))
        .bearer_auth(&k.acme)
        .header("content-type", "application/x-ndjson")
        .body(bulk)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["errors"], false, "{answer}");
    let otlp = json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}},
        {"key": "host.name", "value": {"stringValue": "web-1"}}]},
        "scopeLogs": [{"logRecords": [{"body": {"stringValue": "globex otlp write"},
            "severityText": "WARN"}]}]}]});
    let (status, body) = call(
        post,
        &format!("{}/v1/logs", s.ingest),
        &k.globex,
        None,
        Some(&otlp),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Until everything is searchable (OTLP does not wait; a cluster
    // refreshes on its own clock).
    for (key, n) in [(&k.acme, 6), (&k.globex, 7)] {
        let url = format!("{}/logs/search?limit=1", s.query);
        eventually(
            Duration::from_secs(30),
            "the logs to be searchable",
            || async {
                let body = read(&url, key).await;
                (body["total_count"] == json!(n)).then_some(())
            },
        )
        .await;
    }
}

/// What one tenant's key reads on every route, as comparable values.
async fn everything(s: &Stack, key: &str, tenant: Option<&str>) -> BTreeMap<&'static str, Value> {
    let get = reqwest::Method::GET;
    let q = &s.query;
    let window = "start_time=now-1h&end_time=now%2B1h";
    let mut out = BTreeMap::new();
    let read = |url: String| {
        let get = get.clone();
        async move {
            let (status, body) = call(get, &url, key, tenant, None).await;
            assert_eq!(status, 200, "{url}: {body}");
            body
        }
    };
    let search = read(format!("{q}/logs/search?limit=100")).await;
    out.insert("search", json!(messages(&search)));
    out.insert("search total", search["total_count"].clone());
    let post_search = {
        let (status, body) = call(
            reqwest::Method::POST,
            &format!("{q}/logs/search"),
            key,
            tenant,
            Some(&json!({"query": "disk OR logged OR write", "limit": 100})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    };
    out.insert("search (POST, query)", json!(messages(&post_search)));
    let patterns = read(format!("{q}/logs/patterns?{window}")).await;
    out.insert(
        "patterns",
        json!(patterns["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| json!([p["pattern"], p["count"]]))
            .collect::<Vec<_>>()),
    );
    out.insert("patterns total", patterns["total_logs"].clone());
    let histogram = read(format!("{q}/logs/histogram?{window}")).await;
    out.insert("histogram total", histogram["total_count"].clone());
    let facets = read(format!("{q}/logs/facets?{window}")).await;
    out.insert("facets total", facets["total_count"].clone());
    out.insert("facets", facets["facets"].clone());
    out.insert("facets metadata", facets["metadata"].clone());
    let export = {
        let (status, body) =
            call(get.clone(), &format!("{q}/logs/export"), key, tenant, None).await;
        assert_eq!(status, 200, "{body}");
        let mut lines: Vec<String> = body
            .as_str()
            .map(|t| t.lines().map(str::to_string).collect())
            // One line parses as JSON on its own.
            .unwrap_or_else(|| vec![body.to_string()]);
        lines.iter_mut().for_each(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            *l = v["message"].as_str().unwrap().to_string();
        });
        lines.sort();
        lines
    };
    out.insert("export", json!(export));
    out
}

async fn isolation(backend: &str) {
    let Some((s, k, _dir)) = start(backend).await else {
        return;
    };
    ingest(&s, &k).await;
    let acme = everything(&s, &k.acme, None).await;
    let globex = everything(&s, &k.globex, None).await;

    // What each sees is its own, whole: nothing of the other tenant's.
    let mut acme_logs = vec![
        "acme bulk write".to_string(),
        "acme user 0 logged in".into(),
        "acme user 1 logged in".into(),
        "disk full on db-0".into(),
        "disk full on db-1".into(),
        "disk full on db-2".into(),
    ];
    acme_logs.sort();
    let mut globex_logs: Vec<String> = (0..5).map(|i| format!("disk full on db-{i}")).collect();
    globex_logs.extend([
        "globex otlp write".to_string(),
        "globex user 0 logged in".into(),
    ]);
    globex_logs.sort();
    for (name, seen, logs, errors) in [
        ("acme", &acme, &acme_logs, 3),
        ("globex", &globex, &globex_logs, 5),
    ] {
        assert_eq!(seen["search"], json!(logs), "{backend}: {name}'s search");
        assert_eq!(
            seen["search (POST, query)"],
            json!(logs),
            "{backend}: {name}"
        );
        assert_eq!(seen["search total"], json!(logs.len()), "{backend}: {name}");
        assert_eq!(seen["export"], json!(logs), "{backend}: {name}'s export");
        assert_eq!(
            seen["histogram total"],
            json!(logs.len()),
            "{backend}: {name}'s histogram"
        );
        assert_eq!(
            seen["facets total"],
            json!(logs.len()),
            "{backend}: {name}'s facets"
        );
        // One error pattern each, counted over the tenant's own errors only.
        assert_eq!(
            seen["patterns total"],
            json!(errors),
            "{backend}: {name}'s patterns"
        );
        let patterns = seen["patterns"].as_array().unwrap();
        assert_eq!(
            patterns.len(),
            1,
            "{backend}: {name}'s patterns: {patterns:?}"
        );
        assert_eq!(
            patterns[0][1],
            json!(errors),
            "{backend}: {name}'s patterns"
        );
        assert!(
            patterns[0][0].as_str().unwrap().starts_with("disk full on"),
            "{patterns:?}"
        );
        // Metadata facets (over a sample of the newest logs) hold only
        // the tenant's own values.
        let metadata = seen["facets metadata"].as_array().unwrap();
        let marks: Vec<&Value> = metadata
            .iter()
            .filter(|k| k["key"] == "tenant_of_test")
            .flat_map(|k| k["values"].as_array().unwrap())
            .map(|v| &v["value"])
            .collect();
        assert_eq!(marks, [&json!(name)], "{backend}: {name}: {metadata:?}");
    }

    // An admin key names a tenant and reads exactly what its keys read.
    assert_eq!(
        everything(&s, &k.admin, Some("globex")).await,
        globex,
        "{backend}"
    );
    // Its own tenant (ops) has no logs.
    let ops = read(&format!("{}/logs/search", s.query), &k.admin).await;
    assert_eq!(ops["total_count"], 0, "{backend}: {ops}");
    // A key naming its own tenant is fine; naming another is refused
    // (403, counted), and a name that is no tenant name is a 400.
    let get = reqwest::Method::GET;
    let url = format!("{}/logs/search", s.query);
    let (status, body) = call(get.clone(), &url, &k.acme, Some("acme"), None).await;
    assert_eq!((status, messages(&body)), (200, acme_logs.clone()));
    for (tenant, want) in [("globex", 403), ("../globex", 400), ("", 400)] {
        for url in [
            format!("{}/logs/search", s.query),
            format!("{}/logs/patterns", s.query),
            format!("{}/logs/export", s.query),
        ] {
            let (status, body) = call(get.clone(), &url, &k.acme, Some(tenant), None).await;
            assert_eq!(status, want, "{backend}: {url} as {tenant:?}: {body}");
        }
        let (status, body) = call(
            reqwest::Method::POST,
            &format!("{}/logs/ingest", s.ingest),
            &k.acme,
            Some(tenant),
            Some(&json!({"message": "smuggled", "source": "x"})),
        )
        .await;
        assert_eq!(status, want, "{backend}: ingest as {tenant:?}: {body}");
    }

    // Context: another tenant's log id is not found; one's own log's
    // neighbours (same source and service in both tenants) are one's own.
    let globex_id = read(
        &format!("{}/logs/search?query=globex&limit=1", s.query),
        &k.globex,
    )
    .await["logs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = call(
        get.clone(),
        &format!("{}/logs/{globex_id}/context", s.query),
        &k.acme,
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "{backend}: {body}");
    let context = read(
        &format!("{}/logs/{globex_id}/context?before=50&after=50", s.query),
        &k.globex,
    )
    .await;
    let mut around: Vec<&str> = context["before"]
        .as_array()
        .unwrap()
        .iter()
        .chain(context["after"].as_array().unwrap())
        .chain([&context["log"]])
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    around.sort();
    assert_eq!(around, globex_logs, "{backend}: globex's context");

    // Live tail: each follower sees its own tenant's new logs only.
    let tail = |key: &str| {
        Events::open_request(
            reqwest::Client::new()
                .get(format!("{}/logs/tail", s.query))
                .bearer_auth(key),
        )
    };
    let mut acme_tail = tail(&k.acme).await;
    let mut globex_tail = tail(&k.globex).await;
    let url = format!("{}/logs/ingest?refresh=wait_for", s.ingest);
    for (key, message) in [(&k.globex, "globex tailed"), (&k.acme, "acme tailed")] {
        let log = json!({"message": message, "source": "web-1", "service": "api"});
        let (status, body) = call(reqwest::Method::POST, &url, key, None, Some(&log)).await;
        assert_eq!(status, 202, "{body}");
    }
    for (events, own) in [
        (&mut acme_tail, "acme tailed"),
        (&mut globex_tail, "globex tailed"),
    ] {
        let (_, log) = events
            .next(Duration::from_secs(10))
            .await
            .expect("a tail event");
        assert_eq!(log["message"], own, "{backend}");
        let extra = events.next(Duration::from_millis(1500)).await;
        assert!(extra.is_none(), "{backend}: {extra:?} after {own}");
    }

    // Refusals by tenant are counted; no metric names a tenant.
    let metrics = get_text(&format!("{}/metrics", s.query)).await;
    assert!(
        metric(&metrics, "queryd_auth_rejected_total{reason=\"tenant\"}").unwrap_or(0.0) >= 9.0,
        "{backend}"
    );
    for port in [&s.ingest, &s.query] {
        let text = get_text(&format!("{port}/metrics")).await;
        for name in ["acme", "globex"] {
            assert!(
                !text.contains(name),
                "{backend}: {port}/metrics names {name}"
            );
        }
    }
    s.stop().await;
}

#[actix_web::test]
async fn tenants_never_see_each_other_embedded() {
    isolation("embedded").await;
}

#[actix_web::test]
async fn tenants_never_see_each_other_fake_elasticsearch() {
    isolation("fake").await;
}

#[actix_web::test]
async fn tenants_never_see_each_other_elasticsearch() {
    isolation("elasticsearch").await;
}

/// Reads a GET answer for at most two seconds (streams do not end on
/// their own): its status and what arrived.
async fn read_for_two_seconds(url: &str, key: &str) -> (u16, String) {
    let Ok(mut res) = reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .timeout(Duration::from_secs(30))
        .send()
        .await
    else {
        return (0, String::new());
    };
    let status = res.status().as_u16();
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut body = Vec::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, res.chunk()).await {
        body.extend_from_slice(&chunk);
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Every GET route that either port's OpenAPI document lists, called with
/// one tenant's key, path parameters filled with the other tenant's ids
/// and names, streams read for two seconds: no answer holds the other
/// tenant's logs. A route added later is walked without anyone adding it
/// here.
#[actix_web::test]
async fn no_get_route_in_the_openapi_documents_shows_another_tenant_s_logs() {
    let (s, k, _dir) = start("embedded").await.unwrap();
    let post = reqwest::Method::POST;
    let url = format!("{}/logs/batch-ingest?refresh=wait_for", s.ingest);
    let secret = "acme-only-7f3a9c";
    let acme: Vec<Value> = (0..5)
        .map(|i| {
            json!({"message": format!("{secret} payment {i} declined"), "level": "ERROR",
            "source": "web-1", "service": "api", "metadata": {"marker": secret}})
        })
        .collect();
    let (status, body) = call(post.clone(), &url, &k.acme, None, Some(&json!(acme))).await;
    assert_eq!(status, 202, "{body}");
    let own = "globex-own-51d2e8";
    let globex: Vec<Value> = (0..5)
        .map(|i| {
            json!({"message": format!("{own} payment {i} declined"), "level": "ERROR",
            "source": "web-1", "service": "api"})
        })
        .collect();
    let (status, body) = call(post, &url, &k.globex, None, Some(&json!(globex))).await;
    assert_eq!(status, 202, "{body}");
    let found = read(&format!("{}/logs/search?limit=5", s.query), &k.acme).await;
    let acme_id = found["logs"][0]["id"].as_str().unwrap().to_string();

    let parameter = regex::Regex::new(r"\{([^}]*)\}").unwrap();
    let mut walked = Vec::new();
    let mut own_seen = Vec::new();
    for base in [&s.ingest, &s.query] {
        let doc: Value =
            serde_json::from_str(&get_text(&format!("{base}/openapi.json")).await).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (path, item) in paths {
            if item.get("get").is_none() {
                continue;
            }
            // `{id}`-like parameters get the other tenant's log id, any
            // other its name (an index, a stream).
            let filled = parameter
                .replace_all(path, |c: &regex::Captures| {
                    if c[1].contains("id") {
                        acme_id.clone()
                    } else {
                        "logs-acme".to_string()
                    }
                })
                .into_owned();
            let (status, body) = read_for_two_seconds(&format!("{base}{filled}"), &k.globex).await;
            assert!(
                !body.contains(secret),
                "GET {filled} on {base} ({status}) shows the other tenant's logs: {}",
                &body[..body.len().min(500)]
            );
            if body.contains(own) {
                own_seen.push(filled.clone());
            }
            walked.push(filled);
        }
    }
    // The walk covered the read routes, and they answered with data (the
    // caller's own logs), so an empty answer everywhere is not what passed.
    for route in [
        "/logs/search",
        "/logs/export",
        "/logs/tail",
        "/logs/patterns",
    ] {
        assert!(
            walked.iter().any(|w| w == route),
            "{route} not walked: {walked:?}"
        );
    }
    assert!(walked.iter().any(|w| w.contains(&acme_id)), "{walked:?}");
    for route in ["/logs/search", "/logs/export", "/logs/patterns"] {
        assert!(
            own_seen.iter().any(|w| w == route),
            "the caller's own logs are not in {route}: only in {own_seen:?} of {walked:?}"
        );
    }
    s.stop().await;
}

/// On Elasticsearch every document carries its tenant; one indexed before
/// tenants carries none and is the default tenant's: the default tenant's
/// key reads it, another tenant's does not.
#[actix_web::test]
async fn elasticsearch_documents_from_before_tenants_are_the_default_tenant_s() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let default_key = add_key(&path, "old-app", "default", &[Scope::Ingest, Scope::Query]).unwrap();
    let acme = add_key(&path, "acme-app", "acme", &[Scope::Ingest, Scope::Query]).unwrap();
    let fake = crate::fake_es::FakeEs::start().await;
    let s = Stack::start_with(&[
        "--auth-keys",
        path.to_str().unwrap(),
        "--elasticsearch-url",
        &fake.url,
        "--commit-interval-ms",
        "100",
    ])
    .await;
    let url = format!("{}/logs/ingest?refresh=wait_for", s.ingest);
    let mut ids = Vec::new();
    for (key, message) in [
        (&default_key, "written before tenants"),
        (&acme, "acme now"),
    ] {
        let log = json!({"message": message, "source": "web-1"});
        let (status, body) = call(reqwest::Method::POST, &url, key, None, Some(&log)).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let stream = "logagg-logs";
    assert_eq!(fake.doc(stream, &ids[1]).unwrap()["tenant"], "acme");
    assert_eq!(fake.doc(stream, &ids[0]).unwrap()["tenant"], "default");
    // As an older release indexed it: no tenant field.
    for docs in fake.state.lock().unwrap().docs.values_mut() {
        for ((_, id), doc) in docs.iter_mut() {
            if *id == ids[0] {
                doc.as_object_mut().unwrap().remove("tenant");
            }
        }
    }
    assert!(fake.doc(stream, &ids[0]).unwrap().get("tenant").is_none());
    for (key, want) in [
        (&default_key, "written before tenants"),
        (&acme, "acme now"),
    ] {
        let body = read(&format!("{}/logs/search", s.query), key).await;
        assert_eq!(messages(&body), [want]);
        let patterns = read(&format!("{}/logs/facets", s.query), key).await;
        assert_eq!(patterns["total_count"], 1);
    }
    s.stop().await;
}
