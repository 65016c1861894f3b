//! Segment files (`<base position>.wal`), the scan that finds a segment's
//! records and damage, and the quarantine where damaged bytes are kept.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{damage_extent, decode_at, Decode};
use super::{io_err, WalError};

pub fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.wal"))
}

pub fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
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

pub fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir.display(), e))
}

/// Opens the segment at `base` for reading; with its length.
pub fn open_segment(dir: &Path, base: u64) -> Result<(File, u64), WalError> {
    let path = segment_path(dir, base);
    let file = File::open(&path).map_err(|e| io_err(path.display(), e))?;
    let len = file
        .metadata()
        .map_err(|e| io_err(path.display(), e))?
        .len();
    Ok((file, len))
}

/// Why a range of WAL bytes holds no readable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// Bytes that fail their checksums, with intact records around them.
    Corrupt,
    /// A record cut short at the end of the last segment: a crash
    /// mid-write, never acknowledged.
    TornTail,
}

impl DamageKind {
    pub fn label(self) -> &'static str {
        match self {
            DamageKind::Corrupt => "corrupt",
            DamageKind::TornTail => "torn_tail",
        }
    }
}

/// A range of WAL positions `[start, end)` with no readable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    pub start: u64,
    pub end: u64,
    pub kind: DamageKind,
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub struct SegmentScan {
    pub records: u64,
    pub logs: u64,
    /// Damaged ranges, in WAL positions, in order.
    pub damage: Vec<Damage>,
    /// Where the segment's bytes end (a position).
    pub end: u64,
}

/// Reads every record of the segment at `base` and finds its damage without
/// changing anything. In the last segment (`last`), damage that runs to the
/// end of the file with no record after it is a torn tail when the record
/// there is cut short.
pub fn scan_segment(dir: &Path, base: u64, last: bool) -> Result<SegmentScan, WalError> {
    walk_segment(dir, base, last, |_, _| {})
}

/// As [`scan_segment`], handing each readable record (its start offset in
/// the segment, and the record) to `on_record`.
pub fn walk_segment(
    dir: &Path,
    base: u64,
    last: bool,
    mut on_record: impl FnMut(u64, super::record::Decoded),
) -> Result<SegmentScan, WalError> {
    let path = segment_path(dir, base);
    let (file, len) = open_segment(dir, base)?;
    let mut scan = SegmentScan {
        end: base + len,
        ..SegmentScan::default()
    };
    let mut offset = 0;
    while offset < len {
        match decode_at(&file, offset, len).map_err(|e| io_err(path.display(), e))? {
            Decode::Record(r) => {
                scan.records += 1;
                scan.logs += u64::from(r.count);
                let start = offset;
                offset = r.end;
                on_record(start, r);
            }
            _ => {
                let (end, torn) =
                    damage_extent(&file, offset, len).map_err(|e| io_err(path.display(), e))?;
                let kind = if torn && last && end == len {
                    DamageKind::TornTail
                } else {
                    DamageKind::Corrupt
                };
                scan.damage.push(Damage {
                    start: base + offset,
                    end: base + end,
                    kind,
                });
                offset = end;
            }
        }
    }
    Ok(scan)
}

/// `<wal dir>/quarantine`.
pub fn quarantine_dir(dir: &Path) -> PathBuf {
    dir.join("quarantine")
}

/// A range of the WAL that a reader skipped as damaged: the records in it
/// were never delivered (never indexed), so their logs are lost. Kept in
/// `quarantine/skipped.jsonl`, one line a range, so that `check` and
/// readiness say so after restarts and after the segment is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub start: u64,
    pub end: u64,
    /// When it was skipped (seconds since the Unix epoch).
    pub at_secs: u64,
}

/// `<wal dir>/quarantine/skipped.jsonl`.
pub fn skipped_path(dir: &Path) -> PathBuf {
    quarantine_dir(dir).join("skipped.jsonl")
}

/// The ranges readers skipped (see [`Skipped`]), oldest first; lines that
/// do not read are passed over.
pub fn read_skipped(dir: &Path) -> Vec<Skipped> {
    let Ok(text) = fs::read_to_string(skipped_path(dir)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Appends a skipped range to the ledger, synced.
pub fn append_skipped(dir: &Path, skipped: &Skipped) -> Result<(), WalError> {
    let qdir = quarantine_dir(dir);
    fs::create_dir_all(&qdir).map_err(|e| io_err(qdir.display(), e))?;
    let path = skipped_path(dir);
    let mut line = serde_json::to_vec(skipped).expect("a range serialises");
    line.push(b'\n');
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_err(path.display(), e))?;
    f.write_all(&line)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err(path.display(), e))?;
    sync_dir(&qdir)
}

/// Copies the bytes of `damage` (inside the segment at `base`) to
/// `quarantine/<start>-<end>.<kind>.bin`, where an operator can read them.
pub fn quarantine(dir: &Path, base: u64, damage: &Damage) -> Result<PathBuf, WalError> {
    use std::os::unix::fs::FileExt;
    let qdir = quarantine_dir(dir);
    fs::create_dir_all(&qdir).map_err(|e| io_err(qdir.display(), e))?;
    let out = qdir.join(format!(
        "{:020}-{:020}.{}.bin",
        damage.start,
        damage.end,
        damage.kind.label()
    ));
    if out.exists() {
        return Ok(out);
    }
    let path = segment_path(dir, base);
    // What is left of it: a file cut short holds less than the range.
    let (file, len) = open_segment(dir, base)?;
    let from = damage.start - base;
    let to = (damage.end - base).min(len).max(from);
    let mut bytes = vec![0u8; (to - from) as usize];
    file.read_exact_at(&mut bytes, from)
        .map_err(|e| io_err(path.display(), e))?;
    let tmp = out.with_extension("tmp");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&tmp)
        .map_err(|e| io_err(tmp.display(), e))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err(tmp.display(), e))?;
    fs::rename(&tmp, &out).map_err(|e| io_err(out.display(), e))?;
    sync_dir(&qdir)?;
    Ok(out)
}
