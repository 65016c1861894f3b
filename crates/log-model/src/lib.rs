//! Wire types of the log aggregator: what a shipped log looks like, how it is
//! validated, and what a search or patterns request asks for. Pure: no IO.
//!
//! # Layout
//! - [`level`]: the five levels and the aliases shippers send.
//! - [`log`]: parsing and validating one incoming log ([`parse_log`]) into a
//!   [`NewLog`], and the [`StoredLog`] that the WAL and the stores keep.
//! - [`mapping`]: shippers' documents (ECS, OpenTelemetry-mapped, plain
//!   JSON) to the native shape.
//! - [`limits`]: size limits applied at ingest.
//! - [`query`]: the query language: its parser and AST.
//! - [`search`]: read requests (search, patterns, histogram, facets, export,
//!   context) and the one [`Filter`] they share.
//! - [`tenants`]: whose logs a read sees ([`Tenants`]), and the
//!   [`ReadRequest`]s that need it to become queries.
//! - [`error`]: [`FieldError`], a rejection that names the field and the reason.

pub mod batch;
pub mod error;
pub mod level;
pub mod limits;
pub mod log;
pub mod mapping;
pub mod query;
pub mod search;
pub mod tenants;

pub use batch::{split_batch, BatchError, BatchFormat};
pub use error::FieldError;
pub use level::Level;
pub use limits::Limits;
pub use log::{
    check_log, default_tenant, metadata_leaves, parse_log, valid_name, LogIn, NewLog, StoredLog,
    DEFAULT_TENANT,
};
pub use query::{Expr, Keyword, Leaf, NumRange, QueryError};
pub use search::{
    ContextRequest, Cursor, ExportQuery, ExportRequest, FacetsQuery, FacetsRequest, Filter,
    FilterParams, HistogramQuery, HistogramRequest, MetadataFilter, PatternsQuery, PatternsRequest,
    ReadBudget, SearchQuery, SearchRequest, SortKey, SortOrder,
};
pub use tenants::{ReadRequest, Tenants};
