//! Whose logs a request reads or writes: the [`TenantScope`] the
//! [`super::guard`] settles for each request, and [`Scoped`], the only way
//! a read route gets its request.

use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpMessage};
use log_model::{ReadRequest, Tenants};

use super::{Caller, Rejection, Scope};
use crate::ApiError;

/// The header that names a tenant: an admin key reads or writes that
/// tenant's logs with it; without keys, it picks the tenant outright.
pub const TENANT_HEADER: &str = "X-Tenant";

/// Whose logs a request reads or writes, settled by the [`super::guard`]
/// and put in the request's extensions: the key's tenant (or, for an admin
/// key, the one `X-Tenant` names); without keys, the one `X-Tenant` names,
/// or every tenant ([`Tenants::All`]) when it names none. A route that
/// needs no scope gets [`Tenants::Unscoped`], which no store reads with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantScope(pub Tenants);

impl TenantScope {
    /// The tenant a write goes to: the scope's one tenant, or the default
    /// one.
    pub fn writing(&self) -> String {
        self.0
            .single()
            .map(str::to_string)
            .unwrap_or_else(log_model::default_tenant)
    }
}

/// The scope the guard put in a request's extensions; a request that did
/// not pass the guard has none, and that is a server error (never every
/// tenant).
pub fn scope_of(req: &actix_web::HttpRequest) -> Result<Tenants, ApiError> {
    match req.extensions().get::<TenantScope>() {
        Some(TenantScope(Tenants::Unscoped)) | None => Err(ApiError::internal(
            "this route reads logs but its request has no tenant scope",
        )),
        Some(TenantScope(tenants)) => Ok(tenants.clone()),
    }
}

/// The tenant scope of a request from its `X-Tenant` header and caller.
pub(super) fn tenant_scope(
    headers: &header::HeaderMap,
    caller: Option<&Caller>,
) -> Result<TenantScope, Rejection> {
    if headers.get_all(TENANT_HEADER).nth(1).is_some() {
        return Err(Rejection::ManyTenants);
    }
    let named = match headers.get(TENANT_HEADER) {
        None => None,
        Some(value) => {
            let name = value.to_str().map_err(|_| Rejection::BadTenant)?.trim();
            if !log_model::valid_name(name) {
                return Err(Rejection::BadTenant);
            }
            Some(name.to_string())
        }
    };
    Ok(TenantScope(match (caller, named) {
        // No keys at all (open mode): the one named, or every tenant.
        (None, None) => Tenants::All,
        (None, Some(name)) => Tenants::One(name),
        (Some(caller), None) => Tenants::One(caller.tenant.clone()),
        (Some(caller), Some(name)) if name == caller.tenant || caller.allows(Scope::Admin) => {
            Tenants::One(name)
        }
        (Some(_), Some(_)) => return Err(Rejection::OtherTenant),
    }))
}

/// A read request with the caller's scope: the request from the query
/// string (GET) or the JSON body (POST), the tenants the caller may read,
/// and the request as the audit line names it. A read route takes its
/// request only this way, so a read cannot be built without the scope.
#[derive(Debug)]
pub struct Scoped<Q> {
    pub request: Q,
    pub tenants: Tenants,
    /// The request as the caller wrote it (the audit line's query).
    pub audit: String,
}

impl<Q: ReadRequest> Scoped<Q> {
    /// The validated query over the caller's tenants (relative times as
    /// of now), and the audit text.
    pub fn into_query(self) -> Result<(Q::Query, String), log_model::FieldError> {
        Ok((self.request.into_query_now(self.tenants)?, self.audit))
    }
}

impl<Q: ReadRequest + 'static> FromRequest for Scoped<Q> {
    type Error = actix_web::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let tenants = scope_of(req);
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let tenants = tenants?;
            let request = if req.method() == Method::POST {
                web::Json::<Q>::from_request(&req, &mut payload)
                    .await?
                    .into_inner()
            } else {
                web::Query::<Q>::from_request(&req, &mut payload)
                    .await?
                    .into_inner()
            };
            let audit = request.describe();
            Ok(Scoped {
                request,
                tenants,
                audit,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(tenant: &str, scopes: &[Scope]) -> Caller {
        Caller {
            key_id: "k".into(),
            tenant: tenant.into(),
            scopes: scopes.iter().copied().collect(),
            rates: Default::default(),
        }
    }

    fn headers(tenant: &[&str]) -> header::HeaderMap {
        let mut h = header::HeaderMap::new();
        for t in tenant {
            h.append(
                header::HeaderName::from_static("x-tenant"),
                header::HeaderValue::from_str(t).unwrap(),
            );
        }
        h
    }

    #[test]
    fn every_tenant_only_without_keys_and_without_a_name() {
        let scope = |h: &[&str], c: Option<&Caller>| tenant_scope(&headers(h), c).map(|s| s.0);
        assert_eq!(scope(&[], None), Ok(Tenants::All));
        assert_eq!(scope(&["acme"], None), Ok(Tenants::one("acme")));
        let reader = caller("acme", &[Scope::Query]);
        assert_eq!(scope(&[], Some(&reader)), Ok(Tenants::one("acme")));
        assert_eq!(scope(&["acme"], Some(&reader)), Ok(Tenants::one("acme")));
        assert!(matches!(
            scope(&["other"], Some(&reader)),
            Err(Rejection::OtherTenant)
        ));
        // An admin key reads its own tenant, or the one it names: never all.
        let admin = caller("ops", &[Scope::Admin]);
        assert_eq!(scope(&[], Some(&admin)), Ok(Tenants::one("ops")));
        assert_eq!(scope(&["acme"], Some(&admin)), Ok(Tenants::one("acme")));
        assert!(matches!(
            scope(&["a", "b"], None),
            Err(Rejection::ManyTenants)
        ));
        assert!(matches!(scope(&["a/b"], None), Err(Rejection::BadTenant)));
    }

    #[test]
    fn a_request_the_guard_did_not_scope_is_a_server_error() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        let e = scope_of(&req).unwrap_err();
        assert_eq!(e.status, actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        req.extensions_mut().insert(TenantScope::default());
        assert!(scope_of(&req).is_err(), "unscoped is refused too");
        req.extensions_mut()
            .insert(TenantScope(Tenants::one("acme")));
        assert_eq!(scope_of(&req).unwrap(), Tenants::one("acme"));
    }
}
