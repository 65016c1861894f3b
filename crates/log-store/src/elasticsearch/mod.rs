//! The Elasticsearch backend, over its REST API with reqwest.
//!
//! Writing (as Vector's sink is laid out): [`encoder`] turns logs into bulk
//! NDJSON, [`client`] sends it, [`retry`] decides each document's fate from
//! the answer (a pure function), [`writer`] batches, bounds what is in flight
//! and settles everything before a WAL position is committed. [`setup`]
//! installs the ILM policy, templates and data streams from
//! `deploy/elasticsearch/`. Reading: [`query`] compiles requests into the
//! bool query DSL and aggregations; [`reader`] sends them and parses the
//! answers ([`model`] holds the wire types).

pub mod client;
pub mod config;
pub mod encoder;
pub mod model;
pub mod query;
pub mod reader;
pub mod retry;
pub mod setup;
pub mod writer;

pub use config::EsSettings;
pub use reader::EsReader;
pub use writer::{EsWriter, EsWriterPaths};
