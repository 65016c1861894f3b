use std::path::PathBuf;

/// How to reach Elasticsearch and how to write to it. Flags and environment
/// variables; ingestd and queryd both take them.
#[derive(Debug, Clone, clap::Args)]
pub struct EsSettings {
    /// Elasticsearch base URL; when set, logs are stored there instead of the
    /// embedded store.
    #[arg(long, env = "ELASTICSEARCH_URL")]
    pub elasticsearch_url: Option<String>,

    /// Basic-auth user (with --elasticsearch-password).
    #[arg(long, env = "ELASTICSEARCH_USERNAME")]
    pub elasticsearch_username: Option<String>,

    #[arg(long, env = "ELASTICSEARCH_PASSWORD", hide_env_values = true)]
    pub elasticsearch_password: Option<String>,

    /// API key (the base64 `id:key` form); used instead of basic auth.
    #[arg(long, env = "ELASTICSEARCH_API_KEY", hide_env_values = true)]
    pub elasticsearch_api_key: Option<String>,

    /// PEM file of the CA that signed the cluster's certificate (Elasticsearch
    /// 8 makes its own at install: config/certs/http_ca.crt).
    #[arg(long, env = "ELASTICSEARCH_CA_CERT")]
    pub elasticsearch_ca_cert: Option<PathBuf>,

    /// Timeout of each request to Elasticsearch.
    #[arg(long, env = "ELASTICSEARCH_TIMEOUT_MS", default_value_t = 30_000)]
    pub elasticsearch_timeout_ms: u64,

    /// Data stream the logs go to (the index template matches `logagg-logs*`).
    #[arg(long, env = "ELASTICSEARCH_DATA_STREAM", default_value = "logagg-logs")]
    pub elasticsearch_data_stream: String,

    /// Data stream for documents Elasticsearch refuses for good.
    #[arg(
        long,
        env = "ELASTICSEARCH_DEADLETTER_STREAM",
        default_value = "logagg-deadletter"
    )]
    pub elasticsearch_deadletter_stream: String,

    /// Largest bulk request body. Elastic's guidance is a few MB to tens of
    /// MB; 5 MB keeps one request well under a second on a small cluster.
    #[arg(long, env = "BULK_MAX_BYTES", default_value_t = 5 << 20)]
    pub bulk_max_bytes: usize,

    /// Most documents in one bulk request.
    #[arg(long, env = "BULK_MAX_DOCS", default_value_t = 10_000)]
    pub bulk_max_docs: usize,

    /// Bulk requests in flight at once per ingestd (2: one being built while
    /// one is indexed, without piling up on a busy cluster).
    #[arg(long, env = "BULK_IN_FLIGHT", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub bulk_in_flight: u64,

    /// Compress bulk bodies with gzip (less network, more CPU).
    #[arg(long, env = "BULK_GZIP", default_value_t = false)]
    pub bulk_gzip: bool,

    /// Install the ILM policy, index templates and data streams at start
    /// (needs manage_ilm, manage_index_templates, create_index). `false`
    /// for clusters whose operators install them (deploy/elasticsearch/):
    /// ingestd then needs only to write documents.
    #[arg(long, env = "ELASTICSEARCH_SETUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub elasticsearch_setup: bool,

    /// Primary shards of each new backing index (set in the index
    /// templates at setup). Unset: Elasticsearch's default, 1.
    #[arg(long, env = "ELASTICSEARCH_SHARDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub elasticsearch_shards: Option<u32>,

    /// Replicas of each shard (set in the index templates at setup): 0 on a
    /// single node, 1 or more on a cluster (every node but one may hold a
    /// copy). Unset: Elasticsearch's default, 1.
    #[arg(long, env = "ELASTICSEARCH_REPLICAS")]
    pub elasticsearch_replicas: Option<u32>,

    /// Opt-in backups: with setup on, register a snapshot repository of this
    /// name and a snapshot lifecycle (SLM) policy that snapshots both data
    /// streams on `--elasticsearch-snapshot-schedule`
    /// (deploy/elasticsearch/snapshot-repository.json and slm-policy.json;
    /// needs manage_slm and cluster:admin/repository/put).
    #[arg(long, env = "ELASTICSEARCH_SNAPSHOT_REPOSITORY")]
    pub elasticsearch_snapshot_repository: Option<String>,

    /// The `fs` repository's location, under the nodes' `path.repo`.
    #[arg(
        long,
        env = "ELASTICSEARCH_SNAPSHOT_LOCATION",
        default_value = "logagg"
    )]
    pub elasticsearch_snapshot_location: String,

    /// When the SLM policy snapshots (Elasticsearch cron syntax).
    #[arg(
        long,
        env = "ELASTICSEARCH_SNAPSHOT_SCHEDULE",
        default_value = "0 30 1 * * ?"
    )]
    pub elasticsearch_snapshot_schedule: String,
}

impl EsSettings {
    /// Settings for `url` with every other value at its default.
    pub fn for_url(url: &str) -> EsSettings {
        EsSettings {
            elasticsearch_url: Some(url.to_string()),
            elasticsearch_username: None,
            elasticsearch_password: None,
            elasticsearch_api_key: None,
            elasticsearch_ca_cert: None,
            elasticsearch_timeout_ms: 30_000,
            elasticsearch_data_stream: "logagg-logs".into(),
            elasticsearch_deadletter_stream: "logagg-deadletter".into(),
            bulk_max_bytes: 5 << 20,
            bulk_max_docs: 10_000,
            bulk_in_flight: 2,
            bulk_gzip: false,
            elasticsearch_setup: true,
            elasticsearch_shards: None,
            elasticsearch_replicas: None,
            elasticsearch_snapshot_repository: None,
            elasticsearch_snapshot_location: "logagg".into(),
            elasticsearch_snapshot_schedule: "0 30 1 * * ?".into(),
        }
    }
}
