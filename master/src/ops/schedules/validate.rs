//! The checks a schedule spec passes before anything is proposed: each failure names the field,
//! and nothing is stored.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use raft_store::state::Deployment;
use raft_store::state::MisfirePolicy;
use raft_store::state::ScheduleSpec;
use raft_store::state::State;

use crate::ops::check_name;
use crate::ops::OpsError;
use crate::scheduler::cron as cron_eval;

/// Scrapyd queue priorities a schedule may ask for.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;
/// Bounds of misfire policies.
pub const MAX_FIRE_ALL_CAP: u32 = 1000;
pub const MAX_STARTING_DEADLINE_MS: u64 = 24 * 60 * 60 * 1000;
/// Bounds of spider arguments and settings.
const MAX_PAIRS: usize = 100;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 4096;
const MAX_TAGS: usize = 32;
/// Scrapyd's own `schedule.json` fields: a spider argument of that name would be taken for them.
const RESERVED_ARGS: [&str; 6] = ["project", "spider", "setting", "jobid", "_version", "priority"];

fn check_pairs(field: &str, pairs: &BTreeMap<String, String>) -> Result<(), OpsError> {
    if pairs.len() > MAX_PAIRS {
        return Err(OpsError::invalid(field, format!("at most {MAX_PAIRS} entries")));
    }
    for (k, v) in pairs {
        if k.is_empty() || k.len() > MAX_KEY || k.contains('=') || k.chars().any(char::is_control) {
            return Err(OpsError::invalid(field, format!("key {k:?} must be 1 to {MAX_KEY} characters, without '='")));
        }
        if v.len() > MAX_VALUE {
            return Err(OpsError::invalid(field, format!("the value of {k:?} is longer than {MAX_VALUE} bytes")));
        }
    }
    Ok(())
}

/// Checks `spec` against the replicated state `s` at `now_ms`. With `previous` (a PATCH), parts
/// that did not change are not judged again (a past one-off time or a since-removed slave tag
/// must not block an unrelated edit).
pub fn check_spec(
    s: &State,
    spec: &ScheduleSpec,
    previous: Option<&ScheduleSpec>,
    now_ms: i64,
) -> Result<(), OpsError> {
    let same_target = previous
        .is_some_and(|p| p.project == spec.project && p.spider == spec.spider && p.egg_version == spec.egg_version);
    check_name("project", &spec.project)?;
    check_name("spider", &spec.spider)?;
    if !same_target {
        let project = s.projects.get(&spec.project).ok_or_else(|| {
            OpsError::invalid("project", format!("no project {:?}; upload an egg first", spec.project))
        })?;
        let version = match &spec.egg_version {
            Some(v) => {
                check_name("egg_version", v)?;
                Some(project.versions.get(v).ok_or_else(|| {
                    OpsError::invalid("egg_version", format!("project {:?} has no version {v:?}", spec.project))
                })?)
            }
            None => project.versions.values().max_by_key(|v| (v.uploaded_at_ms, v.version.clone())),
        };
        let known: BTreeSet<&String> = version
            .into_iter()
            .flat_map(|v| v.deployments.values())
            .flat_map(|d| -> Vec<&String> {
                match d {
                    Deployment::Deployed { spiders, .. } => spiders.iter().collect(),
                    Deployment::Failed { .. } => vec![],
                }
            })
            .collect();
        if !known.is_empty() && !known.contains(&spec.spider) {
            let list: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
            return Err(OpsError::invalid(
                "spider",
                format!("project {:?} has no spider {:?} (it has {})", spec.project, spec.spider, list.join(", ")),
            ));
        }
    }
    let old_trigger = previous.map(|p| &p.trigger);
    if old_trigger != Some(&spec.trigger) {
        cron_eval::validate(&spec.trigger, now_ms).map_err(|e| OpsError::invalid(e.field, e.message))?;
    }
    if !PRIORITY_RANGE.contains(&spec.priority) {
        return Err(OpsError::invalid(
            "priority",
            format!("must be between {} and {}", PRIORITY_RANGE.start(), PRIORITY_RANGE.end()),
        ));
    }
    match spec.misfire {
        MisfirePolicy::FireAll { cap } if cap == 0 || cap > MAX_FIRE_ALL_CAP => {
            return Err(OpsError::invalid("misfire.cap", format!("must be between 1 and {MAX_FIRE_ALL_CAP}")));
        }
        MisfirePolicy::FireOnce { starting_deadline_ms } if starting_deadline_ms > MAX_STARTING_DEADLINE_MS => {
            return Err(OpsError::invalid(
                "misfire.starting_deadline_ms",
                format!("must be at most {MAX_STARTING_DEADLINE_MS} (one day)"),
            ));
        }
        _ => {}
    }
    check_pairs("args", &spec.args)?;
    if let Some(k) = spec.args.keys().find(|k| RESERVED_ARGS.contains(&k.as_str())) {
        return Err(OpsError::invalid(
            "args",
            format!("{k:?} is a Scrapyd schedule.json field, not a spider argument"),
        ));
    }
    check_pairs("settings", &spec.settings)?;
    if previous.is_none_or(|p| p.node_selector != spec.node_selector) {
        check_selector(s, &spec.node_selector)?;
    }
    Ok(())
}

fn check_selector(s: &State, tags: &[String]) -> Result<(), OpsError> {
    if tags.len() > MAX_TAGS {
        return Err(OpsError::invalid("node_selector", format!("at most {MAX_TAGS} tags")));
    }
    for t in tags {
        check_name("node_selector", t)?;
    }
    let missing: Vec<&str> =
        tags.iter().filter(|t| !s.nodes.values().any(|n| n.spec.tags.contains(t))).map(|t| t.as_str()).collect();
    if !missing.is_empty() {
        return Err(OpsError::invalid(
            "node_selector",
            format!("no registered node carries tags {}", missing.join(", ")),
        ));
    }
    Ok(())
}
