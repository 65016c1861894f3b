//! Damage told on every path: a segment file damaged under the store (each
//! kind of file), a day partition removed while ingesting. What survives,
//! and what every read, `/ready`, the metrics and `check` say.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

/// Stores `n` logs of today (ERROR, with metadata), searchable.
async fn ingest(s: &Stack, tag: &str, n: usize) {
    for start in (0..n).step_by(1000) {
        let logs: Vec<Value> = (start..(start + 1000).min(n))
            .map(|i| {
                json!({
                    "level": if i % 2 == 0 { "ERROR" } else { "INFO" },
                    "message": format!("{tag} request {i} failed on shard {}", i % 7),
                    "source": "damage-test",
                    "service": format!("svc-{}", i % 3),
                    "metadata": {"shard": i % 7}
                })
            })
            .collect();
        ingest_searchable(&s.ingest, logs).await;
    }
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// The files of the segments today's partition's last commit names.
pub fn committed_files(data: &Path, ext: &str) -> Vec<PathBuf> {
    let day = data.join("index").join(today());
    let meta = std::fs::read_to_string(day.join("meta.json")).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .filter(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            meta.contains(stem) || meta.contains(&crate::faults::uuid_dashed(stem))
        })
        .collect();
    files.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    files
}

/// Flips `count` bytes spread over the middle half of a file.
pub fn flip_bytes(path: &Path, count: u64) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let len = file.metadata().unwrap().len();
    for k in 0..count {
        let at = len / 4 + (len / 2) * k / count.max(1);
        let mut b = [0u8; 1];
        file.read_exact_at(&mut b, at).unwrap();
        b[0] ^= 0x5a;
        file.write_all_at(&b, at).unwrap();
    }
    file.sync_all().unwrap();
}

/// Reads an export to its end: the bytes, and whether the transfer ended
/// cleanly (with the chunked encoding's last chunk).
pub async fn export(url: &str) -> (u16, String, bool) {
    let mut r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let mut body = Vec::new();
    let clean = loop {
        match r.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    (status, String::from_utf8_lossy(&body).to_string(), clean)
}

async fn stopped_with_logs(n: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let s = Stack::start_in(tmp.path(), &[]).await;
    ingest(&s, "damage", n).await;
    s.stop().await;
    tmp
}

fn quiet() -> queryd::ReadArgs {
    queryd::ReadArgs {
        verify_mib_per_sec: 0,
        ..Default::default()
    }
}

#[actix_web::test]
async fn an_export_over_a_damaged_segment_ends_as_a_failed_transfer() {
    let tmp = stopped_with_logs(3000).await;
    let store = committed_files(tmp.path(), "store");
    flip_bytes(&store[0], 64);
    // The background verification off: the export meets the damage itself.
    let s = Stack::start_in_with(tmp.path(), &[], quiet()).await;
    let (status, body, clean) = export(&format!("{}/logs/export", s.query)).await;
    assert_eq!(status, 200);
    assert!(!clean, "a short export must not end like a whole one");
    let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"], "partial", "{last}");
    assert_eq!(last["missing"], json!([today()]), "{last}");
    let exported = body.lines().count() - 1;
    assert!(exported < 3000, "{exported}");
    let m = get_text(&format!("{}/metrics", s.query)).await;
    assert!(metric(&m, "queryd_partial_answers_total{kind=\"export\"}").unwrap() >= 1.0);
    // Now the partition is known to be damaged: the aggregations over it,
    // which read columns and not the damaged file, say so too.
    for route in ["histogram", "facets", "patterns?hours=1", "search?limit=5"] {
        let (status, body) = get(&format!("{}/logs/{route}", s.query)).await;
        assert_eq!(status, 200, "{route}: {body}");
        assert_eq!(body["partial"], true, "{route}: {body}");
        assert_eq!(body["missing"], json!([today()]), "{route}: {body}");
    }
    s.stop().await;
}

/// An intact store verifies clean in the background: no false alarm.
#[actix_web::test]
async fn an_intact_store_verifies_clean() {
    let tmp = stopped_with_logs(3000).await;
    let s = Stack::start_in(tmp.path(), &[]).await;
    // Logs arrive meanwhile: new segments are verified as they come.
    ingest(&s, "meanwhile", 2000).await;
    let ready = eventually(Duration::from_secs(30), "verified", || async {
        let (_, body) = get(&format!("{}/ready", s.query)).await;
        let v = &body["verification"];
        (v["pending_bytes"] == 0 && v["verified_bytes"].as_u64().unwrap_or(0) > 100_000)
            .then_some(body)
    })
    .await;
    assert_eq!(ready["verification"]["damaged_files"], 0, "{ready}");
    assert_eq!(ready["warnings"], json!([]), "{ready}");
    let (_, body) = get(&format!("{}/logs/histogram", s.query)).await;
    assert_eq!(body["partial"], false, "{body}");
    let (status, body, clean) = export(&format!("{}/logs/export", s.query)).await;
    assert!(status == 200 && clean, "{status}");
    assert_eq!(body.lines().count(), 5000);
    s.stop().await;
}

/// Each kind of segment file, damaged: the background verification finds it
/// before anyone reads it, and every read over the day says partial;
/// `check --deep` finds it too. One test per kind, so that they run side by
/// side.
macro_rules! damage_in {
    ($($name:ident: $ext:literal),* $(,)?) => {
        mod damage_in_each_kind_of_segment_file_is_found_before_a_read {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::damage_in($ext).await;
                }
            )*
        }
    };
}

