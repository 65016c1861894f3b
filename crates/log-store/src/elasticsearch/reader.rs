//! Search and patterns answered by Elasticsearch.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::DateTime;
use reqwest::Method;
use serde_json::Value;
use tracing::Instrument;

use log_model::{FacetsQuery, HistogramQuery, Level, PatternsQuery, SearchQuery};

use super::client::{Answer, EsClient};
use super::config::EsSettings;
use super::model::{PatternsAgg, SearchResponse, TermsAgg};
use super::query::{
    details_per_request, facets_body, histogram_body, pattern_details_body, patterns_body,
    search_body, seen_before_body, within, FACET_FIELDS,
};
use crate::model::top_values;
use crate::model::{finish_merged, merge_groups, returned_members, RawGroup};
use crate::{
    BoxFuture, Facets, Histogram, LogReader, PatternGroup, PatternsPage, SearchPage, StoreError,
};

/// Reads the logs data stream; cheap to clone.
#[derive(Debug, Clone)]
pub struct EsReader {
    client: EsClient,
    stream: String,
}

impl EsReader {
    pub fn new(settings: &EsSettings) -> Result<EsReader, StoreError> {
        Ok(EsReader {
            client: EsClient::new(settings)?,
            stream: settings.elasticsearch_data_stream.clone(),
        })
    }

    /// `None` when the data stream does not exist yet (nothing ingested).
    async fn search_raw(&self, body: &Value) -> Result<Option<SearchResponse>, StoreError> {
        let span = tracing::info_span!(
            "elasticsearch.search",
            otel.kind = "client",
            http.request.method = "POST",
            db.system = "elasticsearch",
            db.operation = "search",
        );
        let answer = self
            .client
            .json(
                Method::POST,
                &format!("/{}/_search", self.stream),
                Some(body),
            )
            .instrument(span)
            .await?;
        if answer.status == 404 && answer.text().contains("index_not_found_exception") {
            return Ok(None);
        }
        parse_search(&answer).map(Some)
    }
}

fn parse_search(answer: &Answer) -> Result<SearchResponse, StoreError> {
    if !answer.is_success() {
        return Err(StoreError::Unavailable(format!(
            "elasticsearch search answered {}: {}",
            answer.status,
            answer.text()
        )));
    }
    serde_json::from_slice(&answer.body)
        .map_err(|e| StoreError::Corrupt(format!("unreadable search response: {e}")))
}

/// Turns a search response into a page of logs.
pub fn search_page(response: SearchResponse) -> SearchPage {
    let missing = response.missing();
    let total_is_lower_bound = response
        .hits
        .total
        .as_ref()
        .is_some_and(|t| t.relation.as_deref() == Some("gte"));
    SearchPage {
        total_is_lower_bound,
        total_count: response
            .hits
            .total
            .as_ref()
            .map_or(response.hits.hits.len() as u64, |t| t.value),
        logs: response
            .hits
            .hits
            .into_iter()
            .map(|h| h.source.into())
            .collect(),
        missing,
    }
}

