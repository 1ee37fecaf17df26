//! The alert ledger (every alert the engine recorded, what each rule did with it, who
//! acknowledged or resolved it) and the delivery log (each notification on each channel, with
//! its attempts), as this master applied them.

use std::collections::BTreeMap;

use alerts::delivery::Delivery;
use alerts::delivery::DeliveryState;
use alerts::event::AlertStatus;
use alerts::event::EventKind;
use raft_store::state::alerts::ChannelCounters;
use raft_store::state::AlertRecord;
use raft_store::state::State;
use raft_store::Command;

use super::page_size;
use crate::auth::Principal;
use crate::node::MasterNode;
use crate::ops::commit;
use crate::ops::read_fresh;
use crate::ops::Consistency;
use crate::ops::OpsError;

/// Default and largest page of [`list`] and [`deliveries`].
pub const LIST_DEFAULT: usize = 50;
pub const LIST_MAX: usize = 500;

/// Which alerts [`list`] returns; `None` matches every alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub kind: Option<EventKind>,
    /// The alert's `project` label.
    pub project: Option<String>,
    /// The alert's `node` label.
    pub node: Option<String>,
    pub acked: Option<bool>,
    /// At most this many (default [`LIST_DEFAULT`], 1 to [`LIST_MAX`]), after `offset`.
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

impl AlertFilter {
    fn matches(&self, a: &AlertRecord) -> bool {
        let labels = a.event.labels();
        self.status.is_none_or(|s| a.status == s)
            && self.kind.is_none_or(|k| a.event.kind() == k)
            && self.project.as_ref().is_none_or(|p| labels.project.as_ref() == Some(p))
            && self.node.as_ref().is_none_or(|n| labels.node.as_ref() == Some(n))
            && self.acked.is_none_or(|acked| a.acked.is_some() == acked)
    }
}

/// One page of alerts, and how many matched in all.
#[derive(Debug, Clone)]
pub struct AlertPage {
    pub alerts: Vec<AlertRecord>,
    pub total: usize,
}

/// An alert with every delivery of a notification that carried it.
#[derive(Debug, Clone)]
pub struct AlertDetail {
    pub alert: AlertRecord,
    /// Oldest first.
    pub deliveries: Vec<Delivery>,
}

/// The alerts matching `filter`, newest (latest first record) first.
pub async fn list(node: &MasterNode, filter: &AlertFilter, c: Consistency) -> Result<AlertPage, OpsError> {
    let size = page_size(filter.limit, LIST_DEFAULT, LIST_MAX)?;
    c.wait(node).await?;
    let mut alerts: Vec<AlertRecord> =
        node.state.read(|s| s.alerts.values().filter(|a| filter.matches(a)).cloned().collect());
    alerts.sort_by(|a, b| (b.seq, &b.id).cmp(&(a.seq, &a.id)));
    let total = alerts.len();
    let alerts = alerts.into_iter().skip(filter.offset.unwrap_or(0)).take(size).collect();
    Ok(AlertPage { alerts, total })
}

fn deliveries_of(s: &State, id: &str) -> Vec<Delivery> {
    let Some(engine) = s.alert_engine() else { return vec![] };
    let mut out: Vec<Delivery> = engine
        .state
        .deliveries
        .items
        .values()
        .filter(|d| d.notification.alerts.iter().any(|a| a.alert_id.0 == id))
        .cloned()
        .collect();
    out.sort_by_key(|d| d.seq);
    out
}

fn get_local(node: &MasterNode, id: &str) -> Result<AlertDetail, OpsError> {
    node.state.read(|s| {
        let alert = s.alerts.get(&id.to_string()).cloned().ok_or_else(|| OpsError::NotFound(format!("alert {id}")))?;
        Ok(AlertDetail { alert, deliveries: deliveries_of(s, id) })
    })
}

/// Alert `id` with its deliveries.
pub async fn get(node: &MasterNode, id: &str, c: Consistency) -> Result<AlertDetail, OpsError> {
    c.wait(node).await?;
    read_fresh(node, || get_local(node, id)).await
}

