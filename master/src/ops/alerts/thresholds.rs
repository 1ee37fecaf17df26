//! Spider-error thresholds per scope: `project:<name>` or `schedule:<id>` (a schedule's own win
//! over its project's; both over the defaults).

use alerts::spider_error::SpiderErrorThresholds;
use raft_store::Applied;
use raft_store::Command;

use crate::auth::Principal;
use crate::node::MasterNode;
use crate::ops::commit;
use crate::ops::read_fresh;
use crate::ops::Consistency;
use crate::ops::OpsError;

/// The thresholds of one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedThresholds {
    pub scope: String,
    pub thresholds: SpiderErrorThresholds,
}

/// What `apply` checks (`raft_store::apply::alerts::put_thresholds`; keep the two in step), and
/// blank finish reasons, checked before proposing so bad input never reaches the log.
fn check(scope: &str, t: Option<&SpiderErrorThresholds>) -> Result<(), OpsError> {
    let valid_scope = scope
        .split_once(':')
        .is_some_and(|(kind, name)| (kind == "project" || kind == "schedule") && !name.is_empty() && name.len() <= 200);
    if !valid_scope {
        return Err(OpsError::invalid("scope", format!("{scope:?} is not project:<name> or schedule:<id>")));
    }
    let Some(t) = t else { return Ok(()) };
    if t.max_error_lines == Some(0) {
        return Err(OpsError::invalid("max_error_lines", "must be at least 1 (or null to disable the check)"));
    }
    if t.max_runtime_ms == Some(0) {
        return Err(OpsError::invalid("max_runtime_ms", "must be positive (or null)"));
    }
    if let Some(i) = t.ok_finish_reasons.iter().position(|r| r.trim().is_empty()) {
        return Err(OpsError::invalid(&format!("ok_finish_reasons[{i}]"), "must not be empty"));
    }
    Ok(())
}

fn get_local(node: &MasterNode, scope: &str) -> Result<ScopedThresholds, OpsError> {
    node.state
        .read(|s| s.spider_thresholds.get(&scope.to_string()).cloned())
        .map(|thresholds| ScopedThresholds { scope: scope.to_string(), thresholds })
        .ok_or_else(|| OpsError::NotFound(format!("thresholds of {scope}")))
}

/// Every scope's thresholds, by scope.
pub async fn list(node: &MasterNode, c: Consistency) -> Result<Vec<ScopedThresholds>, OpsError> {
    c.wait(node).await?;
    Ok(node.state.read(|s| {
        s.spider_thresholds
            .iter()
            .map(|(scope, t)| ScopedThresholds { scope: scope.clone(), thresholds: t.clone() })
            .collect()
    }))
}

/// The thresholds of `scope`.
pub async fn get(node: &MasterNode, scope: &str, c: Consistency) -> Result<ScopedThresholds, OpsError> {
    c.wait(node).await?;
    read_fresh(node, || get_local(node, scope)).await
}

/// Sets the thresholds of `scope`.
pub async fn put(
    node: &MasterNode,
    scope: &str,
    t: SpiderErrorThresholds,
    by: &Principal,
) -> Result<ScopedThresholds, OpsError> {
    check(scope, Some(&t))?;
    let cmd = Command::PutSpiderThresholds { scope: scope.to_string(), thresholds: Some(t) };
    commit(node, cmd, scope).await?;
    tracing::info!(%scope, by = %by.username, "spider-error thresholds set");
    get_local(node, scope)
}

/// Clears the thresholds of `scope` (its jobs fall back to the next scope or the defaults).
pub async fn delete(node: &MasterNode, scope: &str, by: &Principal) -> Result<(), OpsError> {
    check(scope, None)?;
    read_fresh(node, || get_local(node, scope)).await?;
    let cmd = Command::PutSpiderThresholds { scope: scope.to_string(), thresholds: None };
    match commit(node, cmd, scope).await? {
        // Cleared by someone else in between.
        Applied::Unchanged => Err(OpsError::NotFound(format!("thresholds of {scope}"))),
        _ => {
            tracing::info!(%scope, by = %by.username, "spider-error thresholds cleared");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<(), OpsError>) -> String {
        match r {
            Err(OpsError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scopes_and_thresholds_are_checked_as_apply_checks_them() {
        let ok = SpiderErrorThresholds::default();
        assert!(check("project:shop", Some(&ok)).is_ok() && check("schedule:sch-3", None).is_ok());
        for bad in ["shop", "project:", "node:s1", &format!("project:{}", "x".repeat(201))] {
            assert_eq!(field(check(bad, Some(&ok))), "scope", "{bad}");
        }
        let zero = SpiderErrorThresholds { max_error_lines: Some(0), ..ok.clone() };
        assert_eq!(field(check("project:shop", Some(&zero))), "max_error_lines");
        let zero = SpiderErrorThresholds { max_runtime_ms: Some(0), ..ok.clone() };
        assert_eq!(field(check("project:shop", Some(&zero))), "max_runtime_ms");
        let blank = SpiderErrorThresholds { ok_finish_reasons: vec!["finished".into(), "".into()], ..ok };
        assert_eq!(field(check("project:shop", Some(&blank))), "ok_finish_reasons[1]");
    }
}
