//! Installs the ILM policy, the index templates and the data streams,
//! idempotently. The bodies are the JSON files under `deploy/elasticsearch/`
//! (one source of truth); only the retention is filled in.

use reqwest::Method;
use serde_json::Value;
use tracing::{info, warn};

use super::client::EsClient;
use crate::StoreError;

pub const ILM_POLICY: &str = include_str!("../../../../deploy/elasticsearch/ilm-policy.json");
pub const INDEX_TEMPLATE: &str =
    include_str!("../../../../deploy/elasticsearch/index-template.json");
pub const DEADLETTER_TEMPLATE: &str =
    include_str!("../../../../deploy/elasticsearch/deadletter-template.json");

pub const SNAPSHOT_REPOSITORY: &str =
    include_str!("../../../../deploy/elasticsearch/snapshot-repository.json");
pub const SLM_POLICY: &str = include_str!("../../../../deploy/elasticsearch/slm-policy.json");

/// The SLM policy name.
pub const SLM_POLICY_NAME: &str = "logagg-snapshots";

/// Opt-in snapshots: the repository's name and location, the schedule.
#[derive(Debug, Clone)]
pub struct Snapshots {
    pub repository: String,
    pub location: String,
    pub schedule: String,
}

/// The repository body with its location filled in.
pub fn snapshot_repository(location: &str) -> Value {
    let mut body: Value = serde_json::from_str(SNAPSHOT_REPOSITORY)
        .expect("deploy/elasticsearch/snapshot-repository.json is valid JSON");
    body["settings"]["location"] = Value::String(location.to_string());
    body
}

/// The SLM policy body for the repository, the schedule and the streams.
pub fn slm_policy(snapshots: &Snapshots, streams: &[&str]) -> Value {
    let mut body: Value = serde_json::from_str(SLM_POLICY)
        .expect("deploy/elasticsearch/slm-policy.json is valid JSON");
    body["repository"] = Value::String(snapshots.repository.clone());
    body["schedule"] = Value::String(snapshots.schedule.clone());
    body["config"]["indices"] = serde_json::json!(streams);
    body
}

/// The ILM policy name; the templates refer to it.
pub const POLICY_NAME: &str = "logagg-logs";

/// The policy body with `retention_days` as the delete phase's `min_age`.
pub fn ilm_policy(retention_days: u32) -> Value {
    let mut policy: Value = serde_json::from_str(ILM_POLICY)
        .expect("deploy/elasticsearch/ilm-policy.json is valid JSON");
    policy["policy"]["phases"]["delete"]["min_age"] = Value::String(format!("{retention_days}d"));
    policy
}

/// How the backing indices spread over the cluster's nodes. `None` leaves
/// Elasticsearch's default (1 shard, 1 replica: a single node stays yellow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    pub shards: Option<u32>,
    pub replicas: Option<u32>,
}

/// What `install` puts: the retention, the layout, opt-in snapshots.
#[derive(Debug, Clone)]
pub struct Install {
    pub retention_days: u32,
    pub layout: Layout,
    pub snapshots: Option<Snapshots>,
}

/// A template body matching `stream` (the files match the default names),
/// with the layout's shard and replica counts when set.
pub fn template_for(file: &str, stream: &str, layout: Layout) -> Value {
    let mut template: Value = serde_json::from_str(file).expect("deploy template is valid JSON");
    template["index_patterns"] = serde_json::json!([format!("{stream}*")]);
    let settings = &mut template["template"]["settings"];
    if let Some(shards) = layout.shards {
        settings["index.number_of_shards"] = shards.into();
    }
    if let Some(replicas) = layout.replicas {
        settings["index.number_of_replicas"] = replicas.into();
    }
    template
}

fn failed(what: &str, answer: &super::client::Answer) -> StoreError {
    StoreError::Unavailable(format!(
        "installing {what} answered {}: {}",
        answer.status,
        answer.text()
    ))
}

