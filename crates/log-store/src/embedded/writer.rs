use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::LogMergePolicy;
use tantivy::{Index, IndexWriter, TantivyDocument};

/// Largest segment that merges still grow (see `partition`).
pub const MAX_MERGED_DOCS: usize = 500_000;
use tracing::{debug, error, info};

use log_model::StoredLog;

use super::schema::{build_schema, register_tokenizers, to_document, Fields};
use super::{
    index_root, list_partitions, partition_dir, partition_state, PartitionId, PartitionState,
};
use crate::{read_checkpoint, write_checkpoint, LogWriter, StoreError, WriteOutcome};

/// How the embedded writer uses memory and disk.
#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    /// tantivy indexing heap per open partition (at least 15 MB per thread).
    pub heap_bytes: usize,
    /// Indexing threads per open partition.
    pub threads: usize,
    /// Partitions whose whole day is older than this are deleted.
    pub retention: chrono::Duration,
    /// A partition not written for this long is closed after a commit
    /// (today's stays open), so that backfills do not hold many heaps.
    pub idle_close: Duration,
    /// A partition not written for this long has its segments below
    /// [`MAX_MERGED_DOCS`] merged into as few as fit under it
    /// ([`LogWriter::maintain`]); shorter than `idle_close`.
    pub idle_merge: Duration,
    /// Most partitions open for writing at once (each holds a heap and
    /// threads); past it the least recently written one is committed and
    /// closed.
    pub max_open: usize,
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        EmbeddedSettings {
            heap_bytes: 32 << 20,
            threads: 1,
            retention: chrono::Duration::days(7),
            idle_close: Duration::from_secs(60),
            idle_merge: Duration::from_secs(30),
            max_open: 4,
        }
    }
}

struct OpenPartition {
    id: PartitionId,
    writer: IndexWriter,
    /// Logs its commits hold, with those written since the last one.
    docs: u64,
    /// The WAL position this partition's last commit contains.
    committed: u64,
    dirty: bool,
    last_write: Instant,
    /// The segments of the last idle merge asked for since the last write
    /// (not asked for again: merging, merged, or failed).
    idle_merged: Vec<tantivy::index::SegmentId>,
}

#[derive(Serialize, Deserialize)]
struct CommitPayload {
    wal_position: u64,
}

impl OpenPartition {
    /// Commits what was added, recording that the partition holds every
    /// WAL record up to `position`.
    fn commit(&mut self, position: u64) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&CommitPayload {
            wal_position: position,
        })
        .expect("payload serialises");
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.committed = position;
        self.dirty = false;
        Ok(())
    }
}

/// An idle merge's largest segment holds at most this many times the
/// logs of the others (see `maintain`).
const IDLE_MERGE_MAX_RATIO: usize = 3;

/// Segments of one size that a merge waits for (see `partition`).
const MIN_MERGED_SEGMENTS: usize = 3;

/// zstd level of the stored documents of new day indexes.
const DOCSTORE_ZSTD_LEVEL: i32 = 6;
/// Stored-document block size of new day indexes.
const DOCSTORE_BLOCK_BYTES: usize = 16 << 10;

/// Writes logs into day partitions; see the module docs for the invariant.
pub struct EmbeddedWriter {
    root: PathBuf,
    settings: EmbeddedSettings,
    fields: Fields,
    schema: tantivy::schema::Schema,
    open: BTreeMap<NaiveDate, OpenPartition>,
    /// Every partition contains every record up to here.
    checkpoint: u64,
    /// End of the last record given to `write`.
    written_position: u64,
    /// Damaged partitions found and written around: name, reason.
    damaged: BTreeMap<String, String>,
    /// Every partition on disk, with the logs of its last commit as last
    /// seen: one that goes missing was removed while running. Shared with
    /// the next writer opened on the same directory in this process (one
    /// reopened after an error: a partition removed under it makes its next
    /// write fail).
    known: Known,
}

/// Partition to the logs of its last commit.
type Known = std::sync::Arc<std::sync::Mutex<BTreeMap<PartitionId, u64>>>;

/// The partitions the writers of this process know, by index root.
static SEEN: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<PathBuf, Known>>> =
    std::sync::LazyLock::new(Default::default);

