//! A secret from the configuration or the database — a password, an access token, an app
//! secret. It prints as asterisks through `Debug` and serialises as asterisks, so a log line,
//! an audit snapshot or `atiende config` never shows it; code that must use it calls
//! [`Secret::expose`], which is easy to find.

use serde::{Deserialize, Serialize, Serializer};

/// What a secret shows instead of itself.
pub const MASK: &str = "********";

#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a login, a signature).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            write!(f, "Secret({MASK})")
        }
    }
}

/// Serialised as asterisks (or empty when unset): configuration printed back, audit records
/// and API answers show that a secret is set, never what it is.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0.is_empty() { "" } else { MASK })
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_itself_in_debug_or_serialised_form() {
        let s = Secret::new("hunter2-app-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(serde_json::to_value(&s).expect("json"), MASK);
        assert_eq!(s.expose(), "hunter2-app-secret");
        let read: Secret = serde_json::from_str("\"token\"").expect("read");
        assert_eq!(read.expose(), "token");
        assert_eq!(serde_json::to_value(Secret::default()).expect("json"), "");
    }
}
