use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, NaiveDate, Utc};
use tantivy::collector::{Collector, Count, DocSetCollector, TopDocs};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{AllQuery, Query};
use tantivy::schema::Value;
use tantivy::{DocAddress, Index, IndexReader, Order, ReloadPolicy, Searcher, TantivyDocument};
use tracing::{debug, error, warn};

use log_model::{
    FacetsQuery, Filter, HistogramQuery, PatternsQuery, SearchQuery, SortKey, SortOrder, StoredLog,
    Tenants,
};

use super::aggregate::{
    add_counts, FacetCollector, FieldCounts, HistogramCollector, LevelCounts, FACET_FIELDS,
};
use super::collector::{template_terms, PatternCollector, SeenCollector, Stop, TemplateCounts};
use super::ids::id_from_parts;
use super::query::{at_time, compile, Ids};
use super::schema::{
    build_schema, has_id_keys, has_search_fields, has_tenant, message_from_values, received_after,
    register_tokenizers, time_from_parts, Fields, StoredBody,
};
use super::tenant::TenantQuery;
use super::{
    index_root, list_partitions, partition_dir, state_without_meta, PartitionId, PartitionState,
};
use crate::model::{by_count, finish_patterns, keep_most_frequent, top_values, RawGroup};
use crate::{BoxFuture, Facets, Histogram, LogReader, PatternsPage, SearchPage, StoreError};

/// Open partitions, newest first.
type OpenPartitions = Vec<(PartitionId, Arc<Partition>)>;

/// A partition, its searcher and the request compiled for it.
type Matching = (PartitionId, Searcher, Box<dyn Query>);

/// A matching log found in one of a day's partitions: its time, the
/// partition (its place in the day's list) and its address there.
#[derive(Debug, Clone, Copy)]
struct Hit {
    ts: i64,
    part: usize,
    address: DocAddress,
}

struct Partition {
    index: Index,
    reader: IndexReader,
    /// The directory's inode when opened: another one under the same name
    /// (the day removed and made again) is opened afresh.
    inode: u64,
}

/// The inode of a directory (0 when it cannot be read).
fn inode_of(dir: &Path) -> u64 {
    std::fs::metadata(dir).map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m))
}

/// Reads the day partitions of a data directory; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedReader {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    fields: Fields,
    partitions: RwLock<BTreeMap<PartitionId, Arc<Partition>>>,
    /// Partitions that could not be read: name, reason.
    damaged: RwLock<BTreeMap<String, String>>,
    /// Those of `damaged` that failed to open (being created, say): a later
    /// open that succeeds clears them.
    open_failed: RwLock<HashSet<String>>,
    /// Woken after each commit of a writer in this process (live tails
    /// look at once rather than at their next poll).
    committed: Arc<tokio::sync::Notify>,
    /// Histogram counts of whole segments (immutable, never deleted from),
    /// by segment, interval and query: a dashboard asking for the same week
    /// again counts only the segments that are new.
    histograms: Mutex<HashMap<HistogramKey, Arc<SegmentCounts>>>,
    /// Where the background verification stands; set once it runs.
    verification: Mutex<Option<crate::Verification>>,
    /// Values of segments' keyword columns already looked up, by segment:
    /// pages of a search or an export read the same few values.
    values: Mutex<HashMap<tantivy::index::SegmentId, Arc<SegmentValues>>>,
}

/// A segment's keyword values by column (of [`BODY_KEYWORDS`]) and
/// ordinal. A segment is immutable: an ordinal always names one value.
type SegmentValues = Mutex<[HashMap<u64, Arc<str>>; BODY_KEYWORDS.len()]>;

/// Most segments whose values are kept (the cache is emptied when full).
const VALUE_CACHE_SEGMENTS: usize = 4_096;

/// A segment's non-empty buckets: start (ms) and counts per level.
type SegmentCounts = Vec<(i64, [u64; 5])>;

/// A segment, a histogram interval (ms) and the query (its debug form).
/// A segment's histogram is kept per segment, interval, tenants and
/// query (one tenant's counts are never another's).
type HistogramKey = (tantivy::index::SegmentId, i64, Tenants, log_model::Expr);

/// Most segment histograms kept (the cache is emptied when full).
const HISTOGRAM_CACHE: usize = 20_000;

impl EmbeddedReader {
    pub fn open(data_dir: &Path) -> Self {
        let (_, fields) = build_schema();
        EmbeddedReader {
            inner: Arc::new(Inner {
                root: index_root(data_dir),
                fields,
                partitions: RwLock::new(BTreeMap::new()),
                damaged: RwLock::new(BTreeMap::new()),
                open_failed: RwLock::new(HashSet::new()),
                histograms: Mutex::new(HashMap::new()),
                verification: Mutex::new(None),
                values: Mutex::new(HashMap::new()),
                committed: Arc::new(tokio::sync::Notify::new()),
            }),
        }
    }

    /// Makes the latest commits visible now (the writer calls this in the
    /// same process; other processes see commits within about 500 ms).
    pub fn reload(&self) {
        let partitions = self.inner.partitions.read().expect("lock");
        for (id, p) in partitions.iter() {
            if let Err(error) = p.reader.reload() {
                warn!(partition = %id.name(), %error, "partition reload failed");
            }
        }
    }

    /// A writer in this process committed: reloads, and wakes whoever waits
    /// for new logs.
    pub fn committed(&self) {
        self.reload();
        self.inner.committed.notify_waiters();
    }