/// Acknowledges alert `id` (it keeps firing; the ledger says who is on it).
pub async fn ack(node: &MasterNode, id: &str, comment: &str, by: &Principal) -> Result<AlertDetail, OpsError> {
    let cmd = Command::AckAlert { id: id.to_string(), by: by.username.clone(), comment: comment.to_string() };
    commit(node, cmd, id).await?;
    tracing::info!(alert = %id, by = %by.username, "alert acknowledged");
    get_local(node, id)
}

/// Resolves alert `id` by hand (a stateful one also stops muting others).
pub async fn resolve(node: &MasterNode, id: &str, comment: &str, by: &Principal) -> Result<AlertDetail, OpsError> {
    let cmd = Command::ResolveAlert { id: id.to_string(), by: by.username.clone(), comment: comment.to_string() };
    commit(node, cmd, id).await?;
    tracing::info!(alert = %id, by = %by.username, "alert resolved by hand");
    get_local(node, id)
}

/// Which deliveries [`deliveries`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFilter {
    /// Queued (due, waiting for a retry or the rate limit) or in flight.
    Pending,
    Delivered,
    GaveUp,
    /// An attempt whose outcome was never recorded (its leader went away): the receiver may
    /// have it already.
    Uncertain,
}

impl DeliveryFilter {
    fn matches(self, d: &Delivery) -> bool {
        match self {
            DeliveryFilter::Pending => matches!(d.state, DeliveryState::Queued { .. } | DeliveryState::InFlight { .. }),
            DeliveryFilter::Delivered => matches!(d.state, DeliveryState::Delivered { .. }),
            DeliveryFilter::GaveUp => matches!(d.state, DeliveryState::GaveUp { .. }),
            DeliveryFilter::Uncertain => d.uncertain,
        }
    }
}

/// One page of deliveries, how many matched, and every channel's counters.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub total: usize,
    pub counters: BTreeMap<String, ChannelCounters>,
}

/// The deliveries in `state` (all without one), newest first.
pub async fn deliveries(
    node: &MasterNode,
    state: Option<DeliveryFilter>,
    limit: Option<usize>,
    offset: Option<usize>,
    c: Consistency,
) -> Result<DeliveryPage, OpsError> {
    let size = page_size(limit, LIST_DEFAULT, LIST_MAX)?;
    c.wait(node).await?;
    let (mut items, counters) = node.state.read(|s| match s.alert_engine() {
        Some(e) => (
            e.state.deliveries.items.values().filter(|d| state.is_none_or(|f| f.matches(d))).cloned().collect(),
            e.channels.clone(),
        ),
        None => (Vec::new(), BTreeMap::new()),
    });
    items.sort_by_key(|d: &Delivery| std::cmp::Reverse(d.seq));
    let total = items.len();
    let deliveries = items.into_iter().skip(offset.unwrap_or(0)).take(size).collect();
    Ok(DeliveryPage { deliveries, total, counters })
}

/// The alerting figures of `/cluster`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertSummary {
    /// Alerts that ever entered the ledger.
    pub recorded: u64,
    /// Alerts in the ledger that are firing now.
    pub firing: usize,
    /// Deliveries queued or in flight.
    pub pending_deliveries: usize,
    pub uncertain_deliveries: usize,
    pub channels: BTreeMap<String, ChannelCounters>,
}

/// The alerting figures of this master's state.
pub fn summary(node: &MasterNode) -> AlertSummary {
    node.state.read(|s| {
        let firing = s.alerts.values().filter(|a| a.status == AlertStatus::Firing).count();
        match s.alert_engine() {
            Some(e) => AlertSummary {
                recorded: e.alerts_recorded,
                firing,
                pending_deliveries: e.state.deliveries.pending().count(),
                uncertain_deliveries: e.state.deliveries.items.values().filter(|d| d.uncertain).count(),
                channels: e.channels.clone(),
            },
            None => AlertSummary { firing, ..AlertSummary::default() },
        }
    })
}