/// Turns a patterns aggregation response into groups per ingest template
/// (before the query-time merge), and the number of logs matched.
pub fn raw_groups(
    response: SearchResponse,
    q: &PatternsQuery,
) -> Result<(Vec<RawGroup>, u64), StoreError> {
    let total_logs = response.hits.total.map_or(0, |t| t.value);
    let Some(aggs) = response.aggregations else {
        return Ok((Vec::new(), total_logs));
    };
    let agg: PatternsAgg = serde_json::from_value(aggs["patterns"].clone())
        .map_err(|e| StoreError::Corrupt(format!("unreadable patterns aggregation: {e}")))?;
    let time = |ms: Option<f64>| {
        DateTime::from_timestamp_millis(ms.unwrap_or_default() as i64).unwrap_or_default()
    };
    let terms = |t: Option<TermsAgg>| -> BTreeMap<String, u64> {
        t.map(|t| {
            t.buckets
                .into_iter()
                .map(|b| (b.key, b.doc_count))
                .collect()
        })
        .unwrap_or_default()
    };
    let groups = agg
        .buckets
        .into_iter()
        .map(|b| {
            let mut trend = vec![0; q.buckets];
            // Each histogram bucket by its middle: its key is whole
            // milliseconds, the window's start is not (a key taken as is
            // can fall a fraction of a millisecond into the bucket before).
            let half_bucket_micros = q.bucket_millis().saturating_mul(500);
            for bucket in b.trend.map(|h| h.buckets).unwrap_or_default() {
                let middle = bucket
                    .key
                    .saturating_mul(1000)
                    .saturating_add(half_bucket_micros);
                trend[q.bucket_of(middle)] += bucket.doc_count;
            }
            let samples: Vec<(i64, String)> = b
                .samples
                .map(|s| {
                    s.hits
                        .hits
                        .into_iter()
                        .map(|h| {
                            let ms = h
                                .sort
                                .and_then(|s| s.0.first().and_then(serde_json::Value::as_i64))
                                .unwrap_or(0);
                            (ms * 1000, h.source.message)
                        })
                        .collect()
                })
                .unwrap_or_default();
            // A template over the mapping's ignore_above has no bucket; it is
            // a pure function of the message, so a sample gives it back.
            let pattern = match b.template.as_ref().and_then(|t| t.buckets.first()) {
                Some(t) => t.key.clone(),
                None => samples
                    .first()
                    .map(|(_, message)| log_patterns::pattern_of(message).template)
                    .unwrap_or_default(),
            };
            RawGroup {
                group: PatternGroup {
                    pattern,
                    pattern_id: b.key,
                    count: b.doc_count,
                    first_seen: time(b.first_seen.and_then(|m| m.value)),
                    last_seen: time(b.last_seen.and_then(|m| m.value)),
                    services: terms(b.services),
                    levels: terms(b.levels),
                    trend,
                    samples: Vec::new(),
                    is_new: None,
                    pattern_ids: Vec::new(),
                },
                samples,
            }
        })
        .collect();
    Ok((groups, total_logs))
}

fn terms_of(agg: &Value) -> Vec<(String, u64)> {
    serde_json::from_value::<TermsAgg>(agg.clone())
        .map(|t| {
            t.buckets
                .into_iter()
                .map(|b| (b.key, b.doc_count))
                .collect()
        })
        .unwrap_or_default()
}

/// Turns a histogram answer into every bucket of the query's range.
pub fn histogram(response: SearchResponse, q: &HistogramQuery) -> Histogram {
    let missing = response.missing();
    let mut counts: HashMap<i64, [u64; 5]> = HashMap::new();
    if let Some(aggs) = &response.aggregations {
        for bucket in aggs["histogram"]["buckets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(key) = bucket["key"].as_i64() else {
                continue;
            };
            let slot = counts.entry(q.bucket_start(key)).or_default();
            for (level, n) in terms_of(&bucket["levels"]) {
                if let Ok(level) = level.parse::<Level>() {
                    slot[level.rank()] += n;
                }
            }
        }
    }
    Histogram {
        buckets: q
            .bucket_starts()
            .into_iter()
            .map(|b| (b, counts.get(&b).copied().unwrap_or_default()))
            .collect(),
        missing,
        limited: Vec::new(),
    }
}

/// Turns a facets answer into the top values per field.
pub fn facets(response: SearchResponse, size: usize) -> Facets {
    let missing = response.missing();
    let total_count = response.hits.total.map_or(0, |t| t.value);
    let aggs = response.aggregations.unwrap_or_default();
    Facets {
        total_count,
        fields: FACET_FIELDS
            .iter()
            .map(|f| (f.to_string(), top_values(terms_of(&aggs[*f]), size)))
            .collect(),
        missing,
        limited: Vec::new(),
    }
}

/// The pattern ids of a `seen_before` answer.
pub fn seen_ids(response: SearchResponse) -> HashSet<String> {
    response
        .aggregations
        .and_then(|a| serde_json::from_value::<TermsAgg>(a["seen"].clone()).ok())
        .map(|t| t.buckets.into_iter().map(|b| b.key).collect())
        .unwrap_or_default()
}

impl EsReader {
    /// Fills services, trend and samples of `raw[i]` for each `i` in
    /// `which`, a few patterns per request so that no answer passes
    /// `search.max_buckets`.
    async fn add_details(
        &self,
        query: &PatternsQuery,
        raw: &mut [RawGroup],
        which: &[usize],
        missing: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let index: HashMap<String, usize> = which
            .iter()
            .map(|&i| (raw[i].group.pattern_id.clone(), i))
            .collect();
        let ids: Vec<String> = which
            .iter()
            .map(|&i| raw[i].group.pattern_id.clone())
            .collect();
        for chunk in ids.chunks(details_per_request(query)) {
            let Some(response) = self
                .search_raw(&within(
                    pattern_details_body(query, chunk),
                    query.budget.deadline,
                ))
                .await?
            else {
                continue;
            };
            missing.extend(response.missing());
            let (details, _) = raw_groups(response, query)?;
            for d in details {
                if let Some(&i) = index.get(&d.group.pattern_id) {
                    let r = &mut raw[i];
                    r.group.services = d.group.services;
                    r.group.trend = d.group.trend;
                    r.samples = d.samples;
                    if r.group.pattern.is_empty() {
                        r.group.pattern = d.group.pattern;
                    }
                }
            }
        }
        Ok(())
    }
}

