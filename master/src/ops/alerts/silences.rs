//! Silences: alerts matching every matcher of a silence are not sent while it is active (the
//! ledger still records them, suppressed by it).

use alerts::silence::Matcher;
use alerts::silence::Silence;
use raft_store::Applied;
use raft_store::Command;

use super::now_ms;
use crate::auth::Principal;
use crate::node::MasterNode;
use crate::ops::commit;
use crate::ops::read_fresh;
use crate::ops::Consistency;
use crate::ops::OpsError;

/// A silence to create. Its end is `ends_at_ms` or `duration_ms` after its start (one of the
/// two); its author is the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    /// Default: now.
    pub starts_at_ms: Option<u64>,
    pub ends_at_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub comment: String,
}

impl NewSilence {
    /// The silence as proposed (its id is given by the log), checked at `now`.
    fn into_silence(self, now: u64, by: &Principal) -> Result<Silence, OpsError> {
        let starts_at_ms = self.starts_at_ms.unwrap_or(now);
        let ends_at_ms = match (self.ends_at_ms, self.duration_ms) {
            (Some(_), Some(_)) => {
                return Err(OpsError::invalid("duration_ms", "give ends_at_ms or duration_ms, not both"))
            }
            (None, None) => return Err(OpsError::invalid("ends_at_ms", "give ends_at_ms or duration_ms")),
            (None, Some(0)) => return Err(OpsError::invalid("duration_ms", "must be positive")),
            (None, Some(d)) => starts_at_ms.saturating_add(d),
            (Some(end), None) => end,
        };
        let silence = Silence {
            id: String::new(),
            matchers: self.matchers,
            starts_at_ms,
            ends_at_ms,
            created_by: by.username.clone(),
            comment: self.comment,
        };
        // `validate` wants an id; the log assigns the real one.
        Silence { id: "new".into(), ..silence.clone() }.validate(now)?;
        Ok(silence)
    }
}

fn get_local(node: &MasterNode, id: &str) -> Result<Silence, OpsError> {
    node.state
        .read(|s| s.silences.get(&id.to_string()).cloned())
        .ok_or_else(|| OpsError::NotFound(format!("silence {id}")))
}

/// The silences (only the active ones now with `Some(true)`, only the others with
/// `Some(false)`), newest first.
pub async fn list(node: &MasterNode, active: Option<bool>, c: Consistency) -> Result<Vec<Silence>, OpsError> {
    c.wait(node).await?;
    let now = now_ms();
    let mut out: Vec<Silence> = node
        .state
        .read(|s| s.silences.values().filter(|x| active.is_none_or(|a| x.is_active(now) == a)).cloned().collect());
    out.sort_by_key(|s| std::cmp::Reverse(id_index(&s.id)));
    Ok(out)
}

/// The log index in a silence id (`sil-<index>`), its creation order.
fn id_index(id: &str) -> u64 {
    id.strip_prefix("sil-").and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Silence `id`.
pub async fn get(node: &MasterNode, id: &str, c: Consistency) -> Result<Silence, OpsError> {
    c.wait(node).await?;
    read_fresh(node, || get_local(node, id)).await
}

/// Creates a silence by the caller.
pub async fn create(node: &MasterNode, req: NewSilence, by: &Principal) -> Result<Silence, OpsError> {
    let silence = req.into_silence(now_ms(), by)?;
    let Applied::SilenceCreated { id } = commit(node, Command::CreateSilence { silence }, "new").await? else {
        return Err(OpsError::Internal("CreateSilence applied without an id".into()));
    };
    tracing::info!(silence = %id, by = %by.username, "silence created");
    get_local(node, &id)
}

/// Ends silence `id` now (it stays listed, inactive).
pub async fn expire(node: &MasterNode, id: &str, by: &Principal) -> Result<(), OpsError> {
    commit(node, Command::ExpireSilence { id: id.to_string() }, id).await?;
    tracing::info!(silence = %id, by = %by.username, "silence expired");
    Ok(())
}

#[cfg(test)]
mod tests {
    use alerts::silence::MatchLabel;
    use raft_store::state::Role;

    use super::*;

    fn req() -> NewSilence {
        NewSilence {
            matchers: vec![Matcher::eq(MatchLabel::Node, "s1")],
            comment: "maintenance".into(),
            ..NewSilence::default()
        }
    }

    fn field(r: Result<Silence, OpsError>) -> String {
        match r {
            Err(OpsError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_silence_ends_at_a_time_or_after_a_duration_and_is_checked_before_proposing() {
        let ana = Principal { username: "ana".into(), role: Role::Operator };
        let s = NewSilence { duration_ms: Some(60_000), ..req() }.into_silence(1_000, &ana).expect("valid");
        assert_eq!((s.starts_at_ms, s.ends_at_ms, s.created_by.as_str()), (1_000, 61_000, "ana"));
        let s = NewSilence { starts_at_ms: Some(5_000), ends_at_ms: Some(9_000), ..req() }
            .into_silence(1_000, &ana)
            .expect("valid");
        assert_eq!((s.starts_at_ms, s.ends_at_ms), (5_000, 9_000));
        assert_eq!(field(req().into_silence(1_000, &ana)), "ends_at_ms");
        let both = NewSilence { ends_at_ms: Some(9_000), duration_ms: Some(1), ..req() };
        assert_eq!(field(both.into_silence(1_000, &ana)), "duration_ms");
        let past = NewSilence { starts_at_ms: Some(10), ends_at_ms: Some(500), ..req() };
        assert_eq!(field(past.into_silence(1_000, &ana)), "ends_at_ms");
        let none = NewSilence { matchers: vec![], duration_ms: Some(1), ..req() };
        assert_eq!(field(none.into_silence(1_000, &ana)), "matchers");
        let silent = NewSilence { comment: " ".into(), duration_ms: Some(1), ..req() };
        assert_eq!(field(silent.into_silence(1_000, &ana)), "comment");
    }
}
