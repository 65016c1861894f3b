//! The embedded backend: one tantivy index per UTC day under
//! `<data dir>/index/YYYY-MM-DD`, and `<data dir>/index/checkpoint`.
//!
//! **Invariant:** every commit of a partition carries, as its tantivy commit
//! payload, the WAL position it contains; `checkpoint` holds the position up
//! to which *every* partition is committed. Replay starts at the checkpoint,
//! and a partition skips the records at or below its own payload, so a crash
//! between two partitions' commits stores nothing twice.
//!
//! **Invariant:** an index whose files are there is never replaced or
//! deleted but by retention. When a day's partition is damaged (files
//! missing or cut short), the writer leaves it as it is and writes that
//! day's new logs to a new generation beside it, `YYYY-MM-DD.1` (then `.2`,
//! ...); readers read every generation of a day, and say which they could
//! not read (an answer is then partial, never silently empty).
//!
//! Readers (queryd, possibly another process) open the partitions read-only,
//! discover new days on each request and reload on commit.

mod aggregate;
pub mod backup;
mod collector;
mod ids;
mod query;
mod reader;
mod schema;
mod tenant;
pub mod verify;
mod writer;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use tantivy::Index;

pub use reader::EmbeddedReader;
pub use writer::{oldest_kept_day, EmbeddedSettings, EmbeddedWriter};

const PARTITION_FORMAT: &str = "%Y-%m-%d";

/// `<data dir>/index`.
pub fn index_root(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}

/// A partition directory: a day, and a generation (0 for `YYYY-MM-DD`, N
/// for `YYYY-MM-DD.N`, made when the ones before it were damaged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId {
    pub day: NaiveDate,
    pub generation: u32,
}

impl PartitionId {
    pub fn name(&self) -> String {
        let day = self.day.format(PARTITION_FORMAT);
        match self.generation {
            0 => day.to_string(),
            g => format!("{day}.{g}"),
        }
    }

    fn parse(name: &str) -> Option<PartitionId> {
        let (day, generation) = match name.split_once('.') {
            Some((day, g)) => (day, g.parse().ok().filter(|g| *g > 0)?),
            None => (name, 0),
        };
        Some(PartitionId {
            day: NaiveDate::parse_from_str(day, PARTITION_FORMAT).ok()?,
            generation,
        })
    }
}

fn partition_dir(root: &Path, id: PartitionId) -> PathBuf {
    root.join(id.name())
}

/// The partition directories under `root`, sorted by day and generation.
fn list_partitions(root: &Path) -> std::io::Result<Vec<PartitionId>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(id) = entry.file_name().to_str().and_then(PartitionId::parse) {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}

/// What a partition directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionState {
    /// No index yet (no `meta.json`, and no index file): being created.
    Empty,
    /// Opens, with every segment's files there and whole.
    Ready,
    /// Files are there but the index cannot be opened: why.
    Damaged(String),
}

/// Files tantivy keeps beside an index that say nothing of its data.
fn is_lock_file(name: &str) -> bool {
    name.starts_with(".tantivy") || name.ends_with(".lock")
}

/// What a partition directory without `meta.json` is: empty (being
/// created) or damaged; `None` when `meta.json` is there.
fn state_without_meta(dir: &Path) -> Option<PartitionState> {
    if dir.join("meta.json").exists() {
        return None;
    }
    let files = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_str().is_some_and(is_lock_file))
                .count()
        })
        .unwrap_or(0);
    Some(if files == 0 {
        PartitionState::Empty
    } else {
        PartitionState::Damaged(format!(
            "meta.json is missing but {files} index file(s) are there"
        ))
    })
}

/// Opens the partition at `dir` (and a reader on it, which opens every
/// segment's files and checks their footers) and says what it found.
/// `deep` also verifies every file's checksum (reads all of it).
pub fn partition_state(dir: &Path, deep: bool) -> PartitionState {
    if let Some(state) = state_without_meta(dir) {
        return state;
    }
    let opened = Index::open_in_dir(dir).and_then(|index| {
        schema::register_tokenizers(&index);
        let reader = index.reader()?;
        if deep {
            let bad = index.validate_checksum()?;
            if !bad.is_empty() {
                let mut names: Vec<String> = bad.iter().map(|p| p.display().to_string()).collect();
                names.sort();
                return Err(tantivy::TantivyError::InternalError(format!(
                    "checksum mismatch in {}",
                    names.join(", ")
                )));
            }
        }
        drop(reader);
        Ok(())
    });
    match opened {
        Ok(()) => PartitionState::Ready,
        Err(e) => PartitionState::Damaged(e.to_string()),
    }
}

