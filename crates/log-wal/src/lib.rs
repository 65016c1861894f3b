//! The write-ahead log: where a log is made durable before it is acknowledged.
//! It knows nothing of its payload: a record is bytes and a count of logs.
//!
//! Records are appended to segment files `wal/<base position>.wal`; a
//! position is a byte offset in the WAL as a whole, so it keeps growing across
//! segments.
//!
//! # Layout
//! - [`record`]: framing and checksums of one record; finding the next
//!   record after damage.
//! - [`segment`]: segment files, the scan that finds their records and
//!   damage, the quarantine.
//! - `writer`: the writer thread (group commit, segment rolls).
//! - [`reader`]: reading records back, past damage.
//!
//! **Invariant:** [`Wal::append`] answers only after the record is fsync'd.
//! One writer thread takes every request waiting at that moment, writes them
//! and fsyncs once (group commit), so concurrent requests share an fsync.
//!
//! **Invariant:** each record stands on its own checksums, and nothing intact
//! is ever cut. A damaged record costs that record only: its bytes are copied
//! to `quarantine/`, counted and logged with their position, and reading
//! goes on with the next record. Only a record cut short at the very end of
//! the last segment (a crash mid-write, never acknowledged) is cut off at
//! open, after it too is copied aside. Segments wholly below the store's
//! committed position are deleted by [`Wal::collect_garbage`].

pub mod reader;
pub mod record;
pub mod segment;
mod writer;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{error, info, warn};

pub use reader::WalReader;
use segment::{list_segments, scan_segment, segment_path, sync_dir};
pub use segment::{Damage, DamageKind, Skipped};
use writer::{writer_loop, Request, WriterState};

#[derive(Debug, Clone, thiserror::Error)]
pub enum WalError {
    #[error("wal io error: {0}")]
    Io(String),
    #[error("wal is closed")]
    Closed,
    #[error("wal corrupt at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("data directory {0} is in use by another ingestd")]
    Locked(String),
}

fn io_err(context: impl std::fmt::Display, err: std::io::Error) -> WalError {
    WalError::Io(format!("{context}: {err}"))
}

/// A WAL directory taken by this process (an exclusive `flock` on `LOCK`).
#[derive(Debug)]
pub struct WalLock {
    file: File,
    dir: PathBuf,
}

impl WalLock {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Where a record sits: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    pub start: u64,
    pub end: u64,
}

/// A record read back from the WAL.
#[derive(Debug, Clone)]
pub struct Record {
    pub pos: RecordPos,
    pub appended_at_micros: i64,
    /// Logs in the record.
    pub count: u32,
    pub payload: Vec<u8>,
}

/// The record decoded at `offset` of the segment at `base`.
fn record_at(base: u64, offset: u64, r: record::Decoded) -> Record {
    Record {
        pos: RecordPos {
            start: base + offset,
            end: base + r.end,
        },
        appended_at_micros: r.appended_at_micros,
        count: r.count,
        payload: r.payload,
    }
}

/// Damage found, for metrics.
#[derive(Debug, Default)]
pub struct WalStats {
    /// Damaged ranges quarantined: corruption.
    pub corrupt_ranges: AtomicU64,
    /// Torn tails cut at open.
    pub torn_tails: AtomicU64,
    /// Bytes of both.
    pub damaged_bytes: AtomicU64,
}

