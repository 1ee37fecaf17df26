//! `Command`: the closed set of changes the cluster can agree on.
//!
//! Every variant is documented with what `apply` checks and does. Encodings are pinned by the
//! golden tests in `command_test.rs`: changing a variant's JSON shape is an on-disk format change
//! (bump `ondisk::FORMAT_VERSION` and add a migration note).

use std::fmt;

use serde::Deserialize;
use serde::Serialize;

use alerts::group::Input as AlertInput;
use alerts::route::Rule as AlertRule;
use alerts::silence::Silence;

use crate::state::alerts::StoredChannel;
use crate::state::Deployment;
use crate::state::JobReport;
use crate::state::NodeSpec;
use crate::state::Role;
use crate::state::ScheduleSpec;
use crate::state::SkipReason;

/// One skip of a `SkipBatch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickSkip {
    pub tick: Tick,
    pub reason: SkipReason,
}

/// A tick the leader wants to fire (or skip), planned from `schedule_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    pub schedule_id: String,
    /// Nominal tick time, Unix ms.
    pub tick_ms: i64,
    pub schedule_version: u64,
}

/// A change to the replicated state. Proposed by the API or a leader-only service, decided by
/// Raft, applied by [`crate::apply::apply`] on every replica in log order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    // ---- schedules -------------------------------------------------------------------------
    /// Create a schedule with id `sch-<log index>` and version 1.
    CreateSchedule {
        spec: ScheduleSpec,
    },
    /// Replace a schedule's spec; version + 1. With `expected_version`, rejected with
    /// `VersionConflict` unless it matches (optimistic concurrency for the API's PATCH).
    UpdateSchedule {
        id: String,
        expected_version: Option<u64>,
        spec: ScheduleSpec,
    },
    /// Stop firing; version + 1 so any tick planned before the pause is `Stale`.
    PauseSchedule {
        id: String,
    },
    /// Fire again; version + 1.
    ResumeSchedule {
        id: String,
    },
    /// Delete the schedule (its ledger records stay for the history until pruned).
    DeleteSchedule {
        id: String,
        expected_version: Option<u64>,
    },

    // ---- the fire ledger -------------------------------------------------------------------
    /// Fire one tick. Accepted only if the schedule exists, is not paused, has exactly
    /// `schedule_version`, and `tick_ms` is later than its cursor; then the cursor moves to the
    /// tick and a ledger record with the deterministic job id is written.
    Fire(Tick),
    /// Several `Fire`s in one log entry (when many ticks are due at once); each is judged alone.
    FireBatch {
        ticks: Vec<Tick>,
    },
    /// Record a deliberate skip of a tick (same acceptance rules as `Fire`; moves the cursor).
    SkipTick {
        tick: Tick,
        reason: SkipReason,
    },
    /// Several `SkipTick`s in one log entry, judged one by one in order (format 2).
    SkipBatch {
        skips: Vec<TickSkip>,
    },
    /// Several commands in one log entry, applied one by one in order, each judged alone (format
    /// 2): delivery outcomes and job reports arrive by the thousand under load, and one entry
    /// each would cost one Raft round each.
    Batch {
        commands: Vec<Command>,
    },
    /// A slave accepted fired job `job_id`.
    Dispatched {
        job_id: String,
        node_id: String,
    },
    /// No slave took fired job `job_id`.
    DispatchFailed {
        job_id: String,
        reason: String,
    },

    // ---- nodes -----------------------------------------------------------------------------
    /// Register a slave under a new id.
    RegisterNode {
        id: String,
        spec: NodeSpec,
    },
    /// Replace a registered slave's spec (status kept).
    UpdateNode {
        id: String,
        spec: NodeSpec,
    },
    RemoveNode {
        id: String,
    },
    /// Health checker: the slave answers. `Unchanged` if it was already up.
    MarkNodeUp {
        id: String,
    },
    /// Health checker: the slave stopped answering. `Unchanged` if it was already down.
    MarkNodeDown {
        id: String,
        reason: String,
    },

    // ---- projects --------------------------------------------------------------------------
    /// Store an egg version (bytes up to `MAX_EGG_BYTES`; same version replaces the old egg).
    AddVersion {
        project: String,
        version: String,
        #[serde(with = "b64")]
        egg: Vec<u8>,
    },
    DeleteVersion {
        project: String,
        version: String,
    },
    DeleteProject {
        project: String,
    },
    /// The deployer's result for one (project, version, node).
    RecordDeployment {
        project: String,
        version: String,
        node_id: String,
        deployment: Deployment,
    },

    // ---- jobs ------------------------------------------------------------------------------
    /// Merge a slave's observation of a job into the job table (states only move forward).
    ReportJob(JobReport),
    /// Cancel job `job_id` (format 3), proposed by a front door; the leader carries it out.
    /// A fired tick no slave has yet (dispatch `Pending`) is dropped: its dispatch becomes
    /// `Cancelled` and it is never delivered (`FireDropped`). A job the job table has as
    /// pending or running gets a cancel request (`CancelRequested` with its node; asking again
    /// while one is open changes nothing but answers the same). Rejected with `UnknownJob` if
    /// neither exists, with `Conflict` if the job already ended or its fire was never delivered
    /// (failed, or dropped already).
    CancelJob {
        job_id: String,
    },
    /// The leader carried out `job_id`'s cancel request: its slave `node_id` answered
    /// `prevstate` (format 3). Rejected with `UnknownJob` without a job record, with `Conflict`
    /// if the job has no cancel request or is on another node.
    Cancelled {
        job_id: String,
        node_id: String,
        prevstate: String,
    },
    /// The leader could not carry out `job_id`'s cancel request; `reason` says why (format 3).
    /// Same checks as `Cancelled`.
    CancelFailed {
        job_id: String,
        reason: String,
    },

    // ---- users and tokens ------------------------------------------------------------------
    CreateUser {
        username: String,
        password_hash: String,
        role: Role,
    },
    UpdateUser {
        username: String,
        password_hash: Option<String>,
        role: Option<Role>,
    },
    /// Delete a user and every token of theirs.
    DeleteUser {
        username: String,
    },
    CreateToken {
        token_id: String,
        username: String,
        secret_sha256: String,
        name: String,
    },
    RevokeToken {
        token_id: String,
    },

    // ---- alerts ----------------------------------------------------------------------------
    /// Create or replace a channel (validated: `alerts::config::ChannelConfig::validate`). Its
    /// secret is kept in the log and state; views redact it.
    PutAlertChannel {
        name: String,
        channel: StoredChannel,
    },
    /// Delete a channel; `Conflict` while a rule still routes to it.
    DeleteAlertChannel {
        name: String,
    },
    /// Create or replace a routing rule (by name); every channel it names must exist.
    PutAlertRule {
        rule: AlertRule,
    },
    DeleteAlertRule {
        name: String,
    },
    /// Create a silence; its id is `sil-<log index>` (the `id` sent is ignored).
    CreateSilence {
        silence: Silence,
    },
    /// End a silence now (kept, for the record, until the engine's retention).
    ExpireSilence {
        id: String,
    },
    /// One step of the alert engine (`alerts::group::AlertState::step`) at the entry's time:
    /// events seen and delivery outcomes since the last step. With `leader`, the leader of a new
    /// term announces itself first: attempts left in flight by its predecessor are queued again,
    /// marked uncertain. Deliveries the step starts are `in_flight` when applied: only then does
    /// the leader send them.
    AlertStep {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<crate::state::alerts::LeaderMark>,
        inputs: Vec<AlertInput>,
    },
    /// Set (or with `None` clear) the spider-error thresholds of a scope: `project:<name>` or
    /// `schedule:<id>` (a schedule's own win over its project's; both over the defaults).
    PutSpiderThresholds {
        scope: String,
        thresholds: Option<::alerts::spider_error::SpiderErrorThresholds>,
    },
    AckAlert {
        id: String,
        by: String,
        comment: String,
    },
    /// Mark an alert resolved by hand (a stateful one also stops inhibiting others).
    ResolveAlert {
        id: String,
        by: String,
        comment: String,
    },
}

