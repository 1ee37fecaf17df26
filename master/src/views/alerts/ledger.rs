//! Wire shapes of the alert ledger and the delivery log.

use std::collections::BTreeMap;

use alerts::delivery::Delivery;
use alerts::delivery::DeliveryState;
use alerts::event::AlertEvent;
use alerts::event::AlertStatus;
use alerts::group::Suppression;
use raft_store::state::alerts::ByHand;
use raft_store::state::alerts::RouteOutcome;
use raft_store::state::AlertRecord;
use serde::Deserialize;
use serde::Serialize;

use super::CountersView;
use crate::ops::alerts::ledger::AlertDetail;
use crate::ops::alerts::ledger::AlertPage;
use crate::ops::alerts::ledger::AlertSummary;
use crate::ops::alerts::ledger::DeliveryFilter;
use crate::ops::alerts::ledger::DeliveryPage;

/// Whether an alert reports trouble or its end. Also the `?status=` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatusView {
    Firing,
    Resolved,
}

impl From<AlertStatus> for AlertStatusView {
    fn from(s: AlertStatus) -> Self {
        match s {
            AlertStatus::Firing => AlertStatusView::Firing,
            AlertStatus::Resolved => AlertStatusView::Resolved,
        }
    }
}

impl From<AlertStatusView> for AlertStatus {
    fn from(s: AlertStatusView) -> Self {
        match s {
            AlertStatusView::Firing => AlertStatus::Firing,
            AlertStatusView::Resolved => AlertStatus::Resolved,
        }
    }
}

/// What rules, silences and inhibitions match an alert on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LabelsView {
    pub project: Option<String>,
    pub spider: Option<String>,
    pub node: Option<String>,
    pub tags: Vec<String>,
}

/// Why a rule did not (yet) send an alert, under `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SuppressionView {
    /// The rule already took this alert id.
    Duplicate,
    /// The condition failed `count` times in a row; the rule waits for `needed`.
    BelowFailureThreshold {
        count: u32,
        needed: u32,
    },
    /// A recovery whose failure was never notified (or the rule sends no recoveries).
    RecoveryNotNotified,
    /// It fired and resolved before its group was notified.
    ResolvedBeforeNotified,
    /// Muted by the firing alert `by` (e.g. its node is down).
    Inhibited {
        by: String,
    },
    Silenced {
        silence_id: String,
    },
}

impl From<&Suppression> for SuppressionView {
    fn from(s: &Suppression) -> Self {
        match s {
            Suppression::Duplicate => SuppressionView::Duplicate,
            Suppression::BelowFailureThreshold { count, needed } => {
                SuppressionView::BelowFailureThreshold { count: *count, needed: *needed }
            }
            Suppression::RecoveryNotNotified => SuppressionView::RecoveryNotNotified,
            Suppression::ResolvedBeforeNotified => SuppressionView::ResolvedBeforeNotified,
            Suppression::Inhibited { by } => SuppressionView::Inhibited { by: by.0.clone() },
            Suppression::Silenced { silence_id } => SuppressionView::Silenced { silence_id: silence_id.clone() },
        }
    }
}

/// What one rule did with an alert, under `outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RouteView {
    /// Waiting in its group (group wait) or for the rule's consecutive-failure threshold.
    Pending,
    Suppressed {
        why: SuppressionView,
    },
    /// Sent in these notifications on these channels.
    Notified {
        notifications: Vec<String>,
        channels: Vec<String>,
    },
}

impl From<&RouteOutcome> for RouteView {
    fn from(r: &RouteOutcome) -> Self {
        match r {
            RouteOutcome::Pending => RouteView::Pending,
            RouteOutcome::Suppressed { why } => RouteView::Suppressed { why: why.into() },
            RouteOutcome::Notified { notifications, channels } => {
                RouteView::Notified { notifications: notifications.clone(), channels: channels.clone() }
            }
        }
    }
}

/// Who acknowledged or resolved an alert by hand, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ByHandView {
    pub by: String,
    pub at_ms: u64,
    pub comment: String,
}

impl From<&ByHand> for ByHandView {
    fn from(b: &ByHand) -> Self {
        ByHandView { by: b.by.clone(), at_ms: b.at_ms, comment: b.comment.clone() }
    }
}

/// One alert of the ledger.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// Derived from the event: `node:<id>:down:<since_ms>`, `failover:term-<n>`, `job:<job>:error`…
    pub id: String,
    /// The event kind (`node_down`, `spider_error`, …).
    pub kind: String,
    /// `info`, `warning`, `error` or `critical`.
    pub severity: String,
    pub status: AlertStatusView,
    /// One line, as mail subjects say it.
    pub summary: String,
    /// Every fact of the event, under `kind` (the alerts crate's event encoding).
    #[schema(value_type = Object)]
    pub event: AlertEvent,
    pub labels: LabelsView,
    pub first_seen_ms: u64,
    pub updated_ms: u64,
    /// Rule name → what it did with the alert (empty: no rule took it).
    pub routes: BTreeMap<String, RouteView>,
    pub acked: Option<ByHandView>,
    pub resolved_by_hand: Option<ByHandView>,
    /// The event that resolved it (`node_up` for a `node_down`), if one did.
    #[schema(value_type = Option<Object>)]
    pub resolved_by: Option<AlertEvent>,
    /// Its place in the ledger (the log index of its first record): lists are newest first by it.
    pub seq: u64,
}