    /// Verifies the partitions' files whole on a thread of its own, at
    /// about `bytes_per_sec` on average, newest partitions first; new
    /// segments are verified once each as commits and merges make them.
    /// Damage found marks the partition (see [`Self::damaged`]). The thread
    /// ends when the reader is dropped; a second call does nothing.
    pub fn verify_in_background(&self, bytes_per_sec: u64) {
        if bytes_per_sec == 0 {
            return;
        }
        {
            let mut state = self.inner.verification.lock().expect("lock");
            if state.is_some() {
                return;
            }
            *state = Some(crate::Verification::default());
        }
        let weak = Arc::downgrade(&self.inner);
        let root = self.inner.root.clone();
        let spawned = std::thread::Builder::new()
            .name("verify".into())
            .spawn(move || {
                lower_priority();
                let mut verifier = super::verify::Verifier::default();
                loop {
                    let Some(inner) = weak.upgrade() else { return };
                    let reader = EmbeddedReader { inner };
                    let publish = |progress: crate::Verification| {
                        *reader.inner.verification.lock().expect("lock") = Some(progress);
                    };
                    let done = verifier.sweep(
                        &root,
                        |id, why| reader.mark_damaged(&id.name(), why),
                        |bytes, progress| {
                            publish(progress);
                            let secs = bytes as f64 / bytes_per_sec as f64;
                            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(10.0)));
                            Arc::strong_count(&reader.inner) > 1
                        },
                    );
                    publish(verifier.progress);
                    drop(reader);
                    let rest = if done { 2000 } else { 100 };
                    std::thread::sleep(std::time::Duration::from_millis(rest));
                }
            });
        if let Err(error) = spawned {
            warn!(%error, "the background verification could not start");
        }
    }

    /// Where the background verification stands (`None`: not started).
    pub fn verification(&self) -> Option<crate::Verification> {
        *self.inner.verification.lock().expect("lock")
    }

    /// The partitions found damaged so far (name and reason), and those
    /// removed while running.
    pub fn damaged(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .inner
            .damaged
            .read()
            .expect("lock")
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        for v in super::read_vanished(&self.inner.root) {
            if !all.iter().any(|(n, _)| *n == v.name) {
                all.push((v.name.clone(), v.describe()));
            }
        }
        all
    }

    fn mark_damaged(&self, name: &str, reason: String) {
        // Some errors quote a whole file (an unreadable meta.json): the
        // first few hundred characters say what is wrong.
        let reason = match reason.char_indices().nth(300) {
            Some((at, _)) => format!("{}...", &reason[..at]),
            None => reason,
        };
        let mut damaged = self.inner.damaged.write().expect("lock");
        if damaged.get(name) != Some(&reason) {
            error!(partition = %name, %reason, "day partition cannot be read; answers that need it say they are partial");
            damaged.insert(name.to_string(), reason);
        }
    }

    /// The partitions of the days `[first, last]` (all when unbounded),
    /// newest first, and the names of those that could not be opened. Lists
    /// the directories on disk (so new days appear and deleted ones go), and
    /// opens only the days asked for: a time-bounded query touches no other.
    fn partitions(
        &self,
        first: Option<NaiveDate>,
        last: Option<NaiveDate>,
    ) -> Result<(OpenPartitions, Vec<String>), StoreError> {
        let inner = &self.inner;
        let on_disk = list_partitions(&inner.root).map_err(|e| StoreError::io(&inner.root, e))?;
        let wanted: Vec<PartitionId> = on_disk
            .iter()
            .rev()
            .copied()
            .filter(|id| first.is_none_or(|f| id.day >= f) && last.is_none_or(|l| id.day <= l))
            .collect();
        // Days whose partition was removed while running: every answer
        // over them says what is missing.
        let vanished: Vec<String> = super::read_vanished(&inner.root)
            .into_iter()
            .filter(|v| first.is_none_or(|f| v.day >= f) && last.is_none_or(|l| v.day <= l))
            .map(|v| format!("{} (removed while running: {} logs lost)", v.name, v.docs))
            .collect();
        let same_dir =
            |id: &PartitionId, p: &Partition| p.inode == inode_of(&partition_dir(&inner.root, *id));
        {
            let partitions = inner.partitions.read().expect("lock");
            let stale = partitions.keys().any(|d| !on_disk.contains(d));
            if !stale
                && wanted
                    .iter()
                    .all(|d| partitions.get(d).is_some_and(|p| same_dir(d, p)))
            {
                let open = wanted.iter().map(|d| (*d, partitions[d].clone())).collect();
                return Ok((open, vanished));
            }
        }
        let mut partitions = inner.partitions.write().expect("lock");
        let mut replaced = Vec::new();
        partitions.retain(|id, p| {
            let keep = on_disk.contains(id) && same_dir(id, p);
            if !keep {
                replaced.push(id.name());
            }
            keep
        });
        // Damage found in a partition no longer open (gone, or made again)
        // was its own.
        self.inner.damaged.write().expect("lock").retain(|name, _| {
            on_disk.iter().any(|id| id.name() == *name) && !replaced.contains(name)
        });
        let mut out = Vec::with_capacity(wanted.len());
        let mut missing = vanished;
        for id in wanted {
            let partition = match partitions.entry(id) {
                Entry::Occupied(e) => e.get().clone(),
                Entry::Vacant(e) => match open_partition(&partition_dir(&inner.root, id)) {
                    Ok(p) => {
                        debug!(partition = %id.name(), "partition opened for reading");
                        if inner.open_failed.write().expect("lock").remove(&id.name()) {
                            inner.damaged.write().expect("lock").remove(&id.name());
                        }
                        e.insert(Arc::new(p)).clone()
                    }
                    Err(error) => {
                        // The open failed: the directory says why when its
                        // meta.json is gone (or it is being created);
                        // otherwise the open's own error does.
                        let reason = match state_without_meta(&partition_dir(&inner.root, id)) {
                            Some(PartitionState::Empty) => continue,
                            Some(PartitionState::Damaged(reason)) => reason,
                            _ => error.to_string(),
                        };
                        self.mark_damaged(&id.name(), reason);
                        inner.open_failed.write().expect("lock").insert(id.name());
                        missing.push(id.name());
                        continue;
                    }
                },
            };
            out.push((id, partition));
        }
        Ok((out, missing))
    }

    /// The days whose partitions are open.
    #[cfg(test)]
    pub(crate) fn open_days(&self) -> Vec<NaiveDate> {
        let mut days: Vec<NaiveDate> = self
            .inner
            .partitions
            .read()
            .expect("lock")
            .keys()
            .map(|id| id.day)
            .collect();
        days.dedup();
        days
    }

    /// For each partition the filter's time range covers, newest first: a
    /// searcher and the filter compiled for it; and the partitions that
    /// could not be opened.
    fn matching(&self, filter: &Filter) -> Result<(Vec<Matching>, Vec<String>), StoreError> {
        let fields = &self.inner.fields;
        // The end is exclusive: a range ending at midnight does not open the next day.
        let last_day = filter
            .end
            .map(|e| (e - chrono::Duration::microseconds(1)).date_naive());
        let first_day = filter.start.map(|s| s.date_naive());
        let mut out = Vec::new();
        let (partitions, mut missing) = self.partitions(first_day, last_day)?;
        let needs_search_fields = filter.needs_search_fields();
        // A partition known to be damaged (a read failed on it, or a file
        // failed its checksum) is still read for what it can give, and
        // every answer over it says it is partial.
        let damaged = self.inner.damaged.read().expect("lock").clone();
        for (id, partition) in partitions {
            if damaged.contains_key(&id.name()) {
                missing.push(id.name());
            }
            // A partition made before trace ids and metadata were indexed
            // cannot answer those filters: the answer says it is partial.
            let schema = partition.index.schema();
            if needs_search_fields && !has_search_fields(&schema) {
                missing.push(id.name());
                continue;
            }
            // A partition made before tenants holds only the default
            // tenant's logs (and has no field to ask).
            let before_tenants = !has_tenant(&schema);
            if before_tenants
                && filter
                    .tenant
                    .single()
                    .is_some_and(|t| t != log_model::DEFAULT_TENANT)
            {
                continue;
            }
            let mut analyzer = partition.index.tokenizer_for_field(fields.message)?;
            let searcher = partition.reader.searcher();
            // A partition wholly inside the time range needs no range
            // clause (a scan of its `ts` column per search).
            let inside = ts_bounds(&searcher).is_some_and(|(low, high)| {
                filter.start.is_none_or(|s| s.timestamp_micros() <= low)
                    && filter.end.is_none_or(|e| high < e.timestamp_micros())
            });
            let query = if inside && (filter.start.is_some() || filter.end.is_some()) {
                let unbounded = Filter {
                    start: None,
                    end: None,
                    ..filter.clone()
                };
                compile_for(&searcher, fields, &mut analyzer, &unbounded)
            } else {
                compile_for(&searcher, fields, &mut analyzer, filter)
            };
            out.push((id, searcher, query));
        }
        Ok((out, missing))
    }

    /// How many logs `matching` holds, counted exactly up to `limit`;
    /// `true` when the count stopped there (a lower bound).
    fn count(&self, matching: &[Matching], limit: u64, missing: &mut Vec<String>) -> (u64, bool) {
        let mut total = 0u64;
        for (id, searcher, query) in matching {
            if total >= limit {
                return (limit, true);
            }
            match count_up_to(searcher, query.as_ref(), limit - total) {
                Ok(n) => total += n,
                Err(e) => self.unreadable(id, &e.into(), missing),
            }
        }
        (total.min(limit), total > limit)
    }

    /// One page of a search: the count over the filter's partitions, the
    /// logs just after a cursor ([`Self::after_cursor`]), then day by day
    /// ([`Self::page_of_day`]) until the page is full.
    fn search_blocking(&self, q: &SearchQuery) -> Result<SearchPage, StoreError> {
        // The filter's partitions, for the count and (without a cursor)
        // the page.
        let (whole, mut missing) = self.matching(&q.filter)?;
        let (total, lower_bound) = match q.track_total {
            Some(limit) => self.count(&whole, limit, &mut missing),
            None => (0, false),
        };
        let mut logs = Vec::with_capacity(q.limit);
        let (filter, matching) = match &q.after {
            None => (q.filter.clone(), whole),
            Some(key) => self.after_cursor(q, key, &mut logs, &mut missing)?,
        };
        let mut days: Vec<&[Matching]> = matching.chunk_by(|a, b| a.0.day == b.0.day).collect();
        if q.order == SortOrder::Asc {
            days.reverse();
        }
        let mut skip = q.offset;
        let mut need = q.limit - logs.len();
        // Days are disjoint: page through them in order. The generations of
        // one day (after damage) overlap, and are merged.
        for day in days {
            if need == 0 {
                break;
            }
            let loaded = self.page_of_day(day, q, &filter, &mut skip, need, &mut missing);
            need -= loaded.len();
            logs.extend(loaded);
        }
        missing.sort();
        missing.dedup();
        Ok(SearchPage {
            logs,
            total_count: total,
            total_is_lower_bound: lower_bound,
            missing,
        })
    }

    /// After a cursor: first the logs of the cursor's own time whose ids
    /// sort after its id (few; read into `logs`), then the filter of the
    /// logs strictly past that time, a plain time range (no union over the
    /// rest of the day), and its partitions; no day past the cursor's is
    /// opened.
    fn after_cursor(
        &self,
        q: &SearchQuery,
        key: &SortKey,
        logs: &mut Vec<StoredLog>,
        missing: &mut Vec<String>,
    ) -> Result<(Filter, Vec<Matching>), StoreError> {
        let t = DateTime::from_timestamp_micros(key.ts).unwrap_or_default();
        let just_after = t + chrono::Duration::microseconds(1);
        let (same_time, unopened) = self.matching(&q.filter.within(Some(t), Some(just_after)))?;
        missing.extend(unopened);
        let mut later: Vec<(String, usize, DocAddress)> = Vec::new();
        let mut docs: Vec<DocReader<'_>> = same_time
            .iter()
            .map(|(_, searcher, _)| DocReader::new(searcher, &self.inner))
            .collect();
        for (k, (id, searcher, query)) in same_time.iter().enumerate() {
            let ids = &mut docs[k];
            let found = searcher
                .search(query, &DocSetCollector)
                .map_err(StoreError::from)
                .and_then(|found| {
                    found
                        .into_iter()
                        .map(|a| Ok((ids.id(a)?, k, a)))
                        .collect::<Result<Vec<_>, StoreError>>()
                });
            match found {
                Ok(found) => later.extend(found.into_iter().filter(|(id, ..)| {
                    q.order.apply(id.cmp(&key.id)) == std::cmp::Ordering::Greater
                })),
                Err(e) => self.unreadable(id, &e, missing),
            }
        }
        // Only the page's few are read from the document store.
        later.sort_by(|a, b| q.order.apply(a.0.cmp(&b.0)));
        later.truncate(q.limit);
        for (_, k, address) in later {
            let (id, ..) = &same_time[k];
            match docs[k].load(address) {
                Ok(log) => logs.push(log),
                Err(e) => self.unreadable(id, &e, missing),
            }
        }
        sort_logs(logs, q.order);
        logs.truncate(q.limit);
        let rest = match q.order {
            SortOrder::Desc => q.filter.within(None, Some(t)),
            SortOrder::Asc => q.filter.within(Some(just_after), None),
        };
        let (matching, unopened) = self.matching(&rest)?;
        missing.extend(unopened);
        Ok((rest, matching))
    }

    /// The page's logs from one day's partitions (the generations of one
    /// day, after damage, overlap and are merged): skips `skip` matches
    /// first (what is left of it stays in `skip`), then reads at most
    /// `need`, in the query's order.
    fn page_of_day(
        &self,
        day: &[Matching],
        q: &SearchQuery,
        filter: &Filter,
        skip: &mut usize,
        need: usize,
        missing: &mut Vec<String>,
    ) -> Vec<StoredLog> {
        let fields = &self.inner.fields;
        let order = match q.order {
            SortOrder::Desc => Order::Desc,
            SortOrder::Asc => Order::Asc,
        };
        if *skip > 0 {
            let mut day_total = 0;
            for (id, searcher, query) in day {
                match searcher.search(query, &Count) {
                    Ok(n) => day_total += n,
                    Err(e) => self.unreadable(id, &e.into(), missing),
                }
            }
            if *skip >= day_total {
                *skip -= day_total;
                return Vec::new();
            }
        }
        let wanted = *skip + need;
        // The page's logs are the newest (or oldest) of the day: look
        // near that edge of the day first, in windows that grow, and
        // read the whole day only when they do not hold a page. A broad
        // query then reads a minute of logs, not a day of them.
        let edge = (q.order, day_edge(day, q.order, filter.end, filter.start));
        let mut hits: Vec<Hit> = Vec::new();
        for window in WINDOWS_US.iter().map(Some).chain([None]) {
            hits.clear();
            // The filter narrowed to the window: one time range, where
            // a second range on top of the filter's would scan `ts` twice.
            let micros = |t: i64| DateTime::from_timestamp_micros(t).unwrap_or_default();
            let bounded = match (window, edge) {
                (Some(w), (SortOrder::Desc, Some(edge))) => {
                    Some(filter.within(Some(micros(edge.saturating_sub(*w))), None))
                }
                (Some(w), (SortOrder::Asc, Some(edge))) => Some(filter.within(
                    None,
                    Some(micros(edge.saturating_add(*w).saturating_add(1))),
                )),
                (Some(_), (_, None)) => continue,
                (None, _) => None,
            };
            for (k, (id, searcher, query)) in day.iter().enumerate() {
                let top =
                    TopDocs::with_limit(wanted).order_by_fast_field::<i64>("ts", order.clone());
                let found = match &bounded {
                    Some(narrowed) => searcher
                        .index()
                        .tokenizer_for_field(fields.message)
                        .and_then(|mut analyzer| {
                            let query = compile_for(searcher, fields, &mut analyzer, narrowed);
                            searcher.search(&*query, &top)
                        }),
                    None => searcher.search(query, &top),
                };
                match found {
                    Ok(found) => hits.extend(found.into_iter().map(|(ts, address)| Hit {
                        ts,
                        part: k,
                        address,
                    })),
                    Err(e) => self.unreadable(id, &e.into(), missing),
                }
            }
            if bounded.is_none() || hits.len() >= wanted {
                break;
            }
        }
        hits.sort_by(|a, b| q.order.apply(a.ts.cmp(&b.ts)));
        // Logs of one time are ordered by id. Where the page ends inside
        // a run of logs of one time, which of them it holds is decided
        // by id too: every log of that time is read, so that the next
        // page (from the cursor) neither skips nor repeats one.
        if *skip == 0 && hits.len() >= wanted {
            let edge = hits[wanted - 1].ts;
            hits.retain(|h| h.ts != edge);
            for (k, (id, searcher, query)) in day.iter().enumerate() {
                let same_time = tantivy::query::BooleanQuery::intersection(vec![
                    query.box_clone(),
                    at_time(fields, edge),
                ]);
                match searcher.search(&same_time, &DocSetCollector) {
                    Ok(found) => hits.extend(found.into_iter().map(|address| Hit {
                        ts: edge,
                        part: k,
                        address,
                    })),
                    Err(e) => self.unreadable(id, &e.into(), missing),
                }
            }
        }
        let mut readers: Vec<DocReader<'_>> = day
            .iter()
            .map(|(_, searcher, _)| DocReader::new(searcher, &self.inner))
            .collect();
        let page: Vec<Hit> = if *skip == 0 {
            // Ordered by time, then id (read from the id columns, not
            // the stored documents): only the page's logs are read.
            let mut keyed = Vec::with_capacity(hits.len());
            for hit in hits {
                match readers[hit.part].id(hit.address) {
                    Ok(id) => keyed.push((hit, id)),
                    Err(e) => self.unreadable(&day[hit.part].0, &e, missing),
                }
            }
            keyed.sort_by(|a, b| {
                q.order
                    .apply(a.0.ts.cmp(&b.0.ts).then_with(|| a.1.cmp(&b.1)))
            });
            keyed.truncate(need);
            keyed.into_iter().map(|(hit, _)| hit).collect()
        } else {
            hits.into_iter().skip(*skip).take(need).collect()
        };
        *skip = 0;
        let mut loaded = Vec::with_capacity(page.len());
        for hit in page {
            let (id, ..) = &day[hit.part];
            match readers[hit.part].load(hit.address) {
                Ok(log) => loaded.push(log),
                Err(e) => self.unreadable(id, &e, missing),
            }
        }
        sort_logs(&mut loaded, q.order);
        loaded.truncate(need);
        loaded
    }

    fn histogram_blocking(&self, q: &HistogramQuery) -> Result<Histogram, StoreError> {
        let starts = q.bucket_starts();
        let collector = HistogramCollector::new(q);
        let mut counts: LevelCounts = vec![[0; 5]; starts.len()];
        let (matching, mut missing) = self.matching(&q.filter)?;
        // Day partitions are counted on parallel threads (a week is seven
        // independent scans of two columns).
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4)
            .min(matching.len().max(1));
        let results: Vec<(usize, tantivy::Result<LevelCounts>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (matching, collector) = (&matching, &collector);
                    scope.spawn(move || {
                        matching
                            .iter()
                            .enumerate()
                            .skip(t)
                            .step_by(threads)
                            .map(|(i, (_, searcher, query))| {
                                (i, self.histogram_of(searcher, query.as_ref(), collector, q))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .flat_map(|(t, h)| {
                    h.join().unwrap_or_else(|_| {
                        // A thread that panicked answered nothing: its
                        // partitions are missing from the answer.
                        (t..matching.len())
                            .step_by(threads)
                            .map(|i| {
                                let e = tantivy::TantivyError::InternalError(
                                    "histogram thread failed".into(),
                                );
                                (i, Err(e))
                            })
                            .collect()
                    })
                })
                .collect()
        });
        for (i, result) in results {
            match result {
                Ok(found) => add_counts(&mut counts, &found),
                Err(e) => self.unreadable(&matching[i].0, &e.into(), &mut missing),
            }
        }
        missing.sort();
        missing.dedup();
        let mut limited = Vec::new();
        if collector.stop.hit() {
            limited.push(OUT_OF_TIME.to_string());
        }
        Ok(Histogram {
            buckets: starts.into_iter().zip(counts).collect(),
            missing,
            limited,
        })
    }

    /// One partition's histogram, segment by segment; a segment wholly
    /// inside the range is counted once per interval and query, then read
    /// from the cache.
    fn histogram_of(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        collector: &HistogramCollector,
        q: &HistogramQuery,
    ) -> tantivy::Result<LevelCounts> {
        let starts = q.bucket_starts();
        let first = starts.first().copied().unwrap_or_default();
        let mut out: LevelCounts = vec![[0; 5]; starts.len()];
        let (low, high) = (q.start.timestamp_micros(), q.end.timestamp_micros());

        let weight = query.weight(tantivy::query::EnableScoring::disabled_from_searcher(
            searcher,
        ))?;
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let ts = reader.fast_fields().i64("ts")?;
            let inside =
                reader.num_deleted_docs() == 0 && ts.min_value() >= low && ts.max_value() < high;
            let key = (
                reader.segment_id(),
                q.interval_ms,
                q.filter.tenant.clone(),
                q.filter.expr.clone(),
            );
            if inside {
                let cached = self
                    .inner
                    .histograms
                    .lock()
                    .expect("lock")
                    .get(&key)
                    .cloned();
                if let Some(cached) = cached {
                    for (start, counts) in cached.iter() {
                        let i = (start - first) / q.interval_ms;
                        if let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
                            for (a, b) in slot.iter_mut().zip(counts) {
                                *a += b;
                            }
                        }
                    }
                    continue;
                }
            }
            let counts = collector.collect_segment(&*weight, ord as u32, reader)?;
            // A segment cut short by the deadline is not kept.
            if inside && !collector.stop.hit() {
                let sparse: SegmentCounts = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.iter().any(|n| *n > 0))
                    .map(|(i, c)| (first + i as i64 * q.interval_ms, *c))
                    .collect();
                let mut cache = self.inner.histograms.lock().expect("lock");
                if cache.len() >= HISTOGRAM_CACHE {
                    cache.clear();
                }
                cache.insert(key, Arc::new(sparse));
            }
            add_counts(&mut out, &counts);
        }
        Ok(out)
    }

    fn facets_blocking(&self, q: &FacetsQuery) -> Result<Facets, StoreError> {
        let (matching, mut missing) = self.matching(&q.filter)?;
        let collector = FacetCollector::new(q.budget.max_values, Stop::new(q.budget.deadline));
        let mut all: FieldCounts = vec![HashMap::new(); FACET_FIELDS.len()];
        self.search_each(
            &matching,
            &collector,
            &collector.stop,
            &mut missing,
            |_, found| collector.merge_into(&mut all, found),
        );
        missing.sort();
        missing.dedup();
        let mut limited = Vec::new();
        if collector.cut.load(std::sync::atomic::Ordering::Relaxed) {
            limited.push(format!(
                "a field has more than {} distinct values: the most frequent are kept \
                 while counting, and their counts are lower bounds",
                q.budget.max_values
            ));
        }
        if collector.stop.hit() {
            limited.push(OUT_OF_TIME.to_string());
        }
        // Every log has a level: the level counts add up to the matches.
        let total_count = all[0].values().sum();
        Ok(Facets {
            total_count,
            fields: FACET_FIELDS
                .iter()
                .zip(all)
                .map(|(name, counts)| (name.to_string(), top_values(counts, q.size)))
                .collect(),
            missing,
            limited,
        })
    }

    /// A partition failed while being read: it is damaged, and the answer
    /// being made is partial.
    fn unreadable(&self, id: &PartitionId, error: &StoreError, missing: &mut Vec<String>) {
        self.mark_damaged(&id.name(), error.to_string());
        missing.push(id.name());
    }

    fn patterns_blocking(&self, q: &PatternsQuery) -> Result<PatternsPage, StoreError> {
        let mut missing = Vec::new();
        let mut limited = Vec::new();
        let stop = Stop::new(q.budget.deadline);
        let window = Filter {
            start: Some(q.start),
            end: Some(q.end),
            ..q.filter.clone()
        };
        let (matching, unopened) = self.matching(&window)?;
        missing.extend(unopened);
        // The budget of distinct templates: the segments' dictionaries bound
        // what the window can hold; past the budget, a first pass counts
        // each template and only the most frequent are grouped.
        let bound: usize = matching
            .iter()
            .flat_map(|(_, searcher, _)| searcher.segment_readers())
            .map(template_terms)
            .sum();
        let mut counted = None;
        let mut keep = None;
        if bound > q.budget.max_templates {
            let counts = self.template_counts(&matching, &stop, &mut missing);
            let total: u64 = counts.values().sum();
            if counts.len() > q.budget.max_templates {
                let distinct = counts.len();
                let top = most_frequent(counts, q.budget.max_templates);
                let grouped: u64 = top.iter().map(|(_, n)| n).sum();
                limited.push(format!(
                    "the window holds {distinct} distinct templates: the {} most frequent \
                     ({:.1}% of its logs) are grouped, the others only counted",
                    top.len(),
                    grouped as f64 * 100.0 / total.max(1) as f64
                ));
                keep = Some(Arc::new(top.into_iter().map(|(h, _)| h).collect()));
            }
            counted = Some(total);
        }
        let mut searchers = Vec::new();
        let raw = self.raw_groups(q, &matching, keep, &stop, &mut searchers, &mut missing);
        // New patterns: the window's templates seen before `new_since`.
        let seen_before = match q.new_since {
            Some(since) if !stop.hit() => {
                Some(self.seen_before(&raw, q, since, &stop, &mut missing)?)
            }
            _ => None,
        };
        let mut page = finish_patterns(raw, q.limit, seen_before.as_ref());
        if let Some(total) = counted {
            page.total_logs = page.total_logs.max(total);
        }
        if stop.hit() {
            limited.push(OUT_OF_TIME.to_string());
            if q.new_since.is_some() {
                // Not looked at to the end: "new" is not known.
                for group in &mut page.patterns {
                    group.is_new = None;
                }
            }
        }
        // Samples travel as references until here: only the returned
        // patterns' few documents are read from the doc store, each
        // partition's columns opened once.
        let mut readers: Vec<DocReader<'_>> = searchers
            .iter()
            .map(|(_, searcher)| DocReader::new(searcher, &self.inner))
            .collect();
        for group in &mut page.patterns {
            for sample in &mut group.samples {
                if let Some((partition, segment, doc)) = parse_sample_ref(sample) {
                    let (id, _) = &searchers[partition];
                    match readers[partition].load(DocAddress::new(segment, doc)) {
                        Ok(log) => *sample = log.message,
                        Err(e) => {
                            self.unreadable(id, &e, &mut missing);
                            sample.clear();
                        }
                    }
                }
            }
            group.samples.retain(|s| !s.is_empty());
        }
        missing.sort();
        missing.dedup();
        page.missing = missing;
        page.limited = limited;
        Ok(page)
    }

    /// Runs `collector` over each partition of `matching` and hands each
    /// fruit to `each`, until `stop` has hit (the partitions after it are
    /// not read); a partition whose search fails is unreadable (see
    /// [`Self::unreadable`]).
    fn search_each<C: Collector>(
        &self,
        matching: &[Matching],
        collector: &C,
        stop: &Stop,
        missing: &mut Vec<String>,
        mut each: impl FnMut(&Matching, C::Fruit),
    ) {
        for m in matching {
            if stop.hit() {
                break;
            }
            let (id, searcher, query) = m;
            match searcher.search(query.as_ref(), collector) {
                Ok(fruit) => each(m, fruit),
                Err(e) => self.unreadable(id, &e.into(), missing),
            }
        }
    }

    /// Matching documents per template (by hash) over `matching`.
    fn template_counts(
        &self,
        matching: &[Matching],
        stop: &Stop,
        missing: &mut Vec<String>,
    ) -> HashMap<u64, u64> {
        let collector = TemplateCounts { stop: stop.clone() };
        let mut all: HashMap<u64, u64> = HashMap::new();
        self.search_each(matching, &collector, stop, missing, |_, counts| {
            for (hash, n) in counts {
                *all.entry(hash).or_default() += n;
            }
        });
        all
    }

    /// The pattern ids of those of `raw`'s templates that some log
    /// matching the request's filters carried before `since`.
    fn seen_before(
        &self,
        raw: &[RawGroup],
        q: &PatternsQuery,
        since: DateTime<Utc>,
        stop: &Stop,
        missing: &mut Vec<String>,
    ) -> Result<HashSet<String>, StoreError> {
        if raw.is_empty() {
            return Ok(HashSet::new());
        }
        let filter = Filter {
            start: None,
            end: Some(since),
            ..q.filter.clone()
        };
        let collector = SeenCollector {
            templates: Arc::new(raw.iter().map(|r| r.group.pattern.clone()).collect()),
            stop: stop.clone(),
        };
        let mut seen = vec![false; raw.len()];
        let (matching, unopened) = self.matching(&filter)?;
        missing.extend(unopened);
        self.search_each(&matching, &collector, stop, missing, |_, found| {
            seen.iter_mut().zip(found).for_each(|(a, b)| *a |= b);
        });
        Ok(raw
            .iter()
            .zip(seen)
            .filter(|(_, seen)| *seen)
            .map(|(r, _)| r.group.pattern_id.clone())
            .collect())
    }

    /// Groups by ingest template the logs that `matching` finds (only the
    /// templates in `keep`, when given), with references to their samples;
    /// the searchers the references point into go to `searchers`.
    fn raw_groups(
        &self,
        q: &PatternsQuery,
        matching: &[Matching],
        keep: Option<Arc<HashSet<u64>>>,
        stop: &Stop,
        searchers: &mut Vec<(PartitionId, Searcher)>,
        missing: &mut Vec<String>,
    ) -> Vec<RawGroup> {
        let collector = PatternCollector {
            window: q.clone(),
            keep,
            stop: stop.clone(),
        };
        let mut by_template: HashMap<String, RawGroup> = HashMap::new();
        self.search_each(
            matching,
            &collector,
            stop,
            missing,
            |(id, searcher, _), groups| {
                let index = searchers.len();
                searchers.push((*id, searcher.clone()));
                for (template, (group, candidates)) in groups {
                    let raw = RawGroup {
                        group,
                        samples: candidates
                            .into_iter()
                            .map(|(ts, a)| (ts, sample_ref(index, a)))
                            .collect(),
                    };
                    match by_template.get_mut(&template) {
                        Some(existing) => existing.absorb(raw),
                        None => {
                            by_template.insert(template, raw);
                        }
                    }
                }
            },
        );
        by_template.into_values().collect()
    }

    /// Every stored log's id, with repeats (for consistency checks and tests).
    pub fn scan_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for (_, partition) in self.partitions(None, None)?.0 {
            partition.reader.reload()?;
            let searcher = partition.reader.searcher();
            let all = searcher.search(&AllQuery, &DocSetCollector)?;
            let mut docs = DocReader::new(&searcher, &self.inner);
            for address in all {
                ids.push(docs.id(address)?);
            }
        }
        Ok(ids)
    }
}

