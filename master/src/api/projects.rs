//! `/api/v1/projects`: egg upload (to any master; committed through Raft; the leader's deployer
//! then puts it on every live slave), listing with per-slave deployment status, and deletion.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::Multipart;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::delete;
use axum::routing::get;
use axum::routing::post;
use axum::Extension;
use axum::Json;
use axum::Router;
use raft_store::state::Deployment;
use raft_store::state::Project;
use raft_store::state::Role;
use raft_store::Command;
use serde::Deserialize;
use serde::Serialize;
use sha2::Digest;

use super::auth::Principal;
use super::error::ApiError;
use super::read::check_name;
use super::read::write;
use super::read::Consistency;
use crate::node::MasterNode;

/// Room for the multipart framing and the `version` field around the egg.
const FORM_OVERHEAD: usize = 64 * 1024;
/// Bounds on what an egg may unpack to (ZIP bombs).
const MAX_ENTRIES: usize = 20_000;
const MAX_UNPACKED: u64 = 512 * 1024 * 1024;

pub fn routes(max_egg_bytes: usize) -> Router<Arc<MasterNode>> {
    Router::new()
        .route("/projects", get(list))
        .route("/projects/{project}", get(show).delete(delete_project))
        .route(
            "/projects/{project}/versions",
            post(upload).layer(DefaultBodyLimit::max(max_egg_bytes.saturating_add(FORM_OVERHEAD))),
        )
        .route("/projects/{project}/versions/{version}", delete(delete_version))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionView {
    pub version: String,
    pub sha256: String,
    pub size: u64,
    pub uploaded_at_ms: u64,
    /// Per slave: `{"kind": "deployed", "spiders": […], "at_ms"}` or `{"kind": "failed", "reason", "at_ms"}`.
    #[schema(value_type = Object)]
    pub deployments: BTreeMap<String, Deployment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectView {
    pub name: String,
    /// Oldest upload first.
    pub versions: Vec<VersionView>,
}

fn view(p: &Project) -> ProjectView {
    let mut versions: Vec<VersionView> = p
        .versions
        .values()
        .map(|v| VersionView {
            version: v.version.clone(),
            sha256: v.sha256.clone(),
            size: v.size,
            uploaded_at_ms: v.uploaded_at_ms,
            deployments: v.deployments.clone(),
        })
        .collect();
    versions.sort_by(|a, b| (a.uploaded_at_ms, &a.version).cmp(&(b.uploaded_at_ms, &b.version)));
    ProjectView { name: p.name.clone(), versions }
}

fn get_project(node: &MasterNode, name: &str) -> Result<Project, ApiError> {
    node.state
        .read(|s| s.projects.get(&name.to_string()).cloned())
        .ok_or_else(|| ApiError::NotFound(format!("project {name}")))
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(Consistency),
    responses((status = 200, body = [ProjectView])), security(("bearer" = [])))]
pub async fn list(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Query(c): Query<Consistency>,
) -> Result<Json<Vec<ProjectView>>, ApiError> {
    p.require(Role::Viewer)?;
    c.wait(&node).await?;
    Ok(Json(node.state.read(|s| s.projects.values().map(view).collect())))
}

#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects", params(("project" = String, Path), Consistency),
    responses((status = 200, body = ProjectView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(project): Path<String>,
    Query(c): Query<Consistency>,
) -> Result<Json<ProjectView>, ApiError> {
    p.require(Role::Viewer)?;
    c.wait(&node).await?;
    Ok(Json(view(&get_project(&node, &project)?)))
}

/// `?replace=true` allows replacing a version's egg with different bytes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    #[serde(default)]
    pub replace: bool,
}

/// Checks that `egg` is a ZIP egg with a Scrapy settings entry point, without unpacking it
/// (the rules are `scrapyd_wire::egg`'s, shared with spider-slave; the size limit is the
/// caller's, checked before).
pub fn check_egg(egg: &[u8]) -> Result<(), ApiError> {
    use scrapyd_wire::egg::EggError;
    let limits =
        scrapyd_wire::egg::EggLimits { max_size: u64::MAX, max_unpacked: MAX_UNPACKED, max_entries: MAX_ENTRIES };
    let why = match scrapyd_wire::egg::validate(egg, limits) {
        Ok(_) => return Ok(()),
        Err(EggError::TooLarge { size, limit }) => format!("{size} bytes, at most {limit}"),
        Err(EggError::NotAZip(e)) => format!("not a valid egg (ZIP) file: {e}"),
        Err(EggError::TooManyEntries { entries, limit }) => format!("{entries} entries, at most {limit}"),
        Err(EggError::DamagedEntry { index, reason }) => format!("damaged ZIP entry {index}: {reason}"),
        Err(EggError::EscapingEntry(name)) => format!("entry {name:?} escapes the egg"),
        Err(EggError::ZipBomb { unpacked, limit }) => format!("unpacks to {unpacked} bytes, at most {limit}"),
        Err(EggError::NoEntryPoints) => "no EGG-INFO/entry_points.txt: not a Scrapy egg".into(),
        Err(EggError::UnreadableEntryPoints(e)) => format!("EGG-INFO/entry_points.txt: {e}"),
        Err(EggError::NoSettings) => "entry_points.txt has no [scrapy] settings = … entry point".into(),
    };
    Err(ApiError::bad("egg", why))
}

#[utoipa::path(post, path = "/api/v1/projects/{project}/versions", tag = "projects",
    params(("project" = String, Path), UploadQuery),
    request_body(content_type = "multipart/form-data", description = "parts `egg` (file) and `version` (text)"),
    responses((status = 201, body = ProjectView), (status = 200, body = ProjectView, description = "same egg again"),
        (status = 400), (status = 409), (status = 413)), security(("bearer" = [])))]
