//! The alert ledger: each alert key is recorded once, so a failover never sends it twice.

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::state::alerts::ALERTS_KEPT;
use crate::state::AlertKind;
use crate::state::AlertRecord;
use crate::state::State;

#[allow(clippy::too_many_arguments)]
pub(super) fn record_alert(
    state: &mut State,
    log_index: u64,
    now: u64,
    key: &str,
    kind: AlertKind,
    subject: &str,
    body: &str,
) -> Applied {
    let k = key.to_string();
    if state.alerts.contains(&k) {
        return Applied::rejected(Rejection::AlreadyRecorded);
    }
    state.alerts.insert(
        k,
        AlertRecord {
            key: key.to_string(),
            kind,
            subject: subject.to_string(),
            body: body.to_string(),
            recorded_at_ms: now,
            seq: log_index,
        },
    );
    if state.alerts.len() > ALERTS_KEPT {
        let oldest = state.alerts.values().min_by_key(|a| a.seq).map(|a| a.key.clone());
        if let Some(oldest) = oldest {
            state.alerts.remove(&oldest);
        }
    }
    Applied::Done
}