/// The reason given when a read's deadline passed before it was done.
const OUT_OF_TIME: &str =
    "the read's time budget ran out before the whole window was read: counts are lower bounds";

/// The nice value of the threads of expensive reads (patterns, histogram,
/// facets), what weighs where `SCHED_IDLE` is refused (in the kernel's
/// weights nice 0 is 1024, nice 19 is 15). Raising one's own nice value
/// needs no privilege.
pub const READ_NICE: i32 = 19;

/// Puts the calling thread under `SCHED_IDLE` (it runs when a core has
/// nothing else to run, and a waking ingest thread takes the core at
/// once), and at [`READ_NICE`], which is what counts where that policy is
/// refused. The threads it starts inherit both. Neither needs a
/// privilege.
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(error) =
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
    {
        debug!(?error, "the thread keeps its scheduling policy");
    }
    let tid = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(tid), READ_NICE) {
        debug!(%error, "the thread keeps its priority");
    }
}

/// Runs an expensive read on a thread of its own at [`READ_NICE`] (the
/// threads it starts inherit it), and waits for it without holding an
/// async worker.
async fn in_background<T: Send + 'static>(
    kind: &'static str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("read-{kind}"))
        .spawn(move || {
            lower_priority();
            let _ = tx.send(work());
        })
        .map_err(|e| StoreError::Unavailable(format!("{kind}: no thread: {e}")))?;
    rx.await
        .map_err(|_| StoreError::Unavailable(format!("{kind} task failed")))?
}

