//! Damage found before a user reads it. Every file a partition's last
//! commit names is checked twice: at once, cheaply (it is there, and its
//! tantivy footer reads), and then whole (the CRC-32 that tantivy keeps in
//! every file's footer) by a background pass at a bounded rate, newest
//! partitions first. Segments are immutable: a file verified whole is not
//! read again, and a commit or merge adds only its new segments' files to
//! the pass.
//!
//! Useful for: telling damage (a flipped byte, a file cut short or gone)
//! in `/ready`, a metric and every answer over the partition, before a user
//! meets it. Not useful for: repairing anything (nothing here writes).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tantivy::directory::footer::Footer;
use tantivy::directory::{Directory, MmapDirectory};
use tantivy::Index;

use super::{list_partitions, partition_dir, PartitionId};
use crate::Verification;

/// How much of a check to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The file is there and its footer reads.
    Footer,
    /// The whole file matches its checksum.
    Whole,
}

/// The files of an index's last commit: paths relative to its directory.
pub fn commit_files(index: &Index) -> tantivy::Result<Vec<PathBuf>> {
    // A segment's file list names a deletes file whether or not it has
    // deletes, and its temporary store while it is written.
    let mut files: Vec<PathBuf> = index
        .searchable_segment_metas()?
        .iter()
        .flat_map(|meta| {
            let deletes = meta.has_deletes();
            meta.list_files().into_iter().filter(move |path| {
                let name = path.to_string_lossy();
                !name.ends_with(".store.temp") && (deletes || !name.ends_with(".del"))
            })
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Checks one file of an index directory (opened as files are on disk,
/// footers included: an `MmapDirectory`, not the index's own directory,
/// which hands files out without their footers): `Ok`, or what is wrong.
pub fn check_file(directory: &dyn Directory, path: &Path, depth: Depth) -> Result<(), String> {
    let name = path.display();
    match depth {
        Depth::Footer => {
            let slice = directory
                .open_read(path)
                .map_err(|e| format!("{name}: {e}"))?;
            Footer::extract_footer(slice)
                .map(|_| ())
                .map_err(|e| format!("{name}: {e}"))
        }
        Depth::Whole => file_checksum(directory, path),
    }
}

/// Whether a file of a tantivy directory matches the CRC-32 its footer
/// keeps (every segment file has one; `meta.json` does not): `Ok`, or why
/// not, the file named.
pub fn file_checksum(directory: &dyn Directory, path: &Path) -> Result<(), String> {
    let name = path.display();
    let slice = directory
        .open_read(path)
        .map_err(|e| format!("{name}: {e}"))?;
    let (footer, body) = Footer::extract_footer(slice).map_err(|e| format!("{name}: {e}"))?;
    let bytes = body.read_bytes().map_err(|e| format!("{name}: {e}"))?;
    let crc = crc32fast::hash(bytes.as_slice());
    if crc == footer.crc {
        Ok(())
    } else {
        Err(format!(
            "{name}: checksum mismatch (CRC-32 {crc:08x}, its footer says {:08x})",
            footer.crc
        ))
    }
}

/// Whether `file` is still part of the last commit of the index in `dir`
/// (a merge commits new segments and deletes the files of the ones it
/// merged: such a file failing to open is no damage).
fn still_committed(dir: &Path, file: &Path) -> bool {
    // A partition that no longer opens (removed, say) is the reader's to
    // report.
    Index::open_in_dir(dir)
        .and_then(|index| commit_files(&index))
        .is_ok_and(|files| files.iter().any(|f| f == file))
}

/// What the pass remembers between sweeps.
#[derive(Default)]
pub struct Verifier {
    /// Files verified whole (absolute paths), with their lengths.
    whole: HashMap<PathBuf, u64>,
    /// Files found damaged (absolute paths): not checked again.
    bad: HashSet<PathBuf>,
    /// Each partition's `meta.json` time when it was last found fully
    /// verified: unchanged, it is skipped.
    settled: HashMap<PathBuf, SystemTime>,
    pub progress: Verification,
}

/// One file still to verify.
struct Pending {
    /// Its partition, in the sweep's list.
    index_at: usize,
    path: PathBuf,
    len: u64,
}

impl Verifier {
    /// One sweep over the partitions under `root`, newest first: footers of
    /// new files at once, then whole files, calling `pace(bytes, progress)`
    /// after each (to keep the rate) and stopping when it says `false`. `damaged`
    /// is told each damaged file's partition and reason. Returns whether
    /// everything is verified.
    pub fn sweep(
        &mut self,
        root: &Path,
        mut damaged: impl FnMut(PartitionId, String),
        mut pace: impl FnMut(u64, Verification) -> bool,
    ) -> bool {
        let Ok(ids) = list_partitions(root) else {
            return false;
        };
        let mut indexes: Vec<(PartitionId, PathBuf, MmapDirectory)> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut present: HashSet<PathBuf> = HashSet::new();
        for id in ids.into_iter().rev() {
            let dir = partition_dir(root, id);
            let meta_time = std::fs::metadata(dir.join("meta.json"))
                .and_then(|m| m.modified())
                .ok();
            if meta_time.is_some() && self.settled.get(&dir) == meta_time.as_ref() {
                present.extend(self.whole.keys().filter(|p| p.starts_with(&dir)).cloned());
                present.extend(self.bad.iter().filter(|p| p.starts_with(&dir)).cloned());
                continue;
            }
            // A partition with a commit that does not open (looked at
            // twice: a commit may be under way) is damaged.
            let opened = Index::open_in_dir(&dir).or_else(|_| {
                std::thread::sleep(std::time::Duration::from_millis(200));
                Index::open_in_dir(&dir)
            });
            let index = match opened {
                Ok(index) => index,
                Err(error) => {
                    if dir.join("meta.json").exists() {
                        damaged(id, format!("meta.json: {error}"));
                    }
                    continue;
                }
            };
            let Ok(files) = commit_files(&index) else {
                continue;
            };
            let Ok(directory) = MmapDirectory::open(&dir) else {
                continue;
            };
            let at = indexes.len();
            for file in files {
                let full = dir.join(&file);
                present.insert(full.clone());
                if self.whole.contains_key(&full) || self.bad.contains(&full) {
                    continue;
                }
                match check_file(&directory, &file, Depth::Footer) {
                    Ok(()) => pending.push(Pending {
                        index_at: at,
                        len: std::fs::metadata(&full).map_or(0, |m| m.len()),
                        path: file,
                    }),
                    Err(why) => {
                        if still_committed(&dir, &file) {
                            self.bad.insert(full);
                            damaged(id, why);
                        }
                    }
                }
            }
            indexes.push((id, dir, directory));
            if let Some(time) = meta_time {
                self.settled.insert(partition_dir(root, id), time);
            }
        }
        // Forget what retention (or anything else) removed.
        self.whole.retain(|p, _| present.contains(p));
        self.bad.retain(|p| present.contains(p));
        self.settled.retain(|dir, _| dir.exists());
        self.progress.pending_bytes = pending.iter().map(|p| p.len).sum();
        self.update();
        let mut complete = true;
        for file in &pending {
            let (id, dir, directory) = &indexes[file.index_at];
            let full = dir.join(&file.path);
            match check_file(directory, &file.path, Depth::Whole) {
                Ok(()) => {
                    self.whole.insert(full, file.len);
                    self.progress.verified_bytes += file.len;
                }
                Err(why) => {
                    if still_committed(dir, &file.path) {
                        self.bad.insert(full);
                        self.progress.damaged_files += 1;
                        damaged(*id, why);
                    }
                }
            }
            self.progress.pending_bytes = self.progress.pending_bytes.saturating_sub(file.len);
            if !pace(file.len, self.progress) {
                complete = false;
                break;
            }
        }
        if !complete {
            // A partition not verified to the end is swept again.
            for file in &pending {
                self.settled.remove(&indexes[file.index_at].1);
            }
        }
        complete && self.progress.pending_bytes == 0
    }

    /// The figures of what is remembered, counted afresh.
    fn update(&mut self) {
        self.progress.verified_bytes = self.whole.values().sum();
        self.progress.damaged_files = self.bad.len() as u64;
    }
}
