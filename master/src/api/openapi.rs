//! The OpenAPI description of `/api/v1`, served at `/api/v1/openapi.json` (no auth: it holds no
//! data). Every resource module annotates its handlers with `#[utoipa::path]`; this file lists
//! them in one document, and a test checks it lists every registered `/api/v1` route.

use axum::Json;
use utoipa::openapi::security::HttpAuthScheme;
use utoipa::openapi::security::HttpBuilder;
use utoipa::openapi::security::SecurityScheme;
use utoipa::Modify;
use utoipa::OpenApi;

use super::alerts;
use super::cluster;
use super::debug;
use super::jobs;
use super::nodes;
use super::projects;
use super::schedules;
use crate::views;

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
Errors are JSON `{\"error\", \"message\", \"field\"?}`; 503 carries Retry-After when there is no leader. \
Roles: viewer reads, operator also changes projects, schedules and jobs and handles alerts (ack, resolve, silences), \
admin also nodes, masters, alert channels, rules and thresholds, and debug aids."),
    paths(
        cluster::get_cluster, cluster::get_digest, cluster::add_member, cluster::remove_member,
        debug::set_clock,
        nodes::list, nodes::show, nodes::create, nodes::update, nodes::remove, nodes::metrics,
        projects::list, projects::show, projects::upload, projects::delete_project, projects::delete_version,
        jobs::list, jobs::show, jobs::cancel,
        schedules::list, schedules::show, schedules::create, schedules::update, schedules::remove,
        schedules::pause, schedules::resume, schedules::run_now, schedules::fires,
        alerts::ledger::list, alerts::ledger::show, alerts::ledger::ack, alerts::ledger::resolve,
        alerts::ledger::deliveries,
        alerts::channels::list, alerts::channels::show, alerts::channels::put, alerts::channels::remove,
        alerts::channels::test,
        alerts::config::list_rules, alerts::config::show_rule, alerts::config::put_rule, alerts::config::remove_rule,
        alerts::config::list_silences, alerts::config::create_silence, alerts::config::show_silence,
        alerts::config::expire_silence,
        alerts::config::list_thresholds, alerts::config::show_thresholds, alerts::config::put_thresholds,
        alerts::config::remove_thresholds,
    ),
    components(schemas(
        views::cluster::ClusterInfo, views::cluster::Member, views::cluster::MemberRoleView,
        views::cluster::RaftStateView, views::cluster::StateDigest, cluster::AddMember,
        debug::ClockOffset, debug::ClockState,
        views::nodes::NodeView, views::nodes::NodeStatusView, nodes::NewNode, nodes::NodePatch,
        views::projects::ProjectView, views::projects::VersionView, views::projects::DeploymentView,
        views::jobs::JobView, views::jobs::JobStateView, views::jobs::JobOutcomeView, jobs::Cancelled,
        views::schedules::ScheduleView, views::schedules::SpecView, views::schedules::TriggerBody,
        views::schedules::MisfireBody, views::schedules::OverlapBody, views::schedules::NextFire,
        views::fires::FireView, views::fires::FireOutcome, views::fires::PassedOverView,
        schedules::requests::NewSchedule, schedules::requests::SchedulePatch, views::schedules::RunNow,
        views::alerts::CountersView, views::alerts::ledger::AlertView, views::alerts::ledger::AlertListView,
        views::alerts::ledger::AlertDetailView, views::alerts::ledger::AlertStatusView, views::alerts::ledger::LabelsView,
        views::alerts::ledger::RouteView, views::alerts::ledger::SuppressionView, views::alerts::ledger::ByHandView,
        views::alerts::ledger::DeliveryView, views::alerts::ledger::DeliveryStateView,
        views::alerts::ledger::DeliveryListView, views::alerts::ledger::AlertsSummaryView,
        views::alerts::config::ChannelView, views::alerts::config::ChannelListView, views::alerts::config::RuleListView,
        views::alerts::config::MatcherView, views::alerts::config::MatchLabelView, views::alerts::config::MatchOpView,
        views::alerts::config::SilenceView, views::alerts::config::SilenceListView,
        views::alerts::config::ThresholdsView, views::alerts::config::ThresholdsListView,
        views::alerts::config::TestSentView, views::alerts::config::TestFailedView,
        alerts::ledger::ByHandRequest, alerts::channels::TestRequest, alerts::config::NewSilenceRequest,
    )),
    modifiers(&BearerAuth),
    tags((name = "cluster"), (name = "nodes"), (name = "projects"), (name = "jobs"), (name = "schedules"), (name = "alerts"))
)]
pub struct ApiDoc;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
