//! logbench: benchmarks for logagg, against any deployment (the embedded
//! store and an Elasticsearch deployment alike).
//!
//! # Layout
//! - [`gen`]: seeded, reproducible realistic logs.
//! - [`load`]: the load modes: `ingest` (closed loop), `latency` (open loop),
//!   `search` (a query mix), `patterns`.
//! - [`mixed`]: the reads (query kinds, histogram, cursor paging, live
//!   tail, export) while logs arrive at a fixed rate.
//! - [`overload`]: pattern requests over high-cardinality errors against
//!   the ingest latency, with the server's memory.
//! - [`protocol`]: the same logs as native JSON, Elasticsearch bulk NDJSON
//!   or OTLP protobuf, gzip or not.
//! - [`ceiling`]: raw tantivy, HTTP discard and WAL rates in the same run.
//! - [`accuracy`]: grouping accuracy of the pattern pipeline on Loghub-2k.

pub mod accuracy;
pub mod ceiling;
pub mod gen;
pub mod load;
pub mod mixed;
pub mod overload;
pub mod protocol;