impl EmbeddedWriter {
    pub fn open(data_dir: &Path, settings: EmbeddedSettings) -> Result<Self, StoreError> {
        let root = index_root(data_dir);
        fs::create_dir_all(&root).map_err(|e| StoreError::io(&root, e))?;
        let checkpoint = read_checkpoint(&checkpoint_path(&root))?;
        let (schema, fields) = build_schema();
        info!(root = %root.display(), checkpoint, "embedded store opened");
        let known = SEEN
            .lock()
            .expect("lock")
            .entry(root.clone())
            .or_default()
            .clone();
        let on_disk = list_partitions(&root).map_err(|e| StoreError::io(&root, e))?;
        known.lock().expect("lock").extend(
            on_disk
                .into_iter()
                .map(|id| (id, committed_docs(&partition_dir(&root, id)))),
        );
        let damaged = super::read_vanished(&root)
            .into_iter()
            .map(|v| (v.name.clone(), v.describe()))
            .collect();
        let mut writer = EmbeddedWriter {
            root,
            settings,
            fields,
            schema,
            open: BTreeMap::new(),
            checkpoint,
            written_position: checkpoint,
            damaged,
            known,
        };
        // Those gone since: told now (nothing is open yet).
        writer.notice_vanished()?;
        Ok(writer)
    }

    /// Notices partitions removed from disk since the last look (by an
    /// operator's mistake: retention forgets its own): records each in the
    /// ledger of vanished partitions with the logs it held, and logs it.
    /// When one of them is open for writing, the writer cannot go on with
    /// it: an error, so that the indexer reopens the store and replays the
    /// WAL from the checkpoint (the logs since then are written again to a
    /// new partition; those committed before are lost).
    fn notice_vanished(&mut self) -> Result<(), StoreError> {
        // Gone: the directory, or the commit of one that held logs.
        let mut gone: Vec<(PartitionId, u64)> = Vec::new();
        self.known.lock().expect("lock").retain(|id, docs| {
            let dir = partition_dir(&self.root, *id);
            let there = dir.is_dir() && (*docs == 0 || dir.join("meta.json").exists());
            if !there {
                gone.push((*id, *docs));
            }
            there
        });
        if gone.is_empty() {
            return Ok(());
        }
        let mut ledger = super::read_vanished(&self.root);
        let mut lost_open = Vec::new();
        for (id, docs) in gone {
            if self.open.get(&id.day).is_some_and(|p| p.id == id) {
                self.open.remove(&id.day);
                lost_open.push(id.name());
            }
            if docs == 0 {
                continue;
            }
            let vanished = super::Vanished {
                name: id.name(),
                day: id.day,
                docs,
                at_secs: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            };
            error!(
                partition = %vanished.name,
                logs_lost = docs,
                "day partition removed while running: the logs it held are lost; reads over its day say they are partial"
            );
            self.damaged
                .insert(vanished.name.clone(), vanished.describe());
            ledger.retain(|v| v.name != vanished.name);
            ledger.push(vanished);
        }
        super::write_vanished(&self.root, &ledger).map_err(|e| StoreError::io(&self.root, e))?;
        if lost_open.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "partition {} was removed while being written; reopening the store",
                lost_open.join(", ")
            )))
        }
    }

    fn partition(&mut self, day: NaiveDate) -> Result<&mut OpenPartition, StoreError> {
        if !self.open.contains_key(&day) {
            let id = self.writable_partition(day)?;
            let dir = partition_dir(&self.root, id);
            fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
            let directory = MmapDirectory::open(&dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot open {}: {e}", dir.display()))
            })?;
            // A new day index compresses its stored documents with zstd
            // in 16 KiB blocks (LZ4's block size: a search fetching a
            // document decompresses no more than before). A day index made
            // before keeps its own settings (they are in its meta.json).
            let index = tantivy::IndexBuilder::new()
                .schema(self.schema.clone())
                .settings(tantivy::IndexSettings {
                    docstore_compression: tantivy::store::Compressor::Zstd(
                        tantivy::store::ZstdCompressor {
                            compression_level: Some(DOCSTORE_ZSTD_LEVEL),
                        },
                    ),
                    docstore_blocksize: DOCSTORE_BLOCK_BYTES,
                    ..tantivy::IndexSettings::default()
                })
                .open_or_create(directory)?;
            register_tokenizers(&index);
            let metas = index.load_metas()?;
            let docs = metas.segments.iter().map(|m| u64::from(m.num_docs())).sum();
            let committed = metas
                .payload
                .and_then(|p| serde_json::from_str::<CommitPayload>(&p).ok())
                .map_or(0, |p| p.wal_position);
            let writer: IndexWriter =
                index.writer_with_num_threads(self.settings.threads, self.settings.heap_bytes)?;
            // Bounded merges: merging a segment costs memory in proportion to
            // its documents, so segments stop growing at MAX_MERGED_DOCS.
            let mut policy = LogMergePolicy::default();
            policy.set_max_docs_before_merge(MAX_MERGED_DOCS);
            // Merge as soon as three segments of a size are there (tantivy's
            // default waits for eight): fewer segments repeat fewer terms in
            // their dictionaries and cost less to read (BENCHMARKS.md,
            // "Storage": 167 -> 147-157 bytes a log, about 30% more CPU).
            policy.set_min_num_segments(MIN_MERGED_SEGMENTS);
            writer.set_merge_policy(Box::new(policy));
            debug!(%day, committed, "partition opened for writing");
            self.open.insert(
                day,
                OpenPartition {
                    id,
                    writer,
                    docs,
                    committed,
                    dirty: false,
                    last_write: Instant::now(),
                    idle_merged: Vec::new(),
                },
            );
        }
        Ok(self.open.get_mut(&day).expect("just inserted"))
    }

    /// The partition directory that takes `day`'s logs: its latest
    /// generation, unless that one is damaged; then a new generation beside
    /// it (the damaged one is left as it is, reported, and still read).
    fn writable_partition(&mut self, day: NaiveDate) -> Result<PartitionId, StoreError> {
        let latest = list_partitions(&self.root)
            .map_err(|e| StoreError::io(&self.root, e))?
            .into_iter()
            .rfind(|id| id.day == day)
            .unwrap_or(PartitionId { day, generation: 0 });
        let dir = partition_dir(&self.root, latest);
        match partition_state(&dir, false) {
            PartitionState::Empty => Ok(latest),
            PartitionState::Ready => {
                let current = Index::open_in_dir(&dir)
                    .map(|index| index.schema() == self.schema)
                    .unwrap_or(true);
                if current {
                    return Ok(latest);
                }
                // Made by an older release: left as it is (readers merge
                // the generations); the day's new logs get today's schema.
                let next = PartitionId {
                    day,
                    generation: latest.generation + 1,
                };
                info!(
                    partition = %latest.name(),
                    new_partition = %next.name(),
                    "day partition has an older schema; the day's new logs go to a new generation"
                );
                Ok(next)
            }
            PartitionState::Damaged(reason) => {
                let next = PartitionId {
                    day,
                    generation: latest.generation + 1,
                };
                error!(
                    partition = %latest.name(),
                    %reason,
                    new_partition = %next.name(),
                    "damaged day partition left as it is; the day's new logs go to a new one"
                );
                self.damaged.insert(latest.name(), reason);
                Ok(next)
            }
        }
    }

    /// Partitions open for writing now (for tests and diagnostics).
    pub fn open_partitions(&self) -> usize {
        self.open.len()
    }

    /// Below `max_open` open partitions, commits and closes the least
    /// recently written one. Its commit payload says which WAL records it
    /// holds: all up to the record being written (`end_position`) unless
    /// logs of that record for its day are still to come (`pending`), then
    /// all up to the previous record.
    fn make_room(&mut self, pending: &[NaiveDate], end_position: u64) -> Result<(), StoreError> {
        while self.open.len() >= self.settings.max_open.max(1) {
            let day = *self
                .open
                .iter()
                .min_by_key(|(_, p)| p.last_write)
                .map(|(day, _)| day)
                .expect("not empty");
            let mut partition = self.open.remove(&day).expect("present");
            if partition.dirty {
                let position = if pending.contains(&day) {
                    self.written_position
                } else {
                    end_position
                };
                partition.commit(position)?;
                self.known
                    .lock()
                    .expect("lock")
                    .insert(partition.id, partition.docs);
            }
            partition.writer.wait_merging_threads()?;
            debug!(%day, "partition closed to make room");
        }
        Ok(())
    }
}

