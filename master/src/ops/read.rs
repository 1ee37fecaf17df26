//! Read consistency: how fresh a read must be.

use std::fmt;
use std::str::FromStr;

use super::OpsError;
use crate::node::MasterNode;

/// How fresh a read must be. Parsed once at the edge (`local`, `linearizable`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// This master's applied state, as it is (the default).
    #[default]
    Local,
    /// Wait until this master applied everything the leader had committed when the read
    /// arrived (ReadIndex), then read locally.
    Linearizable,
}

impl Consistency {
    /// Waits for the read point asked for.
    pub async fn wait(self, node: &MasterNode) -> Result<(), OpsError> {
        match self {
            Consistency::Local => Ok(()),
            Consistency::Linearizable => node.proposer.linearizable_barrier().await.map_err(OpsError::from),
        }
    }
}

impl FromStr for Consistency {
    /// The message of a refusal (the field is `consistency`).
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Consistency::Local),
            "linearizable" => Ok(Consistency::Linearizable),
            other => Err(format!("{other:?} is not one of local, linearizable")),
        }
    }
}

/// From its name, refusing others with the [`FromStr`] message.
impl<'de> serde::Deserialize<'de> for Consistency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::Local => "local",
            Consistency::Linearizable => "linearizable",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Consistency;

    #[test]
    fn consistency_parses_its_two_names_and_refuses_others() {
        assert_eq!("local".parse(), Ok(Consistency::Local));
        assert_eq!("linearizable".parse(), Ok(Consistency::Linearizable));
        assert_eq!(
            "eventual".parse::<Consistency>(),
            Err("\"eventual\" is not one of local, linearizable".to_string())
        );
        for c in [Consistency::Local, Consistency::Linearizable] {
            assert_eq!(c.to_string().parse(), Ok(c));
        }
    }
}
