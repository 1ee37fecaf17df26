//! Project services: addversion, listprojects, listversions, listspiders, delversion, delproject.

use std::sync::Arc;

use scrapyd_wire::egg::{validate, EggError, EggLimits};
use scrapyd_wire::params::Params;
use scrapyd_wire::pyjson::Json;
use scrapyd_wire::versions::check_component;

use crate::app::App;
use crate::error::{Error, Result};

type Payload = Result<Vec<(String, Json)>>;

fn pair(k: &str, v: impl Into<Json>) -> (String, Json) {
    (k.to_string(), v.into())
}

/// Stores an egg after validating it, then counts its spiders with `scrapy list`. A failing
/// `scrapy list` answers `RunnerError` but keeps the egg (as Scrapyd does).
pub async fn addversion(app: &Arc<App>, p: &Params) -> Payload {
    let project = p.req("project")?;
    let version = p.req("version")?;
    let egg = p.raw("egg").ok_or_else(|| Error::MissingParam("egg".into()))?;
    // Scrapyd has no limit on the number of members.
    let limits = EggLimits {
        max_size: app.config.max_egg_size,
        max_unpacked: app.config.max_egg_unpacked,
        max_entries: usize::MAX,
    };
    let checked = validate(egg, limits);
    // Traversal is reported before the egg's own problems when the upload is at least a ZIP,
    // like Scrapyd (which checks "is a ZIP" first and the project name when storing).
    if !matches!(checked, Err(EggError::TooLarge { .. } | EggError::NotAZip(_))) {
        check_component(&project)?;
    }
    checked?;
    app.eggs.put(&project, &version, egg)?;
    app.runner.evict(&project);
    tracing::info!(project = %project, version = %version, bytes = egg.len(), "egg stored");
    let spiders = app.runner.refresh_spiders(&project, Some(&version)).await?;
    Ok(vec![pair("project", project), pair("version", version), pair("spiders", spiders.len())])
}

pub fn listprojects(app: &Arc<App>) -> Payload {
    Ok(vec![pair("projects", app.projects())])
}

pub fn listversions(app: &Arc<App>, p: &Params) -> Payload {
    let project = p.req("project")?;
    Ok(vec![pair("versions", app.eggs.versions(&project)?)])
}

pub async fn listspiders(app: &Arc<App>, p: &Params) -> Payload {
    let project = p.req("project")?;
    let version = p.opt("_version")?.filter(|v| !v.is_empty());
    check_component(&project)?;
    if !app.project_exists(&project) {
        return Err(Error::ProjectNotFound(project));
    }
    let spiders = app.runner.spiders(&project, version.as_deref()).await?;
    Ok(vec![pair("spiders", spiders)])
}

pub fn delversion(app: &Arc<App>, p: &Params) -> Payload {
    let project = p.req("project")?;
    let version = p.req("version")?;
    app.eggs.delete_version(&project, &version)?;
    app.runner.evict(&project);
    if !app.project_exists(&project) {
        app.book().drop_project(&project)?;
    }
    Ok(vec![])
}

pub fn delproject(app: &Arc<App>, p: &Params) -> Payload {
    let project = p.req("project")?;
    app.eggs.delete_project(&project)?;
    app.runner.evict(&project);
    app.book().drop_project(&project)?;
    Ok(vec![])
}