impl LogWriter for EmbeddedWriter {
    fn committed_position(&self) -> u64 {
        self.checkpoint
    }

    fn write(&mut self, logs: &[StoredLog], end_position: u64) -> Result<WriteOutcome, StoreError> {
        let mut outcome = WriteOutcome::default();
        let oldest_kept = oldest_kept_day(Utc::now(), self.settings.retention);
        let fields = self.fields;
        // Day by day, so that a partition closed to make room for another
        // holds either all of this record's logs of its day or none.
        let mut by_day: BTreeMap<NaiveDate, Vec<&StoredLog>> = BTreeMap::new();
        for log in logs {
            let day = log.timestamp.date_naive();
            if day < oldest_kept {
                outcome.expired += 1;
            } else {
                by_day.entry(day).or_default().push(log);
            }
        }
        let days: Vec<NaiveDate> = by_day.keys().copied().collect();
        for (i, (day, logs)) in by_day.into_iter().enumerate() {
            if !self.open.contains_key(&day) {
                // The days of this record still to come.
                self.make_room(&days[i + 1..], end_position)?;
            }
            let partition = self.partition(day)?;
            if end_position <= partition.committed {
                outcome.duplicates += logs.len();
                continue;
            }
            let n = logs.len();
            for log in logs {
                let doc: TantivyDocument = to_document(&fields, log);
                partition.writer.add_document(doc)?;
            }
            outcome.written += n;
            partition.docs += n as u64;
            partition.dirty = true;
            partition.last_write = Instant::now();
            partition.idle_merged.clear();
        }
        self.written_position = self.written_position.max(end_position);
        Ok(outcome)
    }

