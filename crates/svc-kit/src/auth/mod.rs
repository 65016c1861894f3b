//! API keys: a keys file, the ways clients present a key, and the
//! middleware that lets a request through only with a key of the right
//! scope.
//!
//! The keys file is TOML, one `[[key]]` table per key:
//!
//! ```toml
//! [[key]]
//! id = "shipper-web"
//! secret_sha256 = "…64 hex characters…"
//! scopes = ["ingest"]
//! tenant = "default"
//! ```
//!
//! Only the SHA-256 of each secret is kept (secrets are 32 random bytes,
//! so a fast hash is enough: there is nothing to guess). The file is read
//! again when it changes (checked every 2 s) or on SIGHUP; a file that no
//! longer reads keeps the keys that were in force, and says why.
//!
//! A key is accepted as `Authorization: Bearer <secret>`,
//! `Authorization: ApiKey <base64 of id:secret>` (Elasticsearch clients,
//! Filebeat, Fluent Bit, rsyslog), `X-API-Key: <secret>` or
//! `<id>:<secret>`, and Basic auth with the id as user and the secret as
//! password.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use base64::Engine;
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use crate::ApiError;

mod audit;
mod cors;
mod guard;
mod rates;
mod tenants;
pub use audit::Audit;
pub use cors::cors;
pub use guard::{guard, Gate, ScopeOf};
use rates::{rate_limited, take, Bucket};
pub use rates::{take_logs, Counted};
use tenants::tenant_scope;
pub use tenants::{scope_of, Scoped, TenantScope, TENANT_HEADER};

/// What a key allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Write logs (the ingest port).
    Ingest,
    /// Read logs (the query port).
    Query,
    /// Everything, and the service's internals (`/metrics` when closed).
    Admin,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Scope::Ingest, Scope::Query, Scope::Admin]
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| format!("unknown scope {s:?}: use ingest, query or admin"))
    }
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Query => "query",
            Scope::Admin => "admin",
        }
    }
}

/// One key as the file lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub id: String,
    /// SHA-256 of the secret, hexadecimal.
    pub secret_sha256: String,
    pub scopes: Vec<Scope>,
    pub tenant: String,
    /// Requests per second this key may make (default: the service's
    /// `--rate-requests-per-sec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_sec: Option<f64>,
    /// Logs per second this key may write (default: the service's
    /// `--rate-logs-per-sec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_per_sec: Option<f64>,
}

/// A key's rates (`None`: the service's default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    pub requests: Option<f64>,
    pub logs: Option<f64>,
}

