//! The Scrapyd web services: routing, method rules and the per-endpoint handlers.
//!
//! Each endpoint is registered for every method; [`dispatch`] answers OPTIONS, rejects wrong
//! methods the way Twisted does (HTTP 200, `UnsupportedMethod: …`), parses parameters and turns
//! the handler's result into the envelope. Handlers live in `projects` (eggs, versions,
//! spiders) and `jobs` (schedule, cancel, status, listings). The envelope, the method rules and
//! parameter parsing are `scrapyd_wire`'s.

pub mod jobs;
pub mod projects;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, Response};
use axum::routing::any;
use axum::Router;
use scrapyd_wire::envelope::{self, Verb};
use scrapyd_wire::params::Params;
use scrapyd_wire::pyjson::Json;

use crate::app::App;
use crate::error::{Error, Result};

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
    pub fn verb(self) -> Verb {
        match self {
            Endpoint::AddVersion
            | Endpoint::Schedule
            | Endpoint::Cancel
            | Endpoint::DelVersion
            | Endpoint::DelProject => Verb::Post,
            Endpoint::DaemonStatus
            | Endpoint::Status
            | Endpoint::ListProjects
            | Endpoint::ListVersions
            | Endpoint::ListSpiders
            | Endpoint::ListJobs => Verb::Get,
        }
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
    let verb = ep.verb();
    let node = app.config.node_name.clone();
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return envelope::options(verb);
    }
    if !verb.permits(&method) {
        return Error::UnsupportedMethod(verb.twisted_list()).envelope(&node, verb);
    }
    let headers = req.headers().clone();
    let limit =
        usize::try_from(app.config.max_egg_size.saturating_mul(3).saturating_add(1 << 20)).unwrap_or(usize::MAX);
    let result = match Params::from_request(req, limit).await {
        Ok(params) => handle(&app, ep, &params, &headers).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(payload) => envelope::ok(&node, payload, verb),
        Err(e) => e.envelope(&node, verb),
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
