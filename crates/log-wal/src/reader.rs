//! Reading records back from a position on, past damage.

use std::fs::File;
use std::sync::Arc;

use super::record::{damage_extent, decode_at, Decode};
use super::segment::{segment_path, Damage, DamageKind};
use super::{io_err, Record, RecordPos, Shared, WalError};

/// Reads records from a position on, up to the durable end. Damaged bytes
/// are skipped: the first reader to meet them quarantines and reports them
/// (see [`super::Wal`]), the record after them is read as usual.
pub struct WalReader {
    pub(super) shared: Arc<Shared>,
    pub(super) position: u64,
    /// The segment being read: its base, its end (if a later one exists), its file.
    pub(super) open: Option<(u64, Option<u64>, File)>,
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
                self.position = end;
                continue;
            }
            let (base, seg_end) = self.segment_for_position()?;
            if let Some(seg_end) = seg_end {
                if self.position >= seg_end {
                    self.open = None;
                    continue;
                }
            }
            let (_, _, file) = self.open.as_ref().expect("segment open");
            let file_len = file.metadata().map_err(|e| io_err("wal read", e))?.len();
            let offset = self.position - base;
            let limit = (seg_end.unwrap_or(durable).min(durable) - base).min(file_len);
            if offset >= limit {
                // The segment's file is shorter than its place in the WAL:
                // the bytes up to the next segment are gone.
                let damage = Damage {
                    start: self.position,
                    end: seg_end.unwrap_or(durable).min(durable),
                    kind: DamageKind::Corrupt,
                };
                self.shared.report_damage(base, damage);
                self.position = damage.end;
                continue;
            }
            match decode_at(file, offset, limit).map_err(|e| io_err("wal read", e))? {
                Decode::Record(r) => {
                    let end = base + r.end;
                    bytes += r.payload.len();
                    records.push(Record {
                        pos: RecordPos {
                            start: self.position,
                            end,
                        },
                        appended_at_micros: r.appended_at_micros,
                        count: r.count,
                        payload: r.payload,
                    });
                    self.position = end;
                }
                _ => {
                    let (mut end, _) =
                        damage_extent(file, offset, limit).map_err(|e| io_err("wal read", e))?;
                    // Damage up to the end of a file shorter than its place
                    // in the WAL runs on to the next segment.
                    let extent = seg_end.unwrap_or(durable).min(durable) - base;
                    if end == limit && limit < extent {
                        end = extent;
                    }
                    let damage = Damage {
                        start: self.position,
                        end: base + end,
                        kind: DamageKind::Corrupt,
                    };
                    self.shared.report_damage(base, damage);
                    self.position = damage.end;
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
