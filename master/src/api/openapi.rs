//! The OpenAPI description of `/api/v1`, served at `/api/v1/openapi.json` (no auth: it holds no
//! data). Every resource module annotates its handlers with `#[utoipa::path]`; this file lists
//! them in one document.

use axum::Json;
use utoipa::openapi::security::HttpAuthScheme;
use utoipa::openapi::security::HttpBuilder;
use utoipa::openapi::security::SecurityScheme;
use utoipa::Modify;
use utoipa::OpenApi;

use super::cluster;
use super::jobs;
use super::nodes;
use super::projects;
use super::schedules;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "spider-platform master API", description = "Masters, slaves, projects, jobs and schedules of a spider-platform cluster. \
Errors are JSON `{\"error\", \"message\", \"field\"?}`; 503 carries Retry-After when there is no leader."),
    paths(
        cluster::get_cluster, cluster::get_digest, cluster::add_member, cluster::remove_member,
        nodes::list, nodes::show, nodes::create, nodes::update, nodes::remove, nodes::metrics,
        projects::list, projects::show, projects::upload, projects::delete_project, projects::delete_version,
        jobs::list, jobs::show, jobs::cancel,
        schedules::list, schedules::show, schedules::create, schedules::update, schedules::remove,
        schedules::pause, schedules::resume, schedules::run_now, schedules::fires,
    ),
    components(schemas(
        schedules::view::ScheduleView, schedules::view::SpecView, schedules::view::TriggerBody,
        schedules::view::MisfireBody, schedules::view::OverlapBody, schedules::view::NextFire,
        schedules::view::FireView, schedules::view::FireOutcome, schedules::view::PassedOverView, schedules::validate::NewSchedule,
        schedules::validate::SchedulePatch, schedules::RunNow,
    )),
    modifiers(&BearerAuth),
    tags((name = "cluster"), (name = "nodes"), (name = "projects"), (name = "jobs"), (name = "schedules"))
)]
pub struct ApiDoc;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
