//! The write-ahead log: where a log is made durable before it is acknowledged.
//!
//! Records are appended to segment files `wal/<base position>.wal`; a
//! position is a byte offset in the WAL as a whole, so it keeps growing across
//! segments. A record is a 20-byte header (payload length, CRC-32 of the rest,
//! append time in microseconds, number of logs) and the payload.
//!
//! **Invariant:** [`Wal::append`] answers only after the record is fsync'd.
//! One writer thread takes every request waiting at that moment, writes them
//! and fsyncs once (group commit), so concurrent requests share an fsync.
//!
//! On open, a torn record at the tail (a crash mid-write, never acknowledged)
//! is cut off. Segments wholly below the store's committed position are
//! deleted by [`Wal::collect_garbage`].

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{error, info, warn};

const HEADER_LEN: u64 = 20;
/// A record larger than this is corruption, not data.
const MAX_RECORD_LEN: u32 = 1 << 30;

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

/// Observations for metrics.
#[derive(Debug, Default)]
pub struct WalStats {
    pub fsyncs: AtomicU64,
    pub fsync_micros_total: AtomicU64,
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
}

enum Request {
    Append {
        payload: Vec<u8>,
        count: u32,
        reply: oneshot::Sender<Result<RecordPos, WalError>>,
    },
    Close,
}

/// A handle on the WAL; cheap to clone.
#[derive(Clone)]
pub struct Wal {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.wal"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir.display(), e))? {
        let entry = entry.map_err(|e| io_err(dir.display(), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = name
            .strip_suffix(".wal")
            .and_then(|n| n.parse::<u64>().ok())
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir.display(), e))
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn encode_header(payload: &[u8], appended_at: i64, count: u32, out: &mut Vec<u8>) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&appended_at.to_le_bytes());
    crc.update(&count.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&appended_at.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

/// Reads the record at `offset` of `file`; `None` when it is incomplete or
/// fails its checksum (a torn tail).
fn read_record_at(
    file: &File,
    offset: u64,
    file_len: u64,
) -> std::io::Result<Option<(i64, u32, Vec<u8>)>> {
    if offset + HEADER_LEN > file_len {
        return Ok(None);
    }
    let mut header = [0u8; HEADER_LEN as usize];
    file.read_exact_at(&mut header, offset)?;
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let appended_at = i64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let count = u32::from_le_bytes(header[16..20].try_into().expect("4 bytes"));
    if len > MAX_RECORD_LEN || offset + HEADER_LEN + u64::from(len) > file_len {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, offset + HEADER_LEN)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&appended_at.to_le_bytes());
    hasher.update(&count.to_le_bytes());
    hasher.update(&payload);
    if hasher.finalize() != crc {
        return Ok(None);
    }
    Ok(Some((appended_at, count, payload)))
}