impl LogReader for EsReader {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<SearchPage, StoreError>> {
        Box::pin(async move {
            Ok(match self.search_raw(&search_body(&query)).await? {
                Some(response) => search_page(response),
                None => SearchPage::default(),
            })
        })
    }

    fn patterns(&self, query: PatternsQuery) -> BoxFuture<'_, Result<PatternsPage, StoreError>> {
        Box::pin(async move {
            let Some(response) = self
                .search_raw(&within(patterns_body(&query), query.budget.deadline))
                .await?
            else {
                return Ok(PatternsPage::default());
            };
            let mut missing = response.missing();
            let (mut raw, total_logs) = raw_groups(response, &query)?;
            // Second step: services, samples and trend, only for the
            // templates of the patterns returned (and first for those whose
            // template is too long to be aggregated: a sample gives it).
            let unnamed: Vec<usize> = (0..raw.len())
                .filter(|&i| raw[i].group.pattern.is_empty())
                .collect();
            self.add_details(&query, &mut raw, &unnamed, &mut missing)
                .await?;
            // The details change no template: the merge made here is the
            // one the page is finished with.
            let merged = merge_groups(&raw);
            let wanted: Vec<usize> = returned_members(&raw, &merged, query.limit)
                .into_iter()
                .filter(|i| !unnamed.contains(i))
                .collect();
            self.add_details(&query, &mut raw, &wanted, &mut missing)
                .await?;
            let seen = match query.new_since {
                Some(since) if !raw.is_empty() => {
                    let ids: Vec<String> = raw.iter().map(|r| r.group.pattern_id.clone()).collect();
                    let body = within(seen_before_body(&query, since, &ids), query.budget.deadline);
                    Some(match self.search_raw(&body).await? {
                        Some(response) => {
                            missing.extend(response.missing());
                            seen_ids(response)
                        }
                        None => HashSet::new(),
                    })
                }
                Some(_) => Some(HashSet::new()),
                None => None,
            };
            let grouped: u64 = raw.iter().map(|r| r.group.count).sum();
            let mut page = finish_merged(raw, merged, query.limit, seen.as_ref());
            // Logs beyond the aggregated templates still count, and the
            // answer says that not every template was grouped.
            page.total_logs = page.total_logs.max(total_logs);
            if total_logs > grouped {
                page.limited.push(format!(
                    "the window holds more than {} distinct templates: the most frequent ({:.1}% of its logs) are grouped, the others only counted",
                    crate::elasticsearch::query::MAX_PATTERN_BUCKETS,
                    grouped as f64 * 100.0 / total_logs as f64
                ));
            }
            page.missing = missing;
            Ok(page)
        })
    }

    fn histogram(&self, query: HistogramQuery) -> BoxFuture<'_, Result<Histogram, StoreError>> {
        Box::pin(async move {
            Ok(
                match self
                    .search_raw(&within(histogram_body(&query), query.budget.deadline))
                    .await?
                {
                    Some(response) => histogram(response, &query),
                    None => histogram(SearchResponse::empty(), &query),
                },
            )
        })
    }

    fn facets(&self, query: FacetsQuery) -> BoxFuture<'_, Result<Facets, StoreError>> {
        Box::pin(async move {
            Ok(
                match self
                    .search_raw(&within(facets_body(&query), query.budget.deadline))
                    .await?
                {
                    Some(response) => facets(response, query.size),
                    None => facets(SearchResponse::empty(), query.size),
                },
            )
        })
    }

    /// Every 500 ms: the data stream refreshes every second, and each look
    /// is a search request per open tail.
    fn tail_poll(&self) -> std::time::Duration {
        std::time::Duration::from_millis(500)
    }

    /// Ready when a search of the data stream answers: what queryd's `read`
    /// privilege allows (cluster health would need `monitor`, and would
    /// fail on any red index of the cluster, ours or not). No data stream
    /// yet (nothing ingested) is ready too.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let body = serde_json::json!({"size": 0, "track_total_hits": false});
            self.search_raw(&body).await.map(|_| ())
        })
    }
}