/// Puts the policy and templates and creates both data streams. Safe to run
/// on every start and from several replicas at once.
pub async fn install(
    client: &EsClient,
    logs_stream: &str,
    deadletter_stream: &str,
    install: &Install,
) -> Result<(), StoreError> {
    let retention_days = install.retention_days;
    let answer = client
        .json(
            Method::PUT,
            &format!("/_ilm/policy/{POLICY_NAME}"),
            Some(&ilm_policy(retention_days)),
        )
        .await?;
    if !answer.is_success() {
        return Err(failed("the ILM policy", &answer));
    }
    for (name, file) in [
        (logs_stream, INDEX_TEMPLATE),
        (deadletter_stream, DEADLETTER_TEMPLATE),
    ] {
        let answer = client
            .json(
                Method::PUT,
                &format!("/_index_template/{name}"),
                Some(&template_for(file, name, install.layout)),
            )
            .await?;
        if !answer.is_success() {
            return Err(failed("an index template", &answer));
        }
        let answer = client
            .json(Method::PUT, &format!("/_data_stream/{name}"), None)
            .await?;
        let exists =
            answer.status == 400 && answer.text().contains("resource_already_exists_exception");
        if !answer.is_success() && !exists {
            return Err(failed("a data stream", &answer));
        }
        if exists {
            // A template applies at the next backing index; fields a new
            // release adds are put on the current ones now, so that a
            // strict mapping does not refuse them until the rollover.
            let mappings = template_for(file, name, install.layout)["template"]["mappings"].clone();
            let body = serde_json::json!({"properties": mappings["properties"]});
            let answer = client
                .json(Method::PUT, &format!("/{name}/_mapping"), Some(&body))
                .await?;
            if !answer.is_success() {
                warn!(
                    stream = name,
                    status = answer.status,
                    answer = %answer.text().chars().take(300).collect::<String>(),
                    "the current backing indices kept their mapping; the template applies from the next rollover"
                );
            }
        }
    }
    if let Some(snapshots) = &install.snapshots {
        let answer = client
            .json(
                Method::PUT,
                &format!("/_snapshot/{}", snapshots.repository),
                Some(&snapshot_repository(&snapshots.location)),
            )
            .await?;
        if !answer.is_success() {
            return Err(failed(
                "the snapshot repository (is the location under the nodes' path.repo?)",
                &answer,
            ));
        }
        let answer = client
            .json(
                Method::PUT,
                &format!("/_slm/policy/{SLM_POLICY_NAME}"),
                Some(&slm_policy(snapshots, &[logs_stream, deadletter_stream])),
            )
            .await?;
        if !answer.is_success() {
            return Err(failed("the snapshot lifecycle policy", &answer));
        }
        info!(
            repository = %snapshots.repository,
            schedule = %snapshots.schedule,
            "snapshot repository and lifecycle policy installed"
        );
    }
    info!(
        base = client.base(),
        logs_stream,
        deadletter_stream,
        retention_days,
        shards = ?install.layout.shards,
        replicas = ?install.layout.replicas,
        "elasticsearch policy, templates and data streams installed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_bodies_come_from_the_deploy_files() {
        let repository = snapshot_repository("/mnt/backups/logagg");
        assert_eq!(repository["type"], "fs");
        assert_eq!(repository["settings"]["location"], "/mnt/backups/logagg");
        let snapshots = Snapshots {
            repository: "nightly".into(),
            location: "x".into(),
            schedule: "0 0 2 * * ?".into(),
        };
        let policy = slm_policy(&snapshots, &["a-logs", "a-dead"]);
        assert_eq!(policy["repository"], "nightly");
        assert_eq!(policy["schedule"], "0 0 2 * * ?");
        assert_eq!(
            policy["config"]["indices"],
            serde_json::json!(["a-logs", "a-dead"])
        );
        assert_eq!(policy["config"]["include_global_state"], false);
        assert!(policy["retention"]["expire_after"].is_string());
        assert!(policy["name"]
            .as_str()
            .unwrap()
            .starts_with("<logagg-snap-"));
    }

    #[test]
    fn bodies_come_from_the_deploy_files() {
        let policy = ilm_policy(30);
        assert_eq!(policy["policy"]["phases"]["delete"]["min_age"], "30d");
        let template = template_for(INDEX_TEMPLATE, "logagg-logs", Layout::default());
        // Without a layout the cluster's defaults apply.
        assert!(template["template"]["settings"]
            .get("index.number_of_replicas")
            .is_none());
        assert_eq!(
            template["template"]["settings"]["index.lifecycle.name"],
            POLICY_NAME
        );
        let props = &template["template"]["mappings"]["properties"];
        assert_eq!(props["@timestamp"]["type"], "date");
        assert_eq!(props["message"]["type"], "text");
        assert_eq!(props["metadata"]["type"], "flattened");
        assert_eq!(props["metadata_numbers"]["type"], "nested");
        for keyword in [
            "log_id",
            "level",
            "source",
            "service",
            "trace_id",
            "span_id",
            "pattern_id",
            "tenant",
        ] {
            assert_eq!(props[keyword]["type"], "keyword", "{keyword}");
        }
        // Every field of the indexed document is mapped (the mapping is strict).
        let doc = serde_json::to_value(super::super::model::EsDoc {
            timestamp: chrono::Utc::now(),
            log_id: "i".into(),
            level: log_model::Level::Info,
            message: "m".into(),
            source: "s".into(),
            service: Some("v".into()),
            trace_id: Some("t".into()),
            span_id: Some("p".into()),
            metadata: Some(std::borrow::Cow::Owned(Default::default())),
            metadata_numbers: vec![super::super::model::NumberLeaf {
                key: "http.status".into(),
                value: 500.0,
            }],
            received_at: chrono::Utc::now(),
            pattern_id: "x".into(),
            template: "m".into(),
            tenant: "acme".into(),
        })
        .unwrap();
        for key in doc.as_object().unwrap().keys() {
            assert!(props.get(key).is_some(), "{key} is not mapped");
        }
        assert_eq!(
            template_for(INDEX_TEMPLATE, "other", Layout::default())["index_patterns"][0],
            "other*"
        );
    }

    #[test]
    fn the_layout_sets_shards_and_replicas_of_both_templates() {
        let layout = Layout {
            shards: Some(3),
            replicas: Some(1),
        };
        for file in [INDEX_TEMPLATE, DEADLETTER_TEMPLATE] {
            let settings = &template_for(file, "s", layout)["template"]["settings"];
            assert_eq!(settings["index.number_of_shards"], 3);
            assert_eq!(settings["index.number_of_replicas"], 1);
        }
        let replicas_only = Layout {
            shards: None,
            replicas: Some(0),
        };
        let settings = &template_for(INDEX_TEMPLATE, "s", replicas_only)["template"]["settings"];
        assert_eq!(settings["index.number_of_replicas"], 0);
        assert!(settings.get("index.number_of_shards").is_none());
    }
}