/// Finds the end of the valid records of a segment, cutting a torn tail.
fn recover_segment(path: &Path) -> Result<u64, WalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_err(path.display(), e))?;
    let len = file
        .metadata()
        .map_err(|e| io_err(path.display(), e))?
        .len();
    let mut offset = 0;
    while let Some((_, _, payload)) =
        read_record_at(&file, offset, len).map_err(|e| io_err(path.display(), e))?
    {
        offset += HEADER_LEN + payload.len() as u64;
    }
    if offset < len {
        warn!(segment = %path.display(), valid = offset, cut = len - offset, "torn wal tail cut off");
        file.set_len(offset)
            .map_err(|e| io_err(path.display(), e))?;
        file.sync_all().map_err(|e| io_err(path.display(), e))?;
    }
    Ok(offset)
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
    /// store's committed position: a fresh WAL starts there.
    pub fn open(
        lock: WalLock,
        segment_bytes: u64,
        committed: u64,
        fsync_histogram: Option<prometheus::Histogram>,
    ) -> Result<Wal, WalError> {
        let dir = lock.dir.clone();
        let dir = dir.as_path();
        let lock = lock.file;
        let mut segments = list_segments(dir)?;
        let end = match segments.last() {
            None => {
                File::create(segment_path(dir, committed)).map_err(|e| io_err(dir.display(), e))?;
                sync_dir(dir)?;
                segments.push(committed);
                committed
            }
            Some(&base) => base + recover_segment(&segment_path(dir, base))?,
        };
        if end < committed {
            return Err(WalError::Corrupt {
                position: end,
                reason: format!("the wal ends before the store's committed position {committed}"),
            });
        }
        info!(dir = %dir.display(), start = segments[0], end, "wal opened");
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            durable_end: Mutex::new(end),
            durable_changed: Condvar::new(),
            segments: Mutex::new(segments),
            closed: AtomicBool::new(false),
            stats: WalStats::default(),
            backlog_logs: AtomicI64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        let writer_shared = shared.clone();
        let base = *shared
            .segments
            .lock()
            .expect("lock")
            .last()
            .expect("a segment");
        let file = OpenOptions::new()
            .append(true)
            .open(segment_path(dir, base))
            .map_err(|e| io_err(dir.display(), e))?;
        std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || {
                let _lock = lock;
                writer_loop(
                    writer_shared,
                    rx,
                    file,
                    base,
                    end,
                    segment_bytes,
                    fsync_histogram,
                )
            })
            .map_err(|e| io_err("spawning the wal writer", e))?;
        let wal = Wal { tx, shared };
        // What the store has not committed yet, in logs (for the backlog gauge).
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

    /// Stops the writer after the requests already queued.
    pub fn close(&self) {
        let _ = self.tx.send(Request::Close);
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

fn writer_loop(
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Request>,
    mut file: File,
    mut base: u64,
    mut end: u64,
    segment_bytes: u64,
    fsync_histogram: Option<prometheus::Histogram>,
) {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut closing = false;
    while !closing {
        let Ok(first) = rx.recv() else { break };
        let mut batch = Vec::new();
        let mut queue = Some(first);
        let mut bytes = 0usize;
        // Group commit: take whatever else is waiting, up to 32 MiB.
        while let Some(request) = queue.take() {
            match request {
                Request::Close => closing = true,
                Request::Append {
                    payload,
                    count,
                    reply,
                } => {
                    bytes += payload.len();
                    batch.push((payload, count, reply));
                }
            }
            if bytes < 32 << 20 && !closing {
                queue = rx.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        buf.clear();
        let appended_at = now_micros();
        let mut positions = Vec::with_capacity(batch.len());
        let mut at = end;
        for (payload, count, _) in &batch {
            encode_header(payload, appended_at, *count, &mut buf);
            buf.extend_from_slice(payload);
            let next = at + HEADER_LEN + payload.len() as u64;
            positions.push(RecordPos {
                start: at,
                end: next,
            });
            at = next;
        }
        let started = Instant::now();
        let result = file.write_all(&buf).and_then(|()| file.sync_data());
        if let Some(histogram) = &fsync_histogram {
            histogram.observe(started.elapsed().as_secs_f64());
        }
        shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        shared
            .stats
            .fsync_micros_total
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                end = at;
                *shared.durable_end.lock().expect("lock") = end;
                shared.durable_changed.notify_all();
                let logs: u32 = batch.iter().map(|(_, count, _)| count).sum();
                shared
                    .backlog_logs
                    .fetch_add(i64::from(logs), Ordering::AcqRel);
                for ((_, _, reply), pos) in batch.into_iter().zip(positions) {
                    let _ = reply.send(Ok(pos));
                }
            }
            Err(err) => {
                error!(error = %err, "wal append failed; cutting back to the last durable record");
                let error = io_err("wal append", err);
                // Nothing of this batch is acknowledged; remove what may have been written.
                let _ = file.set_len(end - base).and_then(|()| file.sync_data());
                for (_, _, reply) in batch {
                    let _ = reply.send(Err(error.clone()));
                }
                continue;
            }
        }
        if end - base >= segment_bytes {
            match roll(&shared, end) {
                Ok(next) => {
                    file = next;
                    base = end;
                }
                Err(error) => error!(%error, "wal segment roll failed; writing on"),
            }
        }
    }
    // Answer what is still queued: the WAL is closed.
    shared.closed.store(true, Ordering::Release);
    while let Ok(request) = rx.try_recv() {
        if let Request::Append { reply, .. } = request {
            let _ = reply.send(Err(WalError::Closed));
        }
    }
    let _guard = shared.durable_end.lock().expect("lock");
    shared.durable_changed.notify_all();
    info!(end, "wal writer stopped");
}

fn roll(shared: &Shared, end: u64) -> Result<File, WalError> {
    let path = segment_path(&shared.dir, end);
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_err(path.display(), e))?;
    sync_dir(&shared.dir)?;
    shared.segments.lock().expect("lock").push(end);
    Ok(file)
}

