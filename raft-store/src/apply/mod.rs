//! `apply`: the only function that changes the replicated [`State`].
//!
//! It is pure and deterministic: the result depends only on the state, the log index and the
//! entry. No clock (time comes from [`LogEntry::proposed_at_ms`]), no randomness (ids derive
//! from the log index or from the command), no I/O (persistence happens after, in
//! `sm_store`, from the tables' change marks). A command it cannot accept yields
//! [`Applied::Rejected`] and leaves the state exactly as it was.

mod accounts;
mod alerts;
mod jobs;
mod registry;
mod schedules;

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::command::Command;
use crate::log_entry::LogEntry;
use crate::state::State;

/// Applies one normal log entry at `log_index` to `state`.
pub fn apply(state: &mut State, log_index: u64, entry: &LogEntry) -> Applied {
    apply_command(state, log_index, entry.proposed_at_ms, &entry.command)
}

/// Whether `cmd` may be an item of a `Batch`: not if it derives an id from the log index (two
/// items would get the same one), and batches do not nest.
fn batchable(cmd: &Command) -> bool {
    !matches!(cmd, Command::CreateSchedule { .. } | Command::CreateSilence { .. } | Command::Batch { .. })
}

fn apply_command(state: &mut State, log_index: u64, now: u64, command: &Command) -> Applied {
    match command {
        Command::CreateSchedule { spec } => schedules::create(state, log_index, now, spec),
        Command::UpdateSchedule { id, expected_version, spec } => {
            schedules::update(state, now, id, *expected_version, spec)
        }
        Command::PauseSchedule { id } => schedules::set_paused(state, now, id, true),
        Command::ResumeSchedule { id } => schedules::set_paused(state, now, id, false),
        Command::DeleteSchedule { id, expected_version } => schedules::delete(state, id, *expected_version),
        Command::Fire(tick) => schedules::fire(state, now, tick),
        Command::FireBatch { ticks } => {
            Applied::FireBatch { results: ticks.iter().map(|t| schedules::fire(state, now, t)).collect() }
        }
        Command::SkipTick { tick, reason } => schedules::skip(state, now, tick, reason),
        Command::Batch { commands } => Applied::Batch {
            results: commands
                .iter()
                .map(|c| {
                    if batchable(c) {
                        apply_command(state, log_index, now, c)
                    } else {
                        Applied::rejected(Rejection::Conflict { detail: format!("{c} cannot be part of a batch") })
                    }
                })
                .collect(),
        },
        Command::SkipBatch { skips } => Applied::SkipBatch {
            results: skips.iter().map(|s| schedules::skip(state, now, &s.tick, &s.reason)).collect(),
        },
        Command::Dispatched { job_id, node_id } => schedules::dispatched(state, now, job_id, node_id),
        Command::DispatchFailed { job_id, reason } => schedules::dispatch_failed(state, now, job_id, reason),

        Command::RegisterNode { id, spec } => registry::register_node(state, now, id, spec),
        Command::UpdateNode { id, spec } => registry::update_node(state, id, spec),
        Command::RemoveNode { id } => registry::remove_node(state, id),
        Command::MarkNodeUp { id } => registry::mark_node_up(state, now, id),
        Command::MarkNodeDown { id, reason } => registry::mark_node_down(state, now, id, reason),
        Command::AddVersion { project, version, egg } => registry::add_version(state, now, project, version, egg),
        Command::DeleteVersion { project, version } => registry::delete_version(state, project, version),
        Command::DeleteProject { project } => registry::delete_project(state, project),
        Command::RecordDeployment { project, version, node_id, deployment } => {
            registry::record_deployment(state, project, version, node_id, deployment)
        }

        Command::ReportJob(report) => jobs::report(state, now, report),
        Command::CancelJob { job_id } => jobs::cancel(state, now, job_id),
        Command::Cancelled { job_id, node_id, prevstate } => jobs::cancelled(state, now, job_id, node_id, prevstate),
        Command::CancelFailed { job_id, reason } => jobs::cancel_failed(state, now, job_id, reason),

        Command::CreateUser { username, password_hash, role } => {
            accounts::create_user(state, now, username, password_hash, *role)
        }
        Command::UpdateUser { username, password_hash, role } => {
            accounts::update_user(state, username, password_hash.as_deref(), *role)
        }
        Command::DeleteUser { username } => accounts::delete_user(state, username),
        Command::CreateToken { token_id, username, secret_sha256, name } => {
            accounts::create_token(state, now, token_id, username, secret_sha256, name)
        }
        Command::RevokeToken { token_id } => accounts::revoke_token(state, token_id),
        Command::PutAlertChannel { name, channel } => alerts::put_channel(state, name, channel),
        Command::DeleteAlertChannel { name } => alerts::delete_channel(state, name),
        Command::PutAlertRule { rule } => alerts::put_rule(state, rule),
        Command::DeleteAlertRule { name } => alerts::delete_rule(state, name),
        Command::CreateSilence { silence } => alerts::create_silence(state, log_index, now, silence),
        Command::ExpireSilence { id } => alerts::expire_silence(state, now, id),
        Command::AlertStep { leader, inputs } => alerts::step(state, log_index, now, leader, inputs),
        Command::PutSpiderThresholds { scope, thresholds } => alerts::put_thresholds(state, scope, thresholds),
        Command::AckAlert { id, by, comment } => alerts::ack(state, now, id, by, comment),
        Command::ResolveAlert { id, by, comment } => alerts::resolve(state, now, id, by, comment),
    }
}

#[cfg(test)]
mod alerts_test;
#[cfg(test)]
mod apply_test;
#[cfg(test)]
mod cancel_test;