/// The `n` most frequent of `counts` (ties by key), most frequent first.
fn most_frequent(counts: HashMap<u64, u64>, n: usize) -> Vec<(u64, u64)> {
    let mut all: Vec<(u64, u64)> = counts.into_iter().collect();
    keep_most_frequent(&mut all, n);
    all.sort_unstable_by(by_count);
    all
}

/// Windows (microseconds) a page is looked for in first, from the edge of
/// the day it starts at: 10 seconds (a page of a busy stream), 5 minutes,
/// 2 hours; then the whole day.
const WINDOWS_US: [i64; 3] = [10_000_000, 300_000_000, 7_200_000_000];

/// The oldest and newest times (microseconds) in a searcher's segments;
/// `None` when it has none or they do not say.
fn ts_bounds(searcher: &Searcher) -> Option<(i64, i64)> {
    let mut bounds: Option<(i64, i64)> = None;
    for reader in searcher.segment_readers() {
        if reader.num_docs() == 0 {
            continue;
        }
        let column = reader.fast_fields().i64("ts").ok()?;
        let (low, high) = (column.min_value(), column.max_value());
        bounds = Some(bounds.map_or((low, high), |(l, h)| (l.min(low), h.max(high))));
    }
    bounds
}

/// Where a page in `order` starts within a day's partitions: the newest
/// (or oldest) time they hold, bounded by the filter's time
/// range (a cursor is one); `None` when the partitions do not say.
fn day_edge(
    day: &[Matching],
    order: SortOrder,
    end: Option<DateTime<Utc>>,
    start: Option<DateTime<Utc>>,
) -> Option<i64> {
    let bounds = day
        .iter()
        .filter_map(|(_, searcher, _)| ts_bounds(searcher));
    Some(match order {
        SortOrder::Desc => {
            let edge = bounds.map(|(_, high)| high).max()?;
            end.map_or(edge, |e| edge.min(e.timestamp_micros() - 1))
        }
        SortOrder::Asc => {
            let edge = bounds.map(|(low, _)| low).min()?;
            start.map_or(edge, |s| edge.max(s.timestamp_micros()))
        }
    })
}

