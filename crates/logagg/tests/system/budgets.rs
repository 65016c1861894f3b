//! Expensive reads within their budgets (distinct templates, slots per
//! process), wrong keys throttled per address, request fields refused by
//! name: what an attacker or a heavy dashboard meets.

use std::time::Duration;

use serde_json::{json, Value};
use svc_kit::auth::{add_key, Scope};

use crate::util::*;

/// Twelve events, the i-th logged i+1 times, each its own ingest template.
fn twelve_events() -> Vec<Value> {
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima",
    ];
    let mut logs = Vec::new();
    for (i, w) in words.iter().enumerate() {
        for _ in 0..=i {
            logs.push(json!({
                "level": "ERROR",
                "message": format!("{w} subsystem failed to start"),
                "source": "budget-test"
            }));
        }
    }
    logs
}

#[actix_web::test]
async fn patterns_past_the_template_budget_are_partial_with_the_reason() {
    let reads = queryd::ReadArgs {
        max_pattern_templates: 5,
        ..Default::default()
    };
    let s = Stack::start_reads(&[], reads).await;
    let logs = twelve_events();
    ingest_searchable(&s.ingest, logs.clone()).await;
    let (status, body) = get(&format!("{}/logs/patterns?hours=1", s.query)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partial"], true, "{body}");
    let reason = body["reasons"][0].as_str().unwrap_or_default();
    assert!(
        reason.contains("12 distinct templates") && reason.contains("the 5 most frequent"),
        "{body}"
    );
    // Every log is counted; only the five most frequent templates (8 to 12
    // logs each) are grouped.
    assert_eq!(body["total_logs"], logs.len(), "{body}");
    let grouped: u64 = body["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(grouped, 12 + 11 + 10 + 9 + 8, "{body}");
    let ids: usize = body["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pattern_ids"].as_array().unwrap().len())
        .sum();
    assert_eq!(ids, 5, "{body}");
    let m = get_text(&format!("{}/metrics", s.query)).await;
    assert!(metric(&m, "queryd_partial_answers_total{kind=\"patterns\"}").unwrap() >= 1.0);

    // Within the budget (a filter keeps five templates): whole.
    let (status, body) = get(&format!(
        "{}/logs/patterns?hours=1&query=hotel+OR+india+OR+juliet+OR+kilo+OR+lima",
        s.query
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partial"], false, "{body}");
    assert!(body.get("reasons").is_none(), "{body}");
    s.stop().await;
}

/// One slot for the process, shared with the test: holding it stands for
/// a read that is running.
fn one_slot(budget_secs: f64) -> (queryd::ReadArgs, std::sync::Arc<queryd::budget::ReadSlots>) {
    let reads = queryd::ReadArgs {
        max_expensive_reads: Some(1),
        read_time_budget_secs: budget_secs,
        ..Default::default()
    };
    let slots = queryd::budget::ReadSlots::new(reads.limits());
    let reads = queryd::ReadArgs {
        shared: Some(slots.clone()),
        ..reads
    };
    (reads, slots)
}

#[actix_web::test]
async fn expensive_reads_past_the_slots_are_429_with_retry_after() {
    let (reads, slots) = one_slot(4.0);
    let s = Stack::start_reads(&[], reads).await;
    let logs = vec![json!({"message": "held", "source": "slots"})];
    ingest_searchable(&s.ingest, logs).await;
    let (_, found) = get(&format!("{}/logs/search?query=held", s.query)).await;
    let id = found["logs"][0]["id"].as_str().unwrap().to_string();
    // The process's only slot is taken, as by a running read.
    let running = slots.take(None).unwrap();
    let routes = [
        "patterns?hours=1".to_string(),
        "histogram".to_string(),
        "facets".to_string(),
        "export".to_string(),
        format!("{id}/context"),
    ];
    for route in &routes {
        let r = client()
            .get(format!("{}/logs/{route}", s.query))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 429, "{route}");
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1"),
            "{route}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "too_many_reads", "{body}");
    }
    // A search is cheap: never refused for a slot.
    let (status, _) = get(&format!("{}/logs/search?query=held&limit=1", s.query)).await;
    assert_eq!(status, 200);
    let m = get_text(&format!("{}/metrics", s.query)).await;
    assert_eq!(
        metric(
            &m,
            "queryd_expensive_reads_refused_total{limit=\"process\"}"
        ),
        Some(routes.len() as f64)
    );
    // The read ends: its slot comes back.
    drop(running);
    for route in &routes {
        let (status, body) = get(&format!("{}/logs/{route}", s.query)).await;
        assert_eq!(status, 200, "{route}: {body}");
    }
    s.stop().await;
}

/// An export takes a slot for each page it reads, not while its client
/// reads: a client that stops reading holds none. A page that finds no
/// slot within the read time budget ends the transfer with an error line
/// and without its last chunk, counted as a partial answer.
#[actix_web::test]
async fn an_export_holds_a_slot_only_while_it_reads_a_page() {
    let (reads, slots) = one_slot(0.5);
    let s = Stack::start_reads(&[], reads).await;
    // Enough to outlast the sockets' buffers while nobody reads: 24 MB.
    let padding = "x".repeat(4000);
    for batch in 0..6 {
        let logs: Vec<Value> = (0..1000)
            .map(|i| json!({"message": format!("held {batch} {i} {padding}"), "source": "slots"}))
            .collect();
        ingest_searchable(&s.ingest, logs).await;
    }
    let mut held = client()
        .get(format!("{}/logs/export?query=held", s.query))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status().as_u16(), 200);
    let mut received = held.chunk().await.unwrap().unwrap().len();
    // Its client reads nothing more; other expensive reads go on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for route in ["patterns?hours=1", "histogram", "facets"] {
        let (status, body) = get(&format!("{}/logs/{route}", s.query)).await;
        assert_eq!(status, 200, "{route}: {body}");
    }
    // Now every slot is taken for longer than the budget: the export's
    // next page finds none.
    let running = slots.take(None).unwrap();
    let mut tail = Vec::new();
    let ended = loop {
        match held.chunk().await {
            Ok(Some(bytes)) => {
                received += bytes.len();
                tail.extend_from_slice(&bytes);
                let keep = tail.len().saturating_sub(2000);
                tail.drain(..keep);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    drop(running);
    assert!(ended.is_err(), "the transfer ended like a whole one");
    assert!(received < 24_000_000, "{received} bytes: the whole export");
    let text = String::from_utf8_lossy(&tail);
    let last: Value = serde_json::from_str(text.trim_end().lines().last().unwrap()).unwrap();
    assert_eq!(last["error"], "too_many_reads", "{last}");
    let m = get_text(&format!("{}/metrics", s.query)).await;
    assert_eq!(
        metric(&m, "queryd_partial_answers_total{kind=\"export\"}"),
        Some(1.0)
    );
    s.stop().await;
}

#[actix_web::test]
async fn wrong_keys_are_throttled_per_address_and_a_valid_key_never_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let sre = add_key(&path, "sre", "default", &[Scope::Query]).unwrap();
    let s = Stack::start_with(&[
        "--auth-keys",
        path.to_str().unwrap(),
        "--auth-failure-burst",
        "3",
        "--auth-failures-per-sec",
        "0.2",
    ])
    .await;
    let url = format!("{}/logs/search", s.query);
    let with = |secret: &str| client().get(&url).bearer_auth(secret.to_string()).send();
    for _ in 0..3 {
        assert_eq!(with("wrong").await.unwrap().status().as_u16(), 401);
    }
    let r = with("wrong").await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_failures", "{body}");
    // The right key from the same address is let in, throttle or not.
    assert_eq!(with(&sre).await.unwrap().status().as_u16(), 200);
    // Both ports share the count: the ingest port throttles too.
    let r = client()
        .post(format!("{}/logs/ingest", s.ingest))
        .bearer_auth("wrong")
        .json(&json!({"message": "m", "source": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let m = get_text(&format!("{}/metrics", s.query)).await;
    assert!(metric(&m, "queryd_auth_rejected_total{reason=\"throttled\"}").unwrap() >= 1.0);
    assert_eq!(
        metric(&m, "queryd_auth_rejected_total{reason=\"wrong_key\"}"),
        Some(3.0)
    );
    s.stop().await;
}

#[actix_web::test]
async fn a_repeated_tenant_header_is_refused() {
    let s = Stack::start().await;
    for url in [
        format!("{}/logs/search", s.query),
        format!("{}/logs/patterns", s.query),
    ] {
        let r = client()
            .get(&url)
            .header("X-Tenant", "acme")
            .header("X-Tenant", "globex")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_tenant", "{body}");
        assert!(body["detail"].as_str().unwrap().contains("more than once"));
    }
    let r = client()
        .post(format!("{}/logs/ingest", s.ingest))
        .header("X-Tenant", "acme")
        .header("X-Tenant", "acme")
        .json(&json!({"message": "m", "source": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    s.stop().await;
}
