//! The guard middleware: who may call which route, with which tenants,
//! and the audit line of each read.

use super::*;

/// Which scope a request needs (`None`: open to all).
pub type ScopeOf = fn(&Method, &str) -> Option<Scope>;

/// A service's gate: what it lets in, and which scope each request needs.
#[derive(Debug, Clone)]
pub struct Gate {
    pub access: Access,
    pub scope_of: ScopeOf,
}

/// The guard of a service: `/health` is open; `/metrics` is open unless
/// `metrics_auth`; everything else needs the scope `scope_of` names (when
/// the service has keys). Refusals are counted in
/// `<service>_auth_rejected_total`.
///
/// Each request to a route that needs the `query` scope (the query port's
/// data) leaves one audit line (target `audit`): key id, tenant, method,
/// route, status, the query, the result count and the time taken, with or
/// without keys.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let auth = req.app_data::<web::Data<Arc<Auth>>>().cloned();
    let scope_of = req.app_data::<web::Data<ScopeOf>>().map(|f| ***f);
    let metrics_auth = auth.as_ref().is_some_and(|a| a.metrics_auth);
    let needed = match req.path() {
        "/health" => None,
        "/metrics" if !metrics_auth => None,
        "/metrics" => Some(Scope::Admin),
        path => scope_of.and_then(|f| f(req.method(), path)),
    };
    let admitted = match &auth {
        None => Ok(None),
        Some(auth) => match (needed, auth.keys().authenticate(req.headers())) {
            (None, Ok(caller)) => Ok(Some(caller)),
            (None, Err(_)) => Ok(None),
            (Some(scope), Ok(caller)) if caller.allows(scope) => Ok(Some(caller)),
            (Some(scope), Ok(_)) => Err(Rejection::NoScope(scope)),
            (Some(_), Err(e)) => Err(e),
        },
    };
    // The tenant matters only where a scope is needed (the data routes).
    let admitted = admitted.and_then(|caller| match needed {
        None => Ok((caller, TenantScope::default())),
        Some(_) => tenant_scope(req.headers(), caller.as_ref()).map(|t| (caller, t)),
    });
    let (caller, tenant) = match admitted {
        Ok(admitted) => admitted,
        Err(rejection) => {
            // A wrong key counts against the client's address; past its
            // burst, 429 instead of 401.
            let throttled = match (&auth, rejection) {
                (Some(auth), Rejection::WrongKey | Rejection::Malformed) => {
                    let peer = req.peer_addr().map(|a| a.ip());
                    auth.failures
                        .client(peer, req.headers())
                        .and_then(|client| {
                            auth.failures.fail(client, std::time::Instant::now()).err()
                        })
                }
                _ => None,
            };
            let reason = if throttled.is_some() {
                "throttled"
            } else {
                rejection.reason()
            };
            if let Some(metrics) = req.app_data::<web::Data<crate::HttpMetrics>>() {
                metrics.auth_rejected.with_label_values(&[reason]).inc();
            }
            if let Some(secs) = throttled {
                return Err(ApiError {
                    retry_after_secs: Some(secs),
                    ..ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too_many_failures",
                        "too many wrong keys from this address; retry later with a valid key",
                    )
                }
                .into());
            }
            return Err(rejection.error().into());
        }
    };
    if let (Some(caller), Some(_)) = (&caller, needed) {
        if let Err(secs) = take(req.request(), caller, Counted::Requests, 1) {
            return Err(rate_limited(Counted::Requests, secs).into());
        }
    }
    if let Some(caller) = &caller {
        tracing::Span::current().record("key_id", caller.key_id.as_str());
        req.extensions_mut().insert(caller.clone());
    }
    req.extensions_mut().insert(tenant.clone());
    if needed != Some(Scope::Query) {
        return next.call(req).await;
    }
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let query_string = req.query_string().to_string();
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let note = response.response().extensions().get::<Audit>().cloned();
    let key_id = caller.map_or_else(|| "-".to_string(), |c| c.key_id);
    let tenant = tenant.0.name();
    let (query, results) = match note {
        Some(a) => (a.query, a.results),
        None => (query_string, None),
    };
    info!(
        target: "audit",
        key_id,
        tenant,
        method,
        route,
        status = response.status().as_u16(),
        query,
        results,
        took_ms = started.elapsed().as_secs_f64() * 1000.0,
        "query"
    );
    Ok(response)
}