/// Matches of `query` in one searcher, counted one by one up to `limit`
/// (`limit + 1` when there are more); at most `limit + 1` documents are
/// visited in all, where an exact count visits every match.
fn count_up_to(searcher: &Searcher, query: &dyn Query, limit: u64) -> tantivy::Result<u64> {
    if limit == u64::MAX {
        return searcher.search(query, &Count).map(|n| n as u64);
    }
    let weight = query.weight(tantivy::query::EnableScoring::disabled_from_searcher(
        searcher,
    ))?;
    let mut n = 0u64;
    for reader in searcher.segment_readers() {
        let mut scorer = weight.scorer(reader, 1.0)?;
        let alive = reader.alive_bitset();
        let mut doc = scorer.doc();
        while doc != tantivy::TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                n += 1;
                if n > limit {
                    return Ok(n);
                }
            }
            doc = scorer.advance();
        }
    }
    Ok(n)
}

/// Orders logs by time, then id, in `order` (the order of search pages and cursors).
pub fn sort_logs(logs: &mut [StoredLog], order: SortOrder) {
    logs.sort_by(|a, b| {
        order.apply(
            a.timestamp
                .timestamp_micros()
                .cmp(&b.timestamp.timestamp_micros())
                .then_with(|| a.id.cmp(&b.id)),
        )
    });
}

