//! A thin reqwest client for the few Elasticsearch endpoints we use, with
//! auth, a custom CA and timeouts.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{Certificate, Method};
use serde_json::Value;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::config::EsSettings;
use crate::StoreError;

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(1000)
            .collect()
    }
}

#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    gzip: bool,
    basic_auth: Option<(String, Option<String>)>,
}

impl std::fmt::Debug for EsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsClient")
            .field("base", &self.base)
            .finish()
    }
}

/// W3C trace context of the current span, for the outgoing request.
fn trace_headers() -> Vec<(String, String)> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.into_iter().collect()
}

fn transport(e: reqwest::Error) -> StoreError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    StoreError::Unavailable(format!("elasticsearch {kind}: {e}"))
}

impl EsClient {
    pub fn new(settings: &EsSettings) -> Result<EsClient, StoreError> {
        let base = settings
            .elasticsearch_url
            .clone()
            .ok_or_else(|| StoreError::Unavailable("no Elasticsearch URL configured".into()))?
            .trim_end_matches('/')
            .to_string();
        reqwest::Url::parse(&base).map_err(|e| {
            StoreError::Unavailable(format!("ELASTICSEARCH_URL {base:?} is not a URL: {e}"))
        })?;
        let mut headers = HeaderMap::new();
        if let Some(key) = &settings.elasticsearch_api_key {
            let value = HeaderValue::from_str(&format!("ApiKey {key}")).map_err(|_| {
                StoreError::Unavailable("ELASTICSEARCH_API_KEY has invalid characters".into())
            })?;
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_millis(settings.elasticsearch_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(path) = &settings.elasticsearch_ca_cert {
            let pem = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
            let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
                StoreError::Unavailable(format!("{} is not a PEM certificate: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| StoreError::Unavailable(format!("building the HTTP client: {e}")))?;
        let basic_auth = match (
            &settings.elasticsearch_username,
            &settings.elasticsearch_api_key,
        ) {
            (Some(user), None) => Some((user.clone(), settings.elasticsearch_password.clone())),
            _ => None,
        };
        Ok(EsClient {
            http,
            base,
            gzip: settings.bulk_gzip,
            basic_auth,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request; a transport failure is an error, any HTTP status an answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
        headers: &[(String, String)],
    ) -> Result<Answer, StoreError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(CONTENT_TYPE, content_type);
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, password.as_deref());
        }
        for (name, value) in headers {
            request = request.header(name.as_str(), value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok(Answer { status, body })
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, StoreError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("json serialises"));
        self.send(method, path, body, "application/json", &trace_headers())
            .await
    }

    /// `POST /<stream>/_bulk` with the NDJSON `body`, gzip'd when configured,
    /// inside a client span whose `traceparent` goes with the request.
    pub async fn bulk(&self, stream: &str, body: Vec<u8>) -> Result<Answer, StoreError> {
        let span = tracing::info_span!(
            "elasticsearch.bulk",
            otel.kind = "client",
            http.request.method = "POST",
            db.system = "elasticsearch",
            db.operation = "bulk",
            elasticsearch.data_stream = stream,
            bytes = body.len(),
        );
        self.bulk_traced(stream, body).instrument(span).await
    }

    async fn bulk_traced(&self, stream: &str, body: Vec<u8>) -> Result<Answer, StoreError> {
        let path =
            format!("/{stream}/_bulk?filter_path=errors,items.*._id,items.*.status,items.*.error");
        if self.gzip {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            encoder
                .write_all(&body)
                .map_err(|e| StoreError::io("gzip", e))?;
            let gz = encoder.finish().map_err(|e| StoreError::io("gzip", e))?;
            let mut headers = trace_headers();
            headers.push((CONTENT_ENCODING.as_str().to_string(), "gzip".to_string()));
            self.send(
                Method::POST,
                &path,
                Some(gz),
                "application/x-ndjson",
                &headers,
            )
            .await
        } else {
            self.send(
                Method::POST,
                &path,
                Some(body),
                "application/x-ndjson",
                &trace_headers(),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_settings_clearly() {
        let mut s = EsSettings::for_url("not a url");
        assert!(EsClient::new(&s)
            .unwrap_err()
            .to_string()
            .contains("is not a URL"));
        s = EsSettings::for_url("https://es:9200");
        s.elasticsearch_ca_cert = Some("/nonexistent/ca.crt".into());
        assert!(EsClient::new(&s)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/ca.crt"));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.crt");
        std::fs::write(&bad, "not a certificate").unwrap();
        s.elasticsearch_ca_cert = Some(bad);
        assert!(EsClient::new(&s).is_err());
        s.elasticsearch_ca_cert = None;
        s.elasticsearch_username = Some("elastic".into());
        s.elasticsearch_password = Some("changeme".into());
        let c = EsClient::new(&s).unwrap();
        assert_eq!(
            c.basic_auth,
            Some(("elastic".into(), Some("changeme".into())))
        );
        s.elasticsearch_api_key = Some("aWQ6a2V5".into());
        assert!(EsClient::new(&s).unwrap().basic_auth.is_none());
    }
}
