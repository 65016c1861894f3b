//! The audit note a query route leaves for the audit line the [`super::guard`]
//! writes.

/// What a query route tells the audit line about its request: the query
/// as the caller wrote it and how many results it answered. A handler puts
/// it in its response's extensions.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    pub query: String,
    /// Unknown for streams (export, tail).
    pub results: Option<u64>,
}

impl Audit {
    /// `response` with its audit note.
    pub fn attach(
        query: String,
        results: Option<u64>,
        mut response: actix_web::HttpResponse,
    ) -> actix_web::HttpResponse {
        response.extensions_mut().insert(Audit { query, results });
        response
    }
}
