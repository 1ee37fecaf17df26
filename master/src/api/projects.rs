//! `/api/v1/projects`: egg upload (multipart, to any master; the operation is
//! `ops::projects::upload`), listing with per-slave deployment status, and deletion.

use std::sync::Arc;

use axum::extract::Multipart;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::Consistency;
use super::extract::ConsistencyQuery;
use super::extract::QueryParams;
use super::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::ops::projects::NewVersion;
use crate::ops::projects::Upload;
use crate::views::projects::ProjectView;

/// Room for the multipart framing and the `version` field around the egg.
const FORM_OVERHEAD: usize = 64 * 1024;

pub fn routes(max_egg_bytes: usize) -> Routes {
    Routes::new()
        .add(Verb::Get, "/api/v1/projects", list)
        .add(Verb::Get, "/api/v1/projects/{project}", show)
        .add(Verb::Delete, "/api/v1/projects/{project}", delete_project)
        .add_with_body_limit(
            Verb::Post,
            "/api/v1/projects/{project}/versions",
            upload,
            max_egg_bytes.saturating_add(FORM_OVERHEAD),
        )
        .add(Verb::Delete, "/api/v1/projects/{project}/versions/{version}", delete_version)
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ConsistencyQuery),
    responses((status = 200, body = [ProjectView])), security(("bearer" = [])))]
pub async fn list(State(node): State<Arc<MasterNode>>, c: Consistency) -> Result<Json<Vec<ProjectView>>, ApiError> {
    Ok(Json(ops::projects::list(&node, c).await?.iter().map(ProjectView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/projects/{project}", tag = "projects", params(("project" = String, Path), ConsistencyQuery),
    responses((status = 200, body = ProjectView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Path(project): Path<String>,
    c: Consistency,
) -> Result<Json<ProjectView>, ApiError> {
    Ok(Json((&ops::projects::get(&node, &project, c).await?).into()))
}

/// `?replace=true` allows replacing a version's egg with different bytes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    #[serde(default)]
    pub replace: bool,
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
    QueryParams(q): QueryParams<UploadQuery>,
    mut form: Multipart,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    ops::check_name("project", &project)?;
    let too_large = || ApiError::from(ops::projects::too_large(node.config.max_egg_bytes));
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
    // Checked again by the operation; here so a bad version is named before a missing egg.
    ops::check_name("version", version.trim())?;
    let egg = egg.ok_or_else(|| ApiError::bad("egg", "missing (a multipart file part)"))?;
    let up = NewVersion { project: &project, version: &version, egg: &egg, replace: q.replace };
    let (done, stored) = ops::projects::upload(&node, up, &p).await?;
    let status = match done {
        Upload::Stored => StatusCode::CREATED,
        Upload::Unchanged => StatusCode::OK,
    };
    Ok((status, Json((&stored).into())))
}

#[utoipa::path(delete, path = "/api/v1/projects/{project}", tag = "projects", params(("project" = String, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "schedules still use it")), security(("bearer" = [])))]
pub async fn delete_project(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::projects::delete_project(&node, &project, &p).await?;
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
    ops::projects::delete_version(&node, &project, &version, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}
