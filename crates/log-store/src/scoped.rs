//! Every reader a [`crate::backend::Backend`] hands out refuses a read
//! whose filter names no tenants, before the backend sees it.

use log_model::{FacetsQuery, Filter, HistogramQuery, PatternsQuery, SearchQuery, Tenants};

use crate::{
    BoxFuture, Facets, Histogram, LogReader, PatternsPage, SearchPage, StoreError, Verification,
};

/// A reader that refuses unscoped reads ([`StoreError::Unscoped`]).
pub(crate) struct ScopeChecked<R>(pub R);

/// The answer to a read whose filter names no tenants; `None` for any
/// other read, which goes on to the backend.
fn refused<'a, T: Send + 'a>(filter: &Filter) -> Option<BoxFuture<'a, Result<T, StoreError>>> {
    if filter.tenant != Tenants::Unscoped {
        return None;
    }
    tracing::error!("a read without a tenant scope was refused");
    Some(Box::pin(std::future::ready(Err(StoreError::Unscoped))))
}

impl<R: LogReader> LogReader for ScopeChecked<R> {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<SearchPage, StoreError>> {
        refused(&query.filter).unwrap_or_else(|| self.0.search(query))
    }

    fn patterns(&self, query: PatternsQuery) -> BoxFuture<'_, Result<PatternsPage, StoreError>> {
        refused(&query.filter).unwrap_or_else(|| self.0.patterns(query))
    }

    fn histogram(&self, query: HistogramQuery) -> BoxFuture<'_, Result<Histogram, StoreError>> {
        refused(&query.filter).unwrap_or_else(|| self.0.histogram(query))
    }

    fn facets(&self, query: FacetsQuery) -> BoxFuture<'_, Result<Facets, StoreError>> {
        refused(&query.filter).unwrap_or_else(|| self.0.facets(query))
    }

    fn reload(&self) {
        self.0.reload()
    }

    fn commits(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        self.0.commits()
    }

    fn tail_poll(&self) -> std::time::Duration {
        self.0.tail_poll()
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.0.ping()
    }

    fn damage(&self) -> Vec<(String, String)> {
        self.0.damage()
    }

    fn verify_in_background(&self, bytes_per_sec: u64) {
        self.0.verify_in_background(bytes_per_sec)
    }

    fn verification(&self) -> Option<Verification> {
        self.0.verification()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedReader;

    #[test]
    fn a_read_without_tenants_is_refused_and_every_tenant_is_asked_for_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let reader = ScopeChecked(EmbeddedReader::open(dir.path()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let unscoped = rt.block_on(reader.search(SearchQuery::default()));
        assert!(
            matches!(unscoped, Err(StoreError::Unscoped)),
            "{unscoped:?}"
        );
        for tenants in [Tenants::All, Tenants::one("acme")] {
            let page = rt.block_on(reader.search(SearchQuery::over(tenants.clone())));
            assert!(page.is_ok(), "{tenants:?}: {page:?}");
        }
    }
}
