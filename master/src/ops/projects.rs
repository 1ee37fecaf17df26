//! Projects and their egg versions: upload (checked, stored through Raft; the leader's deployer
//! then puts it on every live slave), reads, and deletes guarded by the schedules that use them.
//!
//! **Invariant:** a version's bytes never change unless the caller asked to replace them; a
//! project or version that a schedule runs is not deleted under it.

use raft_store::state::Project;
use raft_store::Command;
use sha2::Digest;

use super::check_name;
use super::commit;
use super::Consistency;
use super::OpsError;
use crate::auth::Principal;
use crate::node::MasterNode;

/// Bounds on what an egg may unpack to (ZIP bombs).
const MAX_ENTRIES: usize = 20_000;
const MAX_UNPACKED: u64 = 512 * 1024 * 1024;

/// What [`upload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// The version is new, or replaced with other bytes.
    Stored,
    /// The same bytes were stored under that version already: nothing was written.
    Unchanged,
}

/// An upload of `egg` as `version` of `project`.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub project: &'a str,
    /// Trimmed before it is checked and stored.
    pub version: &'a str,
    pub egg: &'a [u8],
    /// Allow replacing a stored version's bytes with different ones.
    pub replace: bool,
}

/// The refusal of an egg over the configured limit.
pub fn too_large(limit: usize) -> OpsError {
    OpsError::TooLarge(format!("the egg is larger than the limit of {limit} bytes"))
}

/// Checks that `egg` is a ZIP egg with a Scrapy settings entry point, without unpacking it
/// (the rules are `scrapyd_wire::egg`'s, shared with spider-slave and the Scrapyd facade; the
/// size limit is the caller's, checked before).
pub fn check_egg(egg: &[u8]) -> Result<(), OpsError> {
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
    Err(OpsError::invalid("egg", why))
}

fn get_local(node: &MasterNode, name: &str) -> Result<Project, OpsError> {
    node.state
        .read(|s| s.projects.get(&name.to_string()).cloned())
        .ok_or_else(|| OpsError::NotFound(format!("project {name}")))
}

/// Every project, by name.
pub async fn list(node: &MasterNode, c: Consistency) -> Result<Vec<Project>, OpsError> {
    c.wait(node).await?;
    Ok(node.state.read(|s| s.projects.values().cloned().collect()))
}

/// Project `name`.
pub async fn get(node: &MasterNode, name: &str, c: Consistency) -> Result<Project, OpsError> {
    c.wait(node).await?;
    get_local(node, name)
}

/// Stores an egg version (checked first); answers the project as it is afterwards.
pub async fn upload(node: &MasterNode, up: NewVersion<'_>, by: &Principal) -> Result<(Upload, Project), OpsError> {
    let project = up.project;
    check_name("project", project)?;
    check_name("version", up.version.trim())?;
    let version = up.version.trim();
    let limit = node.config.max_egg_bytes;
    if up.egg.len() > limit {
        return Err(too_large(limit));
    }
    check_egg(up.egg)?;
    let sha = hex::encode(sha2::Sha256::digest(up.egg));
    let existing = node
        .state
        .read(|s| s.projects.get(&project.to_string()).and_then(|p| p.versions.get(version)).map(|v| v.sha256.clone()));
    if existing.as_deref() == Some(sha.as_str()) {
        return Ok((Upload::Unchanged, get_local(node, project)?));
    }
    if existing.is_some() && !up.replace {
        return Err(OpsError::Conflict(format!(
            "version {version} of {project} exists with other contents; upload a new version or add ?replace=true"
        )));
    }
    let cmd = Command::AddVersion { project: project.to_string(), version: version.to_string(), egg: up.egg.to_vec() };
    commit(node, cmd, &format!("{project} {version}")).await?;
    tracing::info!(%project, %version, size = up.egg.len(), by = %by.username, "egg stored");
    Ok((Upload::Stored, get_local(node, project)?))
}

/// Schedules that run `project` (any version, or only those pinning `version`): a project in
/// use is not deleted under them.
fn schedules_using(node: &MasterNode, project: &str, version: Option<&str>) -> Vec<String> {
    node.state.read(|s| {
        s.schedules
            .values()
            .filter(|sc| sc.spec.project == project && (version.is_none() || sc.spec.egg_version.as_deref() == version))
            .map(|sc| sc.id.clone())
            .collect()
    })
}

/// Deletes `project` with every version, unless a schedule runs it.
pub async fn delete_project(node: &MasterNode, project: &str, by: &Principal) -> Result<(), OpsError> {
    let users = schedules_using(node, project, None);
    if !users.is_empty() {
        return Err(OpsError::Conflict(format!("schedules {} run {project}; delete them first", users.join(", "))));
    }
    commit(node, Command::DeleteProject { project: project.to_string() }, project).await?;
    tracing::info!(%project, by = %by.username, "project deleted");
    Ok(())
}

/// Deletes one version, unless a schedule pins it. Deleting the last version deletes the
/// project (as Scrapyd does), so it is guarded like one.
pub async fn delete_version(node: &MasterNode, project: &str, version: &str, by: &Principal) -> Result<(), OpsError> {
    let last = node.state.read(|s| s.projects.get(&project.to_string()).is_some_and(|p| p.versions.len() == 1));
    let users = schedules_using(node, project, if last { None } else { Some(version) });
    if !users.is_empty() {
        return Err(OpsError::Conflict(format!("schedules {} pin version {version}", users.join(", "))));
    }
    let cmd = Command::DeleteVersion { project: project.to_string(), version: version.to_string() };
    commit(node, cmd, &format!("{project} {version}")).await?;
    tracing::info!(%project, %version, by = %by.username, "version deleted");
    Ok(())
}