pub async fn upload(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(project): Path<String>,
    Query(q): Query<UploadQuery>,
    mut form: Multipart,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    p.require(Role::Operator)?;
    check_name("project", &project)?;
    let limit = node.config.max_egg_bytes;
    let too_large = || ApiError::TooLarge(format!("the egg is larger than the limit of {limit} bytes"));
    let (mut egg, mut version) = (None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(ApiError::bad("egg", format!("malformed multipart body: {}", e.body_text()))),
        };
        let name = field.name().unwrap_or("").to_string();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(ApiError::bad(&name, format!("could not read the part: {}", e.body_text()))),
        };
        match name.as_str() {
            "egg" if egg.is_none() => egg = Some(bytes),
            "version" if version.is_none() => {
                version = Some(String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad("version", "not UTF-8"))?)
            }
            _ => {}
        }
    }
    let version = version.ok_or_else(|| ApiError::bad("version", "missing (a multipart text part)"))?;
    check_name("version", version.trim())?;
    let version = version.trim().to_string();
    let egg = egg.ok_or_else(|| ApiError::bad("egg", "missing (a multipart file part)"))?;
    if egg.len() > limit {
        return Err(too_large());
    }
    check_egg(&egg)?;
    let sha = hex::encode(sha2::Sha256::digest(&egg));
    let existing =
        node.state.read(|s| s.projects.get(&project).and_then(|p| p.versions.get(&version)).map(|v| v.sha256.clone()));
    if existing.as_deref() == Some(sha.as_str()) {
        return Ok((StatusCode::OK, Json(view(&get_project(&node, &project)?))));
    }
    if existing.is_some() && !q.replace {
        return Err(ApiError::Conflict(format!(
            "version {version} of {project} exists with other contents; upload a new version or add ?replace=true"
        )));
    }
    let cmd = Command::AddVersion { project: project.clone(), version: version.clone(), egg: egg.to_vec() };
    write(&node, cmd, &format!("{project} {version}")).await?;
    tracing::info!(%project, %version, size = egg.len(), by = %p.username, "egg stored");
    Ok((StatusCode::CREATED, Json(view(&get_project(&node, &project)?))))
}

/// Schedules that run `project`: a project in use is not deleted under them.
fn schedules_using(node: &MasterNode, project: &str, version: Option<&str>) -> Vec<String> {
    node.state.read(|s| {
        s.schedules
            .values()
            .filter(|sc| sc.spec.project == project && (version.is_none() || sc.spec.egg_version.as_deref() == version))
            .map(|sc| sc.id.clone())
            .collect()
    })
}

#[utoipa::path(delete, path = "/api/v1/projects/{project}", tag = "projects", params(("project" = String, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "schedules still use it")), security(("bearer" = [])))]
pub async fn delete_project(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Operator)?;
    let users = schedules_using(&node, &project, None);
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!("schedules {} run {project}; delete them first", users.join(", "))));
    }
    write(&node, Command::DeleteProject { project: project.clone() }, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/projects/{project}/versions/{version}", tag = "projects",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "schedules pin it")), security(("bearer" = [])))]
pub async fn delete_version(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path((project, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Operator)?;
    let last = node.state.read(|s| s.projects.get(&project).is_some_and(|p| p.versions.len() == 1));
    // Deleting the last version deletes the project (as Scrapyd), so it is guarded like one.
    let users = schedules_using(&node, &project, if last { None } else { Some(&version) });
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!("schedules {} pin version {version}", users.join(", "))));
    }
    let cmd = Command::DeleteVersion { project: project.clone(), version: version.clone() };
    write(&node, cmd, &format!("{project} {version}")).await?;
    Ok(StatusCode::NO_CONTENT)
}
