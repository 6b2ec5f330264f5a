//! Derivations: handing an incident (or a copy of it) to a unit, and the unit's answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::classification::Medium;
use crate::error::Validator;
use crate::ids::{DerivationId, IncidentId, UnitId, UserId};
use crate::unit::UnitKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Derivation {
    pub id: DerivationId,
    pub incident_id: IncidentId,
    pub unit_id: UnitId,
    pub unit_name: String,
    /// Copied from the unit so that the rules need no second lookup.
    pub unit_kind: UnitKind,
    pub medium: Medium,
    pub reason: String,
    pub derived_by: Option<UserId>,
    pub derived_at: DateTime<Utc>,
    /// The user was told to write to the unit (procedure step 6a, for channels other than phone
    /// and email), and the address they were given.
    pub user_told: bool,
    pub told_address: Option<String>,
    /// The incident was closed in the same step (today's procedure).
    pub closed_incident: bool,
    pub answer: Option<String>,
    pub answered_by: Option<UserId>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl Derivation {
    pub fn is_answered(&self) -> bool {
        self.answered_at.is_some()
    }

    /// The unit's answer. A derivation is answered once; later remarks are notes.
    pub fn check_answer(&self, text: &str) -> Result<String, RuleError> {
        if self.is_answered() {
            return Err(RuleError::DerivationAlreadyAnswered);
        }
        let mut v = Validator::new();
        let text = v.text("answer", text, 20_000, true);
        v.finish()?;
        Ok(text)
    }
}

/// What the person deriving asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeriveInput {
    pub unit_id: UnitId,
    pub medium: Medium,
    pub reason: String,
    /// Defaults to true when the incident arrived on a channel other than phone or email.
    pub user_told: Option<bool>,
    /// Defaults to the unit's email.
    pub told_address: Option<String>,
    /// Close the incident in the same step (requires what closing requires).
    #[serde(default)]
    pub close: bool,
    /// Intervention notes, recorded before closing.
    pub notes: Option<String>,
}

/// A unit's answer to a derivation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnitAnswer {
    pub answer: String,
    /// Close the incident with this answer as its treatment: only the quality owner's answer to
    /// a buzón suggestion or compliment (procedure step 4). Otherwise the answer returns the
    /// incident to the CAP.
    #[serde(default)]
    pub close: bool,
    /// The user type, when closing an incident that has none ("unidentified" for an anonymous
    /// entry).
    pub user_type: Option<crate::classification::UserType>,
}

impl UnitAnswer {
    /// An answer that returns the incident to the CAP.
    pub fn returning(answer: &str) -> UnitAnswer {
        UnitAnswer {
            answer: answer.to_owned(),
            ..UnitAnswer::default()
        }
    }
}

/// A derivation the rules accepted, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivationPlan {
    pub medium: Medium,
    pub reason: String,
    pub user_told: bool,
    pub told_address: Option<String>,
    pub close: bool,
    pub notes: Option<String>,
}
