//! The Scrapyd web services: routing, method rules and the per-endpoint handlers.
//!
//! Each endpoint is registered for every method; [`dispatch`] answers OPTIONS, rejects wrong
//! methods the way Twisted does (HTTP 200, `UnsupportedMethod: …`), parses parameters and turns
//! the handler's result into the envelope. Handlers live in `projects` (eggs, versions,
//! spiders) and `jobs` (schedule, cancel, status, listings).

pub mod envelope;
pub mod jobs;
pub mod params;
pub mod projects;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Response};
use axum::routing::any;
use axum::Router;

use crate::app::App;
use crate::error::{Error, Result};
use crate::pyjson::Json;
use params::Params;

/// A Scrapyd web service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    DaemonStatus,
    AddVersion,
    Schedule,
    Cancel,
    Status,
    ListProjects,
    ListVersions,
    ListSpiders,
    ListJobs,
    DelVersion,
    DelProject,
}

impl Endpoint {
    pub const ALL: [Endpoint; 11] = [
        Endpoint::DaemonStatus,
        Endpoint::AddVersion,
        Endpoint::Schedule,
        Endpoint::Cancel,
        Endpoint::Status,
        Endpoint::ListProjects,
        Endpoint::ListVersions,
        Endpoint::ListSpiders,
        Endpoint::ListJobs,
        Endpoint::DelVersion,
        Endpoint::DelProject,
    ];

    /// The service name (also its `[services]` key).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::DaemonStatus => "daemonstatus.json",
            Endpoint::AddVersion => "addversion.json",
            Endpoint::Schedule => "schedule.json",
            Endpoint::Cancel => "cancel.json",
            Endpoint::Status => "status.json",
            Endpoint::ListProjects => "listprojects.json",
            Endpoint::ListVersions => "listversions.json",
            Endpoint::ListSpiders => "listspiders.json",
            Endpoint::ListJobs => "listjobs.json",
            Endpoint::DelVersion => "delversion.json",
            Endpoint::DelProject => "delproject.json",
        }
    }

    /// POST services; the others are GET (and HEAD).
    pub fn is_post(self) -> bool {
        matches!(
            self,
            Endpoint::AddVersion | Endpoint::Schedule | Endpoint::Cancel | Endpoint::DelVersion | Endpoint::DelProject
        )
    }
}

/// Routes for every enabled service.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let mut r = Router::new();
    for ep in Endpoint::ALL {
        if app.config.service_enabled(ep.name()) {
            r = r.route(
                &format!("/{}", ep.name()),
                any(move |State(app): State<Arc<App>>, req: Request| dispatch(app, ep, req)),
            );
        }
    }
    r
}

async fn dispatch(app: Arc<App>, ep: Endpoint, req: Request) -> Response<Body> {
    let post = ep.is_post();
    let node = app.config.node_name.clone();
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return envelope::options(post);
    }
    let allowed = if post { method == Method::POST } else { method == Method::GET || method == Method::HEAD };
    if !allowed {
        let list = if post { "[b'HEAD', b'OPTIONS', b'POST']" } else { "[b'HEAD', b'OPTIONS', b'GET']" };
        return envelope::error(&node, &Error::UnsupportedMethod(list), post);
    }
    let headers = req.headers().clone();
    let limit =
        usize::try_from(app.config.max_egg_size.saturating_mul(3).saturating_add(1 << 20)).unwrap_or(usize::MAX);
    let result = match Params::from_request(req, limit).await {
        Ok(params) => handle(&app, ep, &params, &headers).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(payload) => envelope::ok(&node, payload, post),
        Err(e) => envelope::error(&node, &e, post),
    }
}

async fn handle(app: &Arc<App>, ep: Endpoint, p: &Params, headers: &HeaderMap) -> Result<Vec<(String, Json)>> {
    match ep {
        Endpoint::DaemonStatus => jobs::daemonstatus(app),
        Endpoint::AddVersion => projects::addversion(app, p).await,
        Endpoint::Schedule => jobs::schedule(app, p, headers).await,
        Endpoint::Cancel => jobs::cancel(app, p),
        Endpoint::Status => jobs::status(app, p),
        Endpoint::ListProjects => projects::listprojects(app),
        Endpoint::ListVersions => projects::listversions(app, p),
        Endpoint::ListSpiders => projects::listspiders(app, p).await,
        Endpoint::ListJobs => jobs::listjobs(app, p),
        Endpoint::DelVersion => projects::delversion(app, p),
        Endpoint::DelProject => projects::delproject(app, p),
    }
}