impl Rates {
    fn of(self, what: Counted) -> Option<f64> {
        match what {
            Counted::Requests => self.requests,
            Counted::Logs => self.logs,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

/// Who made a request: the key's id, its tenant, scopes and rates. Put in
/// the request's extensions by the middleware.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub key_id: String,
    pub tenant: String,
    pub scopes: BTreeSet<Scope>,
    pub rates: Rates,
}

impl Caller {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }
}

/// The keys in force.
#[derive(Debug, Default)]
pub struct KeySet {
    by_id: HashMap<String, (Caller, [u8; 32])>,
    by_hash: HashMap<[u8; 32], String>,
}

impl KeySet {
    /// Reads and checks a keys file's text.
    pub fn parse(text: &str) -> Result<KeySet, String> {
        let file: KeysFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut set = KeySet::default();
        for entry in file.key {
            if !log_model::valid_name(&entry.id) {
                return Err(format!(
                    "key id {:?}: use 1-64 letters, digits, '-', '_' or '.'",
                    entry.id
                ));
            }
            if !log_model::valid_name(&entry.tenant) {
                return Err(format!(
                    "key {:?}: tenant {:?}: use 1-64 letters, digits, '-', '_' or '.'",
                    entry.id, entry.tenant
                ));
            }
            let hash = parse_hash(&entry.secret_sha256).ok_or_else(|| {
                format!(
                    "key {:?}: secret_sha256 must be 64 hexadecimal characters",
                    entry.id
                )
            })?;
            if entry.scopes.is_empty() {
                return Err(format!("key {:?}: no scopes", entry.id));
            }
            for (name, rate) in [
                ("requests_per_sec", entry.requests_per_sec),
                ("logs_per_sec", entry.logs_per_sec),
            ] {
                if rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
                    return Err(format!(
                        "key {:?}: {name} must be a positive number",
                        entry.id
                    ));
                }
            }
            let caller = Caller {
                key_id: entry.id.clone(),
                tenant: entry.tenant,
                scopes: entry.scopes.into_iter().collect(),
                rates: Rates {
                    requests: entry.requests_per_sec,
                    logs: entry.logs_per_sec,
                },
            };
            if set.by_hash.insert(hash, entry.id.clone()).is_some() {
                return Err(format!(
                    "key {:?}: the same secret as another key",
                    entry.id
                ));
            }
            if set.by_id.insert(entry.id.clone(), (caller, hash)).is_some() {
                return Err(format!("key id {:?} is listed twice", entry.id));
            }
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The caller a request's headers present, if any key matches.
    pub fn authenticate(&self, headers: &header::HeaderMap) -> Result<Caller, Rejection> {
        let presented = presented(headers)?;
        let found = match presented {
            Presented::Secret(secret) => {
                let hash = hash_secret(&secret);
                self.by_hash
                    .get(&hash)
                    .and_then(|id| self.by_id.get(id))
                    .map(|(caller, _)| caller)
            }
            Presented::IdSecret(id, secret) => {
                let hash = hash_secret(&secret);
                self.by_id
                    .get(&id)
                    .filter(|(_, want)| constant_time_eq(want, &hash))
                    .map(|(caller, _)| caller)
            }
        };
        found.cloned().ok_or(Rejection::WrongKey)
    }
}

/// How a request presented its key.
enum Presented {
    Secret(String),
    IdSecret(String, String),
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    NoKey,
    WrongKey,
    Malformed,
    NoScope(Scope),
    /// `X-Tenant` names another tenant and the key is not an admin key.
    OtherTenant,
    /// `X-Tenant` is not a tenant name.
    BadTenant,
    /// `X-Tenant` is given more than once.
    ManyTenants,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::NoKey => "missing",
            Rejection::WrongKey => "wrong_key",
            Rejection::Malformed => "malformed",
            Rejection::NoScope(_) => "scope",
            Rejection::OtherTenant | Rejection::BadTenant | Rejection::ManyTenants => "tenant",
        }
    }

    fn error(self) -> ApiError {
        let unauthorized = |detail: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).with_challenge()
        };
        match self {
            Rejection::NoKey => unauthorized(
                "an API key is required: send Authorization: Bearer <secret> (or ApiKey, Basic, X-API-Key)",
            ),
            Rejection::WrongKey => unauthorized("the API key is not valid"),
            Rejection::Malformed => unauthorized(
                "the Authorization header cannot be read: use Bearer <secret>, ApiKey <base64 id:secret> or Basic",
            ),
            Rejection::NoScope(scope) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this key lacks the {} scope", scope.as_str()),
            ),
            Rejection::OtherTenant => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("only an admin key may name another tenant in {TENANT_HEADER}"),
            ),
            Rejection::BadTenant => ApiError {
                field: Some(TENANT_HEADER.to_string()),
                ..ApiError::bad_request(
                    "invalid_tenant",
                    format!("{TENANT_HEADER} must be 1-64 letters, digits, '-', '_' or '.'"),
                )
            },
            Rejection::ManyTenants => ApiError {
                field: Some(TENANT_HEADER.to_string()),
                ..ApiError::bad_request(
                    "invalid_tenant",
                    format!("{TENANT_HEADER} is given more than once; name one tenant"),
                )
            },
        }
    }
}

fn presented(headers: &header::HeaderMap) -> Result<Presented, Rejection> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| Rejection::Malformed)?.trim();
        let (kind, rest) = value.split_once(' ').ok_or(Rejection::Malformed)?;
        let rest = rest.trim();
        return match kind.to_ascii_lowercase().as_str() {
            "bearer" if !rest.is_empty() => Ok(Presented::Secret(rest.to_string())),
            "apikey" | "basic" => {
                let decoded = decode64(rest).ok_or(Rejection::Malformed)?;
                let (id, secret) = decoded.split_once(':').ok_or(Rejection::Malformed)?;
                Ok(Presented::IdSecret(id.to_string(), secret.to_string()))
            }
            _ => Err(Rejection::Malformed),
        };
    }
    if let Some(value) = headers.get("x-api-key") {
        let value = value.to_str().map_err(|_| Rejection::Malformed)?.trim();
        if value.is_empty() {
            return Err(Rejection::Malformed);
        }
        return Ok(match value.split_once(':') {
            Some((id, secret)) => Presented::IdSecret(id.to_string(), secret.to_string()),
            None => Presented::Secret(value.to_string()),
        });
    }
    Err(Rejection::NoKey)
}

