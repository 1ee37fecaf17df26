//! THE access table: every route a master serves over HTTP (except `/raft/*`, which takes the
//! cluster secret), with the access it needs. One middleware (`api::guard`) consults
//! [`need`] for every request; handlers do not check roles.
//!
//! **Invariant:** a route that is registered but missing here is refused ([`Need::Deny`]), so
//! forgetting a row fails closed; `api`'s tests walk the registered routes against this table
//! both ways.

use raft_store::state::Role;

/// Prefix of the token-protected API.
pub const API_PREFIX: &str = "/api/v1";

/// An HTTP method a route is registered for (HEAD is served by GET routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    /// The verb of an HTTP method name; `None` for methods no route is registered for.
    pub fn from_method(method: &str) -> Option<Verb> {
        match method {
            "GET" | "HEAD" => Some(Verb::Get),
            "POST" => Some(Verb::Post),
            "PUT" => Some(Verb::Put),
            "PATCH" => Some(Verb::Patch),
            "DELETE" => Some(Verb::Delete),
            _ => None,
        }
    }

    /// The HTTP method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }
}

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (health checks, the OpenAPI document, the index page).
    Public,
    /// A valid bearer token whose role is at least this one.
    Role(Role),
}

/// One row of the table: a route as registered (axum path syntax) and its access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    pub access: Access,
}

const fn row(verb: Verb, path: &'static str, access: Access) -> Route {
    Route { verb, path, access }
}

use Access::Public;
use Verb::*;
const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every route, grouped as the API documents them.
pub const ROUTES: &[Route] = &[
    row(Get, "/", Public),
    row(Get, "/healthz", Public),
    row(Get, "/leader", Public),
    row(Get, "/api/v1/openapi.json", Public),
    // cluster
    row(Get, "/api/v1/cluster", VIEWER),
    row(Get, "/api/v1/cluster/digest", VIEWER),
    row(Post, "/api/v1/cluster/members", ADMIN),
    row(Delete, "/api/v1/cluster/members/{id}", ADMIN),
    row(Post, "/api/v1/debug/clock", ADMIN),
    // nodes
    row(Get, "/api/v1/nodes", VIEWER),
    row(Post, "/api/v1/nodes", ADMIN),
    row(Get, "/api/v1/nodes/{id}", VIEWER),
    row(Patch, "/api/v1/nodes/{id}", ADMIN),
    row(Delete, "/api/v1/nodes/{id}", ADMIN),
    row(Get, "/api/v1/nodes/{id}/metrics", VIEWER),
    // projects
    row(Get, "/api/v1/projects", VIEWER),
    row(Get, "/api/v1/projects/{project}", VIEWER),
    row(Delete, "/api/v1/projects/{project}", OPERATOR),
    row(Post, "/api/v1/projects/{project}/versions", OPERATOR),
    row(Delete, "/api/v1/projects/{project}/versions/{version}", OPERATOR),
    // jobs
    row(Get, "/api/v1/jobs", VIEWER),
    row(Get, "/api/v1/jobs/{id}", VIEWER),
    row(Post, "/api/v1/jobs/{id}/cancel", OPERATOR),
    // schedules
    row(Get, "/api/v1/schedules", VIEWER),
    row(Post, "/api/v1/schedules", OPERATOR),
    row(Get, "/api/v1/schedules/{id}", VIEWER),
    row(Patch, "/api/v1/schedules/{id}", OPERATOR),
    row(Delete, "/api/v1/schedules/{id}", OPERATOR),
    row(Post, "/api/v1/schedules/{id}/pause", OPERATOR),
    row(Post, "/api/v1/schedules/{id}/resume", OPERATOR),
    row(Post, "/api/v1/schedules/{id}/run", OPERATOR),
    row(Get, "/api/v1/schedules/{id}/fires", VIEWER),
    // alerts: operators handle alerts and silences, admins configure where alerts go
    row(Get, "/api/v1/alerts", VIEWER),
    row(Get, "/api/v1/alerts/{id}", VIEWER),
    row(Post, "/api/v1/alerts/{id}/ack", OPERATOR),
    row(Post, "/api/v1/alerts/{id}/resolve", OPERATOR),
    row(Get, "/api/v1/alert-deliveries", VIEWER),
    row(Get, "/api/v1/channels", VIEWER),
    row(Get, "/api/v1/channels/{name}", VIEWER),
    row(Put, "/api/v1/channels/{name}", ADMIN),
    row(Delete, "/api/v1/channels/{name}", ADMIN),
    row(Post, "/api/v1/channels/{name}/test", ADMIN),
    row(Get, "/api/v1/alert-rules", VIEWER),
    row(Get, "/api/v1/alert-rules/{name}", VIEWER),
    row(Put, "/api/v1/alert-rules/{name}", ADMIN),
    row(Delete, "/api/v1/alert-rules/{name}", ADMIN),
    row(Get, "/api/v1/silences", VIEWER),
    row(Post, "/api/v1/silences", OPERATOR),
    row(Get, "/api/v1/silences/{id}", VIEWER),
    row(Delete, "/api/v1/silences/{id}", OPERATOR),
    row(Get, "/api/v1/spider-thresholds", VIEWER),
    row(Get, "/api/v1/spider-thresholds/{scope}", VIEWER),
    row(Put, "/api/v1/spider-thresholds/{scope}", ADMIN),
    row(Delete, "/api/v1/spider-thresholds/{scope}", ADMIN),
];

