//! The writer thread: group commit (every append waiting at that moment is
//! written and fsync'd once) and segment rolls.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use tokio::sync::oneshot;
use tracing::{error, info};

use super::record::{encode_header, HEADER_LEN};
use super::segment::{segment_path, sync_dir};
use super::{io_err, RecordPos, Shared, WalError};

pub(super) enum Request {
    Append {
        payload: Vec<u8>,
        count: u32,
        reply: oneshot::Sender<Result<RecordPos, WalError>>,
    },
    Close,
}

/// Where the writer is: the open segment, its base, and the durable end.
pub(super) struct WriterState {
    pub file: File,
    pub base: u64,
    pub end: u64,
    pub segment_bytes: u64,
    pub fsync_histogram: Option<prometheus::Histogram>,
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub(super) fn writer_loop(shared: Arc<Shared>, rx: mpsc::Receiver<Request>, mut w: WriterState) {
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
        let mut at = w.end;
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
        let result = w.file.write_all(&buf).and_then(|()| w.file.sync_data());
        if let Some(histogram) = &w.fsync_histogram {
            histogram.observe(started.elapsed().as_secs_f64());
        }
        match result {
            Ok(()) => {
                w.end = at;
                *shared.durable_end.lock().expect("lock") = w.end;
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
                let _ = w
                    .file
                    .set_len(w.end - w.base)
                    .and_then(|()| w.file.sync_data());
                for (_, _, reply) in batch {
                    let _ = reply.send(Err(error.clone()));
                }
                continue;
            }
        }
        if w.end - w.base >= w.segment_bytes {
            match roll(&shared, w.end) {
                Ok(next) => {
                    w.file = next;
                    w.base = w.end;
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
    info!(end = w.end, "wal writer stopped");
}

/// Starts a new segment at `end`.
pub(super) fn roll(shared: &Shared, end: u64) -> Result<File, WalError> {
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