fn decode64(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new secret: 32 random bytes, URL-safe base64 (43 characters).
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Appends a new key to a keys file (creating it, readable by its owner
/// only) and returns the key's secret. The file must still read with the
/// new key (ids unique).
pub fn add_key(path: &Path, id: &str, tenant: &str, scopes: &[Scope]) -> Result<String, String> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let secret = new_secret()?;
    let entry = KeyEntry {
        id: id.to_string(),
        secret_sha256: hex(&hash_secret(&secret)),
        scopes: scopes.to_vec(),
        tenant: tenant.to_string(),
        requests_per_sec: None,
        logs_per_sec: None,
    };
    let block = toml::to_string(&KeysFile { key: vec![entry] }).map_err(|e| e.to_string())?;
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&block);
    KeySet::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    write_private(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

/// Writes a file readable by its owner only, whole or not at all.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Who may call a service: its settings on every binary that serves.
#[derive(Debug, Clone, Default, Args)]
pub struct AuthArgs {
    /// API keys file (TOML; see `logagg keys add`). Without it the service
    /// is open to anyone who reaches its port.
    #[arg(long, env = "AUTH_KEYS_FILE")]
    pub auth_keys: Option<PathBuf>,

    /// Refuse to start without a keys file.
    #[arg(long, env = "REQUIRE_AUTH")]
    pub require_auth: bool,

    /// `/metrics` needs a key with the admin scope too (it is open by
    /// default, for Prometheus).
    #[arg(long, env = "METRICS_AUTH")]
    pub metrics_auth: bool,

    /// Origins whose browser pages may call the API (comma-separated,
    /// `https://grafana.example.com`). None by default: the web UI is
    /// served by the service itself and needs none.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Requests per second per key, for keys whose entry sets none
    /// (`requests_per_sec`); 0: unlimited.
    #[arg(long, env = "RATE_REQUESTS_PER_SEC", default_value_t = 0.0)]
    pub rate_requests_per_sec: f64,

    /// Logs per second per key, for keys whose entry sets none
    /// (`logs_per_sec`); 0: unlimited.
    #[arg(long, env = "RATE_LOGS_PER_SEC", default_value_t = 0.0)]
    pub rate_logs_per_sec: f64,

    /// Wrong keys one client address may send at once before it is
    /// answered 429 (a valid key is never refused by this).
    #[arg(long, env = "AUTH_FAILURE_BURST", default_value_t = 20)]
    pub auth_failure_burst: u32,

    /// Wrong keys per second a client address may send after its burst.
    #[arg(long, env = "AUTH_FAILURES_PER_SEC", default_value_t = 1.0)]
    pub auth_failures_per_sec: f64,

    /// Proxies (IP addresses, comma-separated) whose first
    /// `X-Forwarded-For` hop is taken as the client's address.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Serve HTTPS with this certificate chain (PEM), on the same
    /// address; read again when it changes or on SIGHUP. Needs --tls-key.
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Require a client certificate signed by this CA (PEM): mutual TLS.
    #[arg(long, env = "TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
}

/// The keys file in force, reloaded on change.
#[derive(Debug)]
pub struct Auth {
    path: PathBuf,
    keys: RwLock<Arc<KeySet>>,
    modified: Mutex<Option<SystemTime>>,
    pub metrics_auth: bool,
    default_rates: Rates,
    /// Per key id: the requests buckets, then the logs buckets.
    buckets: [Mutex<HashMap<String, Bucket>>; 2],
    /// Wrong keys, per client address.
    failures: crate::throttle::FailureThrottle,
}

/// Reads and checks a keys file.
fn read_keys(path: &Path) -> Result<KeySet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the keys file {}: {e}", path.display()))?;
    KeySet::parse(&text).map_err(|e| format!("keys file {}: {e}", path.display()))
}

/// What a service lets in: its keys (none: open to all) and the origins
/// allowed cross-origin calls (none: CORS closed). Built once per process
/// from [`AuthArgs`] and shared by the services it runs.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub auth: Option<Arc<Auth>>,
    pub cors_origins: Vec<String>,
    /// HTTPS (`None`: plain HTTP).
    pub tls: Option<crate::tls::Tls>,
}