/// The row of `verb` on the registered route `path`.
pub fn lookup(verb: Verb, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.verb == verb && r.path == path)
}

/// What the guard must do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Let it through without credentials.
    Public,
    /// A valid token (else 401) with at least this role (else 403).
    Role(Role),
    /// The router will answer 404 or 405; under [`API_PREFIX`] only to a valid token (401
    /// first, so unauthenticated callers learn nothing about which paths exist).
    RouterAfterToken,
    /// The router will answer 404 or 405, to anyone.
    Router,
    /// A registered route the table does not list: refuse it (403).
    Deny,
}

fn under_api(path: &str) -> bool {
    path == API_PREFIX || path.strip_prefix(API_PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// What a request needs: `method` its HTTP method, `matched` the route pattern the router
/// matched (none for the fallback), `path` the request's path.
pub fn need(method: &str, matched: Option<&str>, path: &str) -> Need {
    let Some(matched) = matched else {
        return if under_api(path) { Need::RouterAfterToken } else { Need::Router };
    };
    if let Some(row) = Verb::from_method(method).and_then(|v| lookup(v, matched)) {
        return match row.access {
            Access::Public => Need::Public,
            Access::Role(r) => Need::Role(r),
        };
    }
    // A known route asked with another method: the router answers 405.
    let rows: Vec<&Route> = ROUTES.iter().filter(|r| r.path == matched).collect();
    match rows.as_slice() {
        [] => Need::Deny,
        rows if rows.iter().all(|r| r.access == Access::Public) => Need::Router,
        _ => Need::RouterAfterToken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unique_and_prefixed() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(!ROUTES[..i].iter().any(|b| b.verb == a.verb && b.path == a.path), "{a:?} twice");
            assert!(a.path.starts_with('/'), "{a:?}");
            if a.access != Access::Public {
                assert!(under_api(a.path), "a protected route outside {API_PREFIX}: {a:?}");
            }
        }
    }

    #[test]
    fn needs_follow_the_table_and_unknown_routes_are_denied() {
        assert_eq!(need("GET", Some("/healthz"), "/healthz"), Need::Public);
        assert_eq!(need("HEAD", Some("/healthz"), "/healthz"), Need::Public);
        assert_eq!(need("GET", Some("/api/v1/nodes"), "/api/v1/nodes"), Need::Role(Role::Viewer));
        assert_eq!(need("POST", Some("/api/v1/nodes"), "/api/v1/nodes"), Need::Role(Role::Admin));
        assert_eq!(
            need("POST", Some("/api/v1/schedules/{id}/run"), "/api/v1/schedules/s/run"),
            Need::Role(Role::Operator)
        );
        // Alerting: reading is for viewers, handling alerts for operators, configuring for admins.
        assert_eq!(
            need("GET", Some("/api/v1/alerts/{id}"), "/api/v1/alerts/failover:term-7"),
            Need::Role(Role::Viewer)
        );
        assert_eq!(
            need("POST", Some("/api/v1/alerts/{id}/ack"), "/api/v1/alerts/failover:term-7/ack"),
            Need::Role(Role::Operator)
        );
        assert_eq!(need("POST", Some("/api/v1/silences"), "/api/v1/silences"), Need::Role(Role::Operator));
        assert_eq!(need("PUT", Some("/api/v1/channels/{name}"), "/api/v1/channels/ops"), Need::Role(Role::Admin));
        assert_eq!(
            need("POST", Some("/api/v1/channels/{name}/test"), "/api/v1/channels/ops/test"),
            Need::Role(Role::Admin)
        );
        assert_eq!(need("PUT", Some("/api/v1/alert-rules/{name}"), "/api/v1/alert-rules/r"), Need::Role(Role::Admin));
        assert_eq!(
            need("DELETE", Some("/api/v1/spider-thresholds/{scope}"), "/api/v1/spider-thresholds/project:p"),
            Need::Role(Role::Admin)
        );
        assert_eq!(need("PATCH", Some("/api/v1/channels/{name}"), "/api/v1/channels/ops"), Need::RouterAfterToken);
        // Registered but not in the table: refused, whatever the method.
        assert_eq!(need("GET", Some("/api/v1/secret"), "/api/v1/secret"), Need::Deny);
        assert_eq!(need("GET", Some("/elsewhere"), "/elsewhere"), Need::Deny);
        // Another method on a known route: the router's 405, after a token under /api/v1.
        assert_eq!(need("PUT", Some("/api/v1/nodes"), "/api/v1/nodes"), Need::RouterAfterToken);
        assert_eq!(need("POST", Some("/healthz"), "/healthz"), Need::Router);
        // No route at all: the router's 404, after a token under /api/v1.
        assert_eq!(need("GET", None, "/api/v1/no-such-resource"), Need::RouterAfterToken);
        assert_eq!(need("GET", None, "/api/v1"), Need::RouterAfterToken);
        assert_eq!(need("GET", None, "/api/v10"), Need::Router);
        assert_eq!(need("GET", None, "/no-such-page"), Need::Router);
    }
}
