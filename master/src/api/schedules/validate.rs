//! Schedule requests: their JSON shapes, the JSON body extractor that answers with our
//! `ApiError`, and the checks a spec passes before anything is proposed (each failure is a 400
//! naming the field; nothing is stored).

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use axum::extract::rejection::JsonRejection;
use axum::extract::FromRequest;
use axum::extract::Request;
use axum::Json;
use raft_store::state::Deployment;
use raft_store::state::MisfirePolicy;
use raft_store::state::ScheduleSpec;
use raft_store::state::State;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Deserializer;

use super::view::MisfireBody;
use super::view::OverlapBody;
use super::view::TriggerBody;
use crate::api::error::ApiError;
use crate::api::read::check_name;
use crate::cron_eval;

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

/// `Json<T>` whose rejections are our JSON `ApiError` 400s, naming the field when serde says
/// which one (`missing field`, `unknown field`, a wrongly typed value), else `body`.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(r) => Err(rejection_error(&r)),
        }
    }
}

fn rejection_error(r: &JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let detail = text.split_once("target type: ").map_or(text.as_str(), |(_, d)| d).to_string();
            ApiError::bad(&field_of(&detail), detail)
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::bad("body", format!("malformed JSON: {}", e.body_text())),
        JsonRejection::MissingJsonContentType(_) => ApiError::bad("body", "Content-Type must be application/json"),
        other => ApiError::bad("body", other.body_text()),
    }
}

/// The field a serde error is about: its path (`trigger`, `misfire.cap`), extended by the name
/// in a `missing field`/`unknown field` message.
pub fn field_of(detail: &str) -> String {
    let (path, message) = match detail.split_once(": ") {
        Some((p, m)) if !p.is_empty() && !p.contains(' ') => (p.trim_start_matches('.'), m),
        _ => ("", detail),
    };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|pre| message.split_once(pre).and_then(|(_, rest)| rest.split_once('`')).map(|(n, _)| n));
    let field = match named {
        Some(n) if path.is_empty() => n.to_string(),
        Some(n) if path == n || path.ends_with(&format!(".{n}")) => path.to_string(),
        Some(n) => format!("{path}.{n}"),
        None => path.to_string(),
    };
    if field.is_empty() {
        "body".into()
    } else {
        field
    }
}

/// `POST /schedules`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub project: String,
    pub spider: String,
    /// Egg version to run; absent runs the latest on the slave.
    #[serde(default)]
    pub egg_version: Option<String>,
    /// Spider arguments (`-a k=v`).
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// Scrapy settings (`-s K=V`).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// -1000 to 1000; higher runs first on a busy slave.
    #[serde(default)]
    pub priority: i32,
    /// Tags a slave must all carry; each must be carried by some registered slave.
    #[serde(default)]
    pub node_selector: Vec<String>,
    pub trigger: TriggerBody,
    /// Default `{"kind": "fire_once", "starting_deadline_ms": 60000}`.
    #[serde(default)]
    pub misfire: Option<MisfireBody>,
    /// Default `allow`.
    #[serde(default)]
    pub overlap: Option<OverlapBody>,
    /// Create it paused.
    #[serde(default)]
    pub paused: bool,
}

impl NewSchedule {
    pub fn into_spec(self) -> (ScheduleSpec, bool) {
        let spec = ScheduleSpec {
            project: self.project,
            spider: self.spider,
            egg_version: self.egg_version,
            args: self.args,
            settings: self.settings,
            priority: self.priority,
            node_selector: self.node_selector,
            trigger: self.trigger.into(),
            misfire: self.misfire.map(Into::into).unwrap_or_default(),
            overlap: self.overlap.map(Into::into).unwrap_or_default(),
        };
        (spec, self.paused)
    }
}

/// Present-but-null as `Some(None)`, absent as `None`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /schedules/{id}`: the fields given replace the current ones.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    /// Refuse with 409 unless the schedule is at this version.
    pub expected_version: Option<u64>,
    pub project: Option<String>,
    pub spider: Option<String>,
    /// `null` clears it (run the latest version).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub egg_version: Option<Option<String>>,
    pub args: Option<BTreeMap<String, String>>,
    pub settings: Option<BTreeMap<String, String>>,
    pub priority: Option<i32>,
    pub node_selector: Option<Vec<String>>,
    pub trigger: Option<TriggerBody>,
    pub misfire: Option<MisfireBody>,
    pub overlap: Option<OverlapBody>,
}

impl SchedulePatch {
    /// `current` with the patch applied.
    pub fn merge(&self, current: &ScheduleSpec) -> ScheduleSpec {
        let mut s = current.clone();
        if let Some(v) = &self.project {
            s.project = v.clone();
        }
        if let Some(v) = &self.spider {
            s.spider = v.clone();
        }
        if let Some(v) = &self.egg_version {
            s.egg_version = v.clone();
        }
        if let Some(v) = &self.args {
            s.args = v.clone();
        }
        if let Some(v) = &self.settings {
            s.settings = v.clone();
        }
        if let Some(v) = self.priority {
            s.priority = v;
        }
        if let Some(v) = &self.node_selector {
            s.node_selector = v.clone();
        }
        if let Some(v) = &self.trigger {
            s.trigger = v.clone().into();
        }
        if let Some(v) = &self.misfire {
            s.misfire = v.clone().into();
        }
        if let Some(v) = self.overlap {
            s.overlap = v.into();
        }
        s
    }
}