impl Access {
    /// From the settings; an error when the service must not start.
    pub fn from_args(args: &AuthArgs, service: &str) -> Result<Access, String> {
        let files = crate::tls::TlsFiles::from_settings(
            args.tls_cert.as_deref(),
            args.tls_key.as_deref(),
            args.tls_client_ca.as_deref(),
        )?;
        let tls = files.as_ref().map(crate::tls::Tls::load).transpose()?;
        if let Some(files) = &files {
            info!(
                service,
                cert = %files.cert.display(),
                client_certificates = files.client_ca.is_some(),
                "serving HTTPS"
            );
        }
        Ok(Access {
            auth: Auth::from_args(args, service)?,
            cors_origins: args.cors_origins.clone(),
            tls,
        })
    }
}

impl Auth {
    /// From the settings: `None` when the service runs open (said once, at
    /// WARN); an error when it must not start.
    fn from_args(args: &AuthArgs, service: &str) -> Result<Option<Arc<Auth>>, String> {
        let Some(path) = &args.auth_keys else {
            if args.require_auth {
                return Err(
                    "--require-auth is set but no keys file is given (--auth-keys / AUTH_KEYS_FILE)"
                        .into(),
                );
            }
            warn!(
                service,
                "no API keys file (--auth-keys): anyone who reaches this port can use it"
            );
            return Ok(None);
        };
        let keys = read_keys(path)?;
        info!(service, keys = keys.len(), file = %path.display(), "API keys in force");
        Ok(Some(Arc::new(Auth {
            path: path.clone(),
            keys: RwLock::new(Arc::new(keys)),
            modified: Mutex::new(modified(path)),
            metrics_auth: args.metrics_auth,
            default_rates: Rates {
                requests: Some(args.rate_requests_per_sec).filter(|r| *r > 0.0),
                logs: Some(args.rate_logs_per_sec).filter(|r| *r > 0.0),
            },
            buckets: Default::default(),
            failures: crate::throttle::FailureThrottle::new(
                args.auth_failure_burst,
                args.auth_failures_per_sec,
                args.trusted_proxies.clone(),
            ),
        })))
    }

    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.read().expect("keys lock").clone()
    }

    /// Reads the file again; on failure the keys in force stay.
    pub fn reload(&self) {
        let mtime = modified(&self.path);
        *self.modified.lock().expect("mtime lock") = mtime;
        match read_keys(&self.path) {
            Ok(keys) => {
                info!(keys = keys.len(), file = %self.path.display(), "API keys reloaded");
                *self.keys.write().expect("keys lock") = Arc::new(keys);
            }
            Err(e) => {
                error!(error = %e, file = %self.path.display(), "keys file not reloaded; the keys in force stay")
            }
        }
    }

    fn reload_if_changed(&self) {
        let now = modified(&self.path);
        let changed = *self.modified.lock().expect("mtime lock") != now;
        if changed {
            self.reload();
        }
    }

    /// Reloads on change (every 2 s) and on SIGHUP, until the process ends.
    pub fn watch(self: &Arc<Self>) {
        let (on_tick, on_hangup) = (self.clone(), self.clone());
        watch_files(
            move || on_tick.reload_if_changed(),
            move || on_hangup.reload(),
        );
    }
}

/// Runs `changed` every 2 s (it checks its files' times) and `hangup` on
/// each SIGHUP, for as long as the runtime runs: how the keys file and the
/// TLS certificate are read again without a restart.
pub(crate) fn watch_files(changed: impl Fn() + Send + 'static, hangup: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            let signalled = async {
                match hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tick.tick() => changed(),
                _ = signalled => hangup(),
            }
        }
    });
}

