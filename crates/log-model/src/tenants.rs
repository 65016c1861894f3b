//! Whose logs a read sees, and the read requests that cannot be made into
//! queries without saying so.

use chrono::{DateTime, Utc};

use crate::FieldError;

/// Whose logs a read sees. The service sets it from the caller (never from
/// the request's query). The default is no scope at all, which every store
/// refuses: a read that forgot its scope fails, it never reads every
/// tenant's logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Tenants {
    /// No scope was given: a bug of the caller, refused by the stores.
    #[default]
    Unscoped,
    /// One tenant's logs.
    One(String),
    /// Every tenant's logs: a service without keys (open mode), or the
    /// operator's own tools over a data directory.
    All,
}

impl Tenants {
    /// One tenant.
    pub fn one(tenant: impl Into<String>) -> Tenants {
        Tenants::One(tenant.into())
    }

    /// The one tenant read, if it is one.
    pub fn single(&self) -> Option<&str> {
        match self {
            Tenants::One(t) => Some(t),
            _ => None,
        }
    }

    /// As the audit line names it (`*`: every tenant).
    pub fn name(&self) -> &str {
        match self {
            Tenants::One(t) => t,
            Tenants::All => "*",
            Tenants::Unscoped => "(unscoped)",
        }
    }
}

/// A read request as clients send it (the query string of a GET, or the
/// JSON body of a POST). It becomes a query only with the tenants it may
/// read.
pub trait ReadRequest: serde::de::DeserializeOwned {
    /// The validated query the stores answer.
    type Query;

    /// The request as the audit line names it (`name=value` for each field
    /// set).
    fn describe(&self) -> String;

    /// The validated query, reading only `tenants`' logs; relative times
    /// (`now-15m`) are taken from `now`.
    fn into_query(self, now: DateTime<Utc>, tenants: Tenants) -> Result<Self::Query, FieldError>;

    /// [`ReadRequest::into_query`] as of the current time.
    fn into_query_now(self, tenants: Tenants) -> Result<Self::Query, FieldError>
    where
        Self: Sized,
    {
        self.into_query(Utc::now(), tenants)
    }
}
