//! `logagg backup` and `logagg restore` against the real binary: a backup
//! taken under ingest load restores every log that was searchable before it
//! exactly once, a backup of a restored store restores, the second backup
//! links the first one's segments instead of copying them, and a damaged
//! backup is refused before anything is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::{free_port, wait_healthy};

/// A running logagg, killed when dropped (a failed test leaves none).
struct Running {
    child: Child,
    ingest: String,
    query: String,
}

impl Running {
    async fn start(data_dir: &Path) -> Running {
        Running::start_with(data_dir, &[]).await
    }

    async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Running {
        let (ingest_port, query_port) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_logagg"))
            .envs(env.iter().copied())
            .env("DATA_DIR", data_dir)
            .env("INGEST_ADDR", format!("127.0.0.1:{ingest_port}"))
            .env("QUERY_ADDR", format!("127.0.0.1:{query_port}"))
            .env("COMMIT_INTERVAL_MS", "100")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let running = Running {
            child,
            ingest: format!("http://127.0.0.1:{ingest_port}"),
            query: format!("http://127.0.0.1:{query_port}"),
        };
        wait_healthy(&running.ingest).await;
        wait_healthy(&running.query).await;
        running
    }

    /// SIGTERM, and wait for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "logagg exited with {status}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn logs(group: &str, from: usize, n: usize) -> Value {
    Value::Array(
        (from..from + n)
            .map(|i| json!({"level": "ERROR", "message": format!("backup {group} {i}"), "source": "db-01"}))
            .collect(),
    )
}

