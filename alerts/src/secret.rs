//! A write-only secret: SMTP passwords and webhook signing keys.
//!
//! [`Secret`] deserializes from a plain string (what an operator sends), but its `Debug` prints
//! `Secret(***)`, it has no `Display`, and its `Serialize` writes the redaction marker `"***"`, never the
//! value: a config echoed back by the API, logged, or put in an error cannot leak it. Reading the value
//! is an explicit [`Secret::expose`] at the point of use (SMTP login, HMAC key).
//!
//! Persisting the value (the master's replicated state must keep it) goes through the explicit
//! [`persisted`] serde module on the master's own storage field, so it is never the default encoding.

use std::fmt;

use serde::Deserialize;

use serde::Deserializer;

use serde::Serialize;

use serde::Serializer;

/// What `Serialize` writes instead of the value.
pub const REDACTED: &str = "***";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plain value, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this is the redaction marker an API client echoed back ("keep the stored secret").
    pub fn is_redaction_marker(&self) -> bool {
        self.0 == REDACTED
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// `#[serde(with = "alerts::secret::persisted")]` for a storage field that must keep the value.
pub mod persisted {
    use super::Secret;
    use serde::Deserialize;
    use serde::Deserializer;
    use serde::Serializer;
    pub fn serialize<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_or_serialized() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        assert_eq!(serde_json::to_string(&s).unwrap_or_default(), "\"***\"");
        let back: Secret = serde_json::from_str("\"hunter2\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.expose(), "hunter2");
        #[derive(Serialize, Deserialize)]
        struct Stored(#[serde(with = "persisted")] Secret);
        assert_eq!(serde_json::to_string(&Stored(s)).unwrap_or_default(), "\"hunter2\"");
    }
}