damage_in! {
    store: "store",
    idx: "idx",
    term: "term",
    pos: "pos",
    fast: "fast",
    fieldnorm: "fieldnorm",
    meta_json: "json",
}

async fn damage_in(ext: &str) {
    let tmp = stopped_with_logs(2000).await;
    // A few of today's ids, for the context route.
    let id = {
        let s = Stack::start_in_with(tmp.path(), &[], quiet()).await;
        let (_, body) = get(&format!("{}/logs/search?limit=1", s.query)).await;
        s.stop().await;
        body["logs"][0]["id"].as_str().unwrap().to_string()
    };
    if ext == "json" {
        // meta.json holds no checksum: damage that leaves it unreadable.
        let meta = tmp.path().join("index").join(today()).join("meta.json");
        let text = std::fs::read_to_string(&meta).unwrap();
        std::fs::write(&meta, text.replacen('{', "X", 1)).unwrap();
    } else {
        let files = committed_files(tmp.path(), ext);
        let Some(file) = files.first() else {
            panic!("{ext}: no such file in the commit");
        };
        flip_bytes(file, 8);
    }
    let s = Stack::start_in(tmp.path(), &[]).await;
    let ready = eventually(Duration::from_secs(30), ext, || async {
        let (_, body) = get(&format!("{}/ready", s.query)).await;
        let found = body["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w.as_str().unwrap().contains(&today())));
        found.then_some(body)
    })
    .await;
    assert_eq!(ready["ready"], true, "{ext}: {ready}");
    if ext != "json" {
        assert!(
            ready["verification"]["damaged_files"].as_u64().unwrap() >= 1,
            "{ext}: {ready}"
        );
    }
    let m = get_text(&format!("{}/metrics", s.query)).await;
    assert_eq!(metric(&m, "queryd_damaged_partitions"), Some(1.0), "{ext}");
    let context = format!("{id}/context");
    for route in [
        "histogram",
        "facets",
        "patterns?hours=1",
        "search?limit=1",
        &context,
    ] {
        let (status, body) = get(&format!("{}/logs/{route}", s.query)).await;
        // A read may fail on the damaged file (then 503), never answer whole.
        if status == 200 {
            assert_eq!(body["partial"], true, "{ext} {route}: {body}");
        } else {
            assert_eq!(status, 503, "{ext} {route}: {body}");
        }
    }
    let (status, _, clean) = export(&format!("{}/logs/export", s.query)).await;
    assert!(status != 200 || !clean, "{ext}: export ended cleanly");
    // A live tail tells it, once, and goes on.
    let mut tail = client()
        .get(format!("{}/logs/tail", s.query))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let told = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = tail.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: partial") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(told, Ok(true), "{ext}: {seen}");
    drop(tail);
    s.stop().await;
    let report = ingestd::check::check(tmp.path(), true).unwrap();
    assert!(report.problems >= 1, "{ext}: {}", report.render());
}

/// An operator removes today's partition while logs come in: the loss is
/// told (ingest /ready, query /ready, every read over the day, `check`),
/// and the logs acknowledged after it are kept.
#[actix_web::test]
async fn a_partition_removed_while_ingesting_is_noticed_and_told() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Stack::start_in(tmp.path(), &[]).await;
    ingest(&s, "before", 1500).await;
    std::fs::remove_dir_all(tmp.path().join("index").join(today())).unwrap();
    ingest(&s, "after", 500).await;
    let ready = eventually(Duration::from_secs(30), "ingest /ready tells", || async {
        let (_, body) = get(&format!("{}/ready", s.ingest)).await;
        let told = body["warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w.as_str().unwrap().contains("removed while running"))
        });
        told.then_some(body)
    })
    .await;
    assert!(ready.to_string().contains("1500 logs"), "{ready}");
    // The logs after the removal are there; the answer names the loss.
    let (status, body) = get(&format!("{}/logs/search?query=after&limit=1", s.query)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], 500, "{body}");
    assert_eq!(body["partial"], true, "{body}");
    assert!(
        body["missing"][0]
            .as_str()
            .unwrap()
            .contains("removed while running"),
        "{body}"
    );
    let (_, body) = get(&format!("{}/logs/histogram", s.query)).await;
    assert_eq!(body["partial"], true, "{body}");
    let (_, body) = get(&format!("{}/ready", s.query)).await;
    assert!(body.to_string().contains("removed while running"), "{body}");
    s.stop().await;
    let report = ingestd::check::check(tmp.path(), false).unwrap();
    assert!(report.problems >= 1, "{}", report.render());
    assert!(
        report.render().contains("LOST partition"),
        "{}",
        report.render()
    );
    // After a restart it is still told.
    let s = Stack::start_in(tmp.path(), &[]).await;
    let (_, body) = get(&format!("{}/ready", s.ingest)).await;
    assert!(body.to_string().contains("removed while running"), "{body}");
    s.stop().await;
}
