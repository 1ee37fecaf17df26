//! The master's HTTP front door: routing, extraction and error mapping only. What a request
//! does is an `ops` call; what it answers is a `views` shape; who may call it is the table in
//! `auth::routes`, applied by [`guard`] to every request.
//!
//! - `/`: a pointer to the API and docs for a person ([`root`]); `/healthz`, `/leader`: for
//!   load balancers ([`health`]). No auth.
//! - `/api/v1/...`: JSON, bearer tokens, errors typed by [`error::ApiError`]. One module per
//!   resource group: [`cluster`], [`nodes`], [`projects`], [`jobs`], [`schedules`], [`alerts`],
//!   [`debug`];
//!   [`extract`] parses bodies and query strings; the OpenAPI document is [`openapi`]
//!   (`/api/v1/openapi.json`, no auth). [`routing`] records every route registered.
//!
//! **Invariant:** nothing outside `api` imports `api` (except the composition root that serves
//! [`router`]); handlers never read `State` tables nor check roles themselves.

pub mod alerts;
pub mod cluster;
pub mod debug;
pub mod error;
pub mod extract;
pub mod guard;
pub mod health;
pub mod jobs;
pub mod nodes;
pub mod openapi;
pub mod projects;
pub mod root;
pub mod routing;
pub mod schedules;

use std::sync::Arc;

use self::routing::Routes;
use crate::auth::Verb;
use crate::node::MasterNode;

/// Every route this front door serves (without `/raft/*`, which `raft_net::server` adds).
pub fn routes(max_egg_bytes: usize) -> Routes {
    Routes::new()
        .add(Verb::Get, "/", root::index)
        .add(Verb::Get, "/healthz", health::healthz)
        .add(Verb::Get, "/leader", health::leader)
        .add(Verb::Get, "/api/v1/openapi.json", openapi::serve)
        .merge(cluster::routes())
        .merge(debug::routes())
        .merge(nodes::routes())
        .merge(projects::routes(max_egg_bytes))
        .merge(jobs::routes())
        .merge(schedules::routes())
        .merge(alerts::routes())
}

/// Builds the router, every route behind the access [`guard`]. The fallback (404) is ours so
/// it stays behind the guard when `/raft/*` is merged in (a merge keeps the custom fallback).
pub fn router(node: Arc<MasterNode>) -> axum::Router {
    routes(node.config.max_egg_bytes)
        .into_router()
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(node.clone(), guard::guard))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(node)
}

/// No such route.
async fn not_found() -> axum::http::StatusCode {
    axum::http::StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::auth::routes::API_PREFIX;
    use crate::auth::routes::ROUTES;

    fn registered() -> BTreeSet<(Verb, &'static str)> {
        routes(1024).registered().iter().copied().collect()
    }

    #[test]
    fn every_registered_route_is_in_the_access_table_and_back() {
        let served = registered();
        assert_eq!(served.len(), routes(1024).registered().len(), "a route registered twice");
        let table: BTreeSet<(Verb, &'static str)> = ROUTES.iter().map(|r| (r.verb, r.path)).collect();
        let missing: Vec<_> = served.difference(&table).collect();
        assert!(missing.is_empty(), "served but not in auth::routes::ROUTES (they would be refused): {missing:?}");
        let stale: Vec<_> = table.difference(&served).collect();
        assert!(stale.is_empty(), "in the access table but not served: {stale:?}");
    }

    #[test]
    fn the_openapi_document_lists_every_api_route() {
        let doc = serde_json::to_value(openapi::document()).expect("document");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                documented.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let served: BTreeSet<(String, String)> = registered()
            .into_iter()
            .filter(|(_, p)| p.starts_with(API_PREFIX) && *p != "/api/v1/openapi.json")
            .map(|(v, p)| (v.as_str().to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, served, "OpenAPI paths vs registered /api/v1 routes");
    }
}
