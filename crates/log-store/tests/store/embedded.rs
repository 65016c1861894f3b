//! The embedded store on its own: replay idempotence, day partitions,
//! retention.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use log_model::{Level, SearchQuery, StoredLog};
use log_store::embedded::{EmbeddedReader, EmbeddedSettings, EmbeddedWriter};
use log_store::{LogReader, LogWriter};

fn log(id: &str, ts: DateTime<Utc>, message: &str) -> StoredLog {
    let pattern = log_patterns::pattern_of(message);
    StoredLog {
        id: id.to_string(),
        timestamp: ts,
        level: Level::Error,
        message: message.to_string(),
        source: "src".into(),
        service: Some("svc".into()),
        trace_id: None,
        span_id: None,
        metadata: None,
        received_at: ts,
        pattern_id: pattern.pattern_id,
        template: pattern.template,
        tenant: log_model::DEFAULT_TENANT.into(),
    }
}

fn settings(retention_days: i64) -> EmbeddedSettings {
    EmbeddedSettings {
        heap_bytes: 15 << 20,
        retention: Duration::days(retention_days),
        ..EmbeddedSettings::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn replay_after_a_lost_checkpoint_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let yesterday = now - Duration::days(1);
    let mut w = EmbeddedWriter::open(dir.path(), settings(7)).unwrap();
    assert_eq!(w.committed_position(), 0);
    w.write(&[log("a", now, "first")], 100).unwrap();
    assert_eq!(w.commit().unwrap(), 100);
    let second = [log("b", now, "second"), log("c", yesterday, "third")];
    w.write(&second, 250).unwrap();
    assert_eq!(w.commit().unwrap(), 250);
    drop(w);

    // A crash after the partitions committed but before the checkpoint was
    // written leaves the checkpoint behind: put it back to 100.
    std::fs::write(dir.path().join("index/checkpoint"), br#"{"position":100}"#).unwrap();
    let mut w = EmbeddedWriter::open(dir.path(), settings(7)).unwrap();
    assert_eq!(w.committed_position(), 100);
    // The replay of record 250: both partitions already hold it.
    let outcome = w.write(&second, 250).unwrap();
    assert_eq!((outcome.written, outcome.duplicates), (0, 2));
    // A new record is written as usual.
    let outcome = w.write(&[log("d", now, "fourth")], 300).unwrap();
    assert_eq!(outcome.written, 1);
    w.commit().unwrap();
    drop(w);

    let ids = EmbeddedReader::open(dir.path()).scan_ids().unwrap();
    assert_eq!(sorted(ids), vec!["a", "b", "c", "d"]);
}

#[test]
fn retention_drops_whole_old_days() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let mut w = EmbeddedWriter::open(dir.path(), settings(30)).unwrap();
    w.write(
        &[
            log("new", now, "new"),
            log("old", now - Duration::days(10), "old"),
        ],
        10,
    )
    .unwrap();
    w.commit().unwrap();
    drop(w);
    let mut w = EmbeddedWriter::open(dir.path(), settings(7)).unwrap();
    assert_eq!(w.apply_retention(now).unwrap(), 1);
    assert_eq!(w.apply_retention(now).unwrap(), 0);
    // A log already past retention when it reaches the store is counted, not stored.
    let outcome = w
        .write(&[log("late", now - Duration::days(9), "late")], 20)
        .unwrap();
    assert_eq!((outcome.written, outcome.expired), (0, 1));
    w.commit().unwrap();
    assert_eq!(
        EmbeddedReader::open(dir.path()).scan_ids().unwrap(),
        vec!["new"]
    );
}

// Regression (issue 9, finding 1): logs on many distinct days opened a
// writer per day that was never closed (threads and heaps held while idle).
// Open partitions stay bounded, and a crash in the middle of a record that
// spans more days than that bound stores nothing twice on replay.
#[test]
fn open_partitions_stay_bounded_and_replay_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let bounded = EmbeddedSettings {
        max_open: 3,
        ..settings(30)
    };
    // Records of 12 logs each on 12 distinct days (and a repeat of today).
    let records: Vec<(Vec<StoredLog>, u64)> = (0..6u64)
        .map(|r| {
            let logs = (0..12)
                .map(|d| {
                    let ts = now - Duration::days((d * 7 + r as i64) % 20);
                    log(&format!("r{r}-{d}"), ts, "spread over days")
                })
                .collect();
            (logs, (r + 1) * 1000)
        })
        .collect();
    let mut w = EmbeddedWriter::open(dir.path(), bounded.clone()).unwrap();
    for (i, (logs, end)) in records.iter().enumerate() {
        w.write(logs, *end).unwrap();
        assert!(w.open_partitions() <= 3, "{} open", w.open_partitions());
        if i == 1 {
            w.commit().unwrap();
        }
    }
    // A crash: no final commit. Partitions closed to make room did commit.
    drop(w);
    let mut w = EmbeddedWriter::open(dir.path(), bounded).unwrap();
    let from = w.committed_position();
    assert_eq!(from, 2000);
    for (logs, end) in records.iter().filter(|(_, end)| *end > from) {
        w.write(logs, *end).unwrap();
        assert!(w.open_partitions() <= 3);
    }
    w.commit().unwrap();
    drop(w);
    let reader = EmbeddedReader::open(dir.path());
    let ids = sorted(reader.scan_ids().unwrap());
    let expected = sorted(
        records
            .iter()
            .flat_map(|(logs, _)| logs.iter().map(|l| l.id.clone()))
            .collect(),
    );
    assert_eq!(ids, expected);
}