impl From<&AlertRecord> for AlertView {
    fn from(a: &AlertRecord) -> Self {
        let l = a.event.labels();
        AlertView {
            id: a.id.clone(),
            kind: a.event.kind().as_str().to_string(),
            severity: a.event.severity().to_string(),
            status: a.status.into(),
            summary: a.event.summary(),
            event: a.event.clone(),
            labels: LabelsView { project: l.project, spider: l.spider, node: l.node, tags: l.tags },
            first_seen_ms: a.first_seen_ms,
            updated_ms: a.updated_ms,
            routes: a.routes.iter().map(|(rule, r)| (rule.clone(), r.into())).collect(),
            acked: a.acked.as_ref().map(Into::into),
            resolved_by_hand: a.resolved_by_hand.as_ref().map(Into::into),
            resolved_by: a.resolved_by.clone(),
            seq: a.seq,
        }
    }
}

/// A page of alerts, newest first, and how many matched in all.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertListView {
    pub alerts: Vec<AlertView>,
    pub total: usize,
}

impl From<&AlertPage> for AlertListView {
    fn from(p: &AlertPage) -> Self {
        AlertListView { alerts: p.alerts.iter().map(Into::into).collect(), total: p.total }
    }
}

/// An alert and every delivery of a notification that carried it (oldest first).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertDetailView {
    #[serde(flatten)]
    pub alert: AlertView,
    pub deliveries: Vec<DeliveryView>,
}

impl From<&AlertDetail> for AlertDetailView {
    fn from(d: &AlertDetail) -> Self {
        AlertDetailView { alert: (&d.alert).into(), deliveries: d.deliveries.iter().map(Into::into).collect() }
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStateView {
    /// Waiting until `due_ms` (first try, a retry's backoff, or the rate limit).
    Queued,
    /// Being sent by the leader since `since_ms`.
    InFlight,
    Delivered,
    /// Every retry failed; `at_ms` says when it was given up.
    GaveUp,
}

/// One notification on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// `<notification id>@<channel>`.
    pub id: String,
    pub channel: String,
    pub notification_id: String,
    /// The rule whose notification it is.
    pub rule: String,
    /// The alerts the notification carries.
    pub alert_ids: Vec<String>,
    pub state: DeliveryStateView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// When it was delivered or given up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    /// Attempts started so far.
    pub attempts: u32,
    /// An attempt was in flight when its leader went away: the receiver may have it already
    /// (a resend carries the same Message-ID / webhook-id).
    pub uncertain: bool,
    /// The server's last refusal, verbatim.
    pub last_error: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        let (state, due_ms, since_ms, at_ms) = match d.state {
            DeliveryState::Queued { due_ms } => (DeliveryStateView::Queued, Some(due_ms), None, None),
            DeliveryState::InFlight { since_ms } => (DeliveryStateView::InFlight, None, Some(since_ms), None),
            DeliveryState::Delivered { at_ms } => (DeliveryStateView::Delivered, None, None, Some(at_ms)),
            DeliveryState::GaveUp { at_ms } => (DeliveryStateView::GaveUp, None, None, Some(at_ms)),
        };
        DeliveryView {
            id: d.id.0.clone(),
            channel: d.channel.clone(),
            notification_id: d.notification.id.clone(),
            rule: d.notification.rule.clone(),
            alert_ids: d.notification.alerts.iter().map(|a| a.alert_id.0.clone()).collect(),
            state,
            due_ms,
            since_ms,
            at_ms,
            attempts: d.attempts,
            uncertain: d.uncertain,
            last_error: d.last_error.clone(),
        }
    }
}

/// The `?state=` filter of `GET /alert-deliveries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFilterView {
    /// Queued or in flight.
    Pending,
    Delivered,
    GaveUp,
    Uncertain,
}

impl From<DeliveryFilterView> for DeliveryFilter {
    fn from(f: DeliveryFilterView) -> Self {
        match f {
            DeliveryFilterView::Pending => DeliveryFilter::Pending,
            DeliveryFilterView::Delivered => DeliveryFilter::Delivered,
            DeliveryFilterView::GaveUp => DeliveryFilter::GaveUp,
            DeliveryFilterView::Uncertain => DeliveryFilter::Uncertain,
        }
    }
}

/// A page of deliveries, newest first, how many matched, and every channel's counters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryListView {
    pub deliveries: Vec<DeliveryView>,
    pub total: usize,
    pub counters: BTreeMap<String, CountersView>,
}

impl From<&DeliveryPage> for DeliveryListView {
    fn from(p: &DeliveryPage) -> Self {
        DeliveryListView {
            deliveries: p.deliveries.iter().map(Into::into).collect(),
            total: p.total,
            counters: p.counters.iter().map(|(k, c)| (k.clone(), c.into())).collect(),
        }
    }
}

/// The alerting part of `/cluster`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertsSummaryView {
    /// Alerts that ever entered the ledger.
    pub recorded: u64,
    /// Alerts of the ledger firing now.
    pub firing: usize,
    /// Deliveries queued or in flight.
    pub pending_deliveries: usize,
    pub uncertain_deliveries: usize,
    /// Channel name → its counters.
    pub channels: BTreeMap<String, CountersView>,
}

impl From<&AlertSummary> for AlertsSummaryView {
    fn from(s: &AlertSummary) -> Self {
        AlertsSummaryView {
            recorded: s.recorded,
            firing: s.firing,
            pending_deliveries: s.pending_deliveries,
            uncertain_deliveries: s.uncertain_deliveries,
            channels: s.channels.iter().map(|(k, c)| (k.clone(), c.into())).collect(),
        }
    }
}

#[cfg(test)]
#[path = "ledger_test.rs"]
mod tests;
