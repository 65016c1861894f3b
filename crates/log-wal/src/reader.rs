//! Reading records back from a position on, past damage.

use std::fs::File;
use std::sync::Arc;

use super::record::{damage_extent, decode_at, Decode};
use super::segment::{open_segment, Damage, DamageKind};
use super::{io_err, Record, Shared, WalError};

/// Reads records from a position on, up to the durable end. Damaged bytes
/// are skipped: the first reader to meet them quarantines and reports them
/// (see [`super::Wal`]), the record after them is read as usual.
pub struct WalReader {
    pub(super) shared: Arc<Shared>,
    pub(super) position: u64,
    pub(super) open: Option<OpenSegment>,
}

/// The segment being read.
pub(super) struct OpenSegment {
    base: u64,
    /// Where the segment ends: known once a later segment exists.
    end: Option<u64>,
    file: File,
    /// The file's length when last looked at (it grows while it is written).
    len: u64,
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
            if let Some(end) = self.shared.damage_covering(self.position) {
                self.shared.note_skipped(self.position, end);
                self.position = end;
                continue;
            }
            self.open_segment_for_position()?;
            let seg = self.open.as_mut().expect("segment open");
            if seg.end.is_some_and(|end| self.position >= end) {
                self.open = None;
                continue;
            }
            // The bytes of this segment that may be read, and how many of
            // them its file holds (it is shorter after damage).
            let extent = seg.end.unwrap_or(durable).min(durable) - seg.base;
            if seg.len < extent {
                seg.len = seg
                    .file
                    .metadata()
                    .map_err(|e| io_err("wal read", e))?
                    .len();
            }
            let limit = extent.min(seg.len);
            let offset = self.position - seg.base;
            let decoded = if offset < limit {
                decode_at(&seg.file, offset, limit).map_err(|e| io_err("wal read", e))?
            } else {
                Decode::Incomplete
            };
            if let Decode::Record(r) = decoded {
                bytes += r.payload.len();
                let record = super::record_at(seg.base, offset, r);
                self.position = record.pos.end;
                records.push(record);
                continue;
            }
            // Damage ends at the next record whose header holds; damage up
            // to the end of a file shorter than its place in the WAL runs on
            // to the next segment.
            let mut end = if offset < limit {
                damage_extent(&seg.file, offset, limit)
                    .map_err(|e| io_err("wal read", e))?
                    .0
            } else {
                limit
            };
            if end == limit {
                end = extent;
            }
            let base = seg.base;
            let damage = Damage {
                start: self.position,
                end: base + end,
                kind: DamageKind::Corrupt,
            };
            self.shared.report_damage(base, damage);
            self.shared.note_skipped(damage.start, damage.end);
            self.position = damage.end;
        }
        Ok(records)
    }

    /// Makes `open` the segment that holds the position (and learns its end
    /// once a later segment exists).
    fn open_segment_for_position(&mut self) -> Result<(), WalError> {
        if let Some(seg) = &mut self.open {
            if seg.end.is_none() {
                let segments = self.shared.segments.lock().expect("lock");
                seg.end = segments.iter().copied().find(|b| *b > seg.base);
            }
            return Ok(());
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
        let (file, len) = open_segment(&self.shared.dir, base)?;
        self.open = Some(OpenSegment {
            base,
            end: segments.get(idx + 1).copied(),
            file,
            len,
        });
        Ok(())
    }
}
