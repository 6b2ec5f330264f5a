//! Personal data under Mexico's law for public bodies (LGPDPPSO; a public university is a
//! *sujeto obligado*): the ARCO rights — access, rectification, cancellation, opposition — the
//! record of who handled a person's data, and privacy notices. Storage applies these rules;
//! this module says what they are.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::RuleError;
use crate::classification::coded_enum;
use crate::ids::ContactId;

coded_enum!(
    /// What someone did with a person's data, as the access log records it.
    DataAction {
        View = "view", "Consulta", "Viewed";
        Export = "export", "Exportación", "Exported";
        Rectify = "rectify", "Rectificación", "Rectified";
        Block = "block", "Bloqueo", "Blocked";
        Unblock = "unblock", "Desbloqueo", "Unblocked";
        Anonymise = "anonymise", "Supresión", "Suppressed";
    }
);

coded_enum!(
    NoticeKind {
        Integral = "integral", "Aviso de privacidad integral", "Full privacy notice";
        Simplified = "simplified", "Aviso de privacidad simplificado", "Short privacy notice";
    }
);

/// Where a person stands with respect to cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    Active,
    /// *Bloqueo*: kept, pending the legal retention period, but out of normal use.
    Blocked,
    /// *Supresión*: the person's data is gone; folios, dates and classifications remain.
    Anonymised,
}

impl Cancellation {
    pub fn of(blocked: bool, anonymised: bool) -> Cancellation {
        match (blocked, anonymised) {
            (_, true) => Cancellation::Anonymised,
            (true, false) => Cancellation::Blocked,
            (false, false) => Cancellation::Active,
        }
    }

    /// A blocked or suppressed person's data is out of normal use: nothing but unblocking and
    /// suppression may change it, or a merge, an edit or a new incident would carry it back
    /// into use.
    pub fn check_in_use(self) -> Result<(), RuleError> {
        match self {
            Cancellation::Active => Ok(()),
            Cancellation::Blocked | Cancellation::Anonymised => Err(RuleError::ContactBlocked),
        }
    }

    /// Cancellation has two stages, in order: data is blocked first and suppressed after.
    pub fn may_anonymise(self) -> Result<(), RuleError> {
        match self {
            Cancellation::Blocked => Ok(()),
            Cancellation::Active => Err(RuleError::invalid("contact", "block_before_suppressing")),
            Cancellation::Anonymised => Err(RuleError::invalid("contact", "already_suppressed")),
        }
    }

    pub fn may_block(self) -> Result<(), RuleError> {
        match self {
            Cancellation::Active => Ok(()),
            Cancellation::Blocked => Err(RuleError::invalid("contact", "already_blocked")),
            Cancellation::Anonymised => Err(RuleError::invalid("contact", "already_suppressed")),
        }
    }

    pub fn may_unblock(self) -> Result<(), RuleError> {
        match self {
            Cancellation::Blocked => Ok(()),
            Cancellation::Active => Err(RuleError::invalid("contact", "not_blocked")),
            Cancellation::Anonymised => Err(RuleError::invalid("contact", "already_suppressed")),
        }
    }
}

/// What replaces free text the person wrote or that names them.
pub const SUPPRESSED: &str = "[Suprimido]";

/// The name a suppressed person is left with: a label, not a person.
pub fn anonymised_name(id: ContactId) -> String {
    format!("Titular suprimido #{}", id.0)
}

/// Survey answers after suppression: scores and yes/no answers stay (the indicators are made
/// of them); anything the person wrote goes.
pub fn scrub_answers(answers: &Value) -> Value {
    match answers {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_string())
                .map(|(k, v)| (k.clone(), scrub_answers(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !v.is_string())
                .map(scrub_answers)
                .collect(),
        ),
        v => v.clone(),
    }
}

/// How long each category of personal data is kept before it is anonymised automatically.
/// A period left empty keeps that category until someone acts by hand: the institution sets
/// its periods (its retention schedule), atiende does not guess them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RetentionPolicy {
    /// Days a blocked person's data waits (the legal retention period) before suppression.
    pub blocked_days: Option<i64>,
    /// Days after closing that an incident's free text is kept.
    pub closed_incident_days: Option<i64>,
    /// Days after closing that attachments are kept.
    pub attachment_days: Option<i64>,
    /// Days after answering that written survey answers are kept (scores stay).
    pub survey_comment_days: Option<i64>,
}

impl RetentionPolicy {
    pub fn validate(&self) -> Result<(), RuleError> {
        for (field, days) in [
            ("blocked_days", self.blocked_days),
            ("closed_incident_days", self.closed_incident_days),
            ("attachment_days", self.attachment_days),
            ("survey_comment_days", self.survey_comment_days),
        ] {
            if days.is_some_and(|d| !(1..=36_500).contains(&d)) {
                return Err(RuleError::invalid(field, "between_1_and_36500_days"));
            }
        }
        Ok(())
    }

    /// The instant before which a category's data has outlived its period.
    pub fn cutoff(days: Option<i64>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        days.map(|d| now - Duration::days(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_blocks_first_and_suppresses_after() {
        assert!(Cancellation::Active.may_anonymise().is_err());
        assert!(Cancellation::Blocked.may_anonymise().is_ok());
        assert!(Cancellation::Anonymised.may_anonymise().is_err());
        assert!(Cancellation::Active.may_block().is_ok());
        assert!(Cancellation::Blocked.may_block().is_err());
        assert!(Cancellation::Blocked.may_unblock().is_ok());
        assert!(Cancellation::Anonymised.may_unblock().is_err());
        assert_eq!(Cancellation::of(true, true), Cancellation::Anonymised);
    }

    #[test]
    fn scrubbed_answers_keep_scores_and_lose_what_the_person_wrote() {
        let answers = serde_json::json!({"overall": 5, "resolved": true, "comment": "Soy Ana, mi número es 3312345678"});
        assert_eq!(
            scrub_answers(&answers),
            serde_json::json!({"overall": 5, "resolved": true})
        );
    }

    #[test]
    fn retention_periods_are_whole_days_and_empty_means_keep() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .expect("now")
            .with_timezone(&Utc);
        assert_eq!(RetentionPolicy::cutoff(None, now), None);
        assert_eq!(
            RetentionPolicy::cutoff(Some(30), now).map(|t| t.to_rfc3339()),
            Some("2026-10-31T12:00:00+00:00".into())
        );
        let bad = RetentionPolicy {
            attachment_days: Some(0),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        assert!(RetentionPolicy::default().validate().is_ok());
    }

    #[test]
    fn a_suppressed_person_is_a_label() {
        assert_eq!(anonymised_name(ContactId(42)), "Titular suprimido #42");
    }
}
