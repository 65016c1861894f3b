//! Backup and restore of the embedded store.
//!
//! A backup is a directory in a repository (`<repo>/<UTC time>`) holding a
//! copy of each day index as of one of its commits, and `manifest.json`:
//! what was copied (each file's size and CRC-32), each partition's commit
//! position, and two WAL positions:
//! - `position`: the checkpoint read before the copy began. Every log in a
//!   WAL record up to it is in the backup, exactly once (each partition's
//!   commit was at or after it, and a partition holds each record once).
//! - `resume_at`: the highest commit position copied. A restored store
//!   starts its WAL there, so that no partition skips a new record.
//!
//! Segment files are immutable, so copying them while the writer runs is
//! safe. A partition's file list is taken from its `meta.json`, read twice
//! around the listing to be sure they match; a file merged away before it
//! was copied makes that partition start over. Files that the previous
//! backup of the repository holds (same partition, name and size: segment
//! file names are unique) are hard-linked from it instead of copied, so a
//! backup costs only the segments written since the last one, and every
//! backup restores on its own.
//!
//! A backup is written under a temporary name and renamed when complete.
//! Restore checks every file against the manifest before it writes
//! anything, and refuses a data directory that already holds an index.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::Index;

use super::{index_root, list_partitions, partition_dir};
use crate::{read_checkpoint, write_checkpoint};

const MANIFEST: &str = "manifest.json";
const META: &str = "meta.json";
const MANAGED: &str = ".managed.json";
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Damaged(String),
    #[error("{0}")]
    Refused(String),
    /// A live file fails its own checksum: the backup is refused rather
    /// than made of damaged data.
    #[error("{0}")]
    Corrupt(String),
    /// Another backup of the same repository is running.
    #[error("{0}")]
    Running(String),
}

impl BackupError {
    /// Another backup of the repository is running.
    pub fn is_running(&self) -> bool {
        matches!(self, BackupError::Running(_))
    }

