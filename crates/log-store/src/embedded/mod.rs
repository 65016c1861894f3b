//! The embedded backend: one tantivy index per UTC day under
//! `<data dir>/index/YYYY-MM-DD`, and `<data dir>/index/checkpoint`.
//!
//! **Invariant:** every commit of a partition carries, as its tantivy commit
//! payload, the WAL position it contains; `checkpoint` holds the position up
//! to which *every* partition is committed. Replay starts at the checkpoint,
//! and a partition skips the records at or below its own payload, so a crash
//! between two partitions' commits stores nothing twice.
//!
//! Readers (queryd, possibly another process) open the partitions read-only,
//! discover new days on each request and reload on commit.

mod collector;
mod query;
mod reader;
mod schema;
mod writer;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

pub use reader::EmbeddedReader;
pub use writer::{oldest_kept_day, EmbeddedSettings, EmbeddedWriter};

const PARTITION_FORMAT: &str = "%Y-%m-%d";

/// `<data dir>/index`.
pub fn index_root(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}

fn partition_dir(root: &Path, day: NaiveDate) -> PathBuf {
    root.join(day.format(PARTITION_FORMAT).to_string())
}

/// The days that have a partition directory under `root`, sorted.
fn list_partitions(root: &Path) -> std::io::Result<Vec<NaiveDate>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut days = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            if let Ok(day) = NaiveDate::parse_from_str(name, PARTITION_FORMAT) {
                if entry.path().join("meta.json").exists() {
                    days.push(day);
                }
            }
        }
    }
    days.sort();
    Ok(days)
}