/// Reads records from a position on, up to the durable end.
pub struct WalReader {
    shared: Arc<Shared>,
    position: u64,
    /// The segment being read: its base, its end (if a later one exists), its file.
    open: Option<(u64, Option<u64>, File)>,
}

impl WalReader {
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads up to about `max_bytes` of whole records below the durable end.
    pub fn read(&mut self, max_bytes: usize) -> Result<Vec<Record>, WalError> {
        let durable = *self.shared.durable_end.lock().expect("lock");
        let mut records = Vec::new();
        let mut bytes = 0;
        while self.position < durable && bytes < max_bytes {
            let (base, seg_end) = self.segment_for_position()?;
            if let Some(seg_end) = seg_end {
                if self.position >= seg_end {
                    self.open = None;
                    continue;
                }
            }
            let (_, _, file) = self.open.as_ref().expect("segment open");
            let offset = self.position - base;
            let limit = seg_end.unwrap_or(durable).min(durable) - base;
            match read_record_at(file, offset, limit).map_err(|e| io_err("wal read", e))? {
                Some((appended_at_micros, count, payload)) => {
                    let end = self.position + HEADER_LEN + payload.len() as u64;
                    bytes += payload.len();
                    records.push(Record {
                        pos: RecordPos {
                            start: self.position,
                            end,
                        },
                        appended_at_micros,
                        count,
                        payload,
                    });
                    self.position = end;
                }
                None => {
                    return Err(WalError::Corrupt {
                        position: self.position,
                        reason: "unreadable record below the durable end".into(),
                    })
                }
            }
        }
        Ok(records)
    }

    fn segment_for_position(&mut self) -> Result<(u64, Option<u64>), WalError> {
        if let Some((base, seg_end, _)) = &self.open {
            let (base, mut seg_end) = (*base, *seg_end);
            if seg_end.is_none() {
                // A segment is final once a later one exists.
                let segments = self.shared.segments.lock().expect("lock");
                seg_end = segments.iter().copied().find(|b| *b > base);
                if let Some((_, e, _)) = &mut self.open {
                    *e = seg_end;
                }
            }
            return Ok((base, seg_end));
        }
        let segments = self.shared.segments.lock().expect("lock").clone();
        let idx = segments
            .iter()
            .rposition(|b| *b <= self.position)
            .ok_or_else(|| WalError::Corrupt {
                position: self.position,
                reason: "no segment holds this position (deleted too early?)".into(),
            })?;
        let base = segments[idx];
        let seg_end = segments.get(idx + 1).copied();
        let path = segment_path(&self.shared.dir, base);
        let file = File::open(&path).map_err(|e| io_err(path.display(), e))?;
        self.open = Some((base, seg_end, file));
        Ok((base, seg_end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        wal.close();
        // Wait for the writer to stop and release the lock.
        while !wal.is_closed() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20));
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
        while !wal.is_closed() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20));
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
        let wal = Wal::open(Wal::lock(dir.path()).unwrap(), 1 << 30, 0, None).unwrap();
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
        let fsyncs = wal.stats().fsyncs.load(Ordering::Relaxed);
        assert!(fsyncs < 200, "{fsyncs} fsyncs for 200 appends");
        assert_eq!(wal.reader(0).read(usize::MAX).unwrap().len(), 200);
    }
}