    /// Why a backup refused damaged data, naming the file by its partition
    /// and name only (no server path): what a client may be told.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            BackupError::Corrupt(why) => Some(why),
            _ => None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub crc32: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartitionEntry {
    pub name: String,
    /// The WAL position of the copied commit.
    pub wal_position: u64,
    pub docs: u64,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub created_at: String,
    /// Every log of a WAL record up to here is in the backup.
    pub position: u64,
    /// Where a restored store's WAL starts.
    pub resume_at: u64,
    pub partitions: Vec<PartitionEntry>,
}

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub dir: PathBuf,
    pub position: u64,
    pub partitions: usize,
    pub docs: u64,
    pub files: usize,
    /// Files copied (new since the previous backup).
    pub copied_files: usize,
    pub copied_bytes: u64,
    /// Files hard-linked from the previous backup.
    pub linked_files: usize,
    pub total_bytes: u64,
    /// Day indexes left out because they do not open (name, why); the
    /// store writes around them too (see the module docs of `embedded`).
    pub skipped: Vec<(String, String)>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreSummary {
    pub from: PathBuf,
    pub position: u64,
    pub resume_at: u64,
    pub partitions: usize,
    pub docs: u64,
    pub bytes: u64,
}

/// Backs up the embedded store of `data_dir` into a new backup under
/// `repository` (created if missing). Safe while the services run.
pub fn backup(data_dir: &Path, repository: &Path) -> Result<BackupSummary, BackupError> {
    let root = index_root(data_dir);
    if !root.is_dir() {
        return Err(BackupError::Refused(format!(
            "{} holds no index (is it a data directory?)",
            data_dir.display()
        )));
    }
    fs::create_dir_all(repository).map_err(io(repository))?;
    let _lock = lock_repository(repository)?;
    let previous = latest(repository)?;
    let previous_files: BTreeMap<(String, String), (PathBuf, FileEntry)> = match &previous {
        Some(dir) => read_manifest(dir)?
            .partitions
            .into_iter()
            .flat_map(|p| {
                let pdir = dir.join(&p.name);
                p.files
                    .into_iter()
                    .map(move |f| ((p.name.clone(), f.name.clone()), (pdir.join(&f.name), f)))
            })
            .collect(),
        None => BTreeMap::new(),
    };
    let created = chrono::Utc::now();
    let mut name = created.format("%Y%m%dT%H%M%S%.3fZ").to_string();
    while repository.join(&name).exists() {
        name.push('+');
    }
    let tmp = repository.join(format!(".partial-{name}"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let result = (|| {
        // Read first: every partition's commit is at or after it.
        let position = read_checkpoint(&root.join("checkpoint"))
            .map_err(|e| BackupError::Damaged(e.to_string()))?;
        let mut summary = BackupSummary {
            dir: repository.join(&name),
            position,
            partitions: 0,
            docs: 0,
            files: 0,
            copied_files: 0,
            copied_bytes: 0,
            linked_files: 0,
            total_bytes: 0,
            skipped: Vec::new(),
        };
        let mut partitions = Vec::new();
        let ids = list_partitions(&root).map_err(io(&root))?;
        for id in ids {
            let source = partition_dir(&root, id);
            if !source.join(META).is_file() {
                continue; // never committed: nothing to keep
            }
            let target = tmp.join(id.name());
            match copy_partition(&source, &target, &id.name(), &previous_files, &mut summary) {
                Ok(entry) => {
                    summary.docs += entry.docs;
                    partitions.push(entry);
                }
                Err(BackupError::Damaged(reason)) => {
                    tracing::warn!(partition = %id.name(), %reason, "day index left out of the backup");
                    let _ = fs::remove_dir_all(&target);
                    summary.skipped.push((id.name(), reason));
                }
                Err(error) => return Err(error),
            }
        }
        let resume_at = partitions
            .iter()
            .map(|p| p.wal_position)
            .max()
            .unwrap_or(0)
            .max(position);
        summary.partitions = partitions.len();
        let manifest = Manifest {
            format: FORMAT,
            created_at: created.to_rfc3339(),
            position,
            resume_at,
            partitions,
        };
        write_synced(
            &tmp.join(MANIFEST),
            &serde_json::to_vec_pretty(&manifest).expect("manifest serialises"),
        )?;
        Ok(summary)
    })();
    match result {
        Ok(summary) => {
            fs::rename(&tmp, &summary.dir).map_err(io(&summary.dir))?;
            sync_dir(repository)?;
            Ok(summary)
        }
        Err(error) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(error)
        }
    }
}

/// Holds a repository for one backup: a lock on its `.lock` file (by any
/// process, the HTTP route's or the CLI's), which names the holder; a
/// second backup meanwhile is refused with that name.
fn lock_repository(repository: &Path) -> Result<fs::File, BackupError> {
    let path = repository.join(".lock");
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {
            let holder = format!(
                "pid {} since {}",
                std::process::id(),
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            file.set_len(0).map_err(io(&path))?;
            file.write_all(holder.as_bytes()).map_err(io(&path))?;
            Ok(file)
        }
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(BackupError::Running(format!(
                "a backup of {} is running ({}); try again when it is done",
                repository.display(),
                if holder.trim().is_empty() {
                    "holder unknown"
                } else {
                    holder.trim()
                }
            )))
        }
        Err(fs::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

/// Copies one partition as of one commit (see the module docs).
fn copy_partition(
    source: &Path,
    target: &Path,
    name: &str,
    previous: &BTreeMap<(String, String), (PathBuf, FileEntry)>,
    summary: &mut BackupSummary,
) -> Result<PartitionEntry, BackupError> {
    const ATTEMPTS: usize = 20;
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        if target.exists() {
            fs::remove_dir_all(target).map_err(io(target))?;
        }
        fs::create_dir_all(target).map_err(io(target))?;
        let meta_path = source.join(META);
        let before = fs::read(&meta_path).map_err(io(&meta_path))?;
        let (files, wal_position, docs) = match list_commit(source) {
            Ok(listed) => listed,
            Err(error) => {
                last_error = Some(error);
                continue;
            }
        };
        let after = fs::read(&meta_path).map_err(io(&meta_path))?;
        if before != after {
            continue; // a commit in between: list again
        }
        let mut entries = Vec::with_capacity(files.len() + 1);
        let mut done = true;
        let mut copied = (0usize, 0u64, 0usize, 0u64);
        let live = MmapDirectory::open(source)
            .map_err(|e| BackupError::Damaged(format!("{}: {e}", source.display())))?;
        for file in &files {
            let from = source.join(file);
            let to = target.join(file);
            let bytes = match fs::metadata(&from) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Merged away since the listing: start over.
                    done = false;
                    break;
                }
                Err(e) => return Err(io(&from)(e)),
            };
            // The live file must match its own checksum: a backup never
            // keeps damage as if it were data.
            if let Err(why) = super::verify::file_checksum(&live, Path::new(file)) {
                if !from.exists() {
                    done = false;
                    break;
                }
                return Err(BackupError::Corrupt(format!(
                    "{name}/{why}; the backup is refused (run `logagg check --deep`)"
                )));
            }
            // The previous backup's copy is linked only if it still is what
            // its manifest says; otherwise the live file is copied.
            let earlier = previous
                .get(&(name.to_string(), file.clone()))
                .filter(|(_, e)| e.bytes == bytes)
                .filter(|(earlier, e)| {
                    let sound = crc_of(earlier).is_ok_and(|(n, crc)| n == e.bytes && crc == e.crc32);
                    if !sound {
                        tracing::warn!(file = %earlier.display(), "the previous backup's copy does not match its manifest; copying the live file");
                    }
                    sound
                });
            if let Some((earlier, entry)) = earlier {
                if fs::hard_link(earlier, &to).is_ok() {
                    entries.push(entry.clone());
                    copied.2 += 1;
                    copied.3 += bytes;
                    continue;
                }
            }
            match copy_with_crc(&from, &to) {
                Ok((bytes, crc32)) => {
                    entries.push(FileEntry {
                        name: file.clone(),
                        bytes,
                        crc32,
                    });
                    copied.0 += 1;
                    copied.1 += bytes;
                }
                Err(BackupError::Io { source: e, .. })
                    if e.kind() == std::io::ErrorKind::NotFound =>
                {
                    done = false;
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        if !done {
            continue;
        }
        // The commit itself, as read, and the list of files tantivy may
        // delete once they are merged away.
        write_synced(&target.join(META), &before)?;
        entries.push(FileEntry {
            name: META.to_string(),
            bytes: before.len() as u64,
            crc32: crc32fast::hash(&before),
        });
        let managed: HashSet<&String> = files.iter().collect();
        let mut managed = serde_json::to_vec(&managed).expect("list serialises");
        managed.push(b'\n');
        write_synced(&target.join(MANAGED), &managed)?;
        entries.push(FileEntry {
            name: MANAGED.to_string(),
            bytes: managed.len() as u64,
            crc32: crc32fast::hash(&managed),
        });
        sync_dir(target)?;
        summary.files += entries.len();
        summary.copied_files += copied.0 + 2;
        summary.copied_bytes += copied.1 + (before.len() + managed.len()) as u64;
        summary.linked_files += copied.2;
        summary.total_bytes += copied.1 + copied.3 + (before.len() + managed.len()) as u64;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        return Ok(PartitionEntry {
            name: name.to_string(),
            wal_position,
            docs,
            files: entries,
        });
    }
    Err(last_error.unwrap_or_else(|| {
        BackupError::Damaged(format!(
            "{}: its commit kept changing under {ATTEMPTS} attempts to copy it",
            source.display()
        ))
    }))
}

/// The files of a partition's last commit, its WAL position and its docs.
fn list_commit(dir: &Path) -> Result<(Vec<String>, u64, u64), BackupError> {
    let damaged = |e: String| BackupError::Damaged(format!("{}: {e}", dir.display()));
    let directory = MmapDirectory::open(dir).map_err(|e| damaged(e.to_string()))?;
    let index = Index::open(directory).map_err(|e| damaged(e.to_string()))?;
    let metas = index.load_metas().map_err(|e| damaged(e.to_string()))?;
    let wal_position = metas
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|v| v["wal_position"].as_u64())
        .unwrap_or(0);
    let mut files = Vec::new();
    let mut docs = 0;
    for segment in &metas.segments {
        docs += u64::from(segment.num_docs());
        for path in segment.list_files() {
            let name = path.to_string_lossy().to_string();
            if name.ends_with(".del") && !segment.has_deletes() {
                continue;
            }
            if name.ends_with(".store.temp") {
                continue;
            }
            files.push(name);
        }
    }
    files.sort();
    Ok((files, wal_position, docs))
}

fn copy_with_crc(from: &Path, to: &Path) -> Result<(u64, u32), BackupError> {
    read_with_crc(from, Some(to))
}

fn crc_of(path: &Path) -> Result<(u64, u32), BackupError> {
    read_with_crc(path, None)
}

/// Reads a file through, with its size and CRC-32, writing it (synced) to
/// `to` when given.
fn read_with_crc(from: &Path, to: Option<&Path>) -> Result<(u64, u32), BackupError> {
    let mut input = fs::File::open(from).map_err(io(from))?;
    let mut output = match to {
        Some(to) => Some((fs::File::create(to).map_err(io(to))?, to)),
        None => None,
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(io(from))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some((file, to)) = &mut output {
            file.write_all(&buffer[..n]).map_err(io(to))?;
        }
        total += n as u64;
    }
    if let Some((file, to)) = output {
        file.sync_all().map_err(io(to))?;
    }
    Ok((total, hasher.finalize()))
}

fn write_synced(path: &Path, body: &[u8]) -> Result<(), BackupError> {
    let mut file = fs::File::create(path).map_err(io(path))?;
    file.write_all(body).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// The newest complete backup of a repository (by name, which is its UTC
/// time), if any.
pub fn latest(repository: &Path) -> Result<Option<PathBuf>, BackupError> {
    let entries = match fs::read_dir(repository) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(repository)(e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join(MANIFEST).is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names.pop().map(|n| repository.join(n)))
}

fn read_manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let bytes = fs::read(&path).map_err(|e| {
        BackupError::Damaged(format!(
            "{}: {e} (not a backup, or an incomplete one)",
            path.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| BackupError::Damaged(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Damaged(format!(
            "{}: format {} (this release reads {FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    Ok(manifest)
}

/// Checks every file of a backup against its manifest (size and CRC-32),
/// reading all of them. `from` is a backup, or a repository (its newest).
pub fn verify(from: &Path) -> Result<(PathBuf, Manifest), BackupError> {
    let dir = if from.join(MANIFEST).is_file() {
        from.to_path_buf()
    } else {
        latest(from)?.ok_or_else(|| {
            BackupError::Damaged(format!(
                "{}: no backup here (no {MANIFEST}, and no complete backup inside)",
                from.display()
            ))
        })?
    };
    let manifest = read_manifest(&dir)?;
    for partition in &manifest.partitions {
        if partition.name.contains(['/', '\\']) || partition.name.starts_with('.') {
            return Err(BackupError::Damaged(format!(
                "{}: bad partition name {:?}",
                dir.display(),
                partition.name
            )));
        }
        for file in &partition.files {
            if file.name.contains(['/', '\\']) || file.name == ".." {
                return Err(BackupError::Damaged(format!(
                    "{}: bad file name {:?}",
                    dir.display(),
                    file.name
                )));
            }
            let path = dir.join(&partition.name).join(&file.name);
            let (bytes, crc32) = crc_of(&path)
                .map_err(|e| BackupError::Damaged(format!("{e} (listed in the manifest)")))?;
            if bytes != file.bytes || crc32 != file.crc32 {
                return Err(BackupError::Damaged(format!(
                    "{}: {bytes} bytes with CRC-32 {crc32:08x}, the manifest says {} bytes with {:08x}",
                    path.display(),
                    file.bytes,
                    file.crc32
                )));
            }
        }
        // Each segment file against its own checksum too: a backup made
        // of a file already damaged matches its manifest.
        let pdir = dir.join(&partition.name);
        let directory = MmapDirectory::open(&pdir)
            .map_err(|e| BackupError::Damaged(format!("{}: {e}", pdir.display())))?;
        for file in &partition.files {
            if file.name == META || file.name == MANAGED {
                continue;
            }
            super::verify::file_checksum(&directory, Path::new(&file.name))
                .map_err(|why| BackupError::Damaged(format!("{}/{why}", pdir.display())))?;
        }
    }
    Ok((dir, manifest))
}

/// Restores a backup (or a repository's newest) into `data_dir`, which must
/// hold no index. The backup is verified whole before anything is written;
/// the index appears under its name only once complete.
pub fn restore(from: &Path, data_dir: &Path) -> Result<RestoreSummary, BackupError> {
    let root = index_root(data_dir);
    if root.exists() {
        return Err(BackupError::Refused(format!(
            "{} already holds an index; restore into an empty data directory \
             (or move that one aside first)",
            data_dir.display()
        )));
    }
    let wal = data_dir.join("wal");
    if wal.exists() {
        return Err(BackupError::Refused(format!(
            "{} holds a WAL ({}); restore into an empty data directory",
            data_dir.display(),
            wal.display()
        )));
    }
    let (dir, manifest) = verify(from)?;
    fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let tmp = data_dir.join(".index.restoring");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let result = (|| {
        fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let mut bytes = 0;
        for partition in &manifest.partitions {
            let target = tmp.join(&partition.name);
            fs::create_dir_all(&target).map_err(io(&target))?;
            for file in &partition.files {
                let (n, crc32) = copy_with_crc(
                    &dir.join(&partition.name).join(&file.name),
                    &target.join(&file.name),
                )?;
                if n != file.bytes || crc32 != file.crc32 {
                    return Err(BackupError::Damaged(format!(
                        "{}: changed while being restored",
                        dir.join(&partition.name).join(&file.name).display()
                    )));
                }
                bytes += n;
            }
            sync_dir(&target)?;
        }
        write_checkpoint(&tmp.join("checkpoint"), manifest.resume_at)
            .map_err(|e| BackupError::Damaged(e.to_string()))?;
        Ok(bytes)
    })();
    match result {
        Ok(bytes) => {
            fs::rename(&tmp, &root).map_err(io(&root))?;
            sync_dir(data_dir)?;
            Ok(RestoreSummary {
                from: dir,
                position: manifest.position,
                resume_at: manifest.resume_at,
                partitions: manifest.partitions.len(),
                docs: manifest.partitions.iter().map(|p| p.docs).sum(),
                bytes,
            })
        }
        Err(error) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(error)
        }
    }
}