    fn commit(&mut self) -> Result<u64, StoreError> {
        self.notice_vanished()?;
        let position = self.written_position;
        if position == self.checkpoint {
            return Ok(position);
        }
        for partition in self.open.values_mut().filter(|p| p.dirty) {
            partition.commit(position)?;
            self.known
                .lock()
                .expect("lock")
                .insert(partition.id, partition.docs);
        }
        write_checkpoint(&checkpoint_path(&self.root), position)?;
        self.checkpoint = position;
        // Close partitions nobody writes to any more (today's stays open).
        let today = Utc::now().date_naive();
        let idle = self.settings.idle_close;
        self.open
            .retain(|day, p| *day == today || p.last_write.elapsed() < idle);
        Ok(position)
    }

    /// Merges the small segments of partitions nobody writes to any more.
    /// The merge policy leaves up to two segments of each size (a day
    /// that ended, a burst that stopped); merged, they cost less disk (each
    /// repeats its terms) and less time to search. Merges run in the
    /// background; at most [`MAX_MERGED_DOCS`] logs each, as the policy's.
    fn maintain(&mut self) -> Result<(), StoreError> {
        let idle = self.settings.idle_merge;
        for (day, partition) in &mut self.open {
            if partition.dirty || partition.last_write.elapsed() < idle {
                continue;
            }
            let mut small: Vec<(u32, tantivy::index::SegmentId)> = partition
                .writer
                .index()
                .searchable_segment_metas()?
                .iter()
                .filter(|m| (m.num_docs() as usize) < MAX_MERGED_DOCS)
                .map(|m| (m.num_docs(), m.id()))
                .collect();
            small.sort();
            // The smallest first, as many as fit under the cap.
            let (mut docs, mut largest, mut ids) = (0usize, 0usize, Vec::new());
            for (n, id) in small {
                if docs + n as usize > MAX_MERGED_DOCS {
                    break;
                }
                docs += n as usize;
                largest = n as usize;
                ids.push(id);
            }
            // Not a big segment for a few new logs (a trickle of logs would
            // rewrite it every time the partition goes idle): the largest
            // may hold at most three times what the others hold, so a merge
            // rewrites at most four times what is new to it.
            if ids.len() < 2
                || largest > IDLE_MERGE_MAX_RATIO * (docs - largest)
                || ids.iter().any(|id| partition.idle_merged.contains(id))
            {
                continue;
            }
            debug!(%day, segments = ids.len(), logs = docs, "merging an idle partition's segments");
            // The merge goes on without its result (a failure leaves the
            // segments as they are).
            drop(partition.writer.merge(&ids));
            partition.idle_merged = ids;
        }
        Ok(())
    }

    fn apply_retention(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let oldest_kept = oldest_kept_day(now, self.settings.retention);
        let ids = list_partitions(&self.root).map_err(|e| StoreError::io(&self.root, e))?;
        let mut dropped = 0;
        for id in ids.into_iter().filter(|id| id.day < oldest_kept) {
            self.open.remove(&id.day);
            let dir = partition_dir(&self.root, id);
            fs::remove_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
            self.damaged.remove(&id.name());
            self.known.lock().expect("lock").remove(&id);
            info!(partition = %id.name(), "partition past retention deleted");
            dropped += 1;
        }
        // Vanished partitions past retention are forgotten too.
        let ledger = super::read_vanished(&self.root);
        if ledger.iter().any(|v| v.day < oldest_kept) {
            let kept: Vec<_> = ledger
                .into_iter()
                .filter(|v| v.day >= oldest_kept)
                .collect();
            self.damaged
                .retain(|name, _| PartitionId::parse(name).is_none_or(|id| id.day >= oldest_kept));
            super::write_vanished(&self.root, &kept).map_err(|e| StoreError::io(&self.root, e))?;
        }
        Ok(dropped)
    }

    fn damage(&self) -> Vec<(String, String)> {
        self.damaged
            .iter()
            .map(|(name, why)| (name.clone(), why.clone()))
            .collect()
    }
}

/// The first day whose partition is kept: a day is deleted once all of it is
/// older than `now - retention`.
pub fn oldest_kept_day(now: DateTime<Utc>, retention: chrono::Duration) -> NaiveDate {
    (now - retention).date_naive()
}

/// The logs of a partition's last commit (0 when it does not open).
fn committed_docs(dir: &Path) -> u64 {
    Index::open_in_dir(dir)
        .and_then(|index| index.searchable_segment_metas())
        .map_or(0, |metas| {
            metas.iter().map(|m| u64::from(m.num_docs())).sum()
        })
}

fn checkpoint_path(root: &Path) -> PathBuf {
    root.join("checkpoint")
}