struct Shared {
    dir: PathBuf,
    /// Everything below this position is fsync'd.
    durable_end: Mutex<u64>,
    durable_changed: Condvar,
    /// Segment bases, ascending; the last is the one being written.
    segments: Mutex<Vec<u64>>,
    closed: AtomicBool,
    stats: WalStats,
    /// Logs in records past the store's committed position.
    backlog_logs: AtomicI64,
    /// Damaged ranges found so far, by start: readers skip them.
    damage: Mutex<BTreeMap<u64, Damage>>,
    /// Ranges readers skipped (lost logs), by start, as the ledger keeps them.
    skipped: Mutex<BTreeMap<u64, segment::Skipped>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    /// A reader skipped `[start, end)` as damaged: its records are lost.
    /// Written to the ledger once (see [`segment::Skipped`]).
    fn note_skipped(&self, start: u64, end: u64) {
        let mut skipped = self.skipped.lock().expect("lock");
        if end <= start
            || skipped
                .range(..=start)
                .next_back()
                .is_some_and(|(_, s)| s.end >= end)
        {
            return;
        }
        let entry = segment::Skipped {
            start,
            end,
            at_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        if let Err(e) = segment::append_skipped(&self.dir, &entry) {
            error!(error = %e, start, end, "the skipped wal range could not be recorded");
        }
        error!(
            start,
            end,
            bytes = end - start,
            "wal records skipped as damaged were never indexed: their logs are lost (recorded in quarantine/skipped.jsonl)"
        );
        skipped.insert(start, entry);
    }

    /// The end of the known damaged range that holds `position`, if any.
    fn damage_covering(&self, position: u64) -> Option<u64> {
        let damage = self.damage.lock().expect("lock");
        damage
            .range(..=position)
            .next_back()
            .filter(|(_, d)| d.end > position)
            .map(|(_, d)| d.end)
    }

    /// Records damage found in the segment at `base`: copies its bytes to
    /// the quarantine, counts it and logs it, once.
    /// A torn tail is not kept in the list readers skip: it is cut off, and
    /// new records take its place.
    fn report_damage(&self, base: u64, damage: Damage) {
        if damage.kind == DamageKind::Corrupt {
            let mut known = self.damage.lock().expect("lock");
            if known.contains_key(&damage.start) {
                return;
            }
            known.insert(damage.start, damage);
        }
        let kept = segment::quarantine(&self.dir, base, &damage);
        let bytes = damage.end - damage.start;
        self.stats.damaged_bytes.fetch_add(bytes, Ordering::Relaxed);
        let kept = match &kept {
            Ok(path) => path.display().to_string(),
            Err(e) => format!("not kept: {e}"),
        };
        match damage.kind {
            DamageKind::Corrupt => {
                self.stats.corrupt_ranges.fetch_add(1, Ordering::Relaxed);
                error!(
                    start = damage.start,
                    end = damage.end,
                    bytes,
                    quarantine = %kept,
                    "damaged wal bytes skipped: the records in them are lost, the rest is read"
                );
            }
            DamageKind::TornTail => {
                self.stats.torn_tails.fetch_add(1, Ordering::Relaxed);
                warn!(
                    start = damage.start,
                    bytes,
                    quarantine = %kept,
                    "torn wal tail (a write cut short by a crash, never acknowledged) cut off"
                );
            }
        }
    }
}

/// A handle on the WAL; cheap to clone.
#[derive(Clone)]
pub struct Wal {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

/// Finds the end of the last segment's records. Damage in it is reported;
/// a torn tail is cut off (after it is copied aside). Nothing else is cut.
fn recover_last_segment(shared: &Shared, base: u64) -> Result<u64, WalError> {
    let scan = scan_segment(&shared.dir, base, true)?;
    let mut end = scan.end;
    for damage in &scan.damage {
        shared.report_damage(base, *damage);
        if damage.kind == DamageKind::TornTail {
            end = damage.start;
        }
    }
    if end < scan.end {
        let path = segment_path(&shared.dir, base);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io_err(path.display(), e))?;
        file.set_len(end - base)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_err(path.display(), e))?;
    }
    Ok(end)
}