fn first_ten(reader: &EmbeddedReader) -> log_store::SearchPage {
    rt().block_on(reader.search(SearchQuery {
        limit: 10,
        ..SearchQuery::over(log_model::Tenants::All)
    }))
    .unwrap()
}

/// Ways a day partition gets damaged on disk.
#[derive(Debug, Clone, Copy)]
enum Harm {
    DeleteStore,
    TruncateTerm,
    DeleteMeta,
}

fn harm(dir: &std::path::Path, how: Harm) {
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let with_ext = |ext: &str| {
        files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} file in {files:?}"))
            .clone()
    };
    match how {
        Harm::DeleteStore => std::fs::remove_file(with_ext("store")).unwrap(),
        Harm::TruncateTerm => {
            let path = with_ext("term");
            let len = std::fs::metadata(&path).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(len / 2).unwrap();
        }
        Harm::DeleteMeta => std::fs::remove_file(dir.join("meta.json")).unwrap(),
    }
}

// Regressions (issue 9, findings 5 and 6): a day index with a missing
// `.store` or a truncated `.term` was skipped silently (answers of no hits,
// new logs of that day never seen); one without `meta.json` was replaced by
// an empty index and its files deleted at start-up.
#[test]
fn a_damaged_day_is_reported_kept_and_written_around() {
    for how in [Harm::DeleteStore, Harm::TruncateTerm, Harm::DeleteMeta] {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let yesterday = now - Duration::days(1);
        let mut w = EmbeddedWriter::open(dir.path(), settings(7)).unwrap();
        w.write(
            &[
                log("old-today", now, "before the damage"),
                log("old-yesterday", yesterday, "another day"),
            ],
            100,
        )
        .unwrap();
        w.commit().unwrap();
        drop(w);
        let today_dir = dir
            .path()
            .join("index")
            .join(now.format("%Y-%m-%d").to_string());
        harm(&today_dir, how);
        let files_before: Vec<_> = std::fs::read_dir(&today_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();

        // Reads: the damaged day is named, the other day still answers.
        let reader = EmbeddedReader::open(dir.path());
        let page = first_ten(&reader);
        let today = now.format("%Y-%m-%d").to_string();
        assert_eq!(page.missing, vec![today.clone()], "{how:?}");
        assert_eq!(page.logs.len(), 1, "{how:?}");
        assert_eq!(page.logs[0].id, "old-yesterday");
        assert_eq!(reader.damaged().len(), 1);

        // Writes: the damaged index is left as it is; today's new logs go
        // to a new partition beside it, and are read.
        let mut w = EmbeddedWriter::open(dir.path(), settings(7)).unwrap();
        w.write(&[log("new-today", now, "after the damage")], 200)
            .unwrap();
        w.commit().unwrap();
        assert_eq!(w.damage().len(), 1, "{how:?}");
        drop(w);
        let files_after: Vec<_> = std::fs::read_dir(&today_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            files_before, files_after,
            "{how:?}: the damaged index was changed"
        );
        let reader = EmbeddedReader::open(dir.path());
        let page = first_ten(&reader);
        let mut ids: Vec<_> = page.logs.iter().map(|l| l.id.clone()).collect();
        ids.sort();
        assert_eq!(ids, vec!["new-today", "old-yesterday"], "{how:?}");
        assert_eq!(page.missing, vec![today.clone()], "{how:?}");
        // check() says the same.
        let report = log_store::embedded::check(dir.path(), true).unwrap();
        let bad: Vec<_> = report
            .iter()
            .filter(|r| !r.ok)
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(bad, vec![today], "{how:?}");
    }
}

/// A backup taken while the checkpoint lags the partitions' commits (the
/// writer crashed, or is between a commit and the checkpoint's write)
/// restores a store whose WAL starts past every copied commit: a new
/// record after the restore is written, not skipped as already held.
#[test]
fn a_restored_store_resumes_past_every_copied_commit() {
    use log_store::embedded::backup;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = Utc::now();
    let mut w = EmbeddedWriter::open(&data, settings(7)).unwrap();
    w.write(&[log("a", now, "first")], 100).unwrap();
    w.commit().unwrap();
    w.write(&[log("b", now, "second")], 250).unwrap();
    w.commit().unwrap();
    drop(w);
    std::fs::write(data.join("index/checkpoint"), br#"{"position":100}"#).unwrap();

    let summary = backup::backup(&data, &dir.path().join("repo")).unwrap();
    assert_eq!((summary.position, summary.docs), (100, 2));
    let restored = dir.path().join("restored");
    let report = backup::restore(&dir.path().join("repo"), &restored).unwrap();
    assert_eq!((report.position, report.resume_at), (100, 250));

    // The WAL of the restored store starts at its checkpoint: 250.
    let mut w = EmbeddedWriter::open(&restored, settings(7)).unwrap();
    assert_eq!(w.committed_position(), 250);
    let outcome = w.write(&[log("c", now, "third")], 260).unwrap();
    assert_eq!(outcome.written, 1);
    w.commit().unwrap();
    drop(w);
    let ids = EmbeddedReader::open(&restored).scan_ids().unwrap();
    assert_eq!(sorted(ids), vec!["a", "b", "c"]);
}

/// A day index that does not open is left out of a backup, said so, and
/// the other days are backed up and restore.
#[test]
fn a_damaged_day_is_left_out_of_a_backup_and_named() {
    use log_store::embedded::backup;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let now = Utc::now();
    let yesterday = now - Duration::days(1);
    let mut w = EmbeddedWriter::open(&data, settings(7)).unwrap();
    w.write(
        &[log("a", now, "today"), log("b", yesterday, "yesterday")],
        100,
    )
    .unwrap();
    w.commit().unwrap();
    drop(w);
    let day = yesterday.date_naive().format("%Y-%m-%d").to_string();
    std::fs::write(data.join("index").join(&day).join("meta.json"), b"{\"segm").unwrap();

    let summary = backup::backup(&data, &dir.path().join("repo")).unwrap();
    assert_eq!(summary.partitions, 1);
    assert_eq!(summary.skipped.len(), 1, "{:?}", summary.skipped);
    assert_eq!(summary.skipped[0].0, day);
    let restored = dir.path().join("restored");
    backup::restore(&dir.path().join("repo"), &restored).unwrap();
    let ids = EmbeddedReader::open(&restored).scan_ids().unwrap();
    assert_eq!(ids, vec!["a"]);
}

/// The segments of the day partition `day` (generation 0).
fn segments(data_dir: &std::path::Path, day: NaiveDate) -> usize {
    let dir = data_dir
        .join("index")
        .join(day.format("%Y-%m-%d").to_string());
    tantivy::Index::open_in_dir(dir)
        .unwrap()
        .searchable_segment_metas()
        .unwrap()
        .len()
}

/// A partition nobody writes to has its small segments merged into one,
/// with every log there once; one still written to is left to the merge
/// policy until it goes idle, and so is a big segment beside a few new
/// logs.
#[test]
fn an_idle_partition_s_segments_are_merged() {
    use std::time::{Duration as Wait, Instant};
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let yesterday = now - Duration::days(1);
    // Long enough that a loaded machine does not idle a partition between
    // two writes of this test.
    let idle_after = Wait::from_secs(2);
    let idle = EmbeddedSettings {
        idle_merge: idle_after,
        ..settings(7)
    };
    let mut w = EmbeddedWriter::open(dir.path(), idle).unwrap();
    let mut position = 0;
    let mut expected = Vec::new();
    // Writes these logs as one WAL record and notes them.
    let mut write = |w: &mut EmbeddedWriter, logs: Vec<StoredLog>| {
        expected.extend(logs.iter().map(|l| l.id.clone()));
        position += 10;
        w.write(&logs, position).unwrap();
    };
    // A commit a segment: two for today, two for yesterday (fewer than
    // the three the merge policy waits for).
    for round in 0..2 {
        for (day, at) in [("today", now), ("yesterday", yesterday)] {
            let logs = (0..50)
                .map(|i| log(&format!("{day}-{round}-{i}"), at, "disk full on db-7"))
                .collect();
            write(&mut w, logs);
            w.commit().unwrap();
        }
    }
    let today = || segments(dir.path(), now.date_naive());
    let yesterdays = || segments(dir.path(), yesterday.date_naive());
    assert_eq!((today(), yesterdays()), (2, 2));
    // Not idle yet: nothing merges.
    w.maintain().unwrap();
    std::thread::sleep(Wait::from_millis(500));
    assert_eq!(today(), 2);
    // Today is written again (and stays busy); yesterday goes idle.
    write(&mut w, vec![log("today-late", now, "disk full on db-8")]);
    let deadline = Instant::now() + Wait::from_secs(30);
    while yesterdays() > 1 {
        assert!(Instant::now() < deadline, "no merge");
        std::thread::sleep(Wait::from_millis(50));
        // Asking again while the merge runs asks for nothing more.
        w.maintain().unwrap();
    }
    assert_eq!(today(), 2);
    // A few new logs are not worth rewriting a big segment for: 100 logs
    // and 1 stay two segments.
    write(
        &mut w,
        vec![log("yesterday-late", yesterday, "disk full on db-9")],
    );
    w.commit().unwrap();
    assert_eq!(yesterdays(), 2);
    std::thread::sleep(idle_after + Wait::from_millis(100));
    w.maintain().unwrap();
    std::thread::sleep(Wait::from_millis(500));
    assert_eq!(yesterdays(), 2);
    drop(w);
    let ids = EmbeddedReader::open(dir.path()).scan_ids().unwrap();
    assert_eq!(sorted(ids), sorted(expected));
}

/// Histogram, facets and patterns whose deadline has passed stop and say
/// so in `limited`; without a deadline they are whole. Facets keeping
/// fewer values of a field than it has say that too, and the top values'
/// counts stay exact.
#[test]
fn aggregations_past_their_budget_say_why() {
    use log_model::{Expr, FacetsQuery, Filter, HistogramQuery, PatternsQuery, ReadBudget};
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let logs: Vec<StoredLog> = (0..3000)
        .map(|i| {
            let mut l = log(
                &format!("{i:05}"),
                now - Duration::seconds(i % 3000),
                &format!("worker {} lost its lease", i % 50),
            );
            // 1,800 from "a", 600 from "b", 600 each from a source of its own.
            l.source = match i % 5 {
                0 | 2 | 4 => "a".to_string(),
                1 if i % 10 == 1 => format!("single-{i}"),
                3 if i % 10 == 8 => format!("single-{i}"),
                _ => "b".to_string(),
            };
            l
        })
        .collect();
    let mut w = EmbeddedWriter::open(dir.path(), settings(30)).unwrap();
    w.write(&logs, 10).unwrap();
    w.commit().unwrap();
    let reader = EmbeddedReader::open(dir.path());
    let (start, end) = (now - Duration::hours(2), now + Duration::minutes(1));
    let filter = Filter::new(Expr::All, Some(start), Some(end), log_model::Tenants::All);
    let past = ReadBudget {
        deadline: Some(std::time::Instant::now()),
        ..ReadBudget::default()
    };
    let out_of_time = |limited: &[String]| limited.iter().any(|r| r.contains("time budget"));

    let histogram = |budget: ReadBudget| {
        rt().block_on(reader.histogram(HistogramQuery {
            filter: filter.clone(),
            start,
            end,
            interval_ms: 600_000,
            budget,
        }))
        .unwrap()
    };
    let counted =
        |h: &log_store::Histogram| -> u64 { h.buckets.iter().flat_map(|(_, c)| c.iter()).sum() };
    // Cut first: a whole segment's counts are cached, and a cached
    // segment is not read again.
    let cut = histogram(past.clone());
    assert!(out_of_time(&cut.limited), "{:?}", cut.limited);
    assert!(counted(&cut) < 3000);
    let whole = histogram(ReadBudget::default());
    assert_eq!(counted(&whole), 3000);
    assert!(whole.limited.is_empty(), "{:?}", whole.limited);

    let facets = |budget: ReadBudget| {
        rt().block_on(reader.facets(FacetsQuery {
            filter: filter.clone(),
            size: 2,
            budget,
        }))
        .unwrap()
    };
    let whole = facets(ReadBudget::default());
    assert!(whole.limited.is_empty(), "{:?}", whole.limited);
    let sources = |f: &log_store::Facets| {
        f.fields
            .iter()
            .find(|(name, _)| name == "source")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let top = vec![("a".to_string(), 1800), ("b".to_string(), 600)];
    assert_eq!(sources(&whole), top);
    let kept = facets(ReadBudget {
        max_values: 2,
        ..ReadBudget::default()
    });
    assert!(
        kept.limited
            .iter()
            .any(|r| r.contains("more than 2 distinct values")),
        "{:?}",
        kept.limited
    );
    assert_eq!(sources(&kept), top);
    let cut = facets(past.clone());
    assert!(out_of_time(&cut.limited), "{:?}", cut.limited);
    assert!(cut.total_count < 3000);

    let patterns = |budget: ReadBudget| {
        rt().block_on(reader.patterns(PatternsQuery {
            filter: filter.clone(),
            start,
            end,
            limit: 10,
            buckets: 6,
            new_since: None,
            budget,
        }))
        .unwrap()
    };
    let whole = patterns(ReadBudget::default());
    assert!(whole.limited.is_empty(), "{:?}", whole.limited);
    assert_eq!(whole.total_logs, 3000);
    let cut = patterns(past);
    assert!(out_of_time(&cut.limited), "{:?}", cut.limited);
    assert!(cut.total_logs < 3000);
}
