//! The web UI and the API docs in a real browser: headless Chromium (the
//! Debian package, installed by `.ci/run`) driven over WebDriver by
//! `chromedriver`, against the real services on loopback.
//!
//! Screenshots of the UI go to `target/ui-screenshots/`; with
//! `UPDATE_SCREENSHOTS=1` also to `docs/screenshots/` (the README's).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::util::{get, post, Stack, FIXED_DATES};

/// chromedriver and a Chromium session; both end on drop.
struct Browser {
    client: Option<Client>,
    driver: Child,
}

impl Browser {
    async fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian's chromium-driver; .ci/run installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--hide-scrollbars", "--font-render-hinting=none",
                    // Nothing but loopback resolves: a page that needs
                    // anything from elsewhere breaks here.
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                ],
            },
        });
        // Plain HTTP to the driver on loopback.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&url)
            .await
            .expect("a Chromium session");
        Browser {
            client: Some(client),
            driver,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn js(&self, script: &str) -> Value {
        self.c()
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` until it returns something truthy; that value.
    async fn until(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script).await;
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let page = self
                    .js("return document.body.innerText.slice(0, 2000)")
                    .await;
                panic!("timed out waiting for {what}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a UI address and waits for its first page of results.
    async fn page(&self, url: &str) {
        self.c().goto(url).await.unwrap();
        self.until(
            "the first page",
            "return document.querySelector('#end-of-results, #load-more')",
            Duration::from_secs(15),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        self.c()
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Every resource the page loaded, and the page itself, came from
    /// `origin`.
    async fn assert_only_from(&self, origin: &str) {
        let urls = self
            .js(
                "return [location.href]
                  .concat(performance.getEntriesByType('resource').map(e => e.name))
                  .concat([...document.querySelectorAll('[src],[href]')]
                    .map(e => e.src || e.href).filter(u => typeof u === 'string' && u.includes(':')))",
            )
            .await;
        let urls: Vec<String> = serde_json::from_value(urls).unwrap();
        assert!(urls.len() > 1, "no resources listed: {urls:?}");
        for url in &urls {
            assert!(
                url.starts_with(origin),
                "the page reached outside the service: {url} (all: {urls:?})"
            );
        }
    }

    async fn screenshot(&self, name: &str) {
        self.js("window.scrollTo(0, 0)").await;
        let png = self.c().screenshot().await.unwrap();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = root.join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            let docs = root.join("docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
    }
}

impl Browser {
    /// Ends the session (Chromium quits), then the driver.
    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver and the Chromium it started share a process group
        // (see `start`): a test that fails leaves neither behind.
        let group = self.driver.id();
        if group > 1 {
            // `--`: a negative number after it is a process group, never
            // an option.
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.wait();
    }
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("Chromium is installed (Debian's chromium; .ci/run installs it)")
}

const START: &str = "2026-11-28T10:00:00.000Z";
const END: &str = "2026-11-28T11:00:00.000Z";

/// 260 logs of three services over one hour of 2026-11-28: requests,
/// slow requests, two kinds of error and a critical, with metadata.
fn fixture() -> Vec<Value> {
    let mut logs = Vec::new();
    for i in 0..260u32 {
        let minute = (i * 7919) % 3600;
        let ts = format!(
            "2026-11-28T10:{:02}:{:02}.{:03}Z",
            minute / 60,
            minute % 60,
            i
        );
        let (level, service, message) = match i % 13 {
            0 | 5 => (
                "ERROR",
                "payments",
                format!("payment failed for order {}: card declined", 1000 + i * 3),
            ),
            3 => (
                "ERROR",
                "worker",
                format!(
                    "connection to db-{} timed out after {} ms",
                    i % 4 + 1,
                    100 + i
                ),
            ),
            7 => (
                "CRITICAL",
                "worker",
                format!("disk /var/lib/pg is {}% full", 90 + i % 10),
            ),
            2 | 9 => (
                "WARNING",
                "api",
                format!("slow request GET /items/{} took {} ms", i, 500 + i * 5),
            ),
            _ => (
                "INFO",
                "api",
                format!("request GET /items/{} answered 200 in {} ms", i, i % 90 + 1),
            ),
        };
        logs.push(json!({
            "timestamp": ts,
            "level": level,
            "service": service,
            "source": format!("{service}-{}", i % 2 + 1),
            "message": message,
            "metadata": {"http": {"status": if level == "ERROR" { 500 } else { 200 }, "method": "GET"}, "user": format!("u{}", i % 5)},
        }));
    }
    logs
}

/// The ids of an answer's logs, in order.
fn ids(answer: &Value) -> Vec<Value> {
    answer["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].clone())
        .collect()
}

fn ui_url(query: &str, extra: &str) -> String {
    format!("{query}/ui?range=custom&start={START}&end={END}{extra}")
}

/// The ids of the listed logs, in order.
const SHOWN_IDS: &str =
    "return [...document.querySelectorAll('#results > li.log')].map(li => li.dataset.id)";

#[actix_web::test]
async fn web_ui_in_chromium() {
    let stack = Stack::start_with(&FIXED_DATES).await;
    let (status, _) = post(
        &format!("{}/logs/batch-ingest?refresh=wait_for", stack.ingest),
        &Value::Array(fixture()),
    )
    .await;
    assert_eq!(status, 202);
    let q = &stack.query;
    let api =
        |path: &str, params: &str| format!("{q}{path}?start_time={START}&end_time={END}{params}");
    let browser = Browser::start().await;
    let c = browser.c();

    eprintln!("browser step 1");
    // 1. A query shows the right lines and histogram.
    browser.page(&ui_url(q, "&q=level%3AERROR")).await;
    let (_, expected) = get(&api("/logs/search", "&query=level%3AERROR&limit=1000")).await;
    let expected_ids = ids(&expected);
    assert_eq!(expected_ids.len(), 60, "the fixture has 60 ERROR logs");
    let shown = browser.js(SHOWN_IDS).await;
    assert_eq!(
        shown.as_array().unwrap(),
        &expected_ids,
        "the UI lists what search answers, in order"
    );
    let (_, histo) = get(&api("/logs/histogram", "&query=level%3AERROR")).await;
    let bars = browser
        .js("const h = document.getElementById('histogram'); return {total: Number(h.dataset.total), buckets: Number(h.dataset.buckets), bars: h.querySelectorAll('rect.bar.ERROR').length}")
        .await;
    assert_eq!(bars["total"], 60);
    assert_eq!(bars["buckets"], histo["buckets"].as_array().unwrap().len());
    let filled = histo["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["count"].as_u64() > Some(0))
        .count();
    assert_eq!(bars["bars"], filled, "one ERROR bar per bucket with logs");
    browser.assert_only_from(q).await;

    // Dragging across the histogram zooms into that span.
    let histogram = c.find(Locator::Id("histogram")).await.unwrap();
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: histogram.clone(),
            duration: None,
            x: -300.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: histogram.clone(),
            duration: Some(Duration::from_millis(150)),
            x: -60.0,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.unwrap();
    let range = browser
        .until(
            "the zoomed range",
            &format!("const p = new URLSearchParams(location.search); return p.get('start') !== {START:?} && p.get('end') && document.getElementById('end-of-results') && [p.get('start'), p.get('end')]"),
            Duration::from_secs(10),
        )
        .await;
    let (start, end) = (range[0].as_str().unwrap(), range[1].as_str().unwrap());
    assert!(
        start > START && end < END && start < end,
        "zoomed to {start}..{end}"
    );
    let (_, zoomed) = get(&format!(
        "{q}/logs/search?start_time={start}&end_time={end}&query=level%3AERROR&limit=1000"
    ))
    .await;
    let zoomed_ids = ids(&zoomed);
    assert!(zoomed_ids.len() < 60, "the zoomed range holds fewer logs");
    assert_eq!(browser.js(SHOWN_IDS).await.as_array().unwrap(), &zoomed_ids);
    assert_eq!(
        browser
            .js("return Number(document.getElementById('histogram').dataset.total)")
            .await,
        json!(zoomed_ids.len())
    );

    eprintln!("browser step 2");
    // 2. Paging by scroll reaches the end, every log once, newest first.
    c.goto(&ui_url(q, "")).await.unwrap();
    browser
        .until(
            "the first page",
            "return document.querySelectorAll('#results > li.log').length >= 100",
            Duration::from_secs(15),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while browser
        .js("return !document.getElementById('end-of-results')")
        .await
        == json!(true)
    {
        assert!(Instant::now() < deadline, "scrolling never reached the end");
        browser
            .js("window.scrollTo(0, document.body.scrollHeight)")
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, all) = get(&api("/logs/search", "&limit=1000")).await;
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 260);
    assert_eq!(browser.js(SHOWN_IDS).await.as_array().unwrap(), &all_ids);

    eprintln!("browser step 3");
    // 3. A log's details and context open.
    c.goto(&ui_url(q, "&q=service%3Apayments")).await.unwrap();
    browser
        .until(
            "the first page",
            "return document.getElementById('end-of-results')",
            Duration::from_secs(15),
        )
        .await;
    let first = all["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["service"] == "payments")
        .unwrap()
        .clone();
    let id = first["id"].as_str().unwrap();
    browser.click("#results > li.log:first-child > .head").await;
    let detail = browser
        .until("the details", "const d = document.querySelector('#results > li.log:first-child .detail'); return d && d.innerText", Duration::from_secs(5))
        .await;
    let detail = detail.as_str().unwrap();
    for part in [
        id,
        "payments",
        "card declined",
        "status",
        "500",
        "pattern_id",
    ] {
        assert!(
            detail.contains(part),
            "the details lack {part:?}:\n{detail}"
        );
    }
    browser
        .click("#results > li.log:first-child .show-context")
        .await;
    let context = browser
        .until(
            "the context",
            "const li = [...document.querySelectorAll('.context li')]; return li.length && li.map(l => [l.dataset.id, l.classList.contains('self')])",
            Duration::from_secs(5),
        )
        .await;
    let (_, expected) = get(&format!("{q}/logs/{id}/context?before=10&after=10")).await;
    let mut expected_context: Vec<Value> = expected["before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!([l["id"], false]))
        .collect();
    expected_context.push(json!([id, true]));
    expected_context.extend(
        expected["after"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| json!([l["id"], false])),
    );
    assert_eq!(context.as_array().unwrap(), &expected_context);
    browser.screenshot("logs").await;

    eprintln!("browser step 4");
    // 4. A click on a value adds it as a filter.
    browser
        .click("#results > li.log:first-child .detail .value[data-field='source']")
        .await;
    let source = first["source"].as_str().unwrap();
    let wanted = format!("service:payments source:{source}");
    browser
        .until(
            "the filtered page",
            &format!("return new URLSearchParams(location.search).get('q') === {wanted:?} && document.getElementById('end-of-results')"),
            Duration::from_secs(10),
        )
        .await;
    let (_, filtered) = get(&api(
        "/logs/search",
        &format!(
            "&query={}&limit=1000",
            wanted.replace(' ', "%20").replace(':', "%3A")
        ),
    ))
    .await;
    let filtered_ids = ids(&filtered);
    assert!(!filtered_ids.is_empty());
    assert_eq!(
        browser.js(SHOWN_IDS).await.as_array().unwrap(),
        &filtered_ids
    );
    assert_eq!(
        browser
            .js("return document.getElementById('q').value")
            .await,
        json!(wanted)
    );

    eprintln!("browser step 5");
    // 5. A bad query shows the parser's error at its column.
    let input = c.find(Locator::Id("q")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("level:ERROR AND (timeout").await.unwrap();
    browser.click("#run").await;
    let error = browser
        .until(
            "the error",
            "const e = document.getElementById('error'); return !e.hidden && e.innerText",
            Duration::from_secs(5),
        )
        .await;
    let (status, body) = get(&api(
        "/logs/search",
        "&query=level%3AERROR%20AND%20(timeout",
    ))
    .await;
    assert_eq!(status, 400);
    let detail = body["detail"].as_str().unwrap();
    let column = detail
        .split("column ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    assert!(
        error
            .as_str()
            .unwrap()
            .contains(&format!("column {column}")),
        "{error}"
    );
    let caret = browser
        .js("return document.querySelector('#error pre.caret').textContent")
        .await;
    let caret_line = caret.as_str().unwrap().lines().nth(1).unwrap().to_string();
    assert_eq!(
        caret_line.len(),
        column.parse::<usize>().unwrap(),
        "the caret stands under column {column}"
    );
    assert_eq!(
        browser
            .js("return document.getElementById('q').getAttribute('aria-invalid')")
            .await,
        "true"
    );

    eprintln!("browser step 6");
    // 6. The patterns view lists the patterns of the ingested data; a
    // click on one searches its logs.
    c.goto(&ui_url(q, "&view=patterns")).await.unwrap();
    let shown = browser
        .until(
            "the patterns",
            "const rows = [...document.querySelectorAll('#patterns tr.pattern')]; return rows.length && rows.map(r => [r.querySelector('.pattern-link').textContent, r.querySelector('.count').textContent])",
            Duration::from_secs(15),
        )
        .await;
    let (_, patterns) = get(&api("/logs/patterns", "&limit=100")).await;
    let expected: Vec<Value> = patterns["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["pattern"], p["count"].as_u64().unwrap().to_string()]))
        .collect();
    assert_eq!(shown.as_array().unwrap(), &expected);
    let texts: Vec<&str> = expected.iter().map(|p| p[0].as_str().unwrap()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("payment failed for order")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("connection to")),
        "{texts:?}"
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#patterns .badge').length")
            .await,
        json!(expected.len()),
        "every pattern is new in the first hour of data"
    );
    browser.assert_only_from(q).await;
    browser.screenshot("patterns").await;
    let top = &patterns["patterns"][0];
    browser
        .click("#patterns tr.pattern:first-child .pattern-link")
        .await;
    browser
        .until(
            "the pattern's logs",
            "return new URLSearchParams(location.search).get('view') !== 'patterns' && document.getElementById('end-of-results')",
            Duration::from_secs(10),
        )
        .await;
    let shown = browser.js(SHOWN_IDS).await;
    assert_eq!(
        shown.as_array().unwrap().len() as u64,
        top["count"].as_u64().unwrap()
    );
    let q_text = browser
        .js("return document.getElementById('q').value")
        .await;
    assert!(
        q_text.as_str().unwrap().starts_with("pattern_id:"),
        "{q_text}"
    );

    eprintln!("browser step 7");
    // 7. Narrow window: the same page reads without sideways scrolling.
    c.set_window_size(420, 860).await.unwrap();
    browser.page(&ui_url(q, "&q=level%3E%3DWARNING")).await;
    let overflow = browser
        .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the narrow page scrolls sideways by {overflow}px"
    );
    browser.screenshot("narrow").await;
    c.set_window_size(1280, 800).await.unwrap();

    eprintln!("browser step 8");
    // 8. Live tail shows a log ingested after the page opened.
    c.goto(&format!("{q}/ui?range=15m&tail=1")).await.unwrap();
    browser
        .until(
            "the live page",
            "return document.getElementById('summary').textContent.includes('live tail on')",
            Duration::from_secs(15),
        )
        .await;
    // The stream is open once the server counts it.
    crate::util::eventually(Duration::from_secs(5), "the tail to open", || async {
        let text = crate::util::get_text(&format!("{q}/metrics")).await;
        (crate::util::metric(&text, "queryd_tail_streams").unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await;
    let message = format!("tail check {}", uuid_like());
    let (status, _) = post(
        &format!("{}/logs/ingest", stack.ingest),
        &json!({"message": message, "source": "browser-test", "level": "WARNING"}),
    )
    .await;
    assert_eq!(status, 202);
    let acked = Instant::now();
    browser
        .until(
            "the tailed log",
            &format!("return [...document.querySelectorAll('#results > li.log .msg')].some(m => m.textContent === {message:?})"),
            Duration::from_secs(10),
        )
        .await;
    let took = acked.elapsed();
    assert!(
        took <= Duration::from_secs(2),
        "the tailed log showed {took:?} after its ack"
    );

    eprintln!("browser step 9");
    // 9. /docs renders, offline, and "try it out" runs a search.
    c.goto(&format!("{q}/docs/")).await.unwrap();
    browser
        .click("#operations-search-search_get .opblock-summary")
        .await;
    // The button is there before the panel finishes opening; a click
    // then does nothing, so click until the form is editable.
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser
        .js("return !document.querySelector('#operations-search-search_get .execute')")
        .await
        == json!(true)
    {
        assert!(
            Instant::now() < deadline,
            "Try it out never opened the form"
        );
        browser
            .click("#operations-search-search_get .try-out__btn")
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let query_param = c
        .find(Locator::Css(
            "#operations-search-search_get tr[data-param-name='query'] input[type='text']",
        ))
        .await
        .unwrap();
    query_param.send_keys("card declined").await.unwrap();
    browser
        .click("#operations-search-search_get .execute")
        .await;
    let answer = browser
        .until(
            "the answer of try it out",
            "const s = document.querySelector('#operations-search-search_get .live-responses-table tr.response .response-col_status'); const b = document.querySelector('#operations-search-search_get .live-responses-table .microlight'); return s && b && [s.textContent.trim(), b.textContent]",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(
        answer[0],
        "200",
        "{}",
        &answer.to_string()[..300.min(answer.to_string().len())]
    );
    let body: Value = serde_json::from_str(answer[1].as_str().unwrap()).unwrap();
    assert!(body["total_count"].as_u64().unwrap() >= 1, "{body}");
    assert!(body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["message"].as_str().unwrap().contains("card declined")));
    browser.assert_only_from(q).await;

    // The ingest port's docs too.
    let ingest = &stack.ingest;
    c.goto(&format!("{ingest}/docs")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#operations-ingest-ingest_one"))
        .await
        .unwrap();
    browser.assert_only_from(ingest).await;

    browser.close().await;
    stack.stop().await;
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