fn check_pairs(field: &str, pairs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if pairs.len() > MAX_PAIRS {
        return Err(ApiError::bad(field, format!("at most {MAX_PAIRS} entries")));
    }
    for (k, v) in pairs {
        if k.is_empty() || k.len() > MAX_KEY || k.contains('=') || k.chars().any(char::is_control) {
            return Err(ApiError::bad(field, format!("key {k:?} must be 1 to {MAX_KEY} characters, without '='")));
        }
        if v.len() > MAX_VALUE {
            return Err(ApiError::bad(field, format!("the value of {k:?} is longer than {MAX_VALUE} bytes")));
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
) -> Result<(), ApiError> {
    let same_target = previous
        .is_some_and(|p| p.project == spec.project && p.spider == spec.spider && p.egg_version == spec.egg_version);
    check_name("project", &spec.project)?;
    check_name("spider", &spec.spider)?;
    if !same_target {
        let project = s
            .projects
            .get(&spec.project)
            .ok_or_else(|| ApiError::bad("project", format!("no project {:?}; upload an egg first", spec.project)))?;
        let version = match &spec.egg_version {
            Some(v) => {
                check_name("egg_version", v)?;
                Some(project.versions.get(v).ok_or_else(|| {
                    ApiError::bad("egg_version", format!("project {:?} has no version {v:?}", spec.project))
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
            return Err(ApiError::bad(
                "spider",
                format!("project {:?} has no spider {:?} (it has {})", spec.project, spec.spider, list.join(", ")),
            ));
        }
    }
    let old_trigger = previous.map(|p| &p.trigger);
    if old_trigger != Some(&spec.trigger) {
        cron_eval::validate(&spec.trigger, now_ms).map_err(|e| ApiError::bad(e.field, e.message))?;
    }
    if !PRIORITY_RANGE.contains(&spec.priority) {
        return Err(ApiError::bad(
            "priority",
            format!("must be between {} and {}", PRIORITY_RANGE.start(), PRIORITY_RANGE.end()),
        ));
    }
    match spec.misfire {
        MisfirePolicy::FireAll { cap } if cap == 0 || cap > MAX_FIRE_ALL_CAP => {
            return Err(ApiError::bad("misfire.cap", format!("must be between 1 and {MAX_FIRE_ALL_CAP}")));
        }
        MisfirePolicy::FireOnce { starting_deadline_ms } if starting_deadline_ms > MAX_STARTING_DEADLINE_MS => {
            return Err(ApiError::bad(
                "misfire.starting_deadline_ms",
                format!("must be at most {MAX_STARTING_DEADLINE_MS} (one day)"),
            ));
        }
        _ => {}
    }
    check_pairs("args", &spec.args)?;
    if let Some(k) = spec.args.keys().find(|k| RESERVED_ARGS.contains(&k.as_str())) {
        return Err(ApiError::bad("args", format!("{k:?} is a Scrapyd schedule.json field, not a spider argument")));
    }
    check_pairs("settings", &spec.settings)?;
    if previous.is_none_or(|p| p.node_selector != spec.node_selector) {
        check_selector(s, &spec.node_selector)?;
    }
    Ok(())
}

fn check_selector(s: &State, tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::bad("node_selector", format!("at most {MAX_TAGS} tags")));
    }
    for t in tags {
        check_name("node_selector", t)?;
    }
    let missing: Vec<&str> =
        tags.iter().filter(|t| !s.nodes.values().any(|n| n.spec.tags.contains(t))).map(|t| t.as_str()).collect();
    if !missing.is_empty() {
        return Err(ApiError::bad("node_selector", format!("no registered node carries tags {}", missing.join(", "))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn serde_errors_name_their_field() {
        for (detail, field) in [
            ("missing field `spider` at line 1 column 20", "spider"),
            ("trigger: missing field `expr` at line 1 column 40", "trigger.expr"),
            ("unknown field `colour`, expected one of `project`, `spider`", "colour"),
            ("colour: unknown field `colour`, expected one of `project`", "colour"),
            ("trigger: unknown field `every`, expected `expr` or `timezone`", "trigger.every"),
            ("priority: invalid type: string \"high\", expected i32 at line 1 column 5", "priority"),
            ("misfire.cap: invalid value: integer `-1`, expected u32", "misfire.cap"),
            ("invalid type: map, expected a string at line 1 column 1", "body"),
            ("expected value at line 1 column 1", "body"),
        ] {
            assert_eq!(field_of(detail), field, "{detail}");
        }
    }
}
