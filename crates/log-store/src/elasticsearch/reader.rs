//! Search and patterns answered by Elasticsearch.

use std::collections::BTreeMap;

use chrono::DateTime;
use reqwest::Method;
use serde_json::Value;

use log_model::{PatternsQuery, SearchQuery};

use super::client::{Answer, EsClient};
use super::config::EsSettings;
use super::model::{PatternsAgg, SearchResponse};
use super::query::{patterns_body, search_body};
use crate::{BoxFuture, LogReader, PatternGroup, PatternsPage, SearchPage, StoreError};

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
        let answer = self
            .client
            .json(
                Method::POST,
                &format!("/{}/_search", self.stream),
                Some(body),
            )
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
    SearchPage {
        total_count: response
            .hits
            .total
            .map_or(response.hits.hits.len() as u64, |t| t.value),
        logs: response
            .hits
            .hits
            .into_iter()
            .map(|h| h.source.into())
            .collect(),
    }
}

/// Turns a patterns aggregation response into pattern groups.
pub fn patterns_page(response: SearchResponse) -> Result<PatternsPage, StoreError> {
    let total_logs = response.hits.total.map_or(0, |t| t.value);
    let Some(aggs) = response.aggregations else {
        return Ok(PatternsPage {
            patterns: Vec::new(),
            total_logs,
        });
    };
    let agg: PatternsAgg = serde_json::from_value(aggs["patterns"].clone())
        .map_err(|e| StoreError::Corrupt(format!("unreadable patterns aggregation: {e}")))?;
    let time = |ms: Option<f64>| {
        DateTime::from_timestamp_millis(ms.unwrap_or_default() as i64).unwrap_or_default()
    };
    let patterns = agg
        .buckets
        .into_iter()
        .map(|b| PatternGroup {
            pattern: b
                .template
                .buckets
                .first()
                .map(|t| t.key.clone())
                .unwrap_or_default(),
            pattern_id: b.key,
            count: b.doc_count,
            first_seen: time(b.first_seen.value),
            last_seen: time(b.last_seen.value),
            services: b
                .services
                .buckets
                .into_iter()
                .map(|s| (s.key, s.doc_count))
                .collect::<BTreeMap<_, _>>(),
            samples: b
                .samples
                .map(|s| s.hits.hits.into_iter().map(|h| h.source.message).collect())
                .unwrap_or_default(),
        })
        .collect();
    Ok(PatternsPage {
        patterns,
        total_logs,
    })
}

impl LogReader for EsReader {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<SearchPage, StoreError>> {
        Box::pin(async move {
            Ok(match self.search_raw(&search_body(&query)).await? {
                Some(response) => search_page(response),
                None => SearchPage {
                    logs: Vec::new(),
                    total_count: 0,
                },
            })
        })
    }

    fn patterns(&self, query: PatternsQuery) -> BoxFuture<'_, Result<PatternsPage, StoreError>> {
        Box::pin(async move {
            match self.search_raw(&patterns_body(&query)).await? {
                Some(response) => patterns_page(response),
                None => Ok(PatternsPage {
                    patterns: Vec::new(),
                    total_logs: 0,
                }),
            }
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let answer = self
                .client
                .json(Method::GET, "/_cluster/health", None)
                .await?;
            let status = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|v| v["status"].as_str().map(str::to_string));
            match (answer.is_success(), status.as_deref()) {
                (true, Some("green" | "yellow")) => Ok(()),
                _ => Err(StoreError::Unavailable(format!(
                    "elasticsearch cluster health answered {}: {}",
                    answer.status,
                    answer.text()
                ))),
            }
        })
    }
}