/// A day partition that was removed while the writer ran (not by
/// retention): the logs it held are lost. Kept in `index/vanished.jsonl`,
/// one line each, until retention passes its day, so that readiness,
/// `check` and every read over the day say so, also after restarts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vanished {
    pub name: String,
    pub day: NaiveDate,
    /// Logs its last commit held, as the writer last saw it.
    pub docs: u64,
    /// When it was noticed (seconds since the Unix epoch).
    pub at_secs: u64,
}

impl Vanished {
    /// What it means, in a sentence.
    pub fn describe(&self) -> String {
        format!(
            "{} was removed while running: the {} logs it held are lost",
            self.name, self.docs
        )
    }
}

fn vanished_path(root: &Path) -> PathBuf {
    root.join("vanished.jsonl")
}

/// The partitions recorded as removed while running (see [`Vanished`]).
pub fn read_vanished(root: &Path) -> Vec<Vanished> {
    let Ok(text) = std::fs::read_to_string(vanished_path(root)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Rewrites the ledger of vanished partitions (synced, replaced whole).
fn write_vanished(root: &Path, all: &[Vanished]) -> std::io::Result<()> {
    use std::io::Write;
    let path = vanished_path(root);
    if all.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    for v in all {
        let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
        line.push(b'\n');
        file.write_all(&line)?;
    }
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(root)?.sync_all()
}

/// One partition's state, for `check`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartitionReport {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Checks every partition under `<data dir>/index` (read only; `deep`
/// verifies checksums too).
pub fn check(data_dir: &Path, deep: bool) -> std::io::Result<Vec<PartitionReport>> {
    let root = index_root(data_dir);
    Ok(list_partitions(&root)?
        .into_iter()
        .map(|id| {
            let problem = match partition_state(&partition_dir(&root, id), deep) {
                PartitionState::Damaged(why) => Some(why),
                PartitionState::Ready | PartitionState::Empty => None,
            };
            PartitionReport {
                name: id.name(),
                ok: problem.is_none(),
                problem,
            }
        })
        .chain(read_vanished(&root).into_iter().map(|v| PartitionReport {
            name: v.name.clone(),
            ok: false,
            problem: Some(v.describe()),
        }))
        .collect())
}

#[cfg(test)]
mod upgrade_tests {
    use super::*;
    use crate::{LogReader, LogWriter};
    use chrono::Utc;
    use log_model::{
        Expr, Filter, Keyword, Leaf, Level, MetadataFilter, SearchQuery, StoredLog, Tenants,
    };

    #[test]
    fn a_time_bounded_query_opens_only_its_days() {
        let dir = tempfile::tempdir().unwrap();
        let today = Utc::now().date_naive();
        let at = |days_ago: i64| {
            (today - chrono::Duration::days(days_ago))
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
        };
        let settings = EmbeddedSettings {
            retention: chrono::Duration::days(30),
            ..EmbeddedSettings::default()
        };
        let mut w = EmbeddedWriter::open(dir.path(), settings).unwrap();
        let logs: Vec<StoredLog> = [0, 1, 3]
            .iter()
            .map(|&d| StoredLog {
                timestamp: at(d),
                ..log(&d.to_string(), None, serde_json::json!({}))
            })
            .collect();
        w.write(&logs, 10).unwrap();
        w.commit().unwrap();

        let reader = EmbeddedReader::open(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let day_start = at(1) - chrono::Duration::hours(12);
        let query = SearchQuery {
            filter: Filter::new(
                Expr::All,
                Some(day_start),
                Some(day_start + chrono::Duration::days(1)),
                Tenants::All,
            ),
            limit: 10,
            ..SearchQuery::over(Tenants::All)
        };
        let page = rt.block_on(reader.search(query)).unwrap();
        let ids: Vec<&str> = page.logs.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, vec!["1"]);
        assert_eq!(reader.open_days(), vec![today - chrono::Duration::days(1)]);

        // Unbounded: every day, newest first.
        let page = rt
            .block_on(reader.search(SearchQuery {
                limit: 10,
                ..SearchQuery::over(Tenants::All)
            }))
            .unwrap();
        let ids: Vec<&str> = page.logs.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, vec!["0", "1", "3"]);
        assert_eq!(reader.open_days().len(), 3);
    }

    fn log(id: &str, trace_id: Option<&str>, metadata: serde_json::Value) -> StoredLog {
        let message = format!("log {id}");
        let pattern = log_patterns::pattern_of(&message);
        StoredLog {
            id: id.into(),
            timestamp: Utc::now(),
            level: Level::Info,
            message,
            source: "s".into(),
            service: None,
            trace_id: trace_id.map(str::to_string),
            span_id: None,
            metadata: metadata.as_object().cloned(),
            received_at: Utc::now(),
            pattern_id: pattern.pattern_id,
            template: pattern.template,
            tenant: log_model::DEFAULT_TENANT.into(),
        }
    }

    /// Today's day partition as an older release wrote it: today's schema
    /// without `missing` (fields added since), holding one log, "old".
    fn older_partition(root: &std::path::Path, missing: &[&str]) -> PartitionId {
        older_partition_of(root, missing, &[log("old", None, serde_json::Value::Null)])
    }

    /// Today's day partition as an older release wrote it, holding `logs`.
    /// Without `id_key`, every id is a term of `id`, as then.
    fn older_partition_of(
        root: &std::path::Path,
        missing: &[&str],
        logs: &[StoredLog],
    ) -> PartitionId {
        let (schema, fields) = schema::build_schema();
        let mut older = tantivy::schema::Schema::builder();
        for (_, entry) in schema.fields() {
            if !missing.contains(&entry.name()) {
                older.add_field(entry.clone());
            }
        }
        let older = older.build();
        let id = PartitionId {
            day: Utc::now().date_naive(),
            generation: 0,
        };
        let path = partition_dir(root, id);
        std::fs::create_dir_all(&path).unwrap();
        let index = tantivy::Index::create_in_dir(&path, older.clone()).unwrap();
        schema::register_tokenizers(&index);
        let mut w: tantivy::IndexWriter = index.writer(15 << 20).unwrap();
        for log in logs {
            // Today's document, keeping the fields the older schema has,
            // under its field numbers.
            let mut doc = tantivy::TantivyDocument::default();
            for (field, value) in schema::to_document(&fields, log).field_values() {
                if let Ok(old) = older.get_field(schema.get_field_name(field)) {
                    doc.add_field_value(old, value);
                }
            }
            if missing.contains(&"id_key") && ids::id_parts(&log.id).is_some() {
                doc.add_text(older.get_field("id").unwrap(), &log.id);
            }
            w.add_document(doc).unwrap();
        }
        w.commit().unwrap();
        id
    }

    /// Stored bodies written before the id, level, source, service and
    /// pattern id moved to columns read as they are; bodies written now
    /// leave them out and get them from the columns. Both in one partition
    /// of today's schema.
    #[test]
    fn column_values_read_from_old_bodies_and_from_columns() {
        let dir = tempfile::tempdir().unwrap();
        let root = index_root(dir.path());
        let (schema, fields) = schema::build_schema();
        let today = PartitionId {
            day: Utc::now().date_naive(),
            generation: 0,
        };
        let path = partition_dir(&root, today);
        std::fs::create_dir_all(&path).unwrap();
        let index = tantivy::Index::create_in_dir(&path, schema).unwrap();
        schema::register_tokenizers(&index);
        let mut w: tantivy::IndexWriter = index.writer(15 << 20).unwrap();
        // The earlier release's body: the whole log as JSON.
        let old = log(
            "0190b6a2-7c1e-7cc1-8a2b-0123456789ab",
            None,
            serde_json::Value::Null,
        );
        let mut doc = tantivy::TantivyDocument::default();
        for (field, value) in schema::to_document(&fields, &old).field_values() {
            if field != fields.doc {
                doc.add_field_value(field, value);
            }
        }
        doc.add_text(fields.doc, serde_json::to_string(&old).unwrap());
        w.add_document(doc).unwrap();
        w.commit().unwrap();
        drop(w);

        let mut new = log(
            "0190b6a2-7c1e-7cc1-8a2b-0123456789ac",
            None,
            serde_json::Value::Null,
        );
        new.message = "disk full on db-7".into();
        new.level = Level::Critical;
        new.source = "host-7".into();
        new.service = Some("storage".into());
        let pattern = log_patterns::pattern_of(&new.message);
        new.pattern_id = pattern.pattern_id;
        new.template = pattern.template;
        let mut writer = EmbeddedWriter::open(dir.path(), EmbeddedSettings::default()).unwrap();
        writer.write(std::slice::from_ref(&new), 10).unwrap();
        writer.commit().unwrap();
        drop(writer);
        // One partition: the writer wrote into it (same schema).
        assert_eq!(list_partitions(&root).unwrap(), [today]);
        // The new body holds neither.
        let index = tantivy::Index::open_in_dir(&path).unwrap();
        let searcher = index.reader().unwrap().searcher();
        let bodies: Vec<String> = searcher
            .search(
                &tantivy::query::AllQuery,
                &tantivy::collector::DocSetCollector,
            )
            .unwrap()
            .into_iter()
            .map(|a| {
                let doc: tantivy::TantivyDocument = searcher.doc(a).unwrap();
                use tantivy::schema::Value;
                doc.get_first(fields.doc)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(bodies.len(), 2);
        let new_body = bodies.iter().find(|b| !b.contains(&old.id)).unwrap();
        assert!(!new_body.contains(&new.id[..8]), "{new_body}");
        for column in [&new.pattern_id, "CRITICAL", "host-7", "storage"] {
            assert!(!new_body.contains(column), "{column} in {new_body}");
        }

        let reader = EmbeddedReader::open(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut logs = rt
            .block_on(reader.search(SearchQuery {
                limit: 10,
                ..SearchQuery::over(Tenants::All)
            }))
            .unwrap()
            .logs;
        logs.sort_by(|a, b| a.id.cmp(&b.id));
        // (The old body carried its template too.)
        let new_read = StoredLog {
            template: String::new(),
            ..new.clone()
        };
        assert_eq!(logs, [old, new_read]);
    }

    /// A day partition written by the release before trace ids and
    /// metadata were indexed (schema 1: the fields before them) is read as
    /// it is; the day's new logs go to a new generation, and filters the
    /// old one cannot answer say the answer is partial.
    #[test]
    fn a_partition_of_the_older_schema_is_read_and_written_around() {
        let dir = tempfile::tempdir().unwrap();
        let root = index_root(dir.path());
        let first = older_partition(&root, &["trace_id", "metadata"]);
        assert!(!schema::has_search_fields(
            &tantivy::Index::open_in_dir(partition_dir(&root, first))
                .unwrap()
                .schema()
        ));
        let day = first.day;

        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut writer = EmbeddedWriter::open(dir.path(), EmbeddedSettings::default()).unwrap();
        let meta = serde_json::json!({"index": "logs-web", "http": {"status": 503}, "tags": ["a", "b"], "at": "2026-11-28T10:00:00Z"});
        writer.write(&[log("new", Some(trace), meta)], 10).unwrap();
        writer.commit().unwrap();
        drop(writer);
        assert_eq!(
            list_partitions(&root).unwrap(),
            [first, PartitionId { day, generation: 1 }]
        );

        let reader = EmbeddedReader::open(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let search = |q: SearchQuery| {
            rt.block_on(reader.search(SearchQuery { limit: 10, ..q }))
                .unwrap()
        };
        let all = search(SearchQuery::over(Tenants::All));
        assert_eq!(all.logs.len(), 2);
        assert!(all.missing.is_empty());
        let by_trace = search(SearchQuery {
            filter: Filter::new(
                Expr::Leaf(Leaf::Term {
                    field: Keyword::TraceId,
                    value: trace.into(),
                }),
                None,
                None,
                Tenants::All,
            ),
            ..SearchQuery::over(Tenants::All)
        });
        assert_eq!(
            by_trace
                .logs
                .iter()
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>(),
            ["new"]
        );
        assert_eq!(by_trace.missing, [first.name()]);
        for (path, value, hits) in [
            ("index", "logs-web", 1),
            ("http.status", "503", 1),
            ("http.status", "504", 0),
            ("tags", "b", 1),
            ("index", "LOGS-WEB", 0),
            // A date-like string is matched as the text it is.
            ("at", "2026-11-28T10:00:00Z", 1),
        ] {
            let page = search(SearchQuery {
                filter: Filter::new(
                    Expr::Leaf(Leaf::Metadata(
                        MetadataFilter::parse(&format!("{path}:{value}")).unwrap(),
                    )),
                    None,
                    None,
                    Tenants::All,
                ),
                ..SearchQuery::over(Tenants::All)
            });
            assert_eq!(page.logs.len(), hits, "{path}:{value}");
        }
        // Numeric comparisons read numbers (integers and floats alike), and
        // the query language's parse is what the store answers.
        for (query, hits) in [
            ("metadata.http.status>=500", 1),
            ("metadata.http.status>503", 0),
            ("metadata.http.status<503.5", 1),
            ("metadata.http.status<=502", 0),
            ("metadata.index>=1", 0),
            ("-metadata.http.status:503", 0),
            ("-metadata.http.status:504", 1),
            ("metadata.tags:(a OR b)", 1),
        ] {
            let page = search(SearchQuery {
                filter: Filter::new(Expr::parse(query).unwrap(), None, None, Tenants::All),
                ..SearchQuery::over(Tenants::All)
            });
            assert_eq!(page.logs.len(), hits, "{query}");
        }
    }

    /// A day partition written before tenants (schema 3: no `tenant`
    /// field) holds the default tenant's logs: the default tenant reads
    /// them, another tenant does not, and an unscoped read sees all; new
    /// logs of both tenants go to a new generation and stay apart, in
    /// searches, counts, histograms and patterns.
    #[test]
    fn a_partition_from_before_tenants_is_the_default_tenant_s() {
        let dir = tempfile::tempdir().unwrap();
        let root = index_root(dir.path());
        let first = older_partition(&root, &["tenant"]);
        let older = tantivy::Index::open_in_dir(partition_dir(&root, first))
            .unwrap()
            .schema();
        assert!(!schema::has_tenant(&older) && schema::has_tenant(&schema::build_schema().0));
        let day = first.day;

        let mut writer = EmbeddedWriter::open(dir.path(), EmbeddedSettings::default()).unwrap();
        let mut acme = log("acme-1", None, serde_json::Value::Null);
        acme.tenant = "acme".into();
        // Mostly the default tenant's: its reads exclude the other tenants
        // (acme's read asks for its own term).
        let defaults: Vec<StoredLog> = (1..=3)
            .map(|i| log(&format!("default-{i}"), None, serde_json::Value::Null))
            .collect();
        let mut logs = vec![acme];
        logs.extend(defaults);
        writer.write(&logs, 10).unwrap();
        writer.commit().unwrap();
        drop(writer);
        assert_eq!(
            list_partitions(&root).unwrap(),
            [first, PartitionId { day, generation: 1 }]
        );

        let reader = EmbeddedReader::open(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let filter = |tenant: Option<&str>| Filter {
            tenant: tenant.map_or(Tenants::All, Tenants::one),
            ..Filter::new(Expr::All, None, None, Tenants::All)
        };
        for (tenant, ids) in [
            (
                None,
                vec!["acme-1", "default-1", "default-2", "default-3", "old"],
            ),
            (
                Some("default"),
                vec!["default-1", "default-2", "default-3", "old"],
            ),
            (Some("acme"), vec!["acme-1"]),
            (Some("other"), vec![]),
        ] {
            let page = rt
                .block_on(reader.search(SearchQuery {
                    filter: filter(tenant),
                    limit: 10,
                    ..SearchQuery::over(Tenants::All)
                }))
                .unwrap();
            let mut got: Vec<&str> = page.logs.iter().map(|l| l.id.as_str()).collect();
            got.sort();
            assert_eq!(got, ids, "{tenant:?}");
            assert_eq!(page.total_count, ids.len() as u64, "{tenant:?}");
            assert!(page.missing.is_empty());
            let now = Utc::now();
            let histogram = rt
                .block_on(reader.histogram(log_model::HistogramQuery {
                    filter: Filter {
                        start: Some(now - chrono::Duration::hours(1)),
                        end: Some(now + chrono::Duration::hours(1)),
                        ..filter(tenant)
                    },
                    start: now - chrono::Duration::hours(1),
                    end: now + chrono::Duration::hours(1),
                    interval_ms: 3_600_000,
                    budget: log_model::ReadBudget::default(),
                }))
                .unwrap();
            let counted: u64 = histogram
                .buckets
                .iter()
                .flat_map(|(_, counts)| counts.iter())
                .sum();
            assert_eq!(counted, ids.len() as u64, "histogram of {tenant:?}");
        }
    }

    /// A partition written before ids were keyed (schema 5: every id a
    /// term) and one written now (canonical ids by key and in columns,
    /// other ids as terms) answer id lookups, id prefixes and "after this
    /// id" alike: as the texts of the ids compare.
    #[test]
    fn ids_are_found_alike_in_keyed_and_older_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let root = index_root(dir.path());
        // Ids as ingest makes them (time-ordered), a few sharing long
        // prefixes, and two a client chose.
        let uuid = |i: u128| {
            let v = (0x0190_b6a2_7c1e_7000_u128 + (i / 3) * 0x1_0000) << 64
                | (0x8a2b_0000_0000_0000 + i * 0x0123_4567_89ab);
            uuid::Uuid::from_u128(v).to_string()
        };
        let old_logs: Vec<StoredLog> = (0..20)
            .map(|i| log(&uuid(i), None, serde_json::Value::Null))
            .collect();
        let first = older_partition_of(&root, &["id_key"], &old_logs);
        let mut new_logs: Vec<StoredLog> = (20..50)
            .map(|i| log(&uuid(i), None, serde_json::Value::Null))
            .collect();
        new_logs.push(log("client-1", None, serde_json::Value::Null));
        new_logs.push(log("zzz", None, serde_json::Value::Null));
        let mut writer = EmbeddedWriter::open(dir.path(), EmbeddedSettings::default()).unwrap();
        writer.write(&new_logs, 10).unwrap();
        writer.commit().unwrap();
        drop(writer);
        let partitions = list_partitions(&root).unwrap();
        assert_eq!(partitions.len(), 2);
        let keyed = tantivy::Index::open_in_dir(partition_dir(&root, partitions[1]))
            .unwrap()
            .schema();
        assert!(schema::has_id_keys(&keyed));
        assert!(!schema::has_id_keys(
            &tantivy::Index::open_in_dir(partition_dir(&root, first))
                .unwrap()
                .schema()
        ));

        let reader = EmbeddedReader::open(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let found = |filter: Filter| {
            let page = rt
                .block_on(reader.search(SearchQuery {
                    filter,
                    limit: 100,
                    ..SearchQuery::over(Tenants::All)
                }))
                .unwrap();
            let mut ids: Vec<String> = page.logs.into_iter().map(|l| l.id).collect();
            ids.sort();
            ids
        };
        let all: Vec<String> = old_logs
            .iter()
            .chain(&new_logs)
            .map(|l| l.id.clone())
            .collect();
        let expect = |keep: &dyn Fn(&str) -> bool| {
            let mut ids: Vec<String> = all.iter().filter(|id| keep(id)).cloned().collect();
            ids.sort();
            ids
        };
        let term = |field, value: &str| {
            Filter::new(
                Expr::Leaf(Leaf::Term {
                    field,
                    value: value.into(),
                }),
                None,
                None,
                Tenants::All,
            )
        };
        for id in &all {
            assert_eq!(
                found(term(Keyword::Id, id)),
                std::slice::from_ref(id),
                "id:{id}"
            );
        }
        for missing in [
            uuid(50).as_str(),
            "client",
            "0190b6a2",
            &uuid(3).to_uppercase(),
        ] {
            assert!(found(term(Keyword::Id, missing)).is_empty(), "id:{missing}");
        }
        let mut probes: Vec<String> = vec![
            String::new(),
            "0".into(),
            "0190b6a2-7c1e-7".into(),
            "0190b6a2-7c1e-7000".into(),
            "0190b6a2-7c1e-700".into(),
            "0190b6a2-7c1e-7009-".into(),
            "0190b6a2-7c2".into(),
            "0190b6a2-7c1e-70".into(),
            "c".into(),
            "client-1".into(),
            "z".into(),
            "~".into(),
            "0190b6a2x".into(),
        ];
        for id in all.iter().step_by(7) {
            probes.push(id.clone());
            probes.push(id[..24].to_string());
            probes.push(id[..30].to_string());
        }
        for probe in &probes {
            let prefix = Filter::new(
                Expr::Leaf(Leaf::TermPrefix {
                    field: Keyword::Id,
                    prefix: probe.clone(),
                }),
                None,
                None,
                Tenants::All,
            );
            if !probe.is_empty() {
                assert_eq!(
                    found(prefix),
                    expect(&|id| id.starts_with(probe.as_str())),
                    "id:{probe}*"
                );
            }
            let after = Filter {
                id_after: Some(probe.clone()),
                ..Filter::new(Expr::All, None, None, Tenants::All)
            };
            assert_eq!(
                found(after),
                expect(&|id| id > probe.as_str()),
                "after {probe:?}"
            );
        }
    }
}
