//! Schedule requests: the JSON bodies of `POST /schedules` and `PATCH /schedules/{id}`, turned
//! into the operation's arguments (`ScheduleSpec`, `ops::schedules::SpecPatch`).

use std::collections::BTreeMap;

use raft_store::state::ScheduleSpec;
use serde::Deserialize;
use serde::Deserializer;

use crate::ops::schedules::SpecPatch;
use crate::views::schedules::MisfireBody;
use crate::views::schedules::OverlapBody;
use crate::views::schedules::TriggerBody;

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

impl From<SchedulePatch> for SpecPatch {
    fn from(p: SchedulePatch) -> Self {
        SpecPatch {
            expected_version: p.expected_version,
            project: p.project,
            spider: p.spider,
            egg_version: p.egg_version,
            args: p.args,
            settings: p.settings,
            priority: p.priority,
            node_selector: p.node_selector,
            trigger: p.trigger.map(Into::into),
            misfire: p.misfire.map(Into::into),
            overlap: p.overlap.map(Into::into),
        }
    }
}
