//! `logagg check`: reads the WAL and every day index of a data directory,
//! changing nothing, and says what is damaged and what can be done.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::wal::{self, DamageKind, WalReport};

/// One WAL directory's findings.
#[derive(Debug, Serialize)]
pub struct WalFindings {
    pub dir: PathBuf,
    /// The position the store has committed (below it, records are indexed).
    pub committed: u64,
    #[serde(flatten)]
    pub report: WalReport,
}

/// What `check` found in a data directory.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub data_dir: PathBuf,
    pub wals: Vec<WalFindings>,
    pub partitions: Vec<log_store::PartitionReport>,
    /// Whether every file's checksum was verified too.
    pub deep: bool,
    /// Problems found (damaged ranges and partitions).
    pub problems: usize,
}

/// Checks `data_dir` (read only). `deep` verifies every index file's checksum.
pub fn check(data_dir: &Path, deep: bool) -> Result<CheckReport, String> {
    let mut wals = Vec::new();
    for (dir, checkpoint) in log_store::wal_checkpoints(data_dir) {
        if !dir.is_dir() {
            continue;
        }
        let report = wal::check(&dir).map_err(|e| e.to_string())?;
        if report.segments == 0 {
            continue;
        }
        let committed = log_store::read_checkpoint(&checkpoint).unwrap_or(0);
        wals.push(WalFindings {
            dir,
            committed,
            report,
        });
    }
    let partitions = log_store::check_indexes(data_dir, deep).map_err(|e| e.to_string())?;
    let problems = wals
        .iter()
        .map(|w| {
            // Damage within a skipped range is the same problem, once.
            let r = &w.report;
            let apart = r.damage.iter().filter(|d| !skipped(r, d)).count();
            apart + r.skipped.len()
        })
        .sum::<usize>()
        + partitions.iter().filter(|p| !p.ok).count();
    Ok(CheckReport {
        data_dir: data_dir.to_path_buf(),
        wals,
        partitions,
        deep,
        problems,
    })
}

/// Whether a reader skipped (part of) a damaged range: its logs were
/// never indexed, whatever the commit says now.
fn skipped(r: &WalReport, d: &wal::Damage) -> bool {
    r.skipped.iter().any(|s| s.start < d.end && d.start < s.end)
}