/// A sample not read yet: partition, segment and document.
const SAMPLE_REF: char = '\u{0}';

fn sample_ref(partition: usize, address: DocAddress) -> String {
    format!(
        "{SAMPLE_REF}{partition}:{}:{}",
        address.segment_ord, address.doc_id
    )
}

fn parse_sample_ref(s: &str) -> Option<(usize, u32, u32)> {
    let mut parts = s.strip_prefix(SAMPLE_REF)?.split(':');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

fn open_partition(dir: &Path) -> tantivy::Result<Partition> {
    let inode = inode_of(dir);
    let index = Index::open_in_dir(dir)?;
    register_tokenizers(&index);
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::OnCommitWithDelay)
        .try_into()?;
    Ok(Partition {
        index,
        reader,
        inode,
    })
}

/// The keyword columns whose values stored bodies leave out, in the order
/// of [`SegmentColumns::keywords`].
const BODY_KEYWORDS: [&str; 5] = ["level", "source", "service", "pattern_id", "template"];
const LEVEL: usize = 0;
const SOURCE: usize = 1;
const SERVICE: usize = 2;
const PATTERN_ID: usize = 3;
const TEMPLATE: usize = 4;

/// A segment's columns that stored bodies leave out: `id_hi` and `id_lo`
/// (`None`: the partition predates them, schema 3), and the keyword
/// columns of [`BODY_KEYWORDS`], with the values already looked up in their
/// dictionaries (few distinct; shared by every read of the segment).
struct SegmentColumns {
    id: Option<(Column<u64>, Column<u64>)>,
    ts: Option<Column<i64>>,
    keywords: [Option<StrColumn>; BODY_KEYWORDS.len()],
    values: Arc<SegmentValues>,
}