impl Wal {
    /// Takes the WAL directory `dir` for this process (creating it).
    pub fn lock(dir: &Path) -> Result<WalLock, WalError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir.display(), e))?;
        let lock_path = dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(lock_path.display(), e))?;
        if file.try_lock().is_err() {
            return Err(WalError::Locked(dir.display().to_string()));
        }
        Ok(WalLock {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// Takes the first free WAL directory `base/0`, `base/1`, ...: replicas
    /// sharing one volume each get their own WAL, and a replica that replaces
    /// a dead one takes over its WAL (and delivers what it left).
    pub fn claim_slot(base: &Path) -> Result<WalLock, WalError> {
        for slot in 0..1024 {
            match Wal::lock(&base.join(slot.to_string())) {
                Ok(lock) => return Ok(lock),
                Err(WalError::Locked(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(WalError::Locked(format!(
            "{} (all 1024 slots)",
            base.display()
        )))
    }

    /// Opens (or creates) the WAL in the locked directory. `committed` is the
    /// store's committed position: a fresh WAL starts there, and so does a
    /// new segment when the WAL on disk ends before it (its end was lost).
    pub fn open(
        lock: WalLock,
        segment_bytes: u64,
        committed: u64,
        fsync_histogram: Option<prometheus::Histogram>,
    ) -> Result<Wal, WalError> {
        let dir = lock.dir.clone();
        let lock = lock.file;
        let segments = list_segments(&dir)?;
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            durable_end: Mutex::new(0),
            durable_changed: Condvar::new(),
            segments: Mutex::new(segments.clone()),
            closed: AtomicBool::new(false),
            stats: WalStats::default(),
            backlog_logs: AtomicI64::new(0),
            damage: Mutex::new(BTreeMap::new()),
            skipped: Mutex::new(
                segment::read_skipped(&dir)
                    .into_iter()
                    .map(|s| (s.start, s))
                    .collect(),
            ),
            writer: Mutex::new(None),
        });
        let mut end = match segments.last() {
            None => committed,
            Some(&base) => recover_last_segment(&shared, base)?,
        };
        if segments.is_empty() || end < committed {
            if !segments.is_empty() {
                // Bytes below the store's commit are gone (a damaged or
                // truncated segment): they are indexed already. New records
                // go after the commit, never below it.
                warn!(
                    end,
                    committed,
                    "the wal ends before the store's committed position; going on from there"
                );
            }
            File::create(segment_path(&dir, committed)).map_err(|e| io_err(dir.display(), e))?;
            sync_dir(&dir)?;
            shared.segments.lock().expect("lock").push(committed);
            end = committed;
        }
        *shared.durable_end.lock().expect("lock") = end;
        let first = shared.segments.lock().expect("lock")[0];
        info!(dir = %dir.display(), start = first, end, "wal opened");
        let base = *shared
            .segments
            .lock()
            .expect("lock")
            .last()
            .expect("a segment");
        let file = OpenOptions::new()
            .append(true)
            .open(segment_path(&dir, base))
            .map_err(|e| io_err(dir.display(), e))?;
        let (tx, rx) = mpsc::channel();
        let writer_shared = shared.clone();
        let state = WriterState {
            file,
            base,
            end,
            segment_bytes,
            fsync_histogram,
        };
        let handle = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || {
                let _lock = lock;
                writer_loop(writer_shared, rx, state)
            })
            .map_err(|e| io_err("spawning the wal writer", e))?;
        *shared.writer.lock().expect("lock") = Some(handle);
        let wal = Wal { tx, shared };
        // What the store has not committed yet, in logs (for the backlog
        // gauge). Damage above the commit is found and reported here.
        let mut reader = wal.reader(committed);
        let mut pending = 0i64;
        loop {
            let records = reader.read(64 << 20)?;
            if records.is_empty() {
                break;
            }
            pending += records.iter().map(|r| i64::from(r.count)).sum::<i64>();
        }
        wal.shared.backlog_logs.store(pending, Ordering::Release);
        Ok(wal)
    }

    /// Appends one record of `count` logs; resolves once it is fsync'd.
    pub async fn append(&self, payload: Vec<u8>, count: u32) -> Result<RecordPos, WalError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Append {
                payload,
                count,
                reply,
            })
            .map_err(|_| WalError::Closed)?;
        rx.await.map_err(|_| WalError::Closed)?
    }

    /// Stops the writer after the requests already queued, and waits for it
    /// (so the directory's lock is free when this returns).
    pub fn close(&self) {
        let _ = self.tx.send(Request::Close);
        let handle = self.shared.writer.lock().expect("lock").take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    pub fn durable_end(&self) -> u64 {
        *self.shared.durable_end.lock().expect("lock")
    }

    /// The oldest position still on disk.
    pub fn start(&self) -> u64 {
        self.shared.segments.lock().expect("lock")[0]
    }

    pub fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    /// The damaged ranges found since open, oldest first.
    /// The ranges readers skipped as damaged (their logs never indexed),
    /// since this WAL was made, across restarts.
    pub fn skipped(&self) -> Vec<segment::Skipped> {
        self.shared
            .skipped
            .lock()
            .expect("lock")
            .values()
            .copied()
            .collect()
    }

    pub fn damage(&self) -> Vec<Damage> {
        self.shared
            .damage
            .lock()
            .expect("lock")
            .values()
            .copied()
            .collect()
    }

    /// Logs acknowledged but not yet committed to the store.
    pub fn backlog_logs(&self) -> i64 {
        self.shared.backlog_logs.load(Ordering::Acquire)
    }

    /// The indexer committed `logs` more logs.
    pub fn logs_committed(&self, logs: u64) {
        self.shared
            .backlog_logs
            .fetch_sub(logs as i64, Ordering::AcqRel);
    }

    /// Waits until the durable end passes `position`, the WAL closes, or
    /// `timeout` passes; returns the durable end.
    pub fn wait_beyond(&self, position: u64, timeout: Duration) -> u64 {
        let guard = self.shared.durable_end.lock().expect("lock");
        let (guard, _) = self
            .shared
            .durable_changed
            .wait_timeout_while(guard, timeout, |end| {
                *end <= position && !self.shared.closed.load(Ordering::Acquire)
            })
            .expect("lock");
        *guard
    }

    /// Deletes the segments that hold only records below `committed`.
    pub fn collect_garbage(&self, committed: u64) -> Result<usize, WalError> {
        let mut segments = self.shared.segments.lock().expect("lock");
        let mut removed = 0;
        // A segment ends where the next begins; the last one is being written.
        while segments.len() > 1 && segments[1] <= committed {
            let path = segment_path(&self.shared.dir, segments[0]);
            fs::remove_file(&path).map_err(|e| io_err(path.display(), e))?;
            segments.remove(0);
            removed += 1;
        }
        Ok(removed)
    }

    pub fn reader(&self, position: u64) -> WalReader {
        WalReader {
            shared: self.shared.clone(),
            position,
            open: None,
        }
    }
}

/// What `check` found in a WAL directory (read only).
#[derive(Debug, Default, serde::Serialize)]
pub struct WalReport {
    pub segments: usize,
    pub records: u64,
    pub logs: u64,
    pub bytes: u64,
    pub damage: Vec<Damage>,
    /// Damaged bytes already copied to the quarantine (files there).
    pub quarantined_files: usize,
    /// The ranges readers skipped as damaged: their logs were never
    /// indexed (from the ledger, so also after the segments are gone).
    pub skipped: Vec<segment::Skipped>,
}

/// Every readable record of the WAL directory `dir`, in order, without
/// changing anything (damaged bytes are passed over).
pub fn records(dir: &Path) -> Result<Vec<Record>, WalError> {
    let mut out = Vec::new();
    let segments = list_segments(dir)?;
    for (i, base) in segments.iter().enumerate() {
        segment::walk_segment(dir, *base, i + 1 == segments.len(), |offset, r| {
            out.push(record_at(*base, offset, r));
        })?;
    }
    Ok(out)
}

/// Scans every segment of the WAL directory `dir` without changing it.
pub fn check(dir: &Path) -> Result<WalReport, WalError> {
    let segments = list_segments(dir)?;
    let mut report = WalReport {
        segments: segments.len(),
        ..WalReport::default()
    };
    for (i, base) in segments.iter().enumerate() {
        let scan = scan_segment(dir, *base, i + 1 == segments.len())?;
        report.records += scan.records;
        report.logs += scan.logs;
        report.bytes += scan.end - base;
        report.damage.extend(scan.damage);
        if let Some(next) = segments.get(i + 1) {
            // The segment's file is shorter than its place in the WAL: the
            // bytes up to the next segment are gone too.
            if scan.end < *next {
                match report.damage.last_mut().filter(|d| d.end == scan.end) {
                    Some(last) => last.end = *next,
                    None => report.damage.push(Damage {
                        start: scan.end,
                        end: *next,
                        kind: DamageKind::Corrupt,
                    }),
                }
            }
        }
    }
    report.quarantined_files = fs::read_dir(segment::quarantine_dir(dir))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".bin")))
                .count()
        })
        .unwrap_or(0);
    report.skipped = segment::read_skipped(dir);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::{encode_header, HEADER_LEN};
    use std::io::Write;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn appends_reads_back_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 100, 0, None).unwrap();
        let mut positions = Vec::new();
        for i in 0..20 {
            positions.push(
                rt.block_on(wal.append(format!("record {i}").into_bytes(), 1))
                    .unwrap(),
            );
        }
        // Small segments: several rolls happened.
        assert!(wal.shared.segments.lock().unwrap().len() > 3);
        let mut reader = wal.reader(0);
        let records = reader.read(usize::MAX).unwrap();
        assert_eq!(records.len(), 20);
        assert_eq!(records[7].payload, b"record 7");
        assert_eq!(records[7].pos, positions[7]);
        // Read from the middle.
        let mut reader = wal.reader(positions[10].start);
        assert_eq!(reader.read(usize::MAX).unwrap()[0].payload, b"record 10");

        let removed = wal.collect_garbage(positions[10].start).unwrap();
        assert!(removed > 0);
        assert!(wal.start() <= positions[10].start);
        // close() waits for the writer, which releases the lock.
        wal.close();
        assert!(wal.is_closed());
        // Reopened where the store committed: 10 records of one log each wait.
        let wal = Wal::open(
            Wal::lock(dir.path()).unwrap(),
            100,
            positions[10].start,
            None,
        )
        .unwrap();
        assert_eq!(wal.durable_end(), positions[19].end);
        assert_eq!(wal.backlog_logs(), 10);
        wal.logs_committed(4);
        assert_eq!(wal.backlog_logs(), 6);
        let mut reader = wal.reader(positions[12].start);
        assert_eq!(reader.read(usize::MAX).unwrap().len(), 8);
    }

    #[test]
    fn cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 1 << 20, 0, None).unwrap();
        let a = rt.block_on(wal.append(b"complete".to_vec(), 1)).unwrap();
        wal.close();
        // Half a record at the end, as a crash mid-write leaves it.
        let path = segment_path(dir.path(), 0);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        let mut torn = Vec::new();
        encode_header(b"never acknowledged", 1, 1, &mut torn);
        torn.extend_from_slice(b"never");
        file.write_all(&torn).unwrap();
        drop(file);

        let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 1 << 20, 0, None).unwrap();
        assert_eq!(wal.durable_end(), a.end);
        let b = rt.block_on(wal.append(b"next".to_vec(), 2)).unwrap();
        assert_eq!(b.start, a.end);
        let records = wal.reader(0).read(usize::MAX).unwrap();
        let payloads: Vec<_> = records.iter().map(|r| r.payload.clone()).collect();
        assert_eq!(payloads, vec![b"complete".to_vec(), b"next".to_vec()]);
        assert_eq!(records[1].count, 2);
        assert_eq!(wal.backlog_logs(), 3);
        // Counted as a torn tail, not as corruption, and kept aside.
        assert_eq!(wal.stats().torn_tails.load(Ordering::Relaxed), 1);
        assert_eq!(wal.stats().corrupt_ranges.load(Ordering::Relaxed), 0);
        assert!(wal.damage().is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("quarantine")).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_second_process_cannot_open_the_same_wal() {
        let dir = tempfile::tempdir().unwrap();
        let _wal = Wal::open(Wal::lock(dir.path()).unwrap(), 1 << 20, 0, None).unwrap();
        assert!(matches!(Wal::lock(dir.path()), Err(WalError::Locked(_))));
        // Replicas sharing a volume each claim their own slot.
        let base = dir.path().join("slots");
        let a = Wal::claim_slot(&base).unwrap();
        let b = Wal::claim_slot(&base).unwrap();
        assert_eq!(a.dir(), base.join("0"));
        assert_eq!(b.dir(), base.join("1"));
        drop(a);
        assert_eq!(Wal::claim_slot(&base).unwrap().dir(), base.join("0"));
    }

    #[test]
    fn concurrent_appends_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fsyncs =
            prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("f", "f")).unwrap();
        let wal = Wal::open(
            Wal::lock(dir.path()).unwrap(),
            1 << 30,
            0,
            Some(fsyncs.clone()),
        )
        .unwrap();
        rt.block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let wal = wal.clone();
                    tokio::spawn(async move { wal.append(vec![i as u8; 100], 1).await.unwrap() })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let fsyncs = fsyncs.get_sample_count();
        assert!(fsyncs < 200, "{fsyncs} fsyncs for 200 appends");
        assert_eq!(wal.reader(0).read(usize::MAX).unwrap().len(), 200);
    }

    /// Writes `n` records of one log each and closes; returns their positions.
    fn fill(dir: &Path, segment_bytes: u64, n: usize) -> Vec<RecordPos> {
        let rt = rt();
        let wal = Wal::open(Wal::lock(dir).unwrap(), segment_bytes, 0, None).unwrap();
        let positions = (0..n)
            .map(|i| {
                rt.block_on(wal.append(format!("record number {i:04}").into_bytes(), 1))
                    .unwrap()
            })
            .collect();
        wal.close();
        positions
    }

    fn flip(dir: &Path, position: u64) {
        use std::os::unix::fs::FileExt;
        let segments = list_segments(dir).unwrap();
        let base = *segments.iter().rev().find(|b| **b <= position).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(dir, base))
            .unwrap();
        let mut byte = [0u8; 1];
        file.read_exact_at(&mut byte, position - base).unwrap();
        file.write_all_at(&[byte[0] ^ 0x5a], position - base)
            .unwrap();
    }

    fn payloads(wal: &Wal, from: u64) -> Vec<String> {
        wal.reader(from)
            .read(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| String::from_utf8(r.payload).unwrap())
            .collect()
    }

    // Regression (issue 9, finding 2): a flipped byte in the middle of the
    // active segment cut off every intact record after it.
    #[test]
    fn a_flipped_byte_mid_segment_costs_that_record_only() {
        for offset_in_record in [2, 5, 13, 22, 26, 30, 40] {
            let dir = tempfile::tempdir().unwrap();
            let positions = fill(dir.path(), 1 << 20, 50);
            flip(dir.path(), positions[20].start + offset_in_record);
            let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 1 << 20, 0, None).unwrap();
            assert_eq!(
                wal.durable_end(),
                positions[49].end,
                "at +{offset_in_record}"
            );
            let got = payloads(&wal, 0);
            assert_eq!(got.len(), 49, "at +{offset_in_record}");
            assert!(!got.contains(&"record number 0020".to_string()));
            assert!(got.contains(&"record number 0021".to_string()));
            assert_eq!(wal.stats().corrupt_ranges.load(Ordering::Relaxed), 1);
            let damage = wal.damage();
            assert_eq!(damage.len(), 1);
            assert_eq!(
                (damage[0].start, damage[0].end),
                (positions[20].start, positions[20].end)
            );
            let kept: Vec<_> = fs::read_dir(dir.path().join("quarantine"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "bin"))
                .collect();
            assert_eq!(kept.len(), 1);
            assert_eq!(
                fs::metadata(&kept[0]).unwrap().len(),
                positions[20].end - positions[20].start
            );
            // The reader skipped it: recorded as lost.
            let lost = [(positions[20].start, positions[20].end)];
            let skipped = |wal: &Wal| -> Vec<(u64, u64)> {
                wal.skipped().iter().map(|s| (s.start, s.end)).collect()
            };
            assert_eq!(skipped(&wal), lost);
            // New appends go after the intact records, and read back.
            let rt = rt();
            rt.block_on(wal.append(b"after".to_vec(), 1)).unwrap();
            assert_eq!(payloads(&wal, 0).last().unwrap(), "after");
            wal.close();
            // A second open finds the same, and changes nothing; the lost
            // range is still told, once, also by `check`.
            let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 1 << 20, 0, None).unwrap();
            assert_eq!(payloads(&wal, 0).len(), 50);
            assert_eq!(skipped(&wal), lost);
            let report = check(dir.path()).unwrap();
            assert_eq!(report.skipped.len(), 1);
            assert_eq!(report.quarantined_files, 1);
        }
    }

    // Regressions (issue 9, findings 3 and 4): damage in an older segment,
    // or below the store's committed position, stopped start-up.
    #[test]
    fn damage_in_older_segments_and_below_the_commit_never_stops_open() {
        let dir = tempfile::tempdir().unwrap();
        let positions = fill(dir.path(), 200, 40);
        assert!(list_segments(dir.path()).unwrap().len() > 5);
        flip(dir.path(), positions[3].start + 1); // below the commit
        flip(dir.path(), positions[12].start + HEADER_LEN + 2); // above it, older segment
        let committed = positions[8].end;
        let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 200, committed, None).unwrap();
        // Records 9..40 but 12 wait for the store.
        assert_eq!(wal.backlog_logs(), 30);
        let got = payloads(&wal, committed);
        assert_eq!(got.len(), 30);
        assert_eq!(got[0], "record number 0009");
        assert_eq!(wal.damage().len(), 1, "damage below the commit is not read");
        assert_eq!(check(dir.path()).unwrap().damage.len(), 2);
    }

    #[test]
    fn a_wal_that_ends_before_the_commit_goes_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let positions = fill(dir.path(), 1 << 20, 10);
        // The tail of the only segment is lost (but was indexed).
        let path = segment_path(dir.path(), 0);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(positions[5].start).unwrap();
        let committed = positions[9].end;
        let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 1 << 20, committed, None).unwrap();
        assert_eq!(wal.durable_end(), committed);
        let rt = rt();
        let pos = rt.block_on(wal.append(b"new".to_vec(), 1)).unwrap();
        assert_eq!(pos.start, committed);
        assert_eq!(payloads(&wal, committed), vec!["new".to_string()]);
    }

    #[test]
    fn an_older_segment_cut_short_costs_only_its_lost_tail() {
        let dir = tempfile::tempdir().unwrap();
        let positions = fill(dir.path(), 200, 30);
        let segments = list_segments(dir.path()).unwrap();
        assert!(segments.len() > 3);
        // The second segment loses its last 10 bytes (a record cut short,
        // in a segment that is not the last: damage, not a torn tail).
        let base = segments[1];
        let path = segment_path(dir.path(), base);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let report = check(dir.path()).unwrap();
        assert_eq!(report.damage.len(), 1, "{report:?}");
        assert_eq!(report.damage[0].kind, DamageKind::Corrupt);
        assert_eq!(report.damage[0].end, segments[2]);
        let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 200, 0, None).unwrap();
        let got = payloads(&wal, 0);
        assert_eq!(got.len(), 29, "only the cut record is lost");
        assert_eq!(wal.damage().len(), 1);
        let lost = positions.iter().position(|p| p.end == segments[2]).unwrap();
        assert!(!got.contains(&format!("record number {lost:04}")));
        assert_eq!(got.last().unwrap(), "record number 0029");
    }
}