impl fmt::Display for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} v{}", self.schedule_id, self.tick_ms, self.schedule_version)
    }
}

impl Command {
    /// One log entry for `commands`: the command itself when there is one, a `Batch` when
    /// there are several, nothing when there are none.
    pub fn batched(mut commands: Vec<Command>) -> Option<Command> {
        match commands.len() {
            0 => None,
            1 => commands.pop(),
            _ => Some(Command::Batch { commands }),
        }
    }
}

impl fmt::Display for Command {
    /// A one-line summary for logs. Never prints secrets, hashes or egg bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Command::*;
        match self {
            CreateSchedule { spec } => write!(f, "create_schedule {}/{}", spec.project, spec.spider),
            UpdateSchedule { id, expected_version, .. } => {
                write!(f, "update_schedule {id} expected={expected_version:?}")
            }
            PauseSchedule { id } => write!(f, "pause_schedule {id}"),
            ResumeSchedule { id } => write!(f, "resume_schedule {id}"),
            DeleteSchedule { id, .. } => write!(f, "delete_schedule {id}"),
            Fire(t) => write!(f, "fire {t}"),
            FireBatch { ticks } => write!(f, "fire_batch n={}", ticks.len()),
            SkipTick { tick, .. } => write!(f, "skip_tick {tick}"),
            SkipBatch { skips } => write!(f, "skip_batch n={}", skips.len()),
            Batch { commands } => write!(f, "batch n={}", commands.len()),
            Dispatched { job_id, node_id } => write!(f, "dispatched {job_id} -> {node_id}"),
            DispatchFailed { job_id, .. } => write!(f, "dispatch_failed {job_id}"),
            RegisterNode { id, spec } => write!(f, "register_node {id} {}", spec.url),
            UpdateNode { id, spec } => write!(f, "update_node {id} {}", spec.url),
            RemoveNode { id } => write!(f, "remove_node {id}"),
            MarkNodeUp { id } => write!(f, "mark_node_up {id}"),
            MarkNodeDown { id, .. } => write!(f, "mark_node_down {id}"),
            AddVersion { project, version, egg } => {
                write!(f, "add_version {project} {version} ({} bytes)", egg.len())
            }
            DeleteVersion { project, version } => write!(f, "delete_version {project} {version}"),
            DeleteProject { project } => write!(f, "delete_project {project}"),
            RecordDeployment { project, version, node_id, .. } => {
                write!(f, "record_deployment {project} {version} on {node_id}")
            }
            ReportJob(r) => write!(f, "report_job {} {:?} on {}", r.job_id, r.state, r.node_id),
            CancelJob { job_id } => write!(f, "cancel_job {job_id}"),
            Cancelled { job_id, node_id, prevstate } => {
                write!(f, "cancelled {job_id} on {node_id} (was {prevstate:?})")
            }
            CancelFailed { job_id, .. } => write!(f, "cancel_failed {job_id}"),
            CreateUser { username, role, .. } => write!(f, "create_user {username} {role:?}"),
            UpdateUser { username, .. } => write!(f, "update_user {username}"),
            DeleteUser { username } => write!(f, "delete_user {username}"),
            CreateToken { token_id, username, .. } => write!(f, "create_token {token_id} for {username}"),
            RevokeToken { token_id } => write!(f, "revoke_token {token_id}"),
            PutAlertChannel { name, .. } => write!(f, "put_alert_channel {name}"),
            DeleteAlertChannel { name } => write!(f, "delete_alert_channel {name}"),
            PutAlertRule { rule } => write!(f, "put_alert_rule {}", rule.name),
            DeleteAlertRule { name } => write!(f, "delete_alert_rule {name}"),
            CreateSilence { silence } => write!(f, "create_silence by {}", silence.created_by),
            ExpireSilence { id } => write!(f, "expire_silence {id}"),
            AlertStep { leader, inputs } => match leader {
                Some(l) => write!(f, "alert_step n={} (leader {} term {})", inputs.len(), l.node_id, l.term),
                None => write!(f, "alert_step n={}", inputs.len()),
            },
            PutSpiderThresholds { scope, .. } => write!(f, "put_spider_thresholds {scope}"),
            AckAlert { id, by, .. } => write!(f, "ack_alert {id} by {by}"),
            ResolveAlert { id, by, .. } => write!(f, "resolve_alert {id} by {by}"),
        }
    }
}

/// Egg bytes as standard base64 in the JSON encoding (a JSON number array would be 4× larger).
mod b64 {
    use base64::Engine;
    use serde::Deserialize;
    use serde::Deserializer;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <&str>::deserialize(d).map_err(|_| serde::de::Error::custom("egg must be a base64 string"))?;
        base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}