/// Reads one partition's documents: ids from the id columns (schema 3;
/// older partitions' from the stored documents), and whole logs from the
/// stored bodies with what they leave out filled from the columns (bodies
/// written by earlier releases carry it all). Each segment's columns are
/// opened once.
struct DocReader<'a> {
    searcher: &'a Searcher,
    fields: &'a Fields,
    cache: &'a Mutex<HashMap<tantivy::index::SegmentId, Arc<SegmentValues>>>,
    columns: HashMap<u32, SegmentColumns>,
}

impl<'a> DocReader<'a> {
    fn new(searcher: &'a Searcher, inner: &'a Inner) -> Self {
        DocReader {
            searcher,
            fields: &inner.fields,
            cache: &inner.values,
            columns: HashMap::new(),
        }
    }

    fn columns(&mut self, segment: u32) -> &mut SegmentColumns {
        let (searcher, cache) = (self.searcher, self.cache);
        self.columns.entry(segment).or_insert_with(|| {
            let reader = searcher.segment_reader(segment);
            let fast = reader.fast_fields();
            let values = {
                let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= VALUE_CACHE_SEGMENTS {
                    cache.clear();
                }
                cache.entry(reader.segment_id()).or_default().clone()
            };
            SegmentColumns {
                id: fast.u64("id_hi").ok().zip(fast.u64("id_lo").ok()),
                ts: fast.i64("ts").ok(),
                keywords: BODY_KEYWORDS.map(|name| fast.str(name).ok().flatten()),
                values,
            }
        })
    }

    /// The id from the columns, `None` where they do not hold it.
    fn column_id(&mut self, address: DocAddress) -> Option<String> {
        let (hi, lo) = self.columns(address.segment_ord).id.as_ref()?;
        Some(id_from_parts(
            hi.first(address.doc_id)?,
            lo.first(address.doc_id)?,
        ))
    }

