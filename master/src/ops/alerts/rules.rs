//! Routing rules: which events go to which channels, grouped how.

use alerts::route::Rule;
use raft_store::state::State;
use raft_store::Command;

use crate::auth::Principal;
use crate::node::MasterNode;
use crate::ops::commit;
use crate::ops::read_fresh;
use crate::ops::Consistency;
use crate::ops::OpsError;

fn get_local(node: &MasterNode, name: &str) -> Result<Rule, OpsError> {
    node.state
        .read(|s| s.alert_rules.get(&name.to_string()).cloned())
        .ok_or_else(|| OpsError::NotFound(format!("alert rule {name}")))
}

/// Every rule, by name.
pub async fn list(node: &MasterNode, c: Consistency) -> Result<Vec<Rule>, OpsError> {
    c.wait(node).await?;
    Ok(node.state.read(|s| s.alert_rules.values().cloned().collect()))
}

/// Rule `name`.
pub async fn get(node: &MasterNode, name: &str, c: Consistency) -> Result<Rule, OpsError> {
    c.wait(node).await?;
    read_fresh(node, || get_local(node, name)).await
}

/// The first channel of `rule` that `s` does not have, as the refusal `apply` would give.
fn unknown_channel(s: &State, rule: &Rule) -> Result<(), OpsError> {
    match rule.channels.iter().enumerate().find(|(_, c)| !s.alert_channels.contains(c)) {
        None => Ok(()),
        Some((i, ch)) => {
            let known: Vec<&str> = s.alert_channels.iter().map(|(k, _)| k.as_str()).collect();
            Err(OpsError::invalid(
                &format!("channels[{i}]"),
                format!("unknown channel {ch:?} (known: {})", known.join(", ")),
            ))
        }
    }
}

/// Creates or replaces rule `name` (the rule's own name must be `name`); every channel it
/// routes to must exist.
pub async fn put(node: &MasterNode, name: &str, rule: Rule, by: &Principal) -> Result<Rule, OpsError> {
    if rule.name != name {
        return Err(OpsError::invalid("name", format!("{:?} differs from the name in the path, {name:?}", rule.name)));
    }
    rule.validate()?;
    // A channel just created through another master may not be applied here yet: ask again at
    // the leader's commit point before refusing.
    if node.state.read(|s| unknown_channel(s, &rule)).is_err() {
        node.proposer.linearizable_barrier().await?;
        node.state.read(|s| unknown_channel(s, &rule))?;
    }
    commit(node, Command::PutAlertRule { rule }, name).await?;
    tracing::info!(rule = %name, by = %by.username, "alert rule written");
    get_local(node, name)
}

/// Deletes rule `name`.
pub async fn delete(node: &MasterNode, name: &str, by: &Principal) -> Result<(), OpsError> {
    commit(node, Command::DeleteAlertRule { name: name.to_string() }, name).await?;
    tracing::info!(rule = %name, by = %by.username, "alert rule deleted");
    Ok(())
}