async fn ingest(c: &reqwest::Client, base: &str, body: &Value, wait: bool) {
    let refresh = if wait { "?refresh=wait_for" } else { "" };
    let r = c
        .post(format!("{base}/logs/batch-ingest{refresh}"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
}

/// How many times each `backup <group> <i>` message is stored, by group.
async fn stored(c: &reqwest::Client, query: &str) -> BTreeMap<String, BTreeMap<usize, usize>> {
    let body = c
        .get(format!("{query}/logs/export?start_time=now-1d"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut out: BTreeMap<String, BTreeMap<usize, usize>> = BTreeMap::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let log: Value = serde_json::from_str(line).unwrap();
        let words: Vec<&str> = log["message"].as_str().unwrap().split(' ').collect();
        if let ["backup", group, i] = words[..] {
            *out.entry(group.to_string())
                .or_default()
                .entry(i.parse().unwrap())
                .or_default() += 1;
        }
    }
    out
}

fn logagg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logagg"))
        .args(args)
        .output()
        .unwrap()
}

/// `logagg restore --json`, which must succeed.
fn restore_json(from: &str, data_dir: &str) -> Value {
    json_of(&logagg(&[
        "restore",
        "--from",
        from,
        "--data-dir",
        data_dir,
        "--json",
    ]))
}

/// `logagg backup --json`, which must succeed.
fn backup_json(data_dir: &str, to: &str) -> Value {
    json_of(&logagg(&[
        "backup",
        "--data-dir",
        data_dir,
        "--to",
        to,
        "--json",
    ]))
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn exactly_once(stored: &BTreeMap<String, BTreeMap<usize, usize>>, group: &str, n: usize) {
    let got = stored.get(group).cloned().unwrap_or_default();
    let missing: Vec<usize> = (0..n).filter(|i| !got.contains_key(i)).collect();
    let twice: Vec<(&usize, &usize)> = got.iter().filter(|(_, c)| **c != 1).collect();
    assert!(missing.is_empty(), "{group}: missing {missing:?}");
    assert!(twice.is_empty(), "{group}: stored more than once {twice:?}");
    assert_eq!(got.len(), n, "{group}: unexpected logs");
}

#[tokio::test]
async fn a_backup_under_load_restores_every_searchable_log_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("backups");
    let c = reqwest::Client::new();

    let service = Running::start(&data).await;
    // Searchable before the backup: must all come back, once each.
    for batch in 0..4 {
        ingest(&c, &service.ingest, &logs("alpha", batch * 250, 250), true).await;
    }
    // Load during the backup: each may or may not be in it, never twice.
    let running = Arc::new(AtomicBool::new(true));
    let loader = {
        let (c, base, running) = (c.clone(), service.ingest.clone(), running.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            while running.load(Ordering::Relaxed) {
                ingest(&c, &base, &logs("bravo", sent, 100), false).await;
                sent += 100;
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (d, r) = (
        data.to_str().unwrap().to_string(),
        repo.to_str().unwrap().to_string(),
    );
    let first = tokio::task::spawn_blocking(move || backup_json(&d, &r))
        .await
        .unwrap();
    running.store(false, Ordering::Relaxed);
    let bravo_sent = loader.await.unwrap();
    assert!(bravo_sent > 0);
    assert!(first["docs"].as_u64().unwrap() >= 1000, "{first}");
    assert!(first["copied_files"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(first["linked_files"], 0, "nothing to link from: {first}");
    // After the backup: must not come back.
    ingest(&c, &service.ingest, &logs("charlie", 0, 200), true).await;
    service.stop();

    // Wipe, restore, start again.
    std::fs::remove_dir_all(&data).unwrap();
    let restored = restore_json(repo.to_str().unwrap(), data.to_str().unwrap());
    assert_eq!(restored["docs"], first["docs"], "{restored}");
    let service = Running::start(&data).await;
    let got = stored(&c, &service.query).await;
    exactly_once(&got, "alpha", 1000);
    assert!(
        !got.contains_key("charlie"),
        "a log written after the backup came back"
    );
    let bravo = got.get("bravo").cloned().unwrap_or_default();
    assert!(bravo.values().all(|n| *n == 1), "a bravo log twice");
    assert!(bravo.keys().all(|i| *i < bravo_sent));
    let total: usize = got.values().map(|g| g.len()).sum();
    assert_eq!(total as u64, first["docs"].as_u64().unwrap());

    // A backup of the restored store before it takes anything new: its
    // segments are the first backup's, linked from it, none copied.
    let unchanged = backup_json(data.to_str().unwrap(), repo.to_str().unwrap());
    assert!(
        unchanged["linked_files"].as_u64().unwrap() > 0,
        "{unchanged}"
    );
    assert!(
        unchanged["copied_bytes"].as_u64().unwrap() * 10
            < unchanged["total_bytes"].as_u64().unwrap(),
        "more than the metadata copied: {unchanged}"
    );

    // The restored store takes new logs, and replays nothing twice.
    ingest(&c, &service.ingest, &logs("delta", 0, 300), true).await;
    let got = stored(&c, &service.query).await;
    exactly_once(&got, "alpha", 1000);
    exactly_once(&got, "delta", 300);

    // The next backup copies the new segments (or those a merge made) and
    // links any it already holds.
    let second = backup_json(data.to_str().unwrap(), repo.to_str().unwrap());
    assert_eq!(
        second["linked_files"].as_u64().unwrap() + second["copied_files"].as_u64().unwrap(),
        second["files"].as_u64().unwrap(),
        "{second}"
    );
    assert!(second["copied_files"].as_u64().unwrap() > 0, "{second}");
    service.stop();
    std::fs::remove_dir_all(&data).unwrap();
    restore_json(repo.to_str().unwrap(), data.to_str().unwrap());
    let service = Running::start(&data).await;
    let got = stored(&c, &service.query).await;
    exactly_once(&got, "alpha", 1000);
    exactly_once(&got, "delta", 300);
    assert!(!got.contains_key("charlie"));

    // Restoring over a store is refused.
    let over = logagg(&[
        "restore",
        "--from",
        repo.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(over.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&over.stderr).contains("already holds an index"));
    service.stop();

    // The first backup still restores on its own (the later ones link to
    // its files, they do not move them).
    let older = data.with_file_name("older");
    let first_dir = first["dir"].as_str().unwrap();
    restore_json(first_dir, older.to_str().unwrap());
}

/// Copies a backup (files, not links: damaging the copy leaves the
/// original as it is).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_damaged_backup_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("backups");
    let c = reqwest::Client::new();
    let service = Running::start(&data).await;
    ingest(&c, &service.ingest, &logs("alpha", 0, 500), true).await;
    let backup = backup_json(data.to_str().unwrap(), repo.to_str().unwrap());
    service.stop();
    let good = Path::new(backup["dir"].as_str().unwrap()).to_path_buf();
    let (partition, segment) = store_file(&good);

    let refused = |from: &Path, what: &str, needle: &str| {
        let target = tmp.path().join(format!("restore-{what}"));
        let out = logagg(&[
            "restore",
            "--from",
            from.to_str().unwrap(),
            "--data-dir",
            target.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains("damaged"), "{what}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{what}: {stderr} should name {needle}"
        );
        assert!(
            !target.join("index").exists(),
            "{what}: an index was written from a damaged backup"
        );
        let verify = logagg(&["restore", "--verify-only", "--from", from.to_str().unwrap()]);
        assert_eq!(verify.status.code(), Some(1), "{what}: verify-only passed");
    };

    // One byte flipped in a segment file.
    let flipped = tmp.path().join("flipped");
    copy_tree(&good, &flipped);
    flip_middle(&flipped.join(&partition).join(&segment));
    refused(&flipped, "flipped", &segment);

    // A file cut short.
    let cut = tmp.path().join("cut");
    copy_tree(&good, &cut);
    let path = cut.join(&partition).join(&segment);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    refused(&cut, "cut", &segment);

    // A file missing.
    let missing = tmp.path().join("missing");
    copy_tree(&good, &missing);
    std::fs::remove_file(missing.join(&partition).join("meta.json")).unwrap();
    refused(&missing, "missing", "meta.json");

    // The manifest cut short, or gone (a half-copied backup).
    let torn = tmp.path().join("torn");
    copy_tree(&good, &torn);
    let text = std::fs::read(torn.join("manifest.json")).unwrap();
    std::fs::write(torn.join("manifest.json"), &text[..text.len() / 2]).unwrap();
    refused(&torn, "torn", "manifest.json");
    let bare = tmp.path().join("bare");
    copy_tree(&good, &bare);
    std::fs::remove_file(bare.join("manifest.json")).unwrap();
    refused(&bare, "bare", "no backup here");

    // The intact one verifies and restores.
    let verify = logagg(&["restore", "--verify-only", "--from", good.to_str().unwrap()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let restored_dir = tmp.path().join("restored");
    restore_json(good.to_str().unwrap(), restored_dir.to_str().unwrap());
    let service = Running::start(&restored_dir).await;
    exactly_once(&stored(&c, &service.query).await, "alpha", 500);
    service.stop();
}

#[tokio::test]
async fn the_admin_route_backs_up_into_the_configured_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("backups");
    let keys = tmp.path().join("keys.toml");
    let key = |id: &str, scopes: &str| {
        let out = logagg(&[
            "keys",
            "add",
            "--keys-file",
            keys.to_str().unwrap(),
            "--id",
            id,
            "--scopes",
            scopes,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (admin, writer) = (key("ops", "admin"), key("shipper", "ingest"));
    let c = reqwest::Client::new();
    let service = Running::start_with(
        &data,
        &[
            ("BACKUP_DIR", repo.to_str().unwrap()),
            ("AUTH_KEYS_FILE", keys.to_str().unwrap()),
        ],
    )
    .await;
    let r = c
        .post(format!(
            "{}/logs/batch-ingest?refresh=wait_for",
            service.ingest
        ))
        .bearer_auth(&writer)
        .json(&logs("alpha", 0, 300))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);

    // An ingest key may not back up; no key at all is not let in.
    let url = format!("{}/admin/backup", service.ingest);
    let r = c.post(&url).bearer_auth(&writer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = c.post(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let r = c.post(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let summary: Value = r.json().await.unwrap();
    assert_eq!(summary["docs"], 300, "{summary}");
    // The answer names the backup in the repository, not a server path.
    let name = summary["dir"].as_str().unwrap().to_string();
    assert!(
        !name.contains('/') && repo.join(&name).is_dir(),
        "{summary}"
    );
    let dir = repo.join(&name).display().to_string();
    service.stop();

    let restored = tmp.path().join("restored");
    let report = restore_json(repo.to_str().unwrap(), restored.to_str().unwrap());
    assert_eq!(report["docs"], 300);
    assert_eq!(report["from"].as_str().unwrap(), dir);

    // Without a repository the route says how to set one.
    let service = Running::start(&restored).await;
    let r = c
        .post(format!("{}/admin/backup", service.ingest))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "backup_not_configured");
    assert!(body["detail"].as_str().unwrap().contains("--backup-dir"));
    exactly_once(&stored(&c, &service.query).await, "alpha", 300);
    service.stop();
}

/// Flips one byte in the middle of a file.
fn flip_middle(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// A backup's first partition and its stored-documents file.
fn store_file(backup: &Path) -> (String, String) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let partition = manifest["partitions"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let file = manifest["partitions"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .find(|n| n.ends_with(".store"))
        .expect("a stored-documents file");
    (partition, file)
}

// Regressions (issue 32): a backup of a corrupt segment verified as intact;
// an incremental backup linked a rotten file of the previous backup; two
// backups could run at once.
#[tokio::test]
async fn backups_never_launder_or_spread_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("backups");
    let c = reqwest::Client::new();
    let service = Running::start(&data).await;
    ingest(&c, &service.ingest, &logs("alpha", 0, 500), true).await;
    service.stop();
    let first = backup_json(data.to_str().unwrap(), repo.to_str().unwrap());
    let first_dir = Path::new(first["dir"].as_str().unwrap()).to_path_buf();
    let (partition, file) = store_file(&first_dir);

    // The previous backup's copy rots: the next backup copies the live
    // file instead of linking the rotten one, and restores.
    flip_middle(&first_dir.join(&partition).join(&file));
    let second = backup_json(data.to_str().unwrap(), repo.to_str().unwrap());
    let second_dir = Path::new(second["dir"].as_str().unwrap()).to_path_buf();
    let verify = logagg(&[
        "restore",
        "--verify-only",
        "--from",
        second_dir.to_str().unwrap(),
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let rotten = std::fs::metadata(first_dir.join(&partition).join(&file)).unwrap();
    let fresh = std::fs::metadata(second_dir.join(&partition).join(&file)).unwrap();
    assert_ne!(
        std::os::unix::fs::MetadataExt::ino(&rotten),
        std::os::unix::fs::MetadataExt::ino(&fresh),
        "the rotten file was linked"
    );
    let restored = tmp.path().join("restored");
    restore_json(second_dir.to_str().unwrap(), restored.to_str().unwrap());
    let service = Running::start(&restored).await;
    exactly_once(&stored(&c, &service.query).await, "alpha", 500);
    service.stop();

    // A backup that holds a damaged segment with a manifest to match (as
    // a release before this one could make) is refused by its own checksums.
    let laundered = tmp.path().join("laundered");
    copy_tree(&second_dir, &laundered);
    let path = laundered.join(&partition).join(&file);
    flip_middle(&path);
    let bytes = std::fs::read(&path).unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(laundered.join("manifest.json")).unwrap()).unwrap();
    for f in manifest["partitions"][0]["files"].as_array_mut().unwrap() {
        if f["name"] == file.as_str() {
            f["crc32"] = json!(crc32fast::hash(&bytes));
        }
    }
    std::fs::write(laundered.join("manifest.json"), manifest.to_string()).unwrap();
    let verify = logagg(&[
        "restore",
        "--verify-only",
        "--from",
        laundered.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&file) && stderr.contains("checksum"),
        "{stderr}"
    );

    // The live store damaged: the backup fails, names the file, and adds
    // nothing to the repository.
    let live = data.join("index").join(&partition).join(&file);
    flip_middle(&live);
    let out = logagg(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        repo.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&file) && stderr.contains("checksum"),
        "{stderr}"
    );
    let backups = std::fs::read_dir(&repo)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("manifest.json").is_file())
        .count();
    assert_eq!(backups, 2);
}

#[tokio::test]
async fn one_backup_of_a_repository_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("backups");
    let c = reqwest::Client::new();
    std::fs::create_dir_all(&repo).unwrap();
    let service = Running::start_with(&data, &[("BACKUP_DIR", repo.to_str().unwrap())]).await;
    ingest(&c, &service.ingest, &logs("alpha", 0, 100), true).await;
    // Another process holds the repository (as a running backup does).
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(repo.join(".lock"))
        .unwrap();
    held.try_lock().unwrap();
    std::fs::write(repo.join(".lock"), "pid 4242 since 2026-12-07T10:00:00Z").unwrap();
    let out = logagg(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        repo.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is running") && stderr.contains("pid 4242"),
        "{stderr}"
    );
    let r = c
        .post(format!("{}/admin/backup", service.ingest))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "backup_running", "{body}");
    // Released: both run.
    drop(held);
    let r = c
        .post(format!("{}/admin/backup", service.ingest))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    backup_json(data.to_str().unwrap(), repo.to_str().unwrap());
    service.stop();
}
