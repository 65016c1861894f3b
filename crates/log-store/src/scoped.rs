//! Every reader a [`crate::backend::Backend`] hands out refuses a read
//! whose filter names no tenants, before the backend sees it.

use log_model::{FacetsQuery, Filter, HistogramQuery, PatternsQuery, SearchQuery, Tenants};

use crate::{
    BoxFuture, Facets, Histogram, LogReader, PatternsPage, SearchPage, StoreError, Verification,
};

/// A reader that refuses unscoped reads ([`StoreError::Unscoped`]).
pub(crate) struct ScopeChecked<R>(pub R);

fn checked(filter: &Filter) -> Result<(), StoreError> {
    match filter.tenant {
        Tenants::Unscoped => {
            tracing::error!("a read without a tenant scope was refused");
            Err(StoreError::Unscoped)
        }
        _ => Ok(()),
    }
}

impl<R: LogReader> LogReader for ScopeChecked<R> {
    fn search(&self, query: SearchQuery) -> BoxFuture<'_, Result<SearchPage, StoreError>> {
        match checked(&query.filter) {
            Ok(()) => self.0.search(query),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn patterns(&self, query: PatternsQuery) -> BoxFuture<'_, Result<PatternsPage, StoreError>> {
        match checked(&query.filter) {
            Ok(()) => self.0.patterns(query),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn histogram(&self, query: HistogramQuery) -> BoxFuture<'_, Result<Histogram, StoreError>> {
        match checked(&query.filter) {
            Ok(()) => self.0.histogram(query),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    fn facets(&self, query: FacetsQuery) -> BoxFuture<'_, Result<Facets, StoreError>> {
        match checked(&query.filter) {
            Ok(()) => self.0.facets(query),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
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
            let query = SearchQuery {
                filter: Filter {
                    tenant: tenants.clone(),
                    ..Filter::default()
                },
                ..SearchQuery::default()
            };
            let page = rt.block_on(reader.search(query));
            assert!(page.is_ok(), "{tenants:?}: {page:?}");
        }
    }
}