    /// The document's value in keyword column `which` of [`BODY_KEYWORDS`].
    fn keyword(
        &mut self,
        address: DocAddress,
        which: usize,
    ) -> Result<Option<Arc<str>>, StoreError> {
        let columns = self.columns(address.segment_ord);
        let Some(column) = &columns.keywords[which] else {
            return Ok(None);
        };
        let Some(ord) = column.term_ords(address.doc_id).next() else {
            return Ok(None);
        };
        let mut values = columns.values.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = values[which].get(&ord) {
            return Ok(Some(value.clone()));
        }
        let mut value = String::new();
        column
            .ord_to_str(ord, &mut value)
            .map_err(|err| StoreError::io(format!("the {} column", BODY_KEYWORDS[which]), err))?;
        let value: Arc<str> = value.into();
        values[which].insert(ord, value.clone());
        Ok(Some(value))
    }

    /// [`Self::keyword`] as an owned string.
    fn keyword_text(
        &mut self,
        address: DocAddress,
        which: usize,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.keyword(address, which)?.map(|v| v.to_string()))
    }

    fn id(&mut self, address: DocAddress) -> Result<String, StoreError> {
        match self.column_id(address) {
            Some(id) => Ok(id),
            None => Ok(self.load(address)?.id),
        }
    }

    fn load(&mut self, address: DocAddress) -> Result<StoredLog, StoreError> {
        let doc: TantivyDocument = self.searcher.doc(address)?;
        let json = doc
            .get_first(self.fields.doc)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("document {address:?} has no stored body"))
            })?;
        let body: StoredBody =
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let lost = |what: &str| {
            StoreError::Corrupt(format!(
                "document {address:?} has no {what}, in its body or its columns"
            ))
        };
        let id = match body.id {
            Some(id) => id,
            None => self.column_id(address).ok_or_else(|| lost("id"))?,
        };
        let level = match body.level {
            Some(level) => level,
            None => self
                .keyword(address, LEVEL)?
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| lost("level"))?,
        };
        let source = match body.source {
            Some(source) => source,
            None => self
                .keyword_text(address, SOURCE)?
                .ok_or_else(|| lost("source"))?,
        };
        let service = match body.service {
            Some(service) => Some(service),
            None => self.keyword_text(address, SERVICE)?,
        };
        // Ingest gives every log one; a log without stays without.
        let pattern_id = match body.pattern_id {
            Some(pattern_id) => pattern_id,
            None => self.keyword_text(address, PATTERN_ID)?.unwrap_or_default(),
        };
        let message = match (body.message, body.message_values) {
            (Some(message), _) => message,
            (None, Some(values)) => self
                .keyword(address, TEMPLATE)?
                .and_then(|template| message_from_values(&template, &values))
                .ok_or_else(|| lost("message (its template's column)"))?,
            (None, None) => return Err(lost("message")),
        };
        let timestamp = match body.timestamp {
            Some(timestamp) => timestamp,
            None => self
                .columns(address.segment_ord)
                .ts
                .as_ref()
                .and_then(|ts| ts.first(address.doc_id))
                .and_then(|micros| time_from_parts(micros, body.ts_ns))
                .ok_or_else(|| lost("timestamp"))?,
        };
        let received_at = match (body.received_at, body.received_after_ns) {
            (Some(received_at), _) => received_at,
            (None, Some(ns)) => {
                received_after(&timestamp, ns).ok_or_else(|| lost("receipt time"))?
            }
            (None, None) => return Err(lost("receipt time")),
        };
        Ok(StoredLog {
            id,
            timestamp,
            level,
            message,
            source,
            service,
            trace_id: body.trace_id,
            span_id: body.span_id,
            metadata: body.metadata,
            received_at,
            pattern_id,
            template: body.template,
            tenant: body
                .tenant
                .unwrap_or_else(|| log_model::DEFAULT_TENANT.to_string()),
        })
    }
}

impl LogReader for EmbeddedReader {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<SearchPage, StoreError>> {
        let this = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.search_blocking(&query))
                .await
                .map_err(|e| StoreError::Unavailable(format!("search task failed: {e}")))?
        })
    }

    fn patterns(&self, query: PatternsQuery) -> BoxFuture<'_, Result<PatternsPage, StoreError>> {
        let this = self.clone();
        Box::pin(
            async move { in_background("patterns", move || this.patterns_blocking(&query)).await },
        )
    }

    fn histogram(&self, query: HistogramQuery) -> BoxFuture<'_, Result<Histogram, StoreError>> {
        let this = self.clone();
        Box::pin(async move {
            in_background("histogram", move || this.histogram_blocking(&query)).await
        })
    }

    fn facets(&self, query: FacetsQuery) -> BoxFuture<'_, Result<Facets, StoreError>> {
        let this = self.clone();
        Box::pin(async move { in_background("facets", move || this.facets_blocking(&query)).await })
    }

    fn reload(&self) {
        EmbeddedReader::reload(self);
    }

    fn commits(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.inner.committed.clone())
    }

    fn damage(&self) -> Vec<(String, String)> {
        self.damaged()
    }

    fn verify_in_background(&self, bytes_per_sec: u64) {
        EmbeddedReader::verify_in_background(self, bytes_per_sec);
    }

    fn verification(&self) -> Option<crate::Verification> {
        EmbeddedReader::verification(self)
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let this = self.clone();
        Box::pin(async move {
            let root = &this.inner.root;
            match std::fs::metadata(root) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(StoreError::Unavailable(format!(
                    "{} is not a directory",
                    root.display()
                ))),
                // No log written yet: an empty store answers empty results.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::io(root, e)),
            }
        })
    }
}

/// The filter compiled for one partition. A partition made before
/// tenants has no `tenant` field and only the default tenant's logs;
/// in a newer one, each segment settles how to keep to the tenant
/// ([`TenantQuery`]).
fn compile_for(
    searcher: &Searcher,
    fields: &Fields,
    analyzer: &mut tantivy::tokenizer::TextAnalyzer,
    filter: &Filter,
) -> Box<dyn Query> {
    let ids = if has_id_keys(searcher.schema()) {
        Ids::Keyed
    } else {
        Ids::Terms
    };
    let tenant = match &filter.tenant {
        Tenants::All => return compile(fields, ids, analyzer, filter),
        Tenants::One(tenant) => tenant,
        // Refused before any read (`check_scope`); nothing, should one get here.
        Tenants::Unscoped => return Box::new(tantivy::query::EmptyQuery),
    };
    let untenanted = Filter {
        tenant: Tenants::All,
        ..filter.clone()
    };
    let query = compile(fields, ids, analyzer, &untenanted);
    if !has_tenant(searcher.schema()) {
        return if tenant == log_model::DEFAULT_TENANT {
            query
        } else {
            Box::new(tantivy::query::EmptyQuery)
        };
    }
    Box::new(TenantQuery::new(searcher, fields.tenant, tenant, query))
}
