//! [`Routes`]: the router under construction, with every (verb, path) it registered, so tests
//! can walk what is served against the access table (`auth::routes`) and the OpenAPI document.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::on;
use axum::routing::MethodFilter;
use axum::Router;

use crate::auth::Verb;
use crate::node::MasterNode;

/// A router and the list of what it serves.
pub struct Routes {
    router: Router<Arc<MasterNode>>,
    registered: Vec<(Verb, &'static str)>,
}

fn filter(verb: Verb) -> MethodFilter {
    match verb {
        Verb::Get => MethodFilter::GET,
        Verb::Post => MethodFilter::POST,
        Verb::Put => MethodFilter::PUT,
        Verb::Patch => MethodFilter::PATCH,
        Verb::Delete => MethodFilter::DELETE,
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Routes { router: Router::new(), registered: Vec::new() }
    }

    /// Serves `handler` for `verb` on `path` (full path, axum syntax).
    pub fn add<H, T>(mut self, verb: Verb, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<MasterNode>>,
        T: 'static,
    {
        self.router = self.router.route(path, on(filter(verb), handler));
        self.registered.push((verb, path));
        self
    }

    /// As [`Routes::add`], accepting request bodies up to `limit` bytes.
    pub fn add_with_body_limit<H, T>(mut self, verb: Verb, path: &'static str, handler: H, limit: usize) -> Self
    where
        H: Handler<T, Arc<MasterNode>>,
        T: 'static,
    {
        self.router = self.router.route(path, on(filter(verb), handler).layer(DefaultBodyLimit::max(limit)));
        self.registered.push((verb, path));
        self
    }

    /// Both sets of routes.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.registered.extend(other.registered);
        self
    }

    /// What is served, in registration order.
    pub fn registered(&self) -> &[(Verb, &'static str)] {
        &self.registered
    }

    pub fn into_router(self) -> Router<Arc<MasterNode>> {
        self.router
    }
}
