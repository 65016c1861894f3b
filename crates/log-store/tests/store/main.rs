//! The store's own tests, in one binary: the embedded store on disk, and
//! the Elasticsearch backend's wire format.

mod embedded;
mod es_golden;