pub(crate) fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(id: &str, secret: &str, scopes: &str, tenant: &str) -> String {
        format!(
            "[[key]]\nid = {id:?}\nsecret_sha256 = {:?}\nscopes = {scopes}\ntenant = {tenant:?}\n",
            hex(&hash_secret(secret))
        )
    }

    fn headers(name: &str, value: &str) -> header::HeaderMap {
        let mut h = header::HeaderMap::new();
        h.insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            header::HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn every_way_of_presenting_a_key() {
        let keys = KeySet::parse(&file_with("web", "s3cret", "[\"ingest\"]", "acme")).unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for (name, value) in [
            ("authorization", "Bearer s3cret".to_string()),
            ("authorization", format!("ApiKey {}", b64("web:s3cret"))),
            ("authorization", format!("apikey {}", b64("web:s3cret"))),
            ("authorization", format!("Basic {}", b64("web:s3cret"))),
            ("x-api-key", "s3cret".to_string()),
            ("x-api-key", "web:s3cret".to_string()),
        ] {
            let caller = keys
                .authenticate(&headers(name, &value))
                .unwrap_or_else(|e| panic!("{name}: {value}: {e:?}"));
            assert_eq!(caller.key_id, "web");
            assert_eq!(caller.tenant, "acme");
            assert!(caller.allows(Scope::Ingest) && !caller.allows(Scope::Query));
        }
        for (name, value, want) in [
            (
                "authorization",
                "Bearer wrong".to_string(),
                Rejection::WrongKey,
            ),
            (
                "authorization",
                format!("Basic {}", b64("web:wrong")),
                Rejection::WrongKey,
            ),
            (
                "authorization",
                format!("Basic {}", b64("other:s3cret")),
                Rejection::WrongKey,
            ),
            (
                "authorization",
                "Basic !!!".to_string(),
                Rejection::Malformed,
            ),
            (
                "authorization",
                "Digest abc".to_string(),
                Rejection::Malformed,
            ),
            ("authorization", "Bearer".to_string(), Rejection::Malformed),
        ] {
            assert_eq!(
                keys.authenticate(&headers(name, &value)).unwrap_err(),
                want,
                "{value}"
            );
        }
        assert_eq!(
            keys.authenticate(&header::HeaderMap::new()).unwrap_err(),
            Rejection::NoKey
        );
    }

    #[test]
    fn files_that_do_not_read_are_refused_with_the_reason() {
        let ok = file_with("a", "x", "[\"query\"]", "t");
        for (text, says) in [
            (ok.replace("query", "read"), "unknown variant"),
            (ok.replace("\"a\"", "\"a b\""), "key id"),
            (
                ok.replace("scopes = [\"query\"]", "scopes = []"),
                "no scopes",
            ),
            (format!("{ok}\n{ok}"), "same secret"),
            (
                format!("{ok}\n{}", file_with("a", "y", "[\"query\"]", "t")),
                "listed twice",
            ),
            (ok.replace("tenant = \"t\"", "tenant = \"t/u\""), "tenant"),
            (
                ok.replace("secret_sha256 = \"", "secret_sha256 = \"zz"),
                "64 hexadecimal",
            ),
            ("[[key]]\nid = \"a\"".to_string(), "missing field"),
        ] {
            let e = KeySet::parse(&text).unwrap_err();
            assert!(e.contains(says), "{e} (wanted {says})");
        }
        assert!(KeySet::parse("").unwrap().is_empty());
    }

    #[test]
    fn add_key_appends_and_returns_a_secret_that_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let first = add_key(&path, "one", "acme", &[Scope::Ingest]).unwrap();
        let second = add_key(&path, "two", "acme", &[Scope::Query, Scope::Ingest]).unwrap();
        assert_ne!(first, second);
        assert_eq!(first.len(), 43);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&first) && !text.contains(&second),
            "secrets never reach the file"
        );
        let keys = KeySet::parse(&text).unwrap();
        assert_eq!(keys.len(), 2);
        let caller = keys
            .authenticate(&headers("authorization", &format!("Bearer {second}")))
            .unwrap();
        assert_eq!(caller.key_id, "two");
        assert!(add_key(&path, "one", "acme", &[Scope::Query])
            .unwrap_err()
            .contains("twice"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