impl CheckReport {
    /// The report as text for an operator: each finding and what to do.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "data directory {}", self.data_dir.display());
        if self.wals.is_empty() {
            let _ = writeln!(out, "wal: none");
        }
        for w in &self.wals {
            let r = &w.report;
            let _ = writeln!(
                out,
                "wal {}: {} segment(s), {} record(s), {} log(s), {} bytes; store committed up to {}",
                w.dir.display(),
                r.segments,
                r.records,
                r.logs,
                r.bytes,
                w.committed
            );
            for d in &r.damage {
                let bytes = d.end - d.start;
                let what = match (d.kind, d.end <= w.committed && !skipped(r, d)) {
                    (DamageKind::TornTail, _) => "a record cut short at the end (a crash mid-write, never acknowledged); ingestd cuts it off at start, keeping the bytes in quarantine/".to_string(),
                    (DamageKind::Corrupt, true) => "below the store's commit: its logs are indexed already, nothing is lost; the segment goes when the WAL is collected".to_string(),
                    (DamageKind::Corrupt, false) => "not indexed yet: the logs in it are lost; ingestd skips it, copies the bytes to quarantine/, counts it in ingestd_wal_damaged_total and indexes every record after it".to_string(),
                };
                let _ = writeln!(
                    out,
                    "  DAMAGED positions {}..{} ({bytes} bytes, {}): {what}",
                    d.start,
                    d.end,
                    d.kind.label()
                );
            }
            // The ledger: ranges the indexer skipped, also once their
            // segments are gone.
            let per_log = r.bytes.checked_div(r.logs).unwrap_or(0);
            for skipped in &r.skipped {
                let bytes = skipped.end - skipped.start;
                let when = chrono::DateTime::from_timestamp(skipped.at_secs as i64, 0)
                    .map_or_else(|| "an unknown time".to_string(), |t| t.to_rfc3339());
                let about = if per_log > 0 {
                    format!(
                        ", about {} log(s) at this WAL's {per_log} bytes a log",
                        bytes.div_ceil(per_log)
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "  LOST positions {}..{} ({bytes} bytes{about}): skipped as damaged at {when}; the logs in it were never indexed (the bytes are in quarantine/)",
                    skipped.start, skipped.end
                );
            }
            if r.quarantined_files > 0 {
                let _ = writeln!(
                    out,
                    "  {} damaged range(s) kept in {}",
                    r.quarantined_files,
                    w.dir.join("quarantine").display()
                );
            }
        }
        let ok = self.partitions.iter().filter(|p| p.ok).count();
        let _ = writeln!(
            out,
            "index: {} partition(s), {ok} readable{}",
            self.partitions.len(),
            if self.deep {
                " (checksums verified)"
            } else {
                " (files opened; add --deep to verify checksums)"
            }
        );
        for p in self.partitions.iter().filter(|p| !p.ok) {
            if p.problem
                .as_deref()
                .is_some_and(|why| why.contains("removed while running"))
            {
                let _ = writeln!(
                    out,
                    "  LOST partition {}: {}\n    restore the directory from a backup (then delete its line from index/vanished.jsonl), or re-send the logs; retention forgets it with its day.",
                    p.name,
                    p.problem.as_deref().unwrap_or_default()
                );
                continue;
            }
            let _ = writeln!(
                out,
                "  DAMAGED partition {}: {}\n    ingestd leaves it as it is and writes the day's new logs to a new partition beside it; searches covering it answer partial: true. To get its logs back, restore the directory from a backup, or re-send them; to drop it, stop ingestd and move the directory out of index/.",
                p.name,
                p.problem.as_deref().unwrap_or("unreadable")
            );
        }
        let _ = writeln!(
            out,
            "{}",
            if self.problems == 0 {
                "no damage found".to_string()
            } else {
                format!("{} problem(s) found", self.problems)
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(damage: Vec<wal::Damage>, skipped: Vec<wal::Skipped>) -> CheckReport {
        CheckReport {
            data_dir: PathBuf::from("/data"),
            wals: vec![WalFindings {
                dir: PathBuf::from("/data/wal"),
                committed: 5_000,
                report: WalReport {
                    segments: 2,
                    records: 10,
                    logs: 40,
                    bytes: 4_000,
                    damage,
                    quarantined_files: 1,
                    skipped,
                },
            }],
            partitions: Vec::new(),
            deep: false,
            problems: 0,
        }
    }

    // Regression (issue 32): after a restart past a corrupt record that
    // was never indexed, the commit is above it, and check said "indexed
    // already, nothing is lost".
    #[test]
    fn a_range_the_indexer_skipped_is_lost_even_below_the_commit() {
        let range = wal::Damage {
            start: 1_000,
            end: 1_300,
            kind: DamageKind::Corrupt,
        };
        let skipped = wal::Skipped {
            start: 1_000,
            end: 1_300,
            at_secs: 1_796_000_000,
        };
        let text = report(vec![range], vec![skipped]).render();
        assert!(!text.contains("nothing is lost"), "{text}");
        assert!(
            text.contains("LOST positions 1000..1300 (300 bytes, about 3 log(s)"),
            "{text}"
        );
        // Skipped and collected since: still told, from the ledger.
        let text = report(Vec::new(), vec![skipped]).render();
        assert!(text.contains("LOST positions 1000..1300"), "{text}");
        // Damage below the commit that no reader skipped was indexed before.
        let text = report(vec![range], Vec::new()).render();
        assert!(text.contains("nothing is lost"), "{text}");
    }
}
