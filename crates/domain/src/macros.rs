//! Macros: the whole of a frequent case in one step — classify, answer from a canned response,
//! write the intervention notes, then close or derive. A macro only names the steps; applying
//! it runs each through the procedure's own rules on one change of the incident, so that a
//! step the procedure refuses (closing without a classification, deriving a critical incident
//! to a unit other than top management…) leaves nothing written.

use serde::{Deserialize, Serialize};

use crate::RuleError;
use crate::classification::{IncidentType, Medium, UserType};
use crate::error::Validator;
use crate::ids::{TopicId, UnitId};
use crate::incident::MAX_ENTRY_CHARS;

/// How a macro ends the case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum MacroFinish {
    /// The incident stays open.
    #[default]
    Nothing,
    Close,
    Derive {
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        unit_id: UnitId,
        medium: Medium,
        reason: String,
    },
}

/// What a macro does, in the order it does it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MacroSteps {
    pub user_type: Option<UserType>,
    pub incident_type: Option<IncidentType>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub topic_id: Option<TopicId>,
    /// Answer with this canned response, filled for the incident.
    pub canned_response_id: Option<i64>,
    /// Pormenores de la intervención.
    pub notes: String,
    pub finish: MacroFinish,
}

impl MacroSteps {
    /// Whether it classifies at all.
    pub fn classifies(&self) -> bool {
        self.user_type.is_some() || self.incident_type.is_some() || self.topic_id.is_some()
    }
}

/// A macro as staff keep it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MacroInput {
    pub name: String,
    pub steps: MacroSteps,
    /// The whole CAP's (only leads keep those) or the writer's own.
    pub shared: bool,
}

impl MacroInput {
    pub fn check(&self) -> Result<(), RuleError> {
        let mut v = Validator::new();
        v.text("name", &self.name, 120, true);
        v.text("steps.notes", &self.steps.notes, MAX_ENTRY_CHARS, false);
        if let MacroFinish::Derive { reason, .. } = &self.steps.finish {
            v.text("steps.finish.reason", reason, 2_000, true);
        }
        let does_something = self.steps.classifies()
            || self.steps.canned_response_id.is_some()
            || !self.steps.notes.trim().is_empty()
            || self.steps.finish != MacroFinish::Nothing;
        if !does_something {
            v.push("steps", "required");
        }
        v.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_macro_must_do_something_and_a_derivation_says_why() {
        let mut input = MacroInput {
            name: "Constancia".into(),
            ..Default::default()
        };
        assert_eq!(input.check().expect_err("empty").fields()[0].field, "steps");
        input.steps.finish = MacroFinish::Derive {
            unit_id: UnitId(3),
            medium: Medium::Email,
            reason: " ".into(),
        };
        assert_eq!(
            input.check().expect_err("no reason").fields()[0].field,
            "steps.finish.reason"
        );
        input.steps.finish = MacroFinish::Close;
        input.steps.incident_type = Some(IncidentType::Question);
        assert!(input.check().is_ok());
    }

    #[test]
    fn steps_read_from_json_with_their_finish() {
        let steps: MacroSteps = serde_json::from_value(serde_json::json!({
            "incident_type": "question",
            "notes": "Se indicó el trámite.",
            "finish": {"action": "derive", "unit_id": 3, "medium": "email", "reason": "Revisión"}
        }))
        .expect("steps");
        assert!(steps.classifies());
        assert!(matches!(
            steps.finish,
            MacroFinish::Derive {
                unit_id: UnitId(3),
                ..
            }
        ));
    }
}
